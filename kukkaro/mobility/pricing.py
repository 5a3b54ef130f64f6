"""The price of a taxi leg and the client's self-share, as the county's taxi contract says (issue 6).

    price = (base + km × per_km[class] + ride minutes × per_minute + waiting minutes × per_hour ÷ 60 + Σ supplements)
            × (1 − shared-ride discount, if the leg was part of a shared ride)

computed in ``Decimal`` and rounded **once**, half up, to cents. ``base`` is ``base_day`` for a pickup Monday to
Friday 06:00–19:59 in Europe/Helsinki that is not a Finnish public holiday, else ``base_other``. The self-share is
per one-way trip (adult, or reduced for a client under 18 on the pickup date); for work and study trips it stops
once the month's self-shares reach the season-ticket cap. It never exceeds the price. County cost = price −
self-share.

The set-based import (``trip_files``) computes the same in SQL with exact ``numeric`` arithmetic; a test compares
the two on generated legs, so this module is the reference.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import holidays

from kukkaro.core.clock import HELSINKI
from kukkaro.core.money import round_cents

VEHICLE_CLASSES = ("car", "van", "wheelchair", "stretcher")
PURPOSES = ("work", "study", "leisure")
WORK_OR_STUDY = frozenset({"work", "study"})
DAY_START = dt.time(6, 0)
DAY_END = dt.time(20, 0)  # 19:59:59 is still day


@dataclass(frozen=True)
class TariffTerms:
    """The numbers of one tariff version: cents, and the discount in basis points (2000 = 20 %)."""

    base_day_cents: int
    base_other_cents: int
    per_km_cents: dict[str, int]  # by vehicle class
    per_minute_cents: int
    waiting_per_hour_cents: int
    supplements_cents: dict[str, int] = field(default_factory=dict)
    shared_discount_bp: int = 0
    self_share_adult_cents: int = 0
    self_share_child_cents: int = 0
    work_study_monthly_cap_cents: int = 0


@dataclass(frozen=True)
class Leg:
    """What pricing needs of one leg."""

    pickup_at: dt.datetime  # aware
    distance_km: Decimal  # as the file gives it; a kilometre purse is debited its whole metres, half up
    ride_minutes: Decimal
    waiting_minutes: Decimal
    vehicle_class: str
    supplements: tuple[str, ...] = ()
    shared: bool = False


@lru_cache(maxsize=64)
def _finnish_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("FI", years=year))


def finnish_holidays(year: int) -> frozenset[dt.date]:
    """Finnish public holidays of a year (the ``holidays`` library), including Midsummer Eve and Christmas Eve."""
    return _finnish_holidays(year)


def is_day_rate(pickup_at: dt.datetime) -> bool:
    """Monday–Friday 06:00–19:59 in Helsinki, not a public holiday."""
    if pickup_at.tzinfo is None:
        raise ValueError("pickup times are aware datetimes")
    local = pickup_at.astimezone(HELSINKI)
    if local.weekday() >= 5 or local.date() in finnish_holidays(local.year):
        return False
    return DAY_START <= local.time() < DAY_END


def leg_price_cents(leg: Leg, terms: TariffTerms) -> int:
    """The price of one leg in cents, rounded once, half up."""
    base = terms.base_day_cents if is_day_rate(leg.pickup_at) else terms.base_other_cents
    total = (
        Decimal(base)
        + leg.distance_km * terms.per_km_cents[leg.vehicle_class]
        + leg.ride_minutes * terms.per_minute_cents
        + leg.waiting_minutes * terms.waiting_per_hour_cents / 60
        + sum((Decimal(terms.supplements_cents[code]) for code in leg.supplements), Decimal(0))
    )
    if leg.shared:
        total = total * (10_000 - terms.shared_discount_bp) / 10_000
    return round_cents(total / 100)


def metres(distance_km: Decimal) -> int:
    """Whole metres, half up."""
    return int((distance_km * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def self_share_cents(
    *, price_cents: int, terms: TariffTerms, child: bool, purpose: str, paid_this_month_cents: int = 0
) -> int:
    """The client's self-share of one leg. For work and study trips ``paid_this_month_cents`` is what the client has
    already paid for work and study trips this calendar month; the cap is never passed."""
    share = terms.self_share_child_cents if child else terms.self_share_adult_cents
    if purpose in WORK_OR_STUDY and terms.work_study_monthly_cap_cents:
        share = min(share, max(0, terms.work_study_monthly_cap_cents - paid_this_month_cents))
    return max(0, min(share, price_cents))
