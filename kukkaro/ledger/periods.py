"""Funding periods: calendar months, quarters or years in Europe/Helsinki, cut to a purse's validity, and what
each period gets when the amount per period changes while a purse runs."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from kukkaro.core.money import round_units
from kukkaro.ledger.models import PeriodKind

_MONTHS: dict[str, int] = {PeriodKind.MONTHLY: 1, PeriodKind.QUARTERLY: 3, PeriodKind.YEARLY: 12}


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def _period_start(day: dt.date, kind: str) -> dt.date:
    months = _MONTHS[kind]
    month = ((day.month - 1) // months) * months + 1
    return dt.date(day.year, month, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def periods(*, kind: str, valid_from: dt.date, valid_until: dt.date) -> list[Period]:
    """The funding periods of a validity, in order. The first and last may be partial calendar periods; each
    still gets the full amount per period (the decision states the amount per period)."""
    if valid_until < valid_from:
        raise ValueError("validity ends before it starts")
    if kind == PeriodKind.ONCE:
        return [Period(valid_from, valid_until)]
    result = []
    start = _period_start(valid_from, kind)
    while start <= valid_until:
        next_start = _add_months(start, _MONTHS[kind])
        result.append(Period(max(start, valid_from), min(next_start - dt.timedelta(days=1), valid_until)))
        start = next_start
    return result


def period_containing(all_periods: list[Period], day: dt.date) -> Period | None:
    return next((p for p in all_periods if p.contains(day)), None)


def period_after(all_periods: list[Period], period_start: dt.date) -> Period | None:
    return next((p for p in all_periods if p.start > period_start), None)


# --- amounts per period -----------------------------------------------------------------------------------
#
# A purse's amount per period can change while it runs: a replacing decision changes it from its own start date,
# which may fall inside a period, lie in the future or in the past. The purse keeps the changes as a list of
# steps; ``period_amounts`` is the one place that turns them into what each period gets. Releases, the
# rescheduling of a replaced purse, the decision maker's preview and the decision document all read it, so they
# cannot disagree (docs/decisions/0017-replacement-from-its-own-start-date.md).


@dataclass(frozen=True)
class AmountStep:
    """From ``effective_from`` on, the purse gets ``period_amount`` per period (0: the line has ended), under a
    decision valid until ``until``. A later step supersedes every earlier one from its own date on."""

    effective_from: dt.date
    period_amount: int
    until: dt.date


@dataclass(frozen=True)
class Share:
    """Days of a period at one amount per period."""

    start: dt.date
    end: dt.date  # inclusive
    period_amount: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class PeriodAmount:
    period: Period
    amount: int
    shares: tuple[Share, ...]  # more than one: a step began inside the period, which is then shared by days

    @property
    def shared(self) -> bool:
        return len(self.shares) > 1


def steps_in_force(steps: list[AmountStep]) -> list[AmountStep]:
    """The steps that still apply, in order: each supersedes the steps before it from its own date on (so one
    starting on the same day as an earlier one replaces it)."""
    result: list[AmountStep] = []
    for step in steps:
        while result and result[-1].effective_from >= step.effective_from:
            result.pop()
        result.append(step)
    return result


def period_amounts(*, kind: str, steps: list[AmountStep]) -> list[PeriodAmount]:
    """What each funding period gets. The periods run from the first step to the ``until`` of the last one (the
    decision now in force), cut to that span as ``periods`` cuts them; a period that one step covers whole gets
    that step's full amount, even when the span cuts it short (a decision's own first and last period). A period
    that a later step's start cuts is shared by days: each amount × its days in the period / the days of the
    period, summed and rounded once, half up, to whole cents, metres or trips. A step of 0 (a line that ended)
    gives its days nothing."""
    steps = steps_in_force(steps)
    if not steps:
        return []
    span_from, span_until = steps[0].effective_from, steps[-1].until
    if span_until < span_from:
        return []
    result = []
    for period in periods(kind=kind, valid_from=span_from, valid_until=span_until):
        shares = []
        for index, step in enumerate(steps):
            step_until = (
                steps[index + 1].effective_from - dt.timedelta(days=1) if index + 1 < len(steps) else span_until
            )
            start, end = max(step.effective_from, period.start), min(step_until, period.end)
            if start <= end:
                shares.append(Share(start, end, step.period_amount))
        if len(shares) == 1:
            amount = shares[0].period_amount
        else:
            days = (period.end - period.start).days + 1
            amount = round_units(sum((Decimal(s.period_amount) * s.days for s in shares), Decimal(0)) / days)
        result.append(PeriodAmount(period=period, amount=amount, shares=tuple(shares)))
    return result
