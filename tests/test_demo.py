import datetime as dt
from dataclasses import dataclass

import pytest
from django.db import transaction

from kukkaro.core.audit import audit_verify
from kukkaro.core.identifiers import parse_hetu
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.demo.data import CLIENT_COUNT, DemoSummary, build_demo
from kukkaro.demo.services_data import SERVICE_TYPES
from kukkaro.ledger.verification import ledger_verify
from kukkaro.people.models import Client, User
from kukkaro.services.models import (
    AgreementState,
    BankAccountChange,
    Claim,
    ClaimSource,
    ClaimStatus,
    ClaimUploadRow,
    PaymentBatch,
    PaymentBatchState,
    PaymentOutcome,
    PriceCap,
    Provider,
    ProviderPrice,
    ProviderState,
    RejectReason,
    ServiceAgreement,
    ServiceType,
)
from kukkaro.services.payment_files import validate_pain001
from kukkaro.services.providers import provider_of

# One worker builds the demo once for the whole module (``./dev test`` distributes with --dist loadgroup).
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("demo")]
ORGANISERS = {"lansi-uusimaa", "paijat-hame"}


@dataclass(frozen=True)
class BuiltDemo:
    """The module's one demo, and what its first build left, for the test that builds it again."""

    summary: DemoSummary
    clients: list[tuple[str, str, str]]
    services_counts: tuple[int, ...]


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker):
    """One demo for the whole module (building it takes a while), rolled back afterwards. Each test runs in a
    savepoint inside it, so the test that builds it a second time leaves the first build for the others."""
    with django_db_blocker.unblock(), transaction.atomic():
        summary = build_demo()
        yield BuiltDemo(
            summary=summary,
            clients=sorted(Client.objects.values_list("national_id", "first_names", "last_name")),
            services_counts=_services_counts(),
        )
        transaction.set_rollback(True)


@pytest.fixture
def demo(built: BuiltDemo) -> DemoSummary:
    return built.summary


def _services_counts() -> tuple[int, ...]:
    return (
        Provider.objects.count(),
        ServiceAgreement.objects.count(),
        Claim.objects.count(),
        PaymentBatch.objects.count(),
        ClaimUploadRow.objects.count(),
    )


def test_build_demo__builds_the_region_and_is_safe_to_repeat(built):
    first = built.summary
    assert first.clients_created == CLIENT_COUNT + 1  # and the client of the next-year replacement
    assert Client.objects.count() == first.clients_total == CLIENT_COUNT + 1
    snapshot = built.clients
    assert first.cases["replaced"] == 8  # four in each organiser
    assert first.services.built and first.services.new_claims > 300
    services_before = built.services_counts
    again = build_demo()
    assert again.clients_created == 0
    assert again.cases == {}
    assert not again.services.built
    assert first.mobility.built and not again.mobility.built
    assert again.mobility.legs == first.mobility.legs
    assert (again.services.new_providers, again.services.new_claims, again.services.new_batches) == (0, 0, 0)
    assert _services_counts() == services_before
    assert sorted(Client.objects.values_list("national_id", "first_names", "last_name")) == snapshot
    assert audit_verify()[1] == []
    assert ledger_verify()[1] == []


def test_build_demo__every_role_exists_in_both_organisers_and_codes_are_test_range(demo):
    for role in (Role.SOCIAL_WORKER, Role.DECISION_MAKER, Role.FINANCE, Role.ANALYST, Role.ADMIN, Role.DISPATCH):
        assert set(User.objects.filter(role=role).values_list("organiser__code", flat=True)) == ORGANISERS
    assert User.objects.filter(role=Role.PROVIDER).exists()
    assert User.objects.filter(role=Role.SUPPORTER).count() == 3
    assert all(parse_hetu(code).is_test_range for code in Client.objects.values_list("national_id", flat=True))
    languages = set(Client.objects.values_list("language", flat=True))
    assert languages == {"fi", "sv"}
    assert Client.objects.filter(organiser__code="paijat-hame").count() > 50


