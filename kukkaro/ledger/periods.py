"""Funding periods: calendar months, quarters or years in Europe/Helsinki, cut to a purse's validity."""

import datetime as dt
from dataclasses import dataclass

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
