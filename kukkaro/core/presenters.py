"""How plain values read on every app's pages: a moment in the local time zone, in the language's short format.
Money has its own home (``kukkaro.core.money.format_cents``)."""

import datetime as dt

from django.utils.formats import date_format
from django.utils.timezone import localtime


def datetime_text(value: dt.datetime | None) -> str:
    """A moment as people read it ("4.3.2026 10.00" in Finnish), or a dash when there is none."""
    return date_format(localtime(value), "SHORT_DATETIME_FORMAT") if value else "–"