def test_build_demo__every_effective_decision_funds_exactly_its_budget(demo):
    from kukkaro.cases.models import Decision, DecisionLine, DecisionState
    from kukkaro.ledger.models import Purse
    from kukkaro.ledger.selectors import purse_periods

    states = set(Decision.objects.values_list("state", flat=True))
    assert {"draft", "proposed", "approved", "sent", "replaced"} <= states
    assert (
        set(Decision.objects.filter(state=DecisionState.SENT).values_list("organiser__code", flat=True)) == ORGANISERS
    )
    lines = DecisionLine.objects.filter(effective=True, purse__isnull=False).select_related("purse", "decision")
    assert lines.count() > 50
    for line in lines:
        purse = line.purse
        assert (purse.valid_until, purse.unit) == (line.valid_until, line.purse_unit)
        if line.decision.state != DecisionState.REPLACED:  # a line a replacement ended keeps its last amount
            assert purse.period_amount == line.amount_per_period
        # What is not yet released is exactly the schedule's periods still to come.
        to_come = [p.amount for p in purse_periods(purse=purse) if not p.released]
        scheduled = Purse.objects.get(pk=purse.scheduled_id)
        assert scheduled.available_now == sum(to_come) - (purse.borrowed_ahead if to_come else 0)
    # A replaced decision's lines stay in force until the day before the replacement starts; a line that
    # continues has handed its purse to the replacing decision's line.
    for line in DecisionLine.objects.filter(effective=True, purse__isnull=True).select_related("decision"):
        assert line.decision.state == DecisionState.REPLACED
        successor = DecisionLine.objects.get(decision__replaces=line.decision, category_code=line.category_code)
        assert successor.purse_id is not None and successor.valid_from == line.valid_until + dt.timedelta(days=1)
    assert ledger_verify()[1] == []
    assert audit_verify()[1] == []


def test_build_demo__a_decision_for_next_year_replaced_from_1_march_keeps_january_and_february(demo):
    """Issue 16, item 1, in the demo: the dropped lines' purses end on 28.2. with January and February whole, and
    help at home goes from 980 € to 115 € a month from 1.3."""
    from kukkaro.cases.models import DecisionState
    from kukkaro.core import clock
    from kukkaro.demo.data import NEXT_YEAR_CLIENT
    from kukkaro.ledger.selectors import purse_periods

    year = clock.today().year + 1
    first_names, last_name, _born, _number = NEXT_YEAR_CLIENT
    client = Client.objects.get(first_names=first_names, last_name=last_name)
    replaced = client.decisions.get(state=DecisionState.REPLACED)
    replacement = client.decisions.get(replaces=replaced)
    assert (replacement.valid_from, replacement.valid_until) == (dt.date(year, 3, 1), dt.date(year, 12, 31))
    home_help = replacement.lines.get(category_code="home-help").purse
    assert [p.amount for p in purse_periods(purse=home_help)] == [98_000, 98_000] + [11_500] * 10
    dropped = replaced.lines.exclude(category_code="home-help").select_related("purse")
    assert {line.category_code for line in dropped} == {"day-activity", "personal-assistance", "transport-trips"}
    for line in dropped:
        assert line.purse.valid_until == dt.date(year, 2, 28)
        periods = purse_periods(purse=line.purse)
        assert [(p.start, p.amount) for p in periods] == [
            (dt.date(year, 1, 1), line.amount_per_period),
            (dt.date(year, 2, 1), line.amount_per_period),
        ]


