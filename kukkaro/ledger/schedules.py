"""A client purse's schedule: its amount steps, what each funding period gets, what has been given for each period
so far, and the plan of a change of amount (a replacing decision) — made here once and used both to show the
change before it is made and to make it (``services.purse_reschedule``, ``services.purse_end``), so what the
decision maker sees is what the ledger does.

The rules (docs/decisions/0017-replacement-from-its-own-start-date.md):

- A change applies from its own date, ``effective_from``: every period before it keeps what it had; a period cut
  by that date is shared by days (``periods.period_amounts``); the periods after it get the new amount.
- A period already released is corrected at once to its new amount: a raise is released now; a cut takes back
  only this change's own reduction, and only what is still available in the purse (held or spent money is never
  taken, nor is anything of a period that has already lapsed under the ``lapse`` rule). What the client had
  beyond the new amount is reported (``uncollected``), never taken from later periods.
- The not-yet-released allocation is made to match the new schedule: the difference moves to or from the
  organiser's funding source, never to ``lapsed``.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from django.db.models import Q

from kukkaro.ledger.models import Purse, PurseAmountStep, RolloverRule, Transfer, TransferCode
from kukkaro.ledger.periods import AmountStep, Period, PeriodAmount, Share, period_amounts, steps_in_force

#: ``ref_type`` of the corrections that bring an already released period to its new amount.
SCHEDULE_REF = "schedule"


def purse_steps(purse: Purse) -> list[AmountStep]:
    """The purse's amount steps in the order they were made. A purse opened before steps were kept has one: its
    amount per period over its validity."""
    rows = PurseAmountStep.objects.filter(purse_id=purse.pk).order_by("seq")
    steps = [AmountStep(r.effective_from, r.period_amount, r.until) for r in rows]
    if steps:
        return steps
    if purse.valid_from is None or purse.valid_until is None:
        return []
    return [AmountStep(purse.valid_from, purse.period_amount, purse.valid_until)]


def opening_steps(
    *, valid_from: dt.date, valid_until: dt.date, period_amount: int, schedule_from: dt.date | None = None
) -> list[AmountStep]:
    """The steps of a new purse. ``schedule_from`` (a line a replacing decision adds: the replaced decision's
    start) puts the periods on the replaced decision's calendar, so the period the replacement's start cuts is
    shared by days like every other line's, instead of counting as this purse's own full first period."""
    steps = [AmountStep(valid_from, period_amount, valid_until)]
    if schedule_from is not None and schedule_from < valid_from:
        steps.insert(0, AmountStep(schedule_from, 0, valid_until))
    return steps


def spendable(entries: list[PeriodAmount], *, valid_until: dt.date) -> list[PeriodAmount]:
    """The periods that are ever released: those that begin by the purse's last day."""
    return [entry for entry in entries if entry.period.start <= valid_until]


def purse_schedule(purse: Purse) -> list[PeriodAmount]:
    """Each funding period the purse will release, with its amount."""
    if purse.valid_until is None:
        return []
    return spendable(period_amounts(kind=purse.period_kind, steps=purse_steps(purse)), valid_until=purse.valid_until)


def granted_by_period(purse: Purse, grid: list[Period]) -> dict[dt.date, int]:
    """What the client purse has been given for each funding period so far: the period's release, what was
    borrowed from it ahead (less what went back unused), and the corrections of changes of its amount."""
    following = {period.start: after.start for period, after in pairwise(grid)}
    granted: dict[dt.date, int] = defaultdict(int)
    rows = Transfer.objects.filter(
        Q(credit_purse_id=purse.pk) | Q(debit_purse_id=purse.pk),
        period_start__isnull=False,
        code__in=[TransferCode.RELEASE, TransferCode.BORROW, TransferCode.CORRECTION],
    ).values_list("credit_purse_id", "code", "ref_type", "period_start", "amount")
    for credit_id, code, ref_type, start, amount in rows:
        if start is None:  # excluded by the query; for the type checker
            continue
        into = credit_id == purse.pk
        if code in (TransferCode.RELEASE, TransferCode.BORROW):
            if into:
                granted[start] += amount
        elif ref_type == SCHEDULE_REF:
            granted[start] += amount if into else -amount
        elif not into and start in following:  # borrowed but not used, back to the next period at this close
            granted[following[start]] -= amount
    return dict(granted)


@dataclass(frozen=True)
class PeriodChange:
    """One funding period before and after a change."""

    start: dt.date
    end: dt.date
    before: int  # what the schedule gave the period before the change
    after: int  # what it gives after
    shares: tuple[Share, ...]  # how ``after`` is made up; several when the change's start cuts the period
    released: bool  # released already, so the change corrects it at once
    granted: int  # what the client purse has had for it so far
    correction: int  # moved at once: + given to the client purse, − taken back from it
    uncollected: int  # what the client had for it beyond the new amount (spent, held or lapsed): not taken back

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def shared(self) -> bool:
        return len(self.shares) > 1


