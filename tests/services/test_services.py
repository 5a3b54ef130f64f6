import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from kukkaro.core import clock
from kukkaro.core.models import AuditEvent, Municipality
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse, Transfer, TransferCode
from kukkaro.ledger.verification import ledger_verify
from kukkaro.people.services import supporter_grant_create
from kukkaro.services import agreements, catalogue, claims, policies, providers, selectors
from kukkaro.services.models import (
    BankAccountChange,
    Claim,
    ClaimStatus,
    PriceCap,
    Provider,
    ProviderState,
    RejectReason,
    ServiceType,
    StandingHold,
)
from tests.factories import client_user_for, make_user, organiser
from tests.services.world import BUSINESS_IDS, IBANS, approved_provider, build_world
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db

MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

#: The worlds built once on MARCH and shared by the tests that start from them (tests/worlds.py).
world = shared_world("world", build_world, at=MARCH)
unendorsed_world = shared_world("unendorsed_world", lambda: build_world(endorsed=False), at=MARCH)
standing_world = shared_world("standing_world", lambda: build_world(standing_hold=True), at=MARCH)


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(MARCH):
        yield


def _claim(world, *, invoice="INV-1", day=None, quantity=100, price=9_000, agreement=None, service="day-activity"):
    return claims.claim_submit(
        actor=world.provider_user,
        provider=world.provider,
        agreement_number=agreement or world.agreement.number,
        service_code=service,
        service_date=day or clock.today(),
        quantity_hundredths=quantity,
        unit_price_cents=price,
        invoice_number=invoice,
    )


def _fresh(purse: Purse) -> Purse:
    return Purse.objects.get(pk=purse.pk)


# --- providers ---------------------------------------------------------------------------------------------------


def test_provider_apply__validates_business_id_bank_account_and_rulebook():
    user = make_user(Role.PROVIDER)
    base = {
        "actor": user,
        "organiser": organiser(),
        "name": "Hoiva Oy",
        "business_id": BUSINESS_IDS[1],
        "soteri_number": "S-1",
        "contact_name": "Pia",
        "email": "pia@example.fi",
        "phone": "0401234567",
        "municipalities": list(Municipality.objects.filter(code="049")),
        "languages": ["fi"],
        "accessibility": [],
        "iban": IBANS[0][0],
        "bic": IBANS[0][1],
        "rulebook_version": providers.RULEBOOK_VERSION,
    }
    for change, field in [
        ({"business_id": "1234567-2"}, "business_id"),
        ({"iban": "FI2112345600000786"}, "iban"),
        ({"bic": "ITELFIHH"}, "bic"),  # a valid BIC, but not the IBAN's bank
        ({"rulebook_version": "2019"}, "rulebook_version"),
        ({"municipalities": list(Municipality.objects.filter(code="398"))}, "municipalities"),  # another organiser's
        ({"languages": ["klingon"]}, "languages"),
    ]:
        with pytest.raises(ValidationError) as refused:
            providers.provider_apply(**{**base, **change})
        assert field in refused.value.message_dict, change
    provider = providers.provider_apply(**base)
    assert provider.state == ProviderState.APPLIED
    assert provider.users.get().user == user
    assert providers.provider_of(user) == provider
    assert AuditEvent.objects.filter(action="provider.apply", target_id=str(provider.pk)).exists()


def test_provider_set_state__life_cycle_and_history_by_date(world):
    provider = world.provider
    assert providers.provider_state_on(provider=provider, day=clock.today()) == ProviderState.APPROVED
    assert providers.provider_state_on(provider=provider, day=clock.today() - dt.timedelta(days=1)) is None
    with pytest.raises(ValidationError) as refused:
        providers.provider_set_state(actor=world.decision_maker, provider=provider, state="suspended")
    assert "reason" in refused.value.message_dict
    with pytest.raises(ValidationError):
        providers.provider_set_state(actor=world.decision_maker, provider=provider, state="applied", reason="x")
    with pytest.raises(PermissionDenied):
        providers.provider_set_state(actor=world.worker, provider=provider, state="suspended", reason="x")
    other = make_user(Role.DECISION_MAKER, organiser_code="paijat-hame")
    with pytest.raises(PermissionDenied):
        providers.provider_set_state(actor=other, provider=provider, state="suspended", reason="x")
    with clock.pinned(MARCH + dt.timedelta(days=3)):
        providers.provider_set_state(actor=world.decision_maker, provider=provider, state="suspended", reason="Audit")
    assert providers.provider_state_on(provider=provider, day=dt.date(2026, 3, 4)) == ProviderState.APPROVED
    assert providers.provider_state_on(provider=provider, day=dt.date(2026, 3, 5)) == ProviderState.SUSPENDED


