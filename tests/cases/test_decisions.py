import datetime as dt
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from kukkaro.cases import services
from kukkaro.cases.models import DecisionLine, DecisionState, DeliveryMethod
from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Purse, Transfer, TransferCode
from kukkaro.ledger.verification import ledger_verify
from tests.cases.factories import rate_table
from tests.factories import client_in, make_user

pytestmark = pytest.mark.django_db

MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(MARCH):
        yield


@pytest.fixture
def people():
    rate_table()
    return {
        "worker": make_user(Role.SOCIAL_WORKER),
        "approver": make_user(Role.DECISION_MAKER),
        "preparer_dm": make_user(Role.DECISION_MAKER),
        "client": client_in("lansi-uusimaa", language="sv"),
    }


def _final(people, lines):
    indicative = services.calculation_create_indicative(
        actor=people["worker"],
        client=people["client"],
        lines=[{k: v for k, v in line.items() if k not in {"adjustment", "adjustment_reason"}} for line in lines],
    )
    return services.calculation_finalise(actor=people["worker"], indicative=indicative, lines=lines)


def _proposed(people, *, lines=None, preparer=None, valid=(dt.date(2026, 3, 1), dt.date(2026, 12, 31))):
    calculation = _final(
        people, lines or [{"category": "day-activity", "quantity": 8}, {"category": "transport-trips", "quantity": 18}]
    )
    decision = services.decision_draft_create(
        actor=preparer or people["worker"],
        calculation=calculation,
        valid_from=valid[0],
        valid_until=valid[1],
        reasons="Asiakkaan tarpeet ja oma suunnitelma.",
    )
    return services.decision_propose(actor=preparer or people["worker"], decision=decision)


def test_decision__draft_is_in_the_clients_language(people):
    decision = _proposed(people)
    assert decision.language == "sv"
    assert decision.lines.count() == 2


def test_approve__by_the_preparer__is_refused(people):
    decision = _proposed(people, preparer=people["preparer_dm"])
    with pytest.raises(ValidationError) as excinfo:
        services.decision_approve(actor=people["preparer_dm"], decision=decision)
    assert "approver" in excinfo.value.message_dict
    decision.refresh_from_db()
    assert decision.state == DecisionState.PROPOSED


def test_approve__preparer_as_approver__refused_by_the_database_too(people):
    decision = _proposed(people, preparer=people["preparer_dm"])
    with pytest.raises(IntegrityError), transaction.atomic():
        type(decision).objects.filter(pk=decision.pk).update(approver=people["preparer_dm"])


def test_approve__only_decision_makers_of_the_same_organiser(people):
    decision = _proposed(people)
    with pytest.raises(PermissionDenied):
        services.decision_approve(actor=make_user(Role.SOCIAL_WORKER), decision=decision)
    with pytest.raises(PermissionDenied):
        services.decision_approve(actor=make_user(Role.DECISION_MAKER, organiser_code="paijat-hame"), decision=decision)


def test_approve__funds_a_purse_per_line_and_snapshots(people):
    decision = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    assert decision.state == DecisionState.APPROVED
    assert decision.snapshot["lines"][0]["code"] == "day-activity"
    lines = {line.category_code: line for line in decision.lines.select_related("purse")}
    eur, trips = lines["day-activity"].purse, lines["transport-trips"].purse
    assert eur.period_amount == 78_400
    assert eur.available_now == 78_400  # March has begun
    assert trips.available_now == 18
    assert Purse.objects.get(pk=eur.scheduled_id).balance_posted == 9 * 78_400
    assert ledger_verify()[1] == []
    assert AuditEvent.objects.filter(action="decision.approve", data_subject_id=people["client"].pk).exists()


def test_approve__retried__funds_nothing_twice(people):
    decision = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    again = services.decision_approve(actor=people["approver"], decision=decision)
    assert again.pk == decision.pk
    assert Transfer.objects.filter(code=TransferCode.ALLOCATION).count() == 2
    assert Purse.objects.filter(client=people["client"], kind="client").count() == 2


def test_approve__overlapping_effective_decision__is_refused(people):
    first = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    second = _proposed(people, valid=(dt.date(2026, 6, 1), dt.date(2027, 5, 31)))
    with pytest.raises(ValidationError) as excinfo:
        services.decision_approve(actor=people["approver"], decision=second)
    assert first.number in str(excinfo.value.message_dict["valid_from"])


