"""A hypothesis state machine drives one monthly purse through random holds, posts, voids, expiries,
borrowing, month changes and retries, and compares it after every step with a model in plain Python."""

import contextlib
import datetime as dt
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule

from kukkaro.core import clock
from kukkaro.ledger import services
from kukkaro.ledger.models import PeriodKind, Purse, RolloverRule, Unit
from kukkaro.ledger.verification import ledger_verify
from tests.factories import client_in

PERIOD = 18  # trips a month
LIMIT = 4  # may borrow up to 4 trips from next month
CAP = 6  # may save up to 6 trips


class PurseMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.month = 1
        self._stack.enter_context(clock.pinned(self._moment()))
        client = client_in("lansi-uusimaa")
        self.purse = services.client_purse_open(
            organiser=client.organiser,
            client=client,
            unit=Unit.TRIP,
            valid_from=dt.date(2026, 1, 1),
            valid_until=dt.date(2026, 12, 31),
            period_amount=PERIOD,
            period_kind=PeriodKind.MONTHLY,
            rollover_rule=RolloverRule.ROLL_CAPPED,
            rollover_cap=CAP,
            borrow_limit=LIMIT,
        )
        self.available = PERIOD
        self.held: dict[uuid.UUID, int] = {}
        self.borrowed = 0
        self.last: tuple | None = None

    def _moment(self) -> dt.datetime:
        return dt.datetime(2026, self.month, 10, 9, 0, tzinfo=dt.UTC)

    def teardown(self) -> None:
        try:
            assert ledger_verify()[1] == []
        finally:
            # Each example starts from the same empty ledger, whatever happened in this one.
            self._stack.close()
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    @rule(target=holds, amount=st.integers(min_value=1, max_value=12))
    def hold(self, amount):
        transfer_id = uuid.uuid4()
        expires = clock.now() + dt.timedelta(days=400)
        try:
            hold = services.hold_create(transfer_id=transfer_id, purse=self.purse, amount=amount, expires_at=expires)
        except services.InsufficientFunds:
            assert amount > self.available
            return None
        assert amount <= self.available
        self.available -= amount
        self.held[hold.pk] = amount
        self.last = (transfer_id, amount, expires, hold.pk)
        return hold

    @rule(hold=consumes(holds), fraction=st.floats(min_value=0.01, max_value=1.0))
    def post(self, hold, fraction):
        if hold is None:
            return
        amount = max(1, int(hold.amount * fraction))
        services.hold_post(transfer_id=uuid.uuid4(), hold=hold, amount=amount)
        self.available += self.held.pop(hold.pk) - amount

    @rule(hold=consumes(holds))
    def void(self, hold):
        if hold is None:
            return
        services.hold_void(transfer_id=uuid.uuid4(), hold=hold)
        self.available += self.held.pop(hold.pk)

    @precondition(lambda self: self.last is not None)
    @rule()
    def retry_last_hold(self):
        transfer_id, amount, expires, pk = self.last
        again = services.hold_create(transfer_id=transfer_id, purse=self.purse, amount=amount, expires_at=expires)
        assert again.pk == pk  # nothing applied twice: the invariant below checks the counters

    @rule(amount=st.integers(min_value=1, max_value=5))
    def borrow(self, amount):
        try:
            services.purse_borrow(transfer_id=uuid.uuid4(), purse=self.purse, amount=amount)
        except services.LedgerError:
            assert self.borrowed + amount > LIMIT or self.month == 12
            return
        assert self.borrowed + amount <= LIMIT
        self.borrowed += amount
        self.available += amount

    @precondition(lambda self: self.month < 12)
    @rule()
    def next_month(self):
        unused = min(self.borrowed, self.available)  # borrowed but not used goes back to next month first
        self.available -= unused
        self.borrowed -= unused
        self.available = min(self.available, CAP) + PERIOD - self.borrowed  # capped saving, then the release
        self.borrowed = 0
        self.month += 1
        self._stack.enter_context(clock.pinned(self._moment()))
        services.purse_release_due(purse=self.purse)

    @invariant()
    def purse_matches_the_model(self):
        purse = Purse.objects.get(pk=self.purse.pk)
        assert purse.available_now == self.available
        assert purse.debits_pending == sum(self.held.values())
        assert purse.borrowed_ahead == self.borrowed
        assert purse.debits_pending + purse.debits_posted <= purse.credits_posted


@pytest.mark.django_db
def test_purse_state_machine():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        PurseMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