def test_bank_account_change__needs_a_second_person(world):
    provider = world.provider
    change = providers.bank_account_change_request(
        actor=world.provider_user, provider=provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    assert Provider.objects.get(pk=provider.pk).iban == IBANS[0][0]  # not before approval
    with pytest.raises(ValidationError):  # only one waiting change at a time
        providers.bank_account_change_request(
            actor=world.provider_user, provider=provider, iban=IBANS[1][0], bic=IBANS[1][1]
        )
    with pytest.raises(PermissionDenied):
        providers.bank_account_change_decide(actor=world.worker, change=change, approve=True)
    providers.bank_account_change_decide(actor=world.finance, change=change, approve=True)
    assert Provider.objects.get(pk=provider.pk).iban == IBANS[1][0]
    # A change a finance officer asked for cannot be approved by the same officer — nor by the database.
    own = providers.bank_account_change_request(
        actor=world.finance, provider=provider, iban=IBANS[0][0], bic="NDEAFIHH"
    )
    with pytest.raises(ValidationError):
        providers.bank_account_change_decide(actor=world.finance, change=own, approve=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        BankAccountChange.objects.filter(pk=own.pk).update(decided_by=world.finance)
    assert AuditEvent.objects.filter(action="provider.bank_account.approve").count() == 1


def test_bank_account_change_decide__rejecting__needs_a_reason_and_keeps_who_asked_and_who_decided(world):
    change = providers.bank_account_change_request(
        actor=world.provider_user, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    with pytest.raises(ValidationError) as refused:
        providers.bank_account_change_decide(actor=world.finance, change=change, approve=False, reason="  ")
    assert "reason" in refused.value.message_dict
    assert BankAccountChange.objects.get(pk=change.pk).state == "pending"
    with pytest.raises(IntegrityError), transaction.atomic():  # the database insists on the reason too
        BankAccountChange.objects.filter(pk=change.pk).update(state="rejected", decided_by=world.finance)
    with clock.pinned(MARCH + dt.timedelta(hours=2)):
        rejected = providers.bank_account_change_decide(
            actor=world.finance, change=change, approve=False, reason="Tilinomistaja ei ole palveluntuottaja"
        )
    assert (rejected.state, rejected.requested_by, rejected.decided_by) == (
        "rejected",
        world.provider_user,
        world.finance,
    )
    assert rejected.decided_at == MARCH + dt.timedelta(hours=2)
    assert rejected.reason == "Tilinomistaja ei ole palveluntuottaja"
    assert Provider.objects.get(pk=world.provider.pk).iban == IBANS[0][0]
    event = AuditEvent.objects.get(action="provider.bank_account.reject")
    assert event.after["reason"] == "Tilinomistaja ei ole palveluntuottaja"


# --- catalogue ---------------------------------------------------------------------------------------------------


def test_prices__versions_apply_by_date_of_service_and_never_overlap(world):
    catalogue.provider_price_set(
        actor=world.provider_user,
        provider=world.provider,
        service_type=world.day_activity,
        price_cents=9_500,
        valid_from=dt.date(2026, 4, 1),
    )
    price = lambda day: catalogue.price_on(provider=world.provider, service_type=world.day_activity, day=day)  # noqa: E731
    assert price(dt.date(2026, 3, 31)).price_cents == 9_000
    assert price(dt.date(2026, 4, 1)).price_cents == 9_500
    with pytest.raises(ValidationError):  # the past cannot be repriced
        catalogue.provider_price_set(
            actor=world.provider_user,
            provider=world.provider,
            service_type=world.day_activity,
            price_cents=1,
            valid_from=dt.date(2026, 3, 1),
        )
    with pytest.raises(ValidationError):  # would overlap the April version
        catalogue.provider_price_set(
            actor=world.provider_user,
            provider=world.provider,
            service_type=world.day_activity,
            price_cents=9_700,
            valid_from=dt.date(2026, 3, 20),
            valid_until=dt.date(2026, 4, 10),
        )


def test_agreement__price_above_cap__records_the_clients_own_share():
    world = build_world(price_cents=11_000)  # cap is 100 €
    assert (world.agreement.agreed_price_cents, world.agreement.own_share_cents) == (11_000, 1_000)
    assert agreements.monthly_budget_cents(world.agreement) == 8 * 10_000


def test_agreement__refused_for_wrong_service_unapproved_provider_or_outside_the_line(world):
    types = {t.code: t for t in [world.day_activity]}
    assistance = ServiceType.objects.get(organiser=world.client.organiser, code="personal-assistance")
    cases = [
        ({"service_type": assistance}, "service_type"),
        ({"valid_until": world.line.valid_until + dt.timedelta(days=1)}, "valid_until"),
    ]
    for change, field in cases:
        kwargs = {
            "actor": world.worker,
            "line": world.line,
            "provider": world.provider,
            "service_type": types["day-activity"],
            "quantity_hundredths": 100,
            "valid_from": clock.today(),
            "valid_until": world.line.valid_until,
            **change,
        }
        with pytest.raises(ValidationError) as refused:
            agreements.agreement_create(**kwargs)
        assert field in refused.value.message_dict
    providers.provider_set_state(actor=world.decision_maker, provider=world.provider, state="suspended", reason="x")
    with pytest.raises(ValidationError) as refused:
        agreements.agreement_create(
            actor=world.worker,
            line=world.line,
            provider=Provider.objects.get(pk=world.provider.pk),
            service_type=world.day_activity,
            quantity_hundredths=100,
            valid_from=clock.today(),
            valid_until=world.line.valid_until,
        )
    assert "provider" in refused.value.message_dict


# --- claims ------------------------------------------------------------------------------------------------------


def test_claim__endorsed_provider_under_threshold__is_approved_and_posted(world):
    before = _fresh(world.purse).available_now
    claim, created = _claim(world, quantity=250, price=9_000)  # 2.5 days
    assert created and claim.status == ClaimStatus.APPROVED
    assert claim.amount_cents == 22_500 and claim.own_share_cents == 0
    purse = _fresh(world.purse)
    assert purse.available_now == before - 22_500
    assert purse.debits_pending == 0 and Transfer.objects.filter(code=TransferCode.POST, ref_id="").count() == 0
    assert Transfer.objects.filter(pending_id=claim.hold_id, code=TransferCode.POST).get().amount == 22_500
    assert ledger_verify()[1] == []


def test_claim__not_endorsed__waits_for_the_client_then_is_approved_after_the_window(unendorsed_world):
    world = unendorsed_world
    claim, _ = _claim(world)
    assert claim.status == ClaimStatus.WAITING
    assert claim.dispute_deadline == clock.today() + dt.timedelta(days=7)
    assert _fresh(world.purse).debits_pending == 9_000
    assert claims.claims_auto_approve(today=claim.dispute_deadline) == 0  # the window is still open that day
    assert claims.claims_auto_approve(today=claim.dispute_deadline + dt.timedelta(days=1)) == 1
    assert claims.claims_auto_approve(today=claim.dispute_deadline + dt.timedelta(days=1)) == 0
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert _fresh(world.purse).debits_pending == 0
    assert AuditEvent.objects.filter(action="claim.auto_approve", target_id=str(claim.pk)).exists()


def test_claim__above_threshold__waits_even_from_an_endorsed_provider(world):
    claim, _ = _claim(world, quantity=600)  # 540 € > 500 €
    assert claim.status == ClaimStatus.WAITING


def test_claim__every_reason_is_reported_and_nothing_is_held(world):
    before = _fresh(world.purse).available_now
    claim, created = _claim(world, price=9_100, day=dt.date(2026, 3, 1))  # above agreement, before approval
    assert created and claim.status == ClaimStatus.REJECTED
    assert set(claim.reasons) == {
        RejectReason.PRICE_ABOVE_AGREEMENT,
        RejectReason.PROVIDER_NOT_APPROVED,
        RejectReason.AGREEMENT_NOT_ACTIVE,
    }
    assert claim.hold_id is None
    claim, _ = _claim(world, invoice="INV-2", agreement="SA-NOPE")
    assert claim.reasons == [RejectReason.NO_AGREEMENT]
    claim, _ = _claim(world, invoice="INV-3", service="personal-assistance")
    assert claim.reasons == [RejectReason.WRONG_SERVICE]
    claim, _ = _claim(world, invoice="INV-4", day=clock.today() + dt.timedelta(days=1))
    assert RejectReason.FUTURE_DATE in claim.reasons
    claim, _ = _claim(world, invoice="INV-5", quantity=100_000)  # 1 000 days: more than the budget
    assert claim.reasons == [RejectReason.INSUFFICIENT_FUNDS]
    assert _fresh(world.purse).available_now == before
    assert ledger_verify()[1] == []


def test_claim__on_a_purse_its_annulment_just_ended__says_so_not_insufficient_funds(world):
    """Every ledger refusal used to be reported as "the budget does not have the funds" (issue 16, item 19)."""
    from kukkaro.cases import services as case_services
    from kukkaro.services import presenters

    case_services.decision_annul(
        actor=world.decision_maker, decision=world.line.decision, reason="Oikaisuvaatimus hyväksyttiin."
    )
    claim, _created = _claim(world, invoice="INV-ANNULLED")
    assert claim.status == ClaimStatus.REJECTED
    assert claim.reasons == [RejectReason.BUDGET_ENDED]
    with translation.override("en"):
        assert presenters.reasons(claim.reasons) == [
            "the budget has ended: its decision ended, was annulled or was replaced"
        ]
    with translation.override("fi"):
        assert presenters.reasons(claim.reasons) == [
            "budjetti on päättynyt: sen päätös päättyi, kumottiin tai korvattiin"
        ]
    assert claim.hold_id is None


@pytest.mark.parametrize(
    ("refusal", "valid_until", "expected"),
    [
        ("insufficient_funds", None, RejectReason.INSUFFICIENT_FUNDS),
        ("purse_closed", None, RejectReason.BUDGET_CLOSED),
        ("not_valid_now", dt.date(2026, 3, 1), RejectReason.BUDGET_ENDED),
        ("not_valid_now", dt.date(2026, 12, 31), RejectReason.BUDGET_NOT_BEGUN),
        ("hold_not_open", None, RejectReason.RESERVATION_GONE),
        ("no_purse", None, RejectReason.NO_BUDGET),
        ("id_conflict", None, RejectReason.LEDGER_REFUSED),
    ],
)
def test_reject_reason_for__each_ledger_refusal_keeps_its_own_reason(refusal, valid_until, expected):
    from kukkaro.ledger import services as ledger

    purse = Purse(valid_from=dt.date(2026, 1, 1), valid_until=valid_until)
    assert claims.reject_reason_for(ledger.LedgerError("refused", reason=refusal), purse=purse) == expected


def test_claim__same_invoice_again__returns_the_original_and_pays_nothing_twice(world):
    first, created = _claim(world)
    again, created_again = _claim(world, quantity=200)
    assert created and not created_again and again.pk == first.pk
    assert Claim.objects.count() == 1
    assert Transfer.objects.filter(code=TransferCode.HOLD, ref_type="claim").count() == 1
    # A rejected invoice may be sent again once corrected.
    rejected, _ = _claim(world, invoice="INV-9", price=99_999)
    assert rejected.status == ClaimStatus.REJECTED
    corrected, created = _claim(world, invoice="INV-9")
    assert created and corrected.status == ClaimStatus.APPROVED


def test_claim__another_providers_user__is_refused(world):
    _other, other_user = approved_provider(
        organiser=world.client.organiser, decision_maker=world.decision_maker, business_id=BUSINESS_IDS[2]
    )
    with pytest.raises(PermissionDenied):
        claims.claim_submit(
            actor=other_user,
            provider=world.provider,
            agreement_number=world.agreement.number,
            service_code="day-activity",
            service_date=clock.today(),
            quantity_hundredths=100,
            unit_price_cents=9_000,
            invoice_number="X",
        )


def test_claim_client_decide__client_or_supporter_with_authority_only(unendorsed_world):
    world = unendorsed_world
    claim, _ = _claim(world)
    supporter = make_user(Role.SUPPORTER)
    supporter_grant_create(
        actor=world.worker,
        client=world.client,
        supporter=supporter,
        can_view=True,
        can_help_choose=False,
        can_approve_claims=False,
        valid_from=clock.today(),
        valid_until=None,
        consent_given_on=clock.today(),
        consent_method="in_person",
    )
    with pytest.raises(PermissionDenied):  # may see, may not approve
        claims.claim_client_decide(actor=supporter, claim=claim, approve=True)
    with pytest.raises(PermissionDenied):
        claims.claim_client_decide(actor=world.worker, claim=claim, approve=True)
    client_user = client_user_for(world.client)
    with pytest.raises(ValidationError) as refused:
        claims.claim_client_decide(actor=client_user, claim=claim, approve=False)
    assert "reason" in refused.value.message_dict
    claim = claims.claim_client_decide(actor=client_user, claim=claim, approve=False, reason="Ei käynyt")
    assert claim.status == ClaimStatus.DISPUTED
    # A worker upholds the dispute: the hold is released, nothing is paid.
    claim = claims.claim_dispute_resolve(actor=world.worker, claim=claim, approve=False, reason="Ei toteutunut")
    assert claim.status == ClaimStatus.REJECTED and RejectReason.DISPUTE_UPHELD in claim.reasons
    assert _fresh(world.purse).debits_pending == 0
    helper = make_user(Role.SUPPORTER)
    supporter_grant_create(
        actor=world.worker,
        client=world.client,
        supporter=helper,
        can_view=True,
        can_help_choose=False,
        can_approve_claims=True,
        valid_from=clock.today(),
        valid_until=None,
        consent_given_on=clock.today(),
        consent_method="in_person",
    )
    second, _ = _claim(world, invoice="INV-2")
    second = claims.claim_client_decide(actor=helper, claim=second, approve=True)
    assert second.status == ClaimStatus.APPROVED and second.decided_by == helper
    assert ledger_verify()[1] == []


def test_standing_hold__reserves_the_month_and_claims_draw_on_it(standing_world):
    world = standing_world
    standing = StandingHold.objects.get(agreement=world.agreement)
    assert standing.remaining_cents == 8 * 9_000
    purse = _fresh(world.purse)
    assert purse.debits_pending == 72_000
    available = purse.available_now
    claim, _ = _claim(world, quantity=200)
    assert claim.status == ClaimStatus.APPROVED
    standing.refresh_from_db()
    assert standing.remaining_cents == 72_000 - 18_000
    purse = _fresh(world.purse)
    # The claim took its amount out of the reservation, not out of what was free.
    assert purse.available_now == available
    assert purse.debits_pending == 54_000
    assert ledger_verify()[1] == []


def test_standing_hold__on_a_line_a_replacement_drops__works_until_the_purse_ends_then_stops(standing_world):
    """A replacement from 1.4. drops the agreement's line: its purse ends on 31.3. (issue 16, item 1). March's
    reservation and claims keep working; April's reservation is simply not made; a claim after the end says so."""
    from kukkaro.cases import services as case_services

    world = standing_world
    decision = world.line.decision
    lines = [{"category": "transport-trips", "quantity": 18}]
    indicative = case_services.calculation_create_indicative(actor=world.worker, client=world.client, lines=lines)
    final = case_services.calculation_finalise(actor=world.worker, indicative=indicative, lines=lines)
    replacement = case_services.decision_draft_create(
        actor=world.worker,
        calculation=final,
        valid_from=dt.date(2026, 4, 1),
        valid_until=decision.valid_until,
        reasons="Päivätoiminta päättyy.",
        replaces=decision,
    )
    case_services.decision_propose(actor=world.worker, decision=replacement)
    case_services.decision_approve(actor=world.decision_maker, decision=replacement)
    purse = _fresh(world.purse)
    assert purse.valid_until == dt.date(2026, 3, 31)
    assert purse.debits_pending == 72_000  # March's reservation stands
    claim, _ = _claim(world, invoice="MARCH-1", quantity=200)
    assert claim.status == ClaimStatus.APPROVED
    with clock.pinned(dt.datetime(2026, 4, 2, 9, 0, tzinfo=dt.UTC)):
        assert agreements.agreements_reserve_month() == 0
        assert not StandingHold.objects.filter(agreement=world.agreement, month=dt.date(2026, 4, 1)).exists()
        late, _ = _claim(world, invoice="APRIL-1", quantity=100)
    assert late.reasons == [RejectReason.BUDGET_ENDED]
    assert ledger_verify()[1] == []


def test_claim__after_the_months_reservation_expired__is_held_from_what_is_free(standing_world):
    world = standing_world
    standing = StandingHold.objects.get(agreement=world.agreement)
    hold = Transfer.objects.get(pk=standing.hold_id)
    later = hold.expires_at + dt.timedelta(hours=1)
    with clock.pinned(later):
        from kukkaro.ledger.services import holds_expire

        assert holds_expire() == 1
        claim, _ = _claim(world, invoice="LATE-1", day=dt.date(2026, 3, 20))
    assert claim.status == ClaimStatus.APPROVED
    standing.refresh_from_db()
    assert (standing.hold_id, standing.remaining_cents) == (None, 0)
    assert ledger_verify()[1] == []


def test_claim__reservation_past_its_time_but_not_yet_expired_by_the_job__is_released_without_a_new_hold(
    standing_world,
):
    world = standing_world
    standing = StandingHold.objects.get(agreement=world.agreement)
    hold = Transfer.objects.get(pk=standing.hold_id)
    with clock.pinned(hold.expires_at + dt.timedelta(hours=1)):
        claim, _ = _claim(world, invoice="LATE-2", day=dt.date(2026, 3, 20))
    assert claim.status == ClaimStatus.APPROVED
    standing.refresh_from_db()
    assert standing.hold_id is None
    assert _fresh(world.purse).debits_pending == 0
    assert ledger_verify()[1] == []


def test_service_type_save__creates_renames_and_keeps_unit_and_line_fixed():
    admin = make_user(Role.ADMIN)
    county = organiser("lansi-uusimaa")
    made = catalogue.service_type_save(
        actor=admin,
        organiser=county,
        code="music-therapy",
        name_fi="Musiikkiterapia",
        name_sv="Musikterapi",
        name_en="Music therapy",
        unit="hour",
        category_code="personal-assistance",
    )
    assert (made.name_sv, made.unit) == ("Musikterapi", "hour")
    renamed = catalogue.service_type_save(
        actor=admin,
        organiser=county,
        code="music-therapy",
        name_fi="Musiikkiterapia (yksilö)",
        name_sv="Musikterapi (individuell)",
        name_en="Music therapy (individual)",
        unit="hour",
        category_code="personal-assistance",
    )
    assert renamed.pk == made.pk and renamed.name_fi == "Musiikkiterapia (yksilö)"
    with pytest.raises(ValidationError) as refused:
        catalogue.service_type_save(
            actor=admin,
            organiser=county,
            code="music-therapy",
            name_fi="x",
            name_sv="x",
            name_en="x",
            unit="day",
            category_code="personal-assistance",
        )
    assert "unit" in refused.value.message_dict
    with pytest.raises(ValidationError) as blank:
        catalogue.service_type_save(
            actor=admin,
            organiser=county,
            code="x-y",
            name_fi="X",
            name_sv="",
            name_en="",
            unit="hour",
            category_code="c",
        )
    assert set(blank.value.message_dict) == {"name_sv", "name_en"}
    with pytest.raises(PermissionDenied):
        catalogue.service_type_save(
            actor=make_user(Role.SOCIAL_WORKER),
            organiser=county,
            code="z",
            name_fi="Z",
            name_sv="Z",
            name_en="Z",
            unit="hour",
            category_code="c",
        )
    assert AuditEvent.objects.filter(action__startswith="service_type.").count() == 2


def _service(actor, county, **changes) -> ServiceType:
    data = {
        "code": "home-help",
        "name_fi": "Kotiin annettava apu",
        "name_sv": "Hjälp i hemmet",
        "name_en": "Help at home",
        "unit": "visit",
        "category_code": "personal-assistance",
    }
    return catalogue.service_type_save(actor=actor, organiser=county, **{**data, **changes})


def test_service_type_save__same_code_in_two_counties__is_two_services_each_audited_in_its_own():
    lu, ph = organiser("lansi-uusimaa"), organiser("paijat-hame")
    lu_finance, ph_finance = make_user(Role.FINANCE), make_user(Role.FINANCE, organiser_code="paijat-hame")
    lu_help, ph_help = _service(lu_finance, lu), _service(ph_finance, ph)
    assert lu_help.pk != ph_help.pk and (lu_help.organiser_id, ph_help.organiser_id) == (lu.pk, ph.pk)
    _service(lu_finance, lu, name_en="Home care")
    ph_help.refresh_from_db()
    assert ph_help.name_en == "Help at home"
    assert ServiceType.objects.get(pk=lu_help.pk).name_en == "Home care"
    events = {
        (e.action, e.target_id): e.organiser_id for e in AuditEvent.objects.filter(action__startswith="service_type.")
    }
    assert events == {
        ("service_type.create", str(lu_help.pk)): lu.pk,
        ("service_type.create", str(ph_help.pk)): ph.pk,
        ("service_type.rename", str(lu_help.pk)): lu.pk,
    }
    with pytest.raises(PermissionDenied):  # a county's finance person edits its own catalogue only
        _service(lu_finance, ph, name_en="Renamed by Länsi-Uusimaa")
    ph_help.refresh_from_db()
    assert ph_help.name_en == "Help at home"


def test_budget_categories__of_no_organiser__are_none(world):
    assert selectors.budget_categories(organiser_id=world.client.organiser_id)  # the world's county has some
    assert selectors.budget_categories(organiser_id=None) == []


def test_catalogue_writes__with_another_countys_service__are_refused(world):
    ph = organiser("paijat-hame")
    ph_day = ServiceType.objects.create(
        organiser=ph,
        code="day-activity",
        name="Päivätoiminta",
        name_fi="Päivätoiminta",
        name_sv="Dagverksamhet",
        name_en="Day activity",
        unit="day",
        category_code="day-activity",
    )
    lu_admin = make_user(Role.ADMIN)
    with pytest.raises(PermissionDenied):
        catalogue.price_cap_set(
            actor=lu_admin, organiser=world.client.organiser, service_type=ph_day, cap_cents=1, valid_from=clock.today()
        )
    with pytest.raises(PermissionDenied):
        catalogue.provider_price_set(
            actor=world.provider_user,
            provider=world.provider,
            service_type=ph_day,
            price_cents=1,
            valid_from=clock.today(),
        )
    with pytest.raises(PermissionDenied):
        agreements.agreement_create(
            actor=world.worker,
            line=world.line,
            provider=world.provider,
            service_type=ph_day,
            quantity_hundredths=100,
            valid_from=clock.today(),
            valid_until=world.line.valid_until,
        )
    assert not PriceCap.objects.filter(service_type=ph_day).exists()
    # A claim's service code is looked up in the provider's own county's catalogue, never in another's.
    claim, _created = _claim(world, invoice="OWN-1")
    assert claim.status == ClaimStatus.APPROVED and claim.service_type == world.day_activity
    ph_day.code = "ph-only"
    ph_day.save(update_fields=["code"])
    claim, _created = _claim(world, invoice="FOREIGN-1", service="ph-only")
    assert claim.service_type is None and RejectReason.WRONG_SERVICE in claim.reasons


def test_agreements_reserve_month__reserves_each_standing_agreement_once_a_month(standing_world):
    world = standing_world
    assert StandingHold.objects.filter(agreement=world.agreement).count() == 1  # March, when it was made
    with clock.pinned(dt.datetime(2026, 4, 1, 6, 0, tzinfo=dt.UTC)):
        assert agreements.agreements_reserve_month() == 1
        assert agreements.agreements_reserve_month() == 0
    april = StandingHold.objects.get(agreement=world.agreement, month=dt.date(2026, 4, 1))
    assert april.hold_id is not None and april.remaining_cents > 0
    assert ledger_verify()[1] == []


def test_agreement_end__gives_later_reservations_back_and_cannot_end_twice(standing_world):
    world = standing_world
    with clock.pinned(dt.datetime(2026, 4, 1, 6, 0, tzinfo=dt.UTC)):
        agreements.agreements_reserve_month()
    held = _fresh(world.purse).debits_pending
    april = StandingHold.objects.get(agreement=world.agreement, month=dt.date(2026, 4, 1))
    april_reserved = april.remaining_cents
    ended = agreements.agreement_end(
        actor=world.worker, agreement=world.agreement, last_day=dt.date(2026, 3, 31), reason="Vaihtoi tuottajaa"
    )
    assert (ended.state, ended.valid_until) == ("ended", dt.date(2026, 3, 31))
    april.refresh_from_db()
    assert april.hold_id is None
    # April's reservation is free again (only what the purse could cover was reserved); March's stays.
    assert april_reserved > 0 and _fresh(world.purse).debits_pending == held - april_reserved
    with pytest.raises(ValidationError) as again:
        agreements.agreement_end(actor=world.worker, agreement=ended, last_day=dt.date(2026, 3, 31), reason="x")
    assert "last_day" in again.value.message_dict
    with pytest.raises(PermissionDenied):
        agreements.agreement_end(
            actor=make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame"),
            agreement=world.agreement,
            last_day=dt.date(2026, 3, 31),
            reason="x",
        )
    assert AuditEvent.objects.filter(action="agreement.end", data_subject_id=world.client.pk).count() == 1
    assert ledger_verify()[1] == []


def test_services_daily__approves_claims_whose_window_has_passed(capsys, unendorsed_world):
    from django.core.management import call_command

    world = unendorsed_world
    claim, _ = _claim(world)
    assert claim.status == ClaimStatus.WAITING
    with clock.pinned(MARCH + dt.timedelta(days=8)):
        call_command("services_daily")
    assert "Approved 1 claim(s)" in capsys.readouterr().out
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.APPROVED


def test_spending_policy_update__validates_and_is_audited(world):
    with pytest.raises(ValidationError) as refused:
        policies.spending_policy_update(
            actor=world.finance,
            organiser=world.client.organiser,
            approval_threshold_cents=0,
            dispute_window_days=0,
            payment_day=31,
            debtor_name="",
            debtor_iban=IBANS[1][0],
            debtor_bic=IBANS[1][1],
        )
    assert set(refused.value.message_dict) == {
        "approval_threshold",
        "dispute_window_days",
        "payment_day",
        "debtor_name",
    }
    with pytest.raises(PermissionDenied):
        policies.spending_policy_update(
            actor=world.worker,
            organiser=world.client.organiser,
            approval_threshold_cents=1,
            dispute_window_days=7,
            payment_day=15,
            debtor_name="x",
            debtor_iban=IBANS[1][0],
            debtor_bic=IBANS[1][1],
        )
    policies.spending_policy_update(
        actor=world.finance,
        organiser=world.client.organiser,
        approval_threshold_cents=25_000,
        dispute_window_days=14,
        payment_day=10,
        debtor_name="Länsi-Uudenmaan hyvinvointialue",
        debtor_iban=IBANS[1][0],
        debtor_bic=IBANS[1][1],
    )
    assert AuditEvent.objects.filter(action="spending_policy.update").count() == 1


def test_claim_submit__on_the_last_date_there_is__is_rejected_not_a_crash():
    """The fuzzed claim file found it: a service date of 31.12.9999 has no following day to end on."""
    world = build_world()
    claim, _created = _claim(world, day=dt.date.max)
    assert claim.status == ClaimStatus.REJECTED and claim.reasons
