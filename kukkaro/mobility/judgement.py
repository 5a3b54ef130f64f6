# ruff: noqa: S608 - the SQL texts are built from this module's own constants; values are always parameters
"""The trip judgement, declared once (issue 17): what a taxi leg must look like, what it costs, who pays and why
it is refused or held. Three paths judge trips — a trip file a row at a time (``trip_import_rowwise``, SQLite and
the reference), the same file set-based on PostgreSQL (``trip_import_sql``), and a booking of the dispatch centre
(``authorizations``) — and all three take every limit, code, order and formula from here: Python reads the
constants and calls the functions, SQL texts are built from the same constants by the ``sql_*`` functions next to
each rule. A limit or a reason code written anywhere else is a bug; ``tests/mobility/test_judgement.py`` and the
equivalence tests (``test_trip_import_sql.py``, ``test_authorizations.py``) hold the paths to this module.

The rules, in the order a leg meets them:

1. **Readable.** Each column has a shape (``*_SHAPE``: digits before and after the point) and a limit
   (``LIMITS``); a text that does not fit its shape is ``*_invalid``, a value over its limit ``*_absurd``. The
   vehicle class and purpose are one of their codes, the escort ``0`` or ``1``.
2. **Possible.** By the tariff's limits (the defaults without one): not faster than ``max_speed_kmh`` over the
   ride minutes (``impossible_speed``), not more minutes billed than fit between pickup and drop-off with the
   tariff's slack (``impossible_duration``); every supplement in the tariff (``unknown_supplement``).
3. **Known.** The operator an approved provider on the pickup date, the card's client, the entitlement in force,
   the trip within the allowed area, a tariff in force, the operator's fare within the tariff's tolerance of the
   price — else held for review with each reason that applies (``LOOKUP_REASONS``).
4. **Priced.** ``price = (base + km × per_km[class] + ride min × per_minute + waiting min × per_hour ÷ 60 +
   Σ supplements) × (1 − shared discount, for a shared ride)``, in ``Decimal`` (``numeric`` in SQL) and rounded
   once, half up, to cents. ``base`` is the day rate Monday to Friday 06:00–19:59 in Helsinki on a day that is no
   Finnish public holiday, else the other rate. The self-share is the child's (under 18 on the pickup date) or the
   adult's, never more than the price; for work and study trips it stops once the month's self-shares reach the
   tariff's cap (``counts_toward_cap``: the legs whose self-share counts). County cost = price − self-share.
5. **Debited.** A trip quota takes one trip (from the work line for work and study when there is one), a
   kilometre purse the distance in whole metres (half up), a euro purse the county cost in cents. What depends
   on order (the purse's money, the cap) is decided in pickup order; a leg the purse cannot take is held as
   ``insufficient_funds``; a trip id sent again with other content as ``resent_changed``.

Reason codes are listed in ``LEG_REASONS`` in the order a leg's reasons are written; bookings have their own
list (``BOOKING_REASONS``). This module imports nothing of mobility but its reference data (``neighbours``), so
every other module may import it.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import holidays
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kukkaro.core.clock import HELSINKI
from kukkaro.core.money import round_cents
from kukkaro.ledger.models import Unit
from kukkaro.mobility.neighbours import allowed_municipalities

# --- the vocabulary -------------------------------------------------------------------------------------------


class VehicleClass(models.TextChoices):
    CAR = "car", _("car")
    VAN = "van", _("van")
    WHEELCHAIR = "wheelchair", _("wheelchair taxi")
    STRETCHER = "stretcher", _("stretcher taxi")


class TripPurpose(models.TextChoices):
    WORK = "work", _("work")
    STUDY = "study", _("study")
    LEISURE = "leisure", _("errands and leisure")


class EntitlementModel(models.TextChoices):
    TRIP_QUOTA = "trip_quota", _("trip quota")
    KM_PURSE = "km_purse", _("kilometre purse")
    EUR_PURSE = "eur_purse", _("euro purse")


class AllowedArea(models.TextChoices):
    NEIGHBOURS = "neighbours", _("home and neighbouring municipalities")
    UNLIMITED = "unlimited", _("unlimited")


class EntitlementState(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("entitlement state", "in force")
    ENDED = "ended", pgettext_lazy("entitlement state", "ended")


class LegOutcome(models.TextChoices):
    ACCEPTED = "accepted", pgettext_lazy("trip leg", "accepted")
    REJECTED = "rejected", pgettext_lazy("trip leg", "rejected")
    REVIEW = "review", pgettext_lazy("trip leg", "held for review")


VEHICLE_CLASSES: tuple[str, ...] = tuple(VehicleClass.values)
PURPOSES: tuple[str, ...] = tuple(TripPurpose.values)
#: The purposes whose self-shares have a monthly cap, and which a trip quota's work line pays for.
WORK_OR_STUDY = frozenset({TripPurpose.WORK.value, TripPurpose.STUDY.value})
ESCORT_VALUES = ("0", "1")

# --- the limits -----------------------------------------------------------------------------------------------

#: A leg over any of these cannot be true (``*_absurd``); a booking over the first two is refused at its field.
MAX_DISTANCE_KM = Decimal(1000)
MAX_DURATION_MIN = Decimal(24 * 60)
MAX_WAITING_MIN = Decimal(10 * 60)
MAX_FARE_CENTS = 200_000
#: Every limit a leg is judged by, by name: the equivalence tests probe each at, just below and just above it.
LIMITS: dict[str, Decimal | int] = {
    "distance_km": MAX_DISTANCE_KM,
    "duration_min": MAX_DURATION_MIN,
    "waiting_min": MAX_WAITING_MIN,
    "fare_cents": MAX_FARE_CENTS,
}

#: What a number in a trip file may look like: (digits before the point, at most digits after it).
DISTANCE_SHAPE = (7, 6)
MINUTES_SHAPE = (5, 2)
EUROS_SHAPE = (7, 2)
#: A transport card number is 6–20 digits (Luhn-checked), a municipality code three, an id at most 64 of
#: ``ID_CHARACTERS``.
CARD_DIGITS = (6, 20)
MUNICIPALITY_DIGITS = 3
ID_CHARACTERS = "A-Za-z0-9._:/-"
ID_MAX_LENGTH = 64

#: Under this age on the pickup date a client pays the child's self-share.
ADULT_AGE = 18
#: The day rate: Monday to Friday (ISO weekdays 1–5), from 06:00 to before 20:00 in Helsinki, no public holiday.
DAY_RATE_WEEKDAYS = (1, 2, 3, 4, 5)
DAY_START = dt.time(6, 0)
DAY_END = dt.time(20, 0)  # 19:59:59 is still day

#: Above any legal average speed on Finnish roads (motorways 120 km/h), with room for rounded ride minutes.
DEFAULT_MAX_SPEED_KMH = 150
#: Taximeters round minutes up and their clocks differ from the dispatch centre's by a minute or two.
DEFAULT_BILLED_MINUTES_SLACK_MIN = 5
#: What a tariff file may set them to.
MAX_SPEED_RANGE = (10, 300)
SLACK_RANGE = (0, 120)

# --- the reason codes, in the order a leg lists them ---------------------------------------------------------

OPERATOR_ID_INVALID = "operator_id_invalid"
TRIP_ID_INVALID = "trip_id_invalid"
CLIENT_NUMBER_INVALID = "client_number_invalid"
AUTHORIZATION_ID_INVALID = "authorization_id_invalid"
SHARED_RIDE_ID_INVALID = "shared_ride_id_invalid"
PICKUP_AT_INVALID = "pickup_at_invalid"
DROPOFF_AT_INVALID = "dropoff_at_invalid"
DROPOFF_BEFORE_PICKUP = "dropoff_before_pickup"
MUNICIPALITY_INVALID = "municipality_invalid"
DISTANCE_INVALID = "distance_invalid"
DISTANCE_ABSURD = "distance_absurd"
DURATION_INVALID = "duration_invalid"
DURATION_ABSURD = "duration_absurd"
WAITING_INVALID = "waiting_invalid"
WAITING_ABSURD = "waiting_absurd"
UNKNOWN_VEHICLE_CLASS = "unknown_vehicle_class"
UNKNOWN_PURPOSE = "unknown_purpose"
ESCORT_INVALID = "escort_invalid"
FARE_INVALID = "fare_invalid"
FARE_ABSURD = "fare_absurd"
SELF_SHARE_INVALID = "self_share_invalid"
COLUMN_COUNT = "columns"
IMPOSSIBLE_SPEED = "impossible_speed"
IMPOSSIBLE_DURATION = "impossible_duration"
UNKNOWN_SUPPLEMENT = "unknown_supplement"
OPERATOR_NOT_APPROVED = "operator_not_approved"
UNKNOWN_CLIENT = "unknown_client"
NO_DECISION = "no_decision"
OUTSIDE_AREA = "outside_area"
NO_TARIFF = "no_tariff"
FARE_MISMATCH = "fare_mismatch"
INSUFFICIENT_FUNDS = "insufficient_funds"
RESENT_CHANGED = "resent_changed"
PURSE_NOT_OPEN = "purse_not_open"

#: Found while reading a row: it is rejected.
READ_REASONS = (
    OPERATOR_ID_INVALID,
    TRIP_ID_INVALID,
    CLIENT_NUMBER_INVALID,
    AUTHORIZATION_ID_INVALID,
    SHARED_RIDE_ID_INVALID,
    PICKUP_AT_INVALID,
    DROPOFF_AT_INVALID,
    DROPOFF_BEFORE_PICKUP,
    MUNICIPALITY_INVALID,
    DISTANCE_INVALID,
    DISTANCE_ABSURD,
    DURATION_INVALID,
    DURATION_ABSURD,
    WAITING_INVALID,
    WAITING_ABSURD,
    UNKNOWN_VEHICLE_CLASS,
    UNKNOWN_PURPOSE,
    ESCORT_INVALID,
    FARE_INVALID,
    FARE_ABSURD,
    SELF_SHARE_INVALID,
    COLUMN_COUNT,
)
#: What cannot have happened as billed, and a supplement the tariff does not know: rejected, the client found.
TARIFF_REASONS = (IMPOSSIBLE_SPEED, IMPOSSIBLE_DURATION, UNKNOWN_SUPPLEMENT)
#: What the lookups and the price find: held for review.
LOOKUP_REASONS = (OPERATOR_NOT_APPROVED, UNKNOWN_CLIENT, NO_DECISION, OUTSIDE_AREA, NO_TARIFF, FARE_MISMATCH)
#: What the order of the legs decides: held for review (each alone, never with another reason).
ORDER_REASONS = (INSUFFICIENT_FUNDS, RESENT_CHANGED)
REJECTION_REASONS = READ_REASONS + TARIFF_REASONS
REVIEW_REASONS = LOOKUP_REASONS + ORDER_REASONS
#: Every reason a trip leg can have, in the order its reasons are written.
LEG_REASONS = REJECTION_REASONS + REVIEW_REASONS

#: Why a booking is denied: first what the judgement finds (the same lookups and limits as a leg's; a booking has
#: no drop-off, so its duration is never judged) …
BOOKING_JUDGE_REASONS = (UNKNOWN_CLIENT, NO_DECISION, OUTSIDE_AREA, NO_TARIFF, IMPOSSIBLE_SPEED, UNKNOWN_SUPPLEMENT)
#: … then what the hold finds.
BOOKING_HOLD_REASONS = (INSUFFICIENT_FUNDS, PURSE_NOT_OPEN)
BOOKING_REASONS = BOOKING_JUDGE_REASONS + BOOKING_HOLD_REASONS

_ORDER = {code: index for index, code in enumerate(LEG_REASONS)}


def in_order(reasons: Iterable[str]) -> list[str]:
    """A leg's reasons, each once, in the declared order."""
    return sorted(set(reasons), key=_ORDER.__getitem__)