def test_decision_lines__overlap_refused_by_postgresql(people, on_postgres):
    first = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    second = _proposed(people, valid=(dt.date(2026, 6, 1), dt.date(2027, 5, 31)))
    if on_postgres:
        with pytest.raises(IntegrityError), transaction.atomic():
            DecisionLine.objects.filter(decision=second).update(effective=True)
    else:  # SQLite relies on the service check above
        assert DecisionLine.objects.filter(decision=first, effective=True).count() == 2


def test_send__by_post__counts_as_received_on_the_seventh_day(people):
    decision = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    decision = services.decision_send(
        actor=people["worker"], decision=decision, method=DeliveryMethod.POST, sent_on=dt.date(2026, 3, 2)
    )
    assert decision.state == DecisionState.SENT
    assert decision.received_on == dt.date(2026, 3, 9)


def test_send__electronically__counts_as_received_on_the_third_day(people):
    decision = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    decision = services.decision_send(
        actor=people["worker"], decision=decision, method=DeliveryMethod.ELECTRONIC, sent_on=dt.date(2026, 3, 2)
    )
    assert decision.received_on == dt.date(2026, 3, 5)


def test_approved_decision__cannot_go_back_to_draft_states(people):
    decision = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    with pytest.raises(ValidationError):
        services.decision_propose(actor=people["worker"], decision=decision)


def test_annul__ends_the_purses_and_keeps_what_was_spent(people):
    decision = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    purse = decision.lines.get(category_code="day-activity").purse
    hold = ledger.hold_create(
        transfer_id=uuid.uuid4(), purse=purse, amount=10_000, expires_at=clock.now() + dt.timedelta(days=3)
    )
    ledger.hold_post(transfer_id=uuid.uuid4(), hold=hold)
    with pytest.raises(ValidationError):
        services.decision_annul(actor=people["approver"], decision=decision, reason="")
    services.decision_annul(actor=people["approver"], decision=decision, reason="Oikaisuvaatimus hyväksytty")
    purse.refresh_from_db()
    assert purse.debits_posted >= 10_000
    assert purse.available_now == 0
    assert Purse.objects.get(pk=purse.scheduled_id).available_now == 0
    assert not DecisionLine.objects.filter(decision=decision, effective=True).exists()
    assert ledger_verify()[1] == []


def test_replace__moves_only_the_difference_and_keeps_spending(people):
    decision = services.decision_approve(actor=people["approver"], decision=_proposed(people))
    purse = decision.lines.get(category_code="day-activity").purse
    hold = ledger.hold_create(
        transfer_id=uuid.uuid4(), purse=purse, amount=30_000, expires_at=clock.now() + dt.timedelta(days=3)
    )
    ledger.hold_post(transfer_id=uuid.uuid4(), hold=hold)
    calculation = _final(people, [{"category": "day-activity", "quantity": 10}])  # 8 → 10 days a month, no trips
    replacement = services.decision_draft_create(
        actor=people["worker"],
        calculation=calculation,
        valid_from=dt.date(2026, 4, 1),
        valid_until=dt.date(2026, 12, 31),
        reasons="Päivätoimintaa lisätään.",
        replaces=decision,
    )
    assert {c["code"] for c in replacement.change_summary} == {"day-activity", "transport-trips", "validity"}
    services.decision_propose(actor=people["worker"], decision=replacement)
    replacement = services.decision_approve(actor=people["approver"], decision=replacement)
    decision.refresh_from_db()
    assert decision.state == DecisionState.REPLACED
    same = replacement.lines.get(category_code="day-activity").purse
    assert same.pk == purse.pk  # the same purse: spending already made stays with it
    assert same.debits_posted == 30_000
    assert same.period_amount == 98_000
    # April–December at the new amount is all that is scheduled now.
    assert Purse.objects.get(pk=same.scheduled_id).available_now == 9 * 98_000
    trips = decision.lines.get(category_code="transport-trips")
    assert trips.purse is not None
    # A dropped line keeps March (the replacement starts in April) and ends on 31.3.; nothing after is scheduled.
    dropped = Purse.objects.get(pk=trips.purse_id)
    assert (dropped.valid_until, dropped.available_now) == (dt.date(2026, 3, 31), 18)
    assert Purse.objects.get(pk=dropped.scheduled_id).available_now == 0
    assert ledger_verify()[1] == []
    with clock.pinned(dt.datetime(2026, 4, 2, 9, 0, tzinfo=dt.UTC)):
        ledger.purse_release_due(purse=same)
        ledger.purse_release_due(purse=dropped)
    assert Purse.objects.get(pk=same.pk).available_now == 78_400 - 30_000 + 98_000
    assert Purse.objects.get(pk=dropped.pk).available_now == 0