def test_build_demo__claims_in_every_status_and_payment_batches_in_both_organisers(demo):
    # The printed logins have two finance people per county, so four-eyes can be tried.
    assert User.objects.filter(username__in=["lu.finance2", "ph.finance2"], role=Role.FINANCE).count() == 2
    for code in ORGANISERS:
        claims = Claim.objects.filter(organiser__code=code)
        assert set(claims.values_list("status", flat=True)) == set(ClaimStatus.values), code
        assert set(claims.values_list("source", flat=True)) == set(ClaimSource.values), code
        # Disputes settled both ways by a worker.
        resolved = claims.filter(decided_by__role=Role.SOCIAL_WORKER)
        assert set(resolved.values_list("status", flat=True)) & {"approved", "paid"}, code
        assert resolved.filter(status=ClaimStatus.REJECTED).exists(), code
        batches = PaymentBatch.objects.filter(organiser__code=code)
        assert batches.count() >= 2
        assert {PaymentBatchState.CONFIRMED, PaymentBatchState.RELEASED} <= set(batches.values_list("state", flat=True))
        for batch in batches:
            validate_pain001(bytes(batch.pain001))
            # Two people: prepared by finance, released by the second finance person.
            assert batch.released_by is not None and batch.released_by != batch.prepared_by
        confirmed = batches.get(state=PaymentBatchState.CONFIRMED)
        assert confirmed.status_reports.count() == 1 and confirmed.confirmed_by is None
        rejected = confirmed.lines.get(outcome=PaymentOutcome.REJECTED)
        assert rejected.reason_code == "AC06"
        # The rejected payment's claims went back and the latest batch carries them.
        returned = Claim.objects.filter(payment_items__line=rejected)
        assert returned.exists() and not returned.filter(payment__batch=confirmed).exists()
        assert set(returned.values_list("payment__batch__state", flat=True)) == {PaymentBatchState.RELEASED}
    assert not Claim.objects.filter(payment__outcome=PaymentOutcome.ACCEPTED).exclude(status="paid").exists()
    assert not Claim.objects.filter(status="paid").exclude(payment__outcome=PaymentOutcome.ACCEPTED).exists()
    reasons = {reason for row in Claim.objects.values_list("reasons", flat=True) for reason in row}
    assert {
        RejectReason.NO_AGREEMENT,
        RejectReason.PRICE_ABOVE_AGREEMENT,
        RejectReason.INSUFFICIENT_FUNDS,
        RejectReason.WRONG_SERVICE,
        RejectReason.AGREEMENT_NOT_ACTIVE,
        RejectReason.PROVIDER_NOT_APPROVED,
        RejectReason.FUTURE_DATE,
        RejectReason.DISPUTE_UPHELD,
    } <= reasons
    outcomes = set(ClaimUploadRow.objects.values_list("outcome", flat=True))
    assert {"invalid", "duplicate", "approved", "rejected"} <= outcomes
    assert Claim.objects.filter(decided_by__role=Role.SUPPORTER).exists()
    assert Claim.objects.filter(decided_by__role=Role.CLIENT).exists()


def test_build_demo__providers_in_every_state_and_the_demo_provider_has_work(demo):
    assert set(Provider.objects.values_list("state", flat=True)) == set(ProviderState.values)
    for code in ORGANISERS:
        assert 8 <= Provider.objects.filter(organiser__code=code).count() <= 15  # with three taxi operators
    assert any("sv" in p.languages for p in Provider.objects.filter(organiser__code="lansi-uusimaa"))
    assert BankAccountChange.objects.filter(state="pending").count() == 1
    assert ServiceAgreement.objects.filter(state=AgreementState.ENDED).exists()
    assert ServiceAgreement.objects.filter(own_share_cents__gt=0).exists()
    assert ServiceAgreement.objects.filter(standing_hold=True).exists()
    provider = provider_of(User.objects.get(username="provider.demo"))
    assert (provider.organiser.code, provider.state) == ("lansi-uusimaa", ProviderState.APPROVED)
    assert provider.agreements.exists()
    assert {ClaimStatus.PAID, ClaimStatus.WAITING} <= set(provider.claims.values_list("status", flat=True))
    others = User.objects.filter(role=Role.PROVIDER).exclude(username="provider.demo")
    assert all(user.username.startswith("provider.") and provider_of(user) for user in others)