# --- readable: what the reading checks compare with -----------------------------------------------------------


def absurd(name: str, value: Decimal | int) -> bool:
    """Whether a readable value is over its limit (``LIMITS[name]``)."""
    return value > LIMITS[name]


# --- possible: the tariff's limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    max_speed_kmh: int = DEFAULT_MAX_SPEED_KMH
    billed_minutes_slack_min: int = DEFAULT_BILLED_MINUTES_SLACK_MIN


DEFAULT_LIMITS = Limits()


def limits_of(tariff: object | None) -> Limits:
    """A tariff version's limits, or the defaults when a leg has no tariff."""
    if tariff is None:
        return DEFAULT_LIMITS
    return Limits(
        max_speed_kmh=tariff.max_speed_kmh,  # type: ignore[attr-defined]
        billed_minutes_slack_min=tariff.billed_minutes_slack_min,  # type: ignore[attr-defined]
    )


def too_fast(distance_km: Decimal, ride_minutes: Decimal, limits: Limits) -> bool:
    """``distance_km × 60 > max_speed_kmh × ride minutes``, exactly: a positive distance in 0 ride minutes is too
    fast, a distance of 0 never is."""
    return distance_km > 0 and distance_km * 60 > limits.max_speed_kmh * ride_minutes


def _seconds(span: dt.timedelta) -> Decimal:
    return Decimal(span.days * 86_400 + span.seconds) + Decimal(span.microseconds) / 1_000_000


