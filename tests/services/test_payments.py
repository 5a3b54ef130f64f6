"""Payment batches need two people and the bank's word: prepared by one finance person, released by another (never
by whoever approved a bank account it pays to), confirmed payment by payment by the bank's status report (pain.002)
or by hand with a reason. A rejected payment's claims go back for the next batch and the ledger is made right by
new transfers. A provider whose stored data cannot go into a bank file is left out, and the others are paid."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from kukkaro.core import clock
from kukkaro.core.audit import audit_verify
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.demo.bank import status_report
from kukkaro.ledger.models import PurseKind, Transfer, TransferCode, Unit
from kukkaro.ledger.selectors import system_total
from kukkaro.ledger.verification import ledger_verify
from kukkaro.services import agreements, catalogue, claims, payments, providers, status_reports
from kukkaro.services.models import (
    Claim,
    ClaimStatus,
    LeftOutReason,
    PaymentBatch,
    PaymentBatchState,
    PaymentLeftOut,
    PaymentOutcome,
    PaymentStatusReport,
    Provider,
)
from kukkaro.services.payment_files import validate_pain001
from tests.factories import make_user
from tests.services.world import BUSINESS_IDS, IBANS, approved_provider, build_world
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db

MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

#: The worlds built once on MARCH and shared by the tests that start from them (tests/worlds.py).
world = shared_world("world", build_world, at=MARCH, language="en")
BANK_ANSWERS = MARCH + dt.timedelta(days=2)


@pytest.fixture(autouse=True)
def _clock():
    # English, so the assertions can read the messages (Finnish is the default).
    with clock.pinned(MARCH), translation.override("en"):
        yield


def _claim(world, *, invoice, quantity=100, provider=None, user=None, agreement=None):
    claim, _created = claims.claim_submit(
        actor=user or world.provider_user,
        provider=provider or world.provider,
        agreement_number=(agreement or world.agreement).number,
        service_code="day-activity",
        service_date=clock.today(),
        quantity_hundredths=quantity,
        unit_price_cents=9_000,
        invoice_number=invoice,
    )
    return claim


def _second_provider(world, *, name="Toinen Päivä Oy", business_id=BUSINESS_IDS[1], username="toinen-paiva"):
    """Another approved provider with an endorsed agreement on the world's client: its claims are approved at once."""
    other, other_user = approved_provider(
        organiser=world.client.organiser,
        decision_maker=world.decision_maker,
        business_id=business_id,
        name=name,
        username=username,
    )
    catalogue.provider_price_set(
        actor=other_user, provider=other, service_type=world.day_activity, price_cents=9_000, valid_from=clock.today()
    )
    agreement = agreements.agreement_create(
        actor=world.worker,
        line=world.line,
        provider=other,
        service_type=world.day_activity,
        quantity_hundredths=400,
        valid_from=clock.today(),
        valid_until=world.line.valid_until,
        endorsed=True,
    )
    return other, other_user, agreement


def _prepare(world, *, actor=None, execution_date=None) -> PaymentBatch:
    return payments.payment_batch_prepare(
        actor=actor or world.finance,
        organiser=world.client.organiser,
        approved_until=clock.today(),
        execution_date=execution_date or clock.today() + dt.timedelta(days=2),
    )


def _paid_total(world) -> int:
    return system_total(organiser_id=world.client.organiser_id, unit=Unit.EUR, kind=PurseKind.PAID)["balance_posted"]


def _payables(world) -> int:
    total = system_total(organiser_id=world.client.organiser_id, unit=Unit.EUR, kind=PurseKind.PAYABLES)
    return total["balance_posted"]


def _import(world, batch, document, *, actor=None, filename="status.xml", on_page=None):
    return payments.payment_status_import(
        actor=actor or world.finance2,
        organiser=world.client.organiser,
        filename=filename,
        content=document,
        batch=on_page,
    )


def _clean_books():
    assert ledger_verify()[1] == []
    assert audit_verify()[1] == []


# --- prepare -------------------------------------------------------------------------------------------------