def test_build_demo__a_year_of_trip_files_in_every_transport_model(demo):
    """Issue 6: a year of realistic legs for Länsi-Uusimaa clients in every model, heavy work and study users,
    shared rides, night and holiday trips, and some bad rows; every row has one outcome."""
    from kukkaro.core import clock
    from kukkaro.mobility import judgement
    from kukkaro.mobility.models import EntitlementModel, TransportEntitlement, TripImport, TripLeg

    entitlements = TransportEntitlement.objects.filter(organiser__code="lansi-uusimaa")
    assert set(entitlements.values_list("model", flat=True)) == set(EntitlementModel.values)
    assert entitlements.filter(work_line__isnull=False).count() >= 2
    imports = TripImport.objects.filter(organiser__code="lansi-uusimaa")
    assert imports.count() == 12
    legs = TripLeg.objects.filter(trip_import__in=imports)
    assert sum(sum(i.counts.values()) for i in imports) == legs.count() == sum(i.rows for i in imports)
    assert legs.count() > 2000
    assert {"accepted", "rejected", "review"} == set(legs.values_list("outcome", flat=True))
    assert legs.filter(purpose="work").count() > 300 and legs.filter(purpose="study").count() > 300
    assert legs.exclude(shared_ride_id="").count() > 20
    accepted = legs.filter(outcome="accepted")
    local = [leg.pickup_at.astimezone(clock.HELSINKI) for leg in accepted.only("pickup_at")]
    assert sum(1 for t in local if t.hour >= 22 or t.hour < 4) > 20
    holidays = {d for year in {t.year for t in local} for d in judgement.finnish_holidays(year)}
    assert sum(1 for t in local if t.date() in holidays) > 5
    assert set(accepted.values_list("debit_unit", flat=True)) >= {"TRIP", "KM", "EUR"}
    assert legs.exclude(resolved_outcome="").exists() and legs.filter(outcome="review", resolved_outcome="").exists()


def test_build_demo__leasing_cars_authorisations_and_heavy_users_for_whom_leasing_pays(demo):
    """Issue 7: a dispatch-centre token, authorisations in every state, a few leasing clients, and heavy users
    for whom the comparison recommends leasing."""
    from kukkaro.core import clock
    from kukkaro.core.models import Organiser
    from kukkaro.ledger.models import Transfer
    from kukkaro.mobility import comparison, selectors
    from kukkaro.mobility.models import LeasingContract, TripAuthorization

    assert any(username == "lu.dispatch" for username, _token in demo.api_tokens)
    states = set(TripAuthorization.objects.values_list("state", flat=True))
    assert {"approved", "denied", "cancelled", "expired", "settled"} <= states
    leases = LeasingContract.objects.all()
    assert leases.count() == 2
    assert Transfer.objects.filter(ref_type="leasing").count() >= 2 * 10  # each month since the second
    organiser = Organiser.objects.get(code="lansi-uusimaa")
    since, until = selectors.comparison_window(months=12, today=clock.today())
    patterns = selectors.patterns(organiser_id=organiser.pk, since=since, until=until, months=12)
    recommended = [comparison.compare(p, current="trip_quota").recommended for p in patterns.values()]
    assert recommended.count(comparison.LEASING) >= 2
    assert ledger_verify()[1] == []


def test_build_demo__each_county_has_its_own_catalogue_built_by_its_own_staff(demo):
    for code in ORGANISERS:
        types = ServiceType.objects.filter(organiser__code=code)
        assert set(types.values_list("code", flat=True)) == {row[0] for row in SERVICE_TYPES}, code
        created = AuditEvent.objects.filter(
            action="service_type.create", target_id__in=[str(pk) for pk in types.values_list("pk", flat=True)]
        )
        assert created.count() == len(SERVICE_TYPES)
        assert set(created.values_list("organiser__code", flat=True)) == {code}
    for rows in (
        PriceCap.objects.values_list("organiser_id", "service_type__organiser_id"),
        ProviderPrice.objects.values_list("provider__organiser_id", "service_type__organiser_id"),
        ServiceAgreement.objects.values_list("organiser_id", "service_type__organiser_id"),
        Claim.objects.filter(service_type__isnull=False).values_list("organiser_id", "service_type__organiser_id"),
    ):
        assert rows and all(own == of_service for own, of_service in rows)