def too_long(ride_minutes: Decimal, waiting_minutes: Decimal, span: dt.timedelta, limits: Limits) -> bool:
    """``(ride + waiting minutes) × 60 > seconds from pickup to drop-off + slack × 60``."""
    return (ride_minutes + waiting_minutes) * 60 > _seconds(span) + limits.billed_minutes_slack_min * 60


def impossible(
    *,
    distance_km: Decimal,
    ride_minutes: Decimal,
    waiting_minutes: Decimal,
    span: dt.timedelta | None,
    limits: Limits,
) -> list[str]:
    """The reasons a leg cannot have happened as billed (none: it can). ``span`` is drop-off − pickup, or None
    where there is no drop-off (a booking)."""
    reasons = []
    if too_fast(distance_km, ride_minutes, limits):
        reasons.append(IMPOSSIBLE_SPEED)
    if span is not None and too_long(ride_minutes, waiting_minutes, span, limits):
        reasons.append(IMPOSSIBLE_DURATION)
    return reasons


def unknown_supplements(supplements: Iterable[str], tariff_supplements: Mapping[str, int]) -> bool:
    return any(code not in tariff_supplements for code in supplements)


# --- known: the area, the fare ------------------------------------------------------------------------------


def outside_area(entitlement: Any, client: Any, origin: str, destination: str) -> bool:
    """Does a trip leave the area the entitlement allows (the home municipality and its neighbours)?"""
    if entitlement.allowed_area != AllowedArea.NEIGHBOURS:
        return False
    allowed = allowed_municipalities(client.municipality.code)
    return origin not in allowed or destination not in allowed