def test_payment_batch_prepare__groups_per_provider_and_the_file_waits_for_release(world):
    _claim(world, invoice="A-1", quantity=100)
    _claim(world, invoice="A-2", quantity=200)
    waiting = _claim(world, invoice="A-3", quantity=600)  # above the threshold: waits for the client
    assert waiting.status == ClaimStatus.WAITING
    with pytest.raises(PermissionDenied):
        _prepare(world, actor=world.worker)
    batch = _prepare(world)
    assert (batch.state, batch.prepared_by, batch.released_by) == (PaymentBatchState.PREPARED, world.finance, None)
    assert not batch.file_available
    validate_pain001(bytes(batch.pain001))
    line = batch.lines.get()
    assert (line.amount_cents, batch.total_cents, line.outcome) == (27_000, 27_000, PaymentOutcome.PENDING)
    assert line.reference.startswith("RF") and line.iban == IBANS[0][0]
    assert line.items.count() == 2
    csv_text = bytes(batch.accounting_csv).decode("utf-8-sig")
    assert csv_text.count("\r\n") == 3 and "A-1" in csv_text and "A-3" not in csv_text
    with pytest.raises(ValidationError):  # nothing left to pay: a claim is in one live batch only
        _prepare(world)
    assert _paid_total(world) == 0  # nothing is paid before the bank says so
    assert AuditEvent.objects.filter(action="payment_batch.prepare", target_id=str(batch.pk)).exists()


def test_payment_batch_prepare__holds_back_a_provider_whose_bank_account_change_waits(world):
    _claim(world, invoice="INV-1")
    providers.bank_account_change_request(
        actor=world.provider_user, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    with pytest.raises(ValidationError) as refused:
        _prepare(world)
    assert world.provider.name in refused.value.message_dict["approved_until"][0]
    assert not PaymentBatch.objects.exists()
    other, other_user, agreement = _second_provider(world)
    _claim(world, invoice="OTHER-1", provider=other, user=other_user, agreement=agreement)
    batch = _prepare(world)
    assert list(batch.lines.values_list("provider_id", flat=True)) == [other.pk]
    left_out = PaymentLeftOut.objects.get(batch=batch)
    assert (left_out.provider, left_out.reasons, left_out.claims) == (
        world.provider,
        [LeftOutReason.BANK_CHANGE_PENDING],
        1,
    )
    assert Claim.objects.get(invoice_number="INV-1").payment is None


def test_payment_batch_prepare__provider_stored_with_a_control_character__is_left_out_and_the_others_are_paid(world):
    """A provider row written before inputs refused control characters (``\\x0b`` in its name) once made the batch
    page fail with no batch for anyone."""
    _claim(world, invoice="VT-1")
    other, other_user, agreement = _second_provider(world)
    _claim(world, invoice="OK-1", provider=other, user=other_user, agreement=agreement)
    Provider.objects.filter(pk=world.provider.pk).update(name="Päivä\x0bpaikka Oy")  # as stored long ago

    batch = _prepare(world)

    validate_pain001(bytes(batch.pain001))
    assert list(batch.lines.values_list("provider_id", flat=True)) == [other.pk]
    assert b"\x0b" not in bytes(batch.pain001)
    left_out = PaymentLeftOut.objects.get(batch=batch)
    assert left_out.provider_id == world.provider.pk
    assert left_out.reasons == [LeftOutReason.NAME_CONTROL_CHARACTER]
    assert Claim.objects.get(invoice_number="VT-1").payment is None  # waits for the next batch
    assert Claim.objects.get(invoice_number="OK-1").payment.batch == batch


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"name": "Päiväpaikka " + "Oy " * 30}, LeftOutReason.NAME_TOO_LONG, id="name-too-long"),
        pytest.param({"name": "  "}, LeftOutReason.NAME_EMPTY, id="name-empty"),
        pytest.param({"iban": "FI2112345600000786"}, LeftOutReason.INVALID_IBAN, id="iban-checksum"),
        pytest.param({"bic": "NDEA"}, LeftOutReason.INVALID_BIC, id="bic"),
        pytest.param({"name": "\U0001f600"}, LeftOutReason.FILE_REFUSED, id="nothing-a-bank-file-can-carry"),
    ],
)
def test_payment_batch_prepare__stored_data_a_bank_file_cannot_carry__leaves_only_that_provider_out(
    changes, reason, world
):
    _claim(world, invoice="BAD-1")
    other, other_user, agreement = _second_provider(world)
    _claim(world, invoice="OK-1", provider=other, user=other_user, agreement=agreement)
    Provider.objects.filter(pk=world.provider.pk).update(**changes)
    batch = _prepare(world)
    validate_pain001(bytes(batch.pain001))
    assert list(batch.lines.values_list("provider_id", flat=True)) == [other.pk]
    assert reason in PaymentLeftOut.objects.get(batch=batch, provider=world.provider).reasons


