"""The demo's calendar: every date is relative to the day the demo is built, so it works whatever today is.

The services check dates against the one clock (a claim cannot be for a future day, a provider must have been
approved on the service day, a price cannot be set for past days, purses release a month's money only when its
period begins), so the demo does not backdate rows: it runs each step with the clock pinned to the moment it
happens, in the order it happens. ``Schedule`` is that order: steps are added with their moment and run sorted
by it (ties in the order they were added), never later than the real "now" the build started at.

    valid_from (1st, seven months ago) ── six whole months of services (months[0]…months[5]) ── today
    └ casework four weeks before: assessments, plans, budgets, decisions approved and sent
"""

import datetime as dt
import heapq
from collections.abc import Callable
from dataclasses import dataclass

from kukkaro.core import clock


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after the month of ``day``."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


@dataclass(frozen=True)
class Timeline:
    now: dt.datetime  # when the build started (aware, UTC); nothing is pinned later than this
    months: tuple[dt.date, ...]  # the first days of the six whole months before today
    valid_from: dt.date  # the decisions' validity: a year from the month before the six months
    valid_until: dt.date
    casework_on: dt.date

    @classmethod
    def around(cls, now: dt.datetime) -> "Timeline":
        today = now.astimezone(clock.HELSINKI).date()
        this_month = today.replace(day=1)
        valid_from = add_months(this_month, -7)
        return cls(
            now=now,
            months=tuple(add_months(this_month, offset) for offset in range(-6, 0)),
            valid_from=valid_from,
            valid_until=add_months(valid_from, 12) - dt.timedelta(days=1),
            casework_on=valid_from - dt.timedelta(days=28),
        )

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(clock.HELSINKI).date()

    @property
    def this_month(self) -> dt.date:
        return self.today.replace(day=1)

    @property
    def replacement_from(self) -> dt.date:
        """Replacing decisions (the need grew) take effect from the second of the six months."""
        return self.months[1]

    def at(self, day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
        """Wall-clock time in Helsinki on ``day``, as an aware datetime."""
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.HELSINKI)

    def casework_at(self) -> dt.datetime:
        return self.at(self.casework_on, 9)


class Schedule:
    """Steps to run with the clock pinned to their moment, earliest first. A step due after ``timeline.now`` runs
    at ``now`` (``optional`` steps are dropped instead), so the demo never writes anything dated in the future."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._queue: list[tuple[dt.datetime, int, Callable[[], object]]] = []
        self._count = 0
        self._current: dt.datetime | None = None

    def add(self, when: dt.datetime, step: Callable[[], object], *, optional: bool = False) -> None:
        when = when.astimezone(dt.UTC)
        if when > self.timeline.now:
            if optional:
                return
            when = self.timeline.now
        if self._current is not None and when < self._current:
            when = self._current  # a step added while running never goes back in time
        self._count += 1
        heapq.heappush(self._queue, (when, self._count, step))

    def run(self) -> None:
        while self._queue:
            when, _order, step = heapq.heappop(self._queue)
            self._current = when
            with clock.pinned(when):
                step()
        self._current = None
