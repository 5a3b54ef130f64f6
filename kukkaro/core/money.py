"""Money as integer cents: parse, round once, format per locale.

Floats never touch money. Amounts are ``int`` cents everywhere; ``Decimal`` is used only while computing, and
``round_cents`` is the one place where a computed amount becomes cents (half up, as Finnish tariffs round).
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import formats
from django.utils.translation import get_language

_NBSP = "\u00a0"
_SPACES = re.compile(r"[\s\u00a0\u202f']")


class MoneyError(ValueError):
    """A text that is not an amount of money."""


def round_cents(euros: Decimal) -> int:
    """Round an amount in euros to whole cents, half up (away from zero), and return cents."""
    if not isinstance(euros, Decimal):
        raise TypeError("round_cents takes a Decimal; floats never touch money")
    cents = (euros * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(cents)


def round_units(value: Decimal) -> int:
    """Round a computed amount already in whole units (cents, metres, trips) to an integer, half up (away from
    zero): the ledger's one rounding of a period shared by days."""
    if not isinstance(value, Decimal):
        raise TypeError("round_units takes a Decimal; floats never touch money")
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_cents(text: str) -> int:
    """Parse "1 234,56", "1234.56", "1 234 €" or "-5,5" into cents. Refuse anything ambiguous."""
    cleaned = _SPACES.sub("", str(text)).replace("\u2212", "-").removesuffix("€").removeprefix("€").strip()
    if not cleaned:
        raise MoneyError("empty amount")
    if "," in cleaned and "." in cleaned:
        raise MoneyError(f"ambiguous amount {text!r}: use either a comma or a point as the decimal separator")
    cleaned = cleaned.replace(",", ".")
    # ASCII digits: Python's \d (and Decimal) would take other scripts' digits too ("٩٨" is 98).
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]{1,2})?", cleaned):
        raise MoneyError(f"not an amount in euros with at most two decimals: {text!r}")
    try:
        return round_cents(Decimal(cleaned))
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes these
        raise MoneyError(f"not an amount: {text!r}") from exc


def format_cents(cents: int, *, language: str | None = None, symbol: bool = True) -> str:
    """Format cents for people: fi/sv "1 234,56 €", en "€1,234.56". Non-breaking spaces keep it on one line."""
    if not isinstance(cents, int):
        raise TypeError("format_cents takes integer cents")
    language = (language or get_language() or "fi")[:2]
    negative = cents < 0
    euros = Decimal(abs(cents)) / 100
    number = formats.number_format(euros, decimal_pos=2, use_l10n=True, force_grouping=True)
    # Django's l10n gives the separators; make every space non-breaking.
    number = number.replace(" ", _NBSP)
    sign = "\u2212" if negative else ""  # a real minus sign reads better in screen readers than a hyphen
    if not symbol:
        return f"{sign}{number}"
    if language == "en":
        return f"{sign}€{number}"
    return f"{sign}{number}{_NBSP}€"