def test_payment_batch_prepare__when_every_provider_is_left_out__says_who_and_why_and_makes_nothing(world):
    _claim(world, invoice="VT-1")
    Provider.objects.filter(pk=world.provider.pk).update(name="Päivä\x0bpaikka Oy")
    with pytest.raises(ValidationError) as refused:
        _prepare(world)
    message = refused.value.message_dict["approved_until"][0]
    assert "Päivä" in message and str(LeftOutReason.NAME_CONTROL_CHARACTER.label) in message
    assert not PaymentBatch.objects.exists()
    assert Claim.objects.get(invoice_number="VT-1").payment is None


def test_payment_batch_prepare__paying_account_a_bank_file_cannot_carry__is_the_settings_error(world):
    _claim(world, invoice="A-1")
    world.client.organiser.spending_policy.__class__.objects.filter(organiser=world.client.organiser).update(
        debtor_name="Hyvinvointi\x0balue"
    )
    with pytest.raises(ValidationError) as refused:
        _prepare(world)
    assert "organiser" in refused.value.message_dict


# --- release and cancel --------------------------------------------------------------------------------------


def test_payment_batch_release__by_the_preparer__is_refused_by_the_service_and_the_database(world):
    _claim(world, invoice="A-1")
    batch = _prepare(world)
    with pytest.raises(ValidationError) as refused:
        payments.payment_batch_release(actor=world.finance, batch=batch)
    assert "prepared this batch" in " ".join(refused.value.messages)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentBatch.objects.filter(pk=batch.pk).update(
            state=PaymentBatchState.RELEASED, released_by=world.finance, released_at=clock.now()
        )
    with pytest.raises(PermissionDenied):
        payments.payment_batch_release(actor=world.worker, batch=batch)
    released = payments.payment_batch_release(actor=world.finance2, batch=batch)
    assert (released.state, released.released_by, released.file_available) == ("released", world.finance2, True)
    with pytest.raises(ValidationError):  # once only
        payments.payment_batch_release(actor=make_user(Role.FINANCE), batch=batch)
    assert AuditEvent.objects.filter(action="payment_batch.release", actor=world.finance2).count() == 1


