"""Funding periods at work: releasing each period of a client purse as it begins, closing the one before by
its rollover rule, lapsing what is left at the end of the validity, and borrowing from the next period."""

import datetime as dt
import logging
import uuid

from django.db import transaction
from django.db.models import F

from kukkaro.core import clock
from kukkaro.core.actors import Actor
from kukkaro.ledger import schedules
from kukkaro.ledger.errors import LedgerError
from kukkaro.ledger.models import (
    Purse,
    PurseKind,
    RolloverRule,
    Transfer,
    TransferCode,
)
from kukkaro.ledger.periods import PeriodAmount, period_after, period_containing
from kukkaro.ledger.purses import shard_of, system_purse
from kukkaro.ledger.transfers import derived_id, transfer_post

logger = logging.getLogger(__name__)


def _schedule(purse: Purse) -> list[PeriodAmount]:
    """The periods the purse releases, each with its amount (``schedules.purse_schedule``)."""
    if purse.valid_from is None or purse.valid_until is None:
        raise LedgerError("a client purse has a validity", reason="no_validity")
    return schedules.purse_schedule(purse)


def _lock_twins(purse: Purse) -> Purse:
    """Lock a client purse and its not-yet-released twin, in id order like every transfer does, and return the
    client purse fresh. Maintenance work (releases, borrowing, rescheduling) takes both up front, so it never
    waits for one twin while holding the other in the opposite order to a transfer."""
    twin_id = Purse.objects.filter(pk=purse.pk).values_list("scheduled_id", flat=True).get()
    ids = sorted(str(pk) for pk in (purse.pk, twin_id) if pk is not None)
    list(Purse.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    return Purse.objects.select_related("scheduled", "organiser").get(pk=purse.pk)


def _scheduled(purse: Purse) -> Purse:
    if purse.scheduled is None:
        raise LedgerError("a client purse has a not-yet-released twin", reason="no_scheduled")
    return purse.scheduled


def _lapse(*, purse: Purse, amount: int, transfer_id: uuid.UUID, period_start: dt.date | None, memo: str) -> None:
    if amount <= 0:
        return
    lapsed = system_purse(organiser=purse.organiser, unit=purse.unit, kind=PurseKind.LAPSED, shard=shard_of(purse.pk))
    transfer_post(
        transfer_id=transfer_id,
        debit=purse,
        credit=lapsed,
        amount=amount,
        code=TransferCode.LAPSE,
        period_start=period_start,
        memo=memo,
    )


def _close_period(purse: Purse, period_start: dt.date) -> None:
    """Apply the rollover rule to what is left of a period before the next one is released. Borrowed units the
    client did not use go back to the next period first, so borrowing never costs anything."""
    purse.refresh_from_db()
    unused_borrowing = min(purse.borrowed_ahead, purse.available_now)
    if unused_borrowing > 0:
        transfer_post(
            transfer_id=derived_id(purse.pk, "unborrow", period_start),
            debit=purse,
            credit=_scheduled(purse),
            amount=unused_borrowing,
            code=TransferCode.CORRECTION,
            period_start=period_start,
            memo="borrowed but not used: back to the next period",
        )
        Purse.objects.filter(pk=purse.pk).update(borrowed_ahead=F("borrowed_ahead") - unused_borrowing)
        purse.refresh_from_db()
    if purse.rollover_rule == RolloverRule.LAPSE:
        excess = purse.available_now
    elif purse.rollover_rule == RolloverRule.ROLL_CAPPED:
        excess = purse.available_now - purse.rollover_cap
    else:
        return
    _lapse(
        purse=purse,
        amount=excess,
        transfer_id=derived_id(purse.pk, "lapse", period_start),
        period_start=period_start,
        memo=f"period from {period_start} closed ({purse.rollover_rule})",
    )


@transaction.atomic
def purse_release_due(*, purse: Purse, today: dt.date | None = None) -> int:
    """Bring a client purse up to date: close each finished period by its rollover rule, release each period
    that has begun, and at the end of the validity lapse what is left. Safe to run any number of times, also
    concurrently. Returns the number of periods released."""
    today = today or clock.today()
    if Purse.objects.filter(pk=purse.pk).values_list("kind", flat=True).get() != PurseKind.CLIENT:
        raise LedgerError("only client purses have funding periods", reason="not_client_purse")
    purse = _lock_twins(purse)
    released = 0
    for entry in _schedule(purse):
        period = entry.period
        if period.start > today:
            break
        if purse.current_period_start is not None and period.start <= purse.current_period_start:
            continue
        if purse.current_period_start is not None:
            _close_period(purse, purse.current_period_start)
        amount = entry.amount - purse.borrowed_ahead
        if amount > 0:
            transfer_post(
                transfer_id=derived_id(purse.pk, "release", period.start),
                debit=_scheduled(purse),
                credit=purse,
                amount=amount,
                code=TransferCode.RELEASE,
                period_start=period.start,
                memo=f"period {period.start}–{period.end}"
                + (f", {purse.borrowed_ahead} borrowed ahead" if purse.borrowed_ahead else ""),
            )
        Purse.objects.filter(pk=purse.pk).update(current_period_start=period.start, borrowed_ahead=0)
        purse.refresh_from_db()
        released += 1
    if purse.valid_until is not None and today > purse.valid_until:
        purse.refresh_from_db()
        scheduled = Purse.objects.get(pk=_scheduled(purse).pk)
        # Derived from the counters: a concurrent run computes the same id, a later run (after a hold is
        # voided and money comes back) a new one.
        _lapse(
            purse=purse,
            amount=purse.available_now,
            transfer_id=derived_id(purse.pk, "expired", purse.debits_posted, purse.credits_posted),
            period_start=None,
            memo=f"validity ended {purse.valid_until}",
        )
        _lapse(
            purse=scheduled,
            amount=scheduled.available_now,
            transfer_id=derived_id(scheduled.pk, "expired", scheduled.debits_posted, scheduled.credits_posted),
            period_start=None,
            memo=f"validity ended {purse.valid_until}; never released",
        )
    return released


def purses_release_due(*, today: dt.date | None = None) -> int:
    """The daily job: every client purse whose validity has begun, brought up to date."""
    today = today or clock.today()
    count = 0
    candidates = Purse.objects.filter(kind=PurseKind.CLIENT, closed_at__isnull=True, valid_from__lte=today)
    for purse_id in candidates.values_list("pk", flat=True).iterator():
        try:  # one purse that fails must not stop the others; each purse is its own transaction
            count += purse_release_due(purse=Purse(pk=purse_id), today=today)
        except Exception:
            logger.exception("releasing periods of purse %s failed", purse_id)
    return count


@transaction.atomic
def purse_borrow(*, transfer_id: uuid.UUID, purse: Purse, amount: int, actor: Actor | None = None) -> Transfer:
    """Take ``amount`` from the next period now, up to the purse's borrowing limit; the next release is
    smaller by as much."""
    purse = _lock_twins(purse)
    # Looked up under the lock: a concurrent identical request waits above and then finds the first one here.
    existing = Transfer.objects.filter(pk=transfer_id).first()
    schedule = _schedule(purse)
    all_periods = [entry.period for entry in schedule]
    current = period_containing(all_periods, clock.today())
    if existing is None:
        if current is None or purse.current_period_start != current.start:
            raise LedgerError("the current period has not been released", reason="not_released")
        following = period_after(all_periods, current.start)
        if following is None:
            raise LedgerError("there is no next period to borrow from", reason="no_next_period")
        next_amount = next(entry.amount for entry in schedule if entry.period.start == following.start)
        if purse.borrowed_ahead + amount > min(purse.borrow_limit, next_amount):
            raise LedgerError(
                f"at most {purse.borrow_limit - purse.borrowed_ahead} more can be borrowed", reason="borrow_limit"
            )
        period_start: dt.date | None = following.start
    else:
        period_start = existing.period_start
    transfer = transfer_post(
        transfer_id=transfer_id,
        debit=_scheduled(purse),
        credit=purse,
        amount=amount,
        code=TransferCode.BORROW,
        actor=actor,
        period_start=period_start,
        memo=f"borrowed from the period starting {period_start}",
    )
    if existing is None:
        Purse.objects.filter(pk=purse.pk).update(borrowed_ahead=F("borrowed_ahead") + amount)
    return transfer