def fare_mismatch(fare_cents: int, price_cents: int, tolerance_cents: int) -> bool:
    """The operator's fare differs from Kukkaro's price by more than the tariff's tolerance."""
    return abs(fare_cents - price_cents) > tolerance_cents


# --- priced: the tariff's arithmetic --------------------------------------------------------------------------


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
    if local.isoweekday() not in DAY_RATE_WEEKDAYS or local.date() in finnish_holidays(local.year):
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


def is_child(birth_date: dt.date, day: dt.date) -> bool:
    """Whether the client pays the child's self-share on ``day``."""
    return age_on(birth_date, day) < ADULT_AGE


def self_share_cents(
    *, price_cents: int, terms: TariffTerms, child: bool, purpose: str, paid_this_month_cents: int = 0
) -> int:
    """The client's self-share of one leg. For work and study trips ``paid_this_month_cents`` is what the client has
    already paid for work and study trips this calendar month; the cap is never passed."""
    share = terms.self_share_child_cents if child else terms.self_share_adult_cents
    if purpose in WORK_OR_STUDY and terms.work_study_monthly_cap_cents:
        share = min(share, max(0, terms.work_study_monthly_cap_cents - paid_this_month_cents))
    return max(0, min(share, price_cents))


def helsinki_day(moment: dt.datetime) -> dt.date:
    """The date of a moment in Helsinki: the day a pickup is judged by (entitlement, tariff, age, approval)."""
    return moment.astimezone(HELSINKI).date()