def test_payment_batch_release__by_whoever_approved_the_bank_account__is_refused_by_the_service_and_the_database(world):
    """The issue's story: one finance user approved a provider's new account, paid a batch to it and marked it paid
    within a minute. Now whoever approved (or asked for) the account cannot release a batch that pays to it."""
    change = providers.bank_account_change_request(
        actor=world.provider_user, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    providers.bank_account_change_decide(actor=world.finance2, change=change, approve=True)
    _claim(world, invoice="A-1")
    batch = _prepare(world)
    assert batch.lines.get().iban == IBANS[1][0]
    with pytest.raises(ValidationError) as refused:
        payments.payment_batch_release(actor=world.finance2, batch=batch)
    assert world.provider.name in " ".join(refused.value.messages)
    assert payments.release_refusals(actor=world.finance2, batch=batch)
    # The database refuses it too, should a service ever forget to ask.
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentBatch.objects.filter(pk=batch.pk).update(
            state=PaymentBatchState.RELEASED, released_by=world.finance2, released_at=clock.now()
        )
    third = make_user(Role.FINANCE)
    assert payments.release_refusals(actor=third, batch=batch) == []
    assert payments.payment_batch_release(actor=third, batch=batch).state == PaymentBatchState.RELEASED


def test_payment_batch_release__account_changed_or_date_passed_since_prepared__is_refused(world):
    _claim(world, invoice="A-1")
    batch = _prepare(world, execution_date=clock.today())
    change = providers.bank_account_change_request(
        actor=world.provider_user, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    third = make_user(Role.FINANCE)
    providers.bank_account_change_decide(actor=third, change=change, approve=True)
    with pytest.raises(ValidationError) as refused:
        payments.payment_batch_release(actor=world.finance2, batch=batch)
    assert "Cancel the batch" in " ".join(refused.value.messages)
    with clock.pinned(MARCH + dt.timedelta(days=1)):
        assert any("has passed" in r for r in payments.release_refusals(actor=world.finance2, batch=batch))


def test_payment_batch_cancel__frees_the_claims_for_the_next_batch_and_needs_a_reason(world):
    claim = _claim(world, invoice="A-1")
    batch = _prepare(world)
    with pytest.raises(ValidationError) as refused:
        payments.payment_batch_cancel(actor=world.finance, batch=batch, reason=" ")
    assert "reason" in refused.value.message_dict
    cancelled = payments.payment_batch_cancel(actor=world.finance, batch=batch, reason="Väärä maksupäivä")
    assert (cancelled.state, cancelled.cancel_reason) == (PaymentBatchState.CANCELLED, "Väärä maksupäivä")
    assert not cancelled.file_available
    assert Claim.objects.get(pk=claim.pk).payment is None
    assert set(batch.lines.values_list("outcome", flat=True)) == {PaymentOutcome.CANCELLED}
    again = _prepare(world)
    assert Claim.objects.get(pk=claim.pk).payment.batch == again
    payments.payment_batch_release(actor=world.finance2, batch=again)
    with pytest.raises(ValidationError):  # a released batch may have gone to the bank: it is not cancelled
        payments.payment_batch_cancel(actor=world.finance, batch=again, reason="x")
    _clean_books()


# --- the bank's word -------------------------------------------------------------------------------------------


def _released_batch_of_two(world):
    """A released batch paying the world's provider (two claims) and a second provider (one claim)."""
    _claim(world, invoice="A-1", quantity=100)
    _claim(world, invoice="A-2", quantity=200)
    other, other_user, agreement = _second_provider(world)
    _claim(world, invoice="B-1", quantity=100, provider=other, user=other_user, agreement=agreement)
    batch = payments.payment_batch_release(actor=world.finance2, batch=_prepare(world))
    lines = {line.provider_id: line for line in batch.lines.all()}
    return batch, lines[world.provider.pk], lines[other.pk]


def test_payment_status_import__pain002_of_a_released_batch__pays_the_accepted_and_returns_the_rejected(world):
    """Done means: a pain.002 built from a released batch (accepted and rejected payments) is imported, the
    claims end in the right states and ``ledger_verify`` is clean."""
    batch, accepted_line, rejected_line = _released_batch_of_two(world)
    payables_before = _payables(world)
    document = status_report(
        bytes(batch.pain001),
        message_id="NDEA-STS-0001",
        created_at=BANK_ANSWERS,
        rejected={rejected_line.end_to_end_id: ("AC04", "Tili on lopetettu")},
    )
    status_reports.validate(document)  # a schema-valid pain.002.001.10

    with clock.pinned(BANK_ANSWERS):
        result = _import(world, batch, document)

    assert result.created and (result.report.accepted, result.report.rejected) == (1, 1)
    batch.refresh_from_db()
    assert batch.state == PaymentBatchState.CONFIRMED and batch.confirmed_by is None
    accepted_line.refresh_from_db()
    rejected_line.refresh_from_db()
    assert (accepted_line.outcome, accepted_line.status_code) == (PaymentOutcome.ACCEPTED, "ACSC")
    assert (rejected_line.outcome, rejected_line.reason_code) == (PaymentOutcome.REJECTED, "AC04")
    assert rejected_line.reason_text == "Tili on lopetettu"
    paid = Claim.objects.filter(invoice_number__in=["A-1", "A-2"])
    assert set(paid.values_list("status", flat=True)) == {ClaimStatus.PAID}
    returned = Claim.objects.get(invoice_number="B-1")
    assert (returned.status, returned.payment) == (ClaimStatus.APPROVED, None)
    assert returned.payment_items.get().line == rejected_line  # the reason stays visible on the claim
    # The ledger: the accepted amount moved from payables to paid; the rejected one is still owed.
    assert _paid_total(world) == accepted_line.amount_cents
    assert _payables(world) == payables_before - accepted_line.amount_cents
    assert Transfer.objects.filter(code=TransferCode.PAYMENT).count() == 2
    _clean_books()

    # The same file again changes nothing.
    with clock.pinned(BANK_ANSWERS + dt.timedelta(hours=1)):
        again = _import(world, batch, document, actor=world.finance)
    assert not again.created and again.report == result.report
    assert PaymentStatusReport.objects.count() == 1
    assert Transfer.objects.filter(code=TransferCode.PAYMENT).count() == 2

    # The next batch pays the returned claim (to the provider's account as it is then).
    with clock.pinned(BANK_ANSWERS):
        following = _prepare(world)
    assert list(Claim.objects.filter(payment__batch=following).values_list("invoice_number", flat=True)) == ["B-1"]
    _clean_books()


def test_payment_status_import__group_status_only_and_pain002_001_03__are_understood(world):
    batch, _first, _second = _released_batch_of_two(world)
    document = status_report(
        bytes(batch.pain001), message_id="OKOY-1", created_at=BANK_ANSWERS, message_name="pain.002.001.03"
    )
    _import(world, batch, document)
    batch.refresh_from_db()
    assert batch.state == PaymentBatchState.CONFIRMED
    assert set(batch.lines.values_list("outcome", flat=True)) == {PaymentOutcome.ACCEPTED}
    assert set(Claim.objects.values_list("status", flat=True)) == {ClaimStatus.PAID}
    _clean_books()


def test_payment_status_import__not_final_or_partial_answers__leave_the_rest_waiting(world):
    batch, _first, second = _released_batch_of_two(world)
    document = status_report(
        bytes(batch.pain001), message_id="B-1", created_at=BANK_ANSWERS, pending={second.end_to_end_id}
    )
    result = _import(world, batch, document)
    assert (result.report.accepted, result.report.rejected, result.report.unchanged) == (1, 0, 1)
    batch.refresh_from_db()
    assert batch.state == PaymentBatchState.RELEASED
    later = status_report(bytes(batch.pain001), message_id="B-2", created_at=BANK_ANSWERS)
    assert _import(world, batch, later).report.accepted == 1
    batch.refresh_from_db()
    assert batch.state == PaymentBatchState.CONFIRMED
    _clean_books()


def test_payment_status_import__what_it_cannot_trust__is_refused_and_changes_nothing(world):
    batch, _first, second = _released_batch_of_two(world)
    good = status_report(bytes(batch.pain001), message_id="B-1", created_at=BANK_ANSWERS)
    other_world_finance = make_user(Role.FINANCE, organiser_code="paijat-hame")
    prepared = _prepared_batch_for_a_third_provider(world)
    cases = {
        "malformed": (world.finance2, good[:200], None),
        "unknown-batch": (world.finance2, good.replace(batch.number.encode(), b"PB99209901"), None),
        "another-organisers": (other_world_finance, good, None),
        "unknown-payment": (world.finance2, good.replace(second.end_to_end_id.encode(), b"PB-XXXX"), None),
        "on-another-batchs-page": (world.finance2, good, prepared),
        "not-released": (
            world.finance2,
            status_report(bytes(prepared.pain001), message_id="B-9", created_at=BANK_ANSWERS),
            None,
        ),
    }
    for name, (actor, document, page) in cases.items():
        organiser = actor.organiser
        with pytest.raises(ValidationError) as refused:
            payments.payment_status_import(
                actor=actor, organiser=organiser, filename="x.xml", content=document, batch=page
            )
        assert refused.value.message_dict["file"], name
    assert not PaymentStatusReport.objects.exists()
    assert set(batch.lines.values_list("outcome", flat=True)) == {PaymentOutcome.PENDING}
    assert not Transfer.objects.filter(code=TransferCode.PAYMENT).exists()
    with pytest.raises(PermissionDenied):
        payments.payment_status_import(
            actor=world.worker, organiser=world.client.organiser, filename="x.xml", content=good
        )
    _clean_books()


def _prepared_batch_for_a_third_provider(world):
    third, third_user, agreement = _second_provider(
        world, name="Kolmas Päivä Oy", business_id=BUSINESS_IDS[2], username="kolmas"
    )
    _claim(world, invoice="C-1", provider=third, user=third_user, agreement=agreement)
    return _prepare(world)


def test_payment_status_import__accepting_a_payment_it_rejected_earlier__is_refused(world):
    batch, _first, second = _released_batch_of_two(world)
    _import(
        world,
        batch,
        status_report(
            bytes(batch.pain001),
            message_id="B-1",
            created_at=BANK_ANSWERS,
            rejected={second.end_to_end_id: ("AC01", "")},
        ),
    )
    with pytest.raises(ValidationError) as refused:
        _import(world, batch, status_report(bytes(batch.pain001), message_id="B-2", created_at=BANK_ANSWERS))
    assert "rejected it earlier" in refused.value.message_dict["file"][0]
    assert Claim.objects.get(invoice_number="B-1").status == ClaimStatus.APPROVED
    _clean_books()


def test_payment_batch_confirm__by_hand__needs_a_second_person_and_a_reason_and_the_bank_still_wins(world):
    batch, first, second = _released_batch_of_two(world)
    with pytest.raises(ValidationError) as preparer:
        payments.payment_batch_confirm(actor=world.finance, batch=batch, reason="Näkyy verkkopankissa")
    assert "confirmed_by" in preparer.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentBatch.objects.filter(pk=batch.pk).update(
            state=PaymentBatchState.CONFIRMED,
            confirmed_by=world.finance,
            confirmed_at=clock.now(),
            confirmation_reason="x",
        )
    with pytest.raises(ValidationError) as reasonless:
        payments.payment_batch_confirm(actor=world.finance2, batch=batch, reason="")
    assert "reason" in reasonless.value.message_dict
    confirmed = payments.payment_batch_confirm(actor=world.finance2, batch=batch, reason="Näkyy verkkopankissa")
    assert (confirmed.state, confirmed.confirmed_by) == (PaymentBatchState.CONFIRMED, world.finance2)
    assert set(Claim.objects.values_list("status", flat=True)) == {ClaimStatus.PAID}
    total = first.amount_cents + second.amount_cents
    assert _paid_total(world) == total

    # The bank's report arrives after all and rejects one payment: correction transfers, never edits.
    with clock.pinned(BANK_ANSWERS):
        _import(
            world,
            batch,
            status_report(
                bytes(batch.pain001),
                message_id="B-1",
                created_at=BANK_ANSWERS,
                rejected={second.end_to_end_id: ("MD07", "")},
            ),
        )
    second.refresh_from_db()
    assert (second.outcome, second.reason_code) == (PaymentOutcome.REJECTED, "MD07")
    assert _paid_total(world) == first.amount_cents
    corrections = Transfer.objects.filter(code=TransferCode.CORRECTION, ref_type="transfer")
    assert corrections.count() == 1 and corrections.get().amount == second.amount_cents
    returned = Claim.objects.get(invoice_number="B-1")
    assert (returned.status, returned.payment) == (ClaimStatus.APPROVED, None)
    _clean_books()


def test_payment_batch_confirm__only_a_released_batch(world):
    _claim(world, invoice="A-1")
    batch = _prepare(world)
    with pytest.raises(ValidationError):
        payments.payment_batch_confirm(actor=world.finance2, batch=batch, reason="x")