@dataclass(frozen=True)
class PurseChange:
    """What a change of a purse's amount does, period by period (or, for a new purse, what it will give)."""

    effective_from: dt.date
    period_amount: int  # from ``effective_from`` on; 0: the purse ends the day before
    valid_until: dt.date  # the purse's last day after the change
    steps: tuple[AmountStep, ...]  # the purse's steps after the change
    periods: tuple[PeriodChange, ...]
    allocation: int  # + moved from the funding source to the not-yet-released purse, − moved back

    @property
    def corrections(self) -> int:
        return sum(p.correction for p in self.periods)

    @property
    def uncollected(self) -> int:
        return sum(p.uncollected for p in self.periods)

    @property
    def total_after(self) -> int:
        return sum(p.after for p in self.periods)


def purse_open_plan(
    *,
    kind: str,
    valid_from: dt.date,
    valid_until: dt.date,
    period_amount: int,
    schedule_from: dt.date | None = None,
) -> PurseChange:
    """What a new purse will give, period by period."""
    steps = opening_steps(
        valid_from=valid_from, valid_until=valid_until, period_amount=period_amount, schedule_from=schedule_from
    )
    entries = spendable(period_amounts(kind=kind, steps=steps), valid_until=valid_until)
    rows = tuple(
        PeriodChange(
            start=e.period.start,
            end=e.period.end,
            before=0,
            after=e.amount,
            shares=e.shares,
            released=False,
            granted=0,
            correction=0,
            uncollected=0,
        )
        for e in entries
        if e.period.end >= valid_from
    )
    return PurseChange(
        effective_from=valid_from,
        period_amount=period_amount,
        valid_until=valid_until,
        steps=tuple(steps),
        periods=rows,
        allocation=sum(r.after for r in rows),
    )


def purse_change_plan(
    *,
    purse: Purse,
    scheduled_available: int,
    effective_from: dt.date,
    period_amount: int,
    until: dt.date | None = None,
) -> PurseChange:
    """The plan of changing a running purse's amount per period to ``period_amount`` from ``effective_from``
    (under a decision valid until ``until``), or of ending it the day before (``period_amount`` 0, ``until``
    None). Reads only; ``purse`` and ``scheduled_available`` (what its not-yet-released twin has) as they are
    now. The same plan is what the preview shows and what ``services.purse_reschedule`` does."""
    if purse.valid_from is None or purse.valid_until is None:
        raise ValueError("a client purse has a validity")
    valid_from = purse.valid_from
    steps_before = purse_steps(purse)
    in_force = steps_in_force(steps_before)
    span_until = in_force[-1].until if in_force else purse.valid_until
    step = AmountStep(effective_from, period_amount, until if until is not None else span_until)
    steps_after = [*steps_before, step]
    valid_until = step.until if period_amount > 0 else effective_from - dt.timedelta(days=1)
    old = {e.period.start: e for e in period_amounts(kind=purse.period_kind, steps=steps_before)}
    new = {e.period.start: e for e in period_amounts(kind=purse.period_kind, steps=steps_after)}
    granted = granted_by_period(purse, [e.period for e in old.values()])
    current = purse.current_period_start
    available = purse.available_now
    rows: list[PeriodChange] = []
    to_release: list[int] = []  # the amounts still to be released after the change, in order
    for start in sorted(set(old) | set(new)):
        was, now = old.get(start), new.get(start)
        before = was.amount if was is not None and start <= purse.valid_until else 0
        after = now.amount if now is not None and start <= valid_until else 0
        entry = now if now is not None else was
        if entry is None or (entry.period.end < valid_from and before == after == 0):
            continue  # before the purse began (a line added by a replacement, on the replaced one's calendar)
        released = current is not None and start <= current
        had = granted.get(start, 0)
        correction = uncollected = 0
        if released and entry.period.end >= effective_from:
            if after >= had:
                correction = after - had
                available += correction
            else:
                lapsed = current is not None and start < current and purse.rollover_rule == RolloverRule.LAPSE
                wanted = min(had - after, max(0, before - after))
                take = 0 if lapsed else min(wanted, max(available, 0))
                available -= take
                correction = -take
                uncollected = had - after - take
        elif not released:
            uncollected = max(0, had - after)  # borrowed ahead from a period the change lowers
            if now is not None and start <= valid_until:
                to_release.append(after)
        rows.append(
            PeriodChange(
                start=start,
                end=entry.period.end,
                before=before,
                after=after,
                shares=now.shares if now is not None else (),
                released=released,
                granted=had,
                correction=correction,
                uncollected=uncollected,
            )
        )
    borrowed = min(purse.borrowed_ahead, to_release[0]) if to_release else 0
    raises = sum(r.correction for r in rows if r.correction > 0)
    needed = sum(to_release) - borrowed + raises
    return PurseChange(
        effective_from=effective_from,
        period_amount=period_amount,
        valid_until=valid_until,
        steps=tuple(steps_after),
        periods=tuple(rows),
        allocation=needed - scheduled_available,
    )