def helsinki_month(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month in Helsinki that holds a moment: [start, start of the next month)."""
    local = moment.astimezone(HELSINKI)
    start = dt.datetime(local.year, local.month, 1, tzinfo=HELSINKI)
    following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start, following


def counts_toward_cap() -> Q:
    """The trip legs whose self-shares count toward the month's cap of work and study self-shares: first legs
    (``is_first_leg``) of a work or study trip with a self-share (filter ``TripLeg`` by it, with the month's pickup
    times)."""
    return Q(purpose__in=sorted(WORK_OR_STUDY), self_share_cents__isnull=False) & is_first_leg()


def is_first_leg() -> Q:
    """A leg that holds its identity (operator and trip id): a first leg, neither rejected nor refused in review.
    A row sent again under the identity repeats it; a first leg refused gives the identity up."""
    return Q(same_as__isnull=True) & ~Q(outcome=LegOutcome.REJECTED) & ~Q(resolved_outcome=LegOutcome.REJECTED)


# --- debited: which purse pays ---------------------------------------------------------------------------------


def debit_target(entitlement: Any, purpose: str, distance_km: Decimal, county_cost_cents: int) -> tuple[str, int, Any]:
    """Which purse pays for a leg and how much, by the entitlement's model: (unit, amount, purse)."""
    line = entitlement.leisure_line
    if entitlement.model == EntitlementModel.TRIP_QUOTA:
        if purpose in WORK_OR_STUDY and entitlement.work_line is not None:
            line = entitlement.work_line
        return Unit.TRIP, 1, line.purse
    if entitlement.model == EntitlementModel.KM_PURSE:
        return Unit.KM, metres(distance_km), line.purse
    return Unit.EUR, county_cost_cents, line.purse


# --- the same in SQL ------------------------------------------------------------------------------------------
# Every function below returns a PostgreSQL expression over the expressions it is given, from the constants above.


def sql_text(value: str) -> str:
    """A constant of this module as an SQL string literal."""
    if "'" in value or "\\" in value:
        raise ValueError(f"not a plain code: {value!r}")
    return f"'{value}'"


def sql_texts(values: Iterable[str]) -> str:
    """``('a', 'b')``, for ``IN``."""
    return f"({', '.join(sql_text(value) for value in values)})"


def sql_reasons(conditions: Mapping[str, str]) -> str:
    """A ``text[]`` of the codes whose condition holds, in the declared order (``LEG_REASONS``, then the booking's
    own), whatever order ``conditions`` is written in."""
    order = {code: index for index, code in enumerate(dict.fromkeys(LEG_REASONS + BOOKING_REASONS))}
    unknown = set(conditions) - set(order)
    if unknown:
        raise ValueError(f"undeclared reason codes: {sorted(unknown)}")
    cases = [
        f"CASE WHEN {conditions[code]} THEN {sql_text(code)} END" for code in sorted(conditions, key=order.__getitem__)
    ]
    return f"array_remove(ARRAY[{', '.join(cases)}], NULL)"


def sql_absurd(name: str, value: str) -> str:
    """``absurd`` over a numeric expression."""
    return f"{value} > {LIMITS[name]}"


def sql_within_limit(name: str, value: str) -> str:
    return f"{value} <= {LIMITS[name]}"


def sql_max_speed(column: str) -> str:
    """The limit from a tariff column, or the default where the leg has no tariff."""
    return f"coalesce({column}, {DEFAULT_MAX_SPEED_KMH})"


def sql_slack(column: str) -> str:
    return f"coalesce({column}, {DEFAULT_BILLED_MINUTES_SLACK_MIN})"


def sql_too_fast(km: str, ride: str, max_speed: str) -> str:
    """``too_fast`` over numeric expressions."""
    return f"({km} > 0 AND {km} * 60 > {max_speed} * {ride})"


def sql_too_long(ride: str, waiting: str, pickup: str, dropoff: str, slack: str) -> str:
    """``too_long`` over numeric and timestamptz expressions (``extract(epoch …)`` of an interval is an exact
    numeric, microseconds included)."""
    return f"(({ride} + {waiting}) * 60 > extract(epoch FROM {dropoff} - {pickup}) + {slack} * 60)"


def sql_fare_mismatch(fare: str, price: str, tolerance: str) -> str:
    return f"abs({fare} - {price}) > {tolerance}"


def sql_inside_area(
    *, entitlement: str, allowed_area: str, home: str, origin: str, destination: str, allowed_table: str
) -> str:
    """Not ``outside_area``: the entitlement allows any area, or both ends are in the home municipality's allowed
    area (``allowed_table`` holds ``(home, code)`` for every home in ``neighbours`` and its allowed codes). True
    where there is no entitlement."""
    return (
        f"{entitlement} IS NULL OR {allowed_area} <> {sql_text(AllowedArea.NEIGHBOURS)} OR ("
        f"EXISTS (SELECT 1 FROM {allowed_table} a WHERE a.home = {home} AND a.code = {origin}) "
        f"AND EXISTS (SELECT 1 FROM {allowed_table} a WHERE a.home = {home} AND a.code = {destination}))"
    )


def sql_is_day_rate(local: str, day: str, holiday_table: str) -> str:
    """``is_day_rate`` over a Helsinki ``timestamp`` and its date (``holiday_table`` holds the public holidays)."""
    return (
        f"extract(isodow FROM {local}) IN ({', '.join(str(d) for d in DAY_RATE_WEEKDAYS)}) "
        f"AND {local}::time >= '{DAY_START:%H:%M}' AND {local}::time < '{DAY_END:%H:%M}' "
        f"AND NOT EXISTS (SELECT 1 FROM {holiday_table} h WHERE h.day = {day})"
    )


def sql_price_cents(
    *,
    day_rate: str,
    base_day: str,
    base_other: str,
    km: str,
    per_km: str,
    ride: str,
    per_minute: str,
    waiting: str,
    waiting_per_hour: str,
    supplements: str,
    shared: str,
    shared_discount_bp: str,
) -> str:
    """``leg_price_cents`` in ``numeric``, rounded once (``round`` of a numeric is half away from zero, which for
    prices, never negative, is half up)."""
    return (
        f"round(((CASE WHEN {day_rate} THEN {base_day} ELSE {base_other} END) + {km} * {per_km} "
        f"+ {ride} * {per_minute} + {waiting} * {waiting_per_hour} / 60 + {supplements}) "
        f"* (CASE WHEN {shared} THEN 10000 - {shared_discount_bp} ELSE 10000 END) / 10000)::bigint"
    )


def sql_metres(km: str) -> str:
    """``metres`` of a numeric: ``round`` is half up for distances, never negative."""
    return f"round({km} * 1000)::bigint"


def sql_adult_from(year: str, month: str, day: str) -> str:
    """The first day a client born on (year, month, day) pays the adult's self-share: the ``ADULT_AGE``th birthday,
    or 1 March for one born on 29 February when that year is a common year (as ``age_on`` counts)."""
    y = f"({year} + {ADULT_AGE})"
    leap = f"(mod({y}, 4) = 0 AND (mod({y}, 100) <> 0 OR mod({y}, 400) = 0))"
    feb29 = f"{month} = 2 AND {day} = 29 AND NOT {leap}"
    return f"make_date({y}, CASE WHEN {feb29} THEN 3 ELSE {month} END, CASE WHEN {feb29} THEN 1 ELSE {day} END)"


def sql_standard_share(*, day: str, adult_from: str, child_cents: str, adult_cents: str, price: str) -> str:
    """``self_share_cents`` before the month's cap: the child's or the adult's, never more than the price."""
    return f"least(CASE WHEN {day} < {adult_from} THEN {child_cents} ELSE {adult_cents} END, {price})"


def sql_capped_share(*, standard: str, cap: str, paid_before: str) -> str:
    """``self_share_cents`` with the cap, from the standard share and what the month's earlier legs paid."""
    return f"greatest(0, least({standard}, {cap} - ({paid_before})))"


def sql_work_or_study(purpose: str) -> str:
    return f"{purpose} IN {sql_texts(sorted(WORK_OR_STUDY))}"


def sql_counts_toward_cap(leg: str) -> str:
    """``counts_toward_cap`` over a ``mobility_tripleg`` alias."""
    return f"{sql_work_or_study(f'{leg}.purpose')} AND {leg}.self_share_cents IS NOT NULL AND {sql_is_first_leg(leg)}"


def sql_is_first_leg(leg: str) -> str:
    """``is_first_leg`` over a ``mobility_tripleg`` alias."""
    rejected = sql_text(LegOutcome.REJECTED)
    return f"{leg}.same_as_id IS NULL AND {leg}.outcome <> {rejected} AND {leg}.resolved_outcome <> {rejected}"


def sql_debit_unit(model: str) -> str:
    """``debit_target``'s unit by the entitlement's model."""
    return (
        f"CASE {model} WHEN {sql_text(EntitlementModel.TRIP_QUOTA)} THEN {sql_text(Unit.TRIP)} "
        f"WHEN {sql_text(EntitlementModel.KM_PURSE)} THEN {sql_text(Unit.KM)} ELSE {sql_text(Unit.EUR)} END"
    )


def sql_debit_fixed_amount(model: str, km: str) -> str:
    """``debit_target``'s amount where it does not depend on the self-share (NULL for a euro purse: the county
    cost)."""
    return (
        f"CASE {model} WHEN {sql_text(EntitlementModel.TRIP_QUOTA)} THEN 1 "
        f"WHEN {sql_text(EntitlementModel.KM_PURSE)} THEN {sql_metres(km)} END"
    )


def sql_debit_purse(model: str, purpose: str, work_purse: str, leisure_purse: str) -> str:
    """``debit_target``'s purse."""
    return (
        f"CASE WHEN {model} = {sql_text(EntitlementModel.TRIP_QUOTA)} AND {sql_work_or_study(purpose)} "
        f"AND {work_purse} IS NOT NULL THEN {work_purse} ELSE {leisure_purse} END"
    )


def sql_entitlement_in_force(entitlement: str, day: str) -> str:
    """An entitlement that pays for trips on ``day`` (of several, the newest: ``valid_from`` then ``created_at``,
    descending, as ``TransportEntitlement.Meta.ordering``)."""
    return (
        f"{entitlement}.state = {sql_text(EntitlementState.ACTIVE)} "
        f"AND {entitlement}.valid_from <= {day} AND {entitlement}.valid_until >= {day}"
    )


ENTITLEMENT_NEWEST_FIRST = "valid_from DESC, created_at DESC"


def sql_tariff_in_force(tariff: str, day: str) -> str:
    """A tariff version that prices trips on ``day`` (of several, the newest: ``valid_from DESC``), as
    ``services.tariff_on``."""
    return f"{tariff}.valid_from <= {day} AND ({tariff}.valid_until IS NULL OR {tariff}.valid_until >= {day})"
