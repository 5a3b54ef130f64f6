"""The one clock. Everything that needs "now" or "today" asks here, so tests can pin time.

``today()`` is the calendar date in Europe/Helsinki, whatever the server's zone: period boundaries, ages and
decision dates are Finnish dates.
"""

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextvars import ContextVar
from zoneinfo import ZoneInfo

HELSINKI = ZoneInfo("Europe/Helsinki")

_pinned: ContextVar[dt.datetime | None] = ContextVar("kukkaro_clock_pinned", default=None)
_pinned_global: list[dt.datetime] = []


def now() -> dt.datetime:
    """An aware datetime in UTC."""
    pinned = _pinned.get() or (_pinned_global[-1] if _pinned_global else None)
    if pinned is not None:
        return pinned
    return dt.datetime.now(tz=dt.UTC)


def local_now() -> dt.datetime:
    """Now, in Europe/Helsinki."""
    return now().astimezone(HELSINKI)


def today() -> dt.date:
    """Today's date in Europe/Helsinki."""
    return local_now().date()


@contextlib.contextmanager
def pinned(at: dt.datetime) -> Iterator[dt.datetime]:
    """Pin the clock (for this thread and any server thread a test starts) while the block runs."""
    if at.tzinfo is None:
        raise ValueError("The clock cannot be pinned to a naive datetime")
    at = at.astimezone(dt.UTC)
    token = _pinned.set(at)
    _pinned_global.append(at)
    try:
        yield at
    finally:
        _pinned_global.pop()
        _pinned.reset(token)
