"""Whether a taxi leg can have happened as billed (issue 16): the one home of these rules, their limits and their
reason codes. The trip files' two paths (``trip_files`` in Python, ``trip_import_sql`` in SQL, built from the
functions below) and the booking API (``authorizations``) all read them from here.

- **Impossible speed** (``impossible_speed``): the distance over the billed ride minutes is faster than the
  tariff's ``max_speed_kmh`` — ``distance_km × 60 > max_speed_kmh × ride minutes``, exactly, so a positive
  distance in 0 ride minutes is impossible too, and a distance of 0 never is. A 90 km leg in one minute.
- **Impossible duration** (``impossible_duration``): more ride and waiting minutes were billed than fit between
  the pickup and the drop-off, with the tariff's ``billed_minutes_slack_min`` for meters that round minutes up —
  ``(ride + waiting minutes) × 60 > seconds from pickup to drop-off + slack × 60``. 300 ride minutes in a
  20-minute span. (The booking API knows no drop-off, so it judges the speed only.)

The limits are the tariff version's (``max_speed_kmh``, ``billed_minutes_slack_min`` in the tariff file); a leg
with no tariff (no client, decision or tariff found) is judged against the defaults. Both are exact comparisons of
decimals, in ``Decimal`` here and ``numeric`` in PostgreSQL, so the two paths agree to the last digit.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

#: Above any legal average speed on Finnish roads (motorways 120 km/h), with room for rounded ride minutes.
DEFAULT_MAX_SPEED_KMH = 150
#: Taximeters round minutes up and their clocks differ from the dispatch centre's by a minute or two.
DEFAULT_BILLED_MINUTES_SLACK_MIN = 5
#: What a tariff file may set them to.
MAX_SPEED_RANGE = (10, 300)
SLACK_RANGE = (0, 120)

IMPOSSIBLE_SPEED = "impossible_speed"
IMPOSSIBLE_DURATION = "impossible_duration"
#: In the order a leg's reasons list them.
REASONS = (IMPOSSIBLE_SPEED, IMPOSSIBLE_DURATION)


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
    return distance_km > 0 and distance_km * 60 > limits.max_speed_kmh * ride_minutes


def _seconds(span: dt.timedelta) -> Decimal:
    return Decimal(span.days * 86_400 + span.seconds) + Decimal(span.microseconds) / 1_000_000


def too_long(ride_minutes: Decimal, waiting_minutes: Decimal, span: dt.timedelta, limits: Limits) -> bool:
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


# --- the same in SQL (the set-based trip import) --------------------------------------------------------------


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
