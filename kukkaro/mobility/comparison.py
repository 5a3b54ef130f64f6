"""Which transport model serves a client best (issue 7): the monthly cost to the county and to the client under a
trip quota, a euro purse or a kilometre purse sized to the client's pattern, and a leasing car — with the number
of trips a month from which leasing is cheaper, and a recommendation that never falls below the legal minimum of
18 one-way trips a month and says why in plain language.

The pattern is a handful of sums per client (``Pattern``): from the legs of the last N months (one ``GROUP BY``
for a whole organiser, so a cohort of 100 000 clients costs one pass over the legs) or entered by a worker. Every
model is arithmetic on the pattern, in integer cents and metres, rounded once per figure (half up):

- **trip quota**: the county pays for the trips taken: trips a month × the client's average county cost per trip.
  The quota granted is at least 18 leisure trips (more if the client takes more), plus the work and study trips.
- **euro purse**: sized to the client's monthly county cost, and never less than 18 of the client's own typical
  trips (average county cost per trip × 18). A purse is planned to be used, so the county's cost is its size.
- **kilometre purse**: sized to the client's kilometres a month, never less than 18 typical trips' kilometres;
  the county's cost is those kilometres × the client's average county cost per kilometre.
- **leasing car**: the lease, insurance and servicing less the client's own contribution, the excess kilometres
  beyond the contract's yearly allowance (of the kilometres the car is driven), and the taxi trips the client
  would still need (``taxi_share`` of them, e.g. nights or trips without a driver). The client pays the
  contribution, fuel for the kilometres driven and the self-shares of the remaining taxi trips.

For the other models the client's cost is the self-shares of the trips, as paid.
"""

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kukkaro.core.money import format_cents

MINIMUM_TRIPS = 18

QUOTA, EUR_PURSE, KM_PURSE, LEASING = "trip_quota", "eur_purse", "km_purse", "leasing"
MODEL_NAMES = {
    QUOTA: gettext_lazy("trip quota"),
    EUR_PURSE: gettext_lazy("euro purse"),
    KM_PURSE: gettext_lazy("kilometre purse"),
    LEASING: gettext_lazy("leasing car"),
}


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Pattern:
    """What a client travelled in ``months`` months (sums over the legs the county paid for)."""

    months: int
    trips: int
    leisure_trips: int
    metres: int
    county_cost_cents: int
    self_share_cents: int

    @property
    def trips_per_month(self) -> Decimal:
        return Decimal(self.trips) / self.months

    @property
    def leisure_per_month(self) -> Decimal:
        return Decimal(self.leisure_trips) / self.months

    @property
    def cost_per_trip(self) -> Decimal:
        return Decimal(self.county_cost_cents) / self.trips if self.trips else Decimal(0)

    @property
    def metres_per_trip(self) -> Decimal:
        return Decimal(self.metres) / self.trips if self.trips else Decimal(0)

    @property
    def share_per_trip(self) -> Decimal:
        return Decimal(self.self_share_cents) / self.trips if self.trips else Decimal(0)


@dataclass(frozen=True)
class Lease:
    """A leasing car's terms (a client's own contract, or the county's reference lease)."""

    monthly_price_cents: int
    insurance_cents: int  # a month
    servicing_cents: int  # a month
    client_contribution_cents: int  # a month
    included_km_per_year: int
    excess_km_cents: int  # per kilometre beyond the allowance
    taxi_share: Decimal = Decimal("0.15")  # of the trips still made by taxi
    fuel_cents_per_km: int = 12  # what the client pays to drive


#: The county's reference lease for an accessible car, for clients without a contract of their own (estimates to
#: be replaced by the county's procurement: an adapted van on a 48-month lease).
REFERENCE_LEASE = Lease(
    monthly_price_cents=89_000,
    insurance_cents=9_000,
    servicing_cents=6_000,
    client_contribution_cents=15_000,
    included_km_per_year=15_000,
    excess_km_cents=15,
)


@dataclass(frozen=True)
class ModelCost:
    model: str
    county_cents: int  # a month
    client_cents: int  # a month
    units: str = ""  # what the model grants, in words ("18 trips a month")
    meets_minimum: bool = True


@dataclass
class Comparison:
    pattern: Pattern
    lease: Lease
    current: str  # the client's model now ("" if none)
    costs: list[ModelCost] = field(default_factory=list)
    break_even_trips: int | None = None  # trips a month from which leasing costs the county less than taxis
    recommended: str = ""
    explanation: str = ""

    def cost(self, model: str) -> ModelCost:
        return next(c for c in self.costs if c.model == model)

    @property
    def saving_cents(self) -> int:
        """What the recommended model saves the county a month against the current one (0 if none)."""
        if not self.current or self.current not in {c.model for c in self.costs}:
            return 0
        return self.cost(self.current).county_cents - self.cost(self.recommended).county_cents


def _leasing(pattern: Pattern, lease: Lease, trips_per_month: Decimal) -> tuple[int, int]:
    """(county, client) cents a month of a leasing car for a client taking ``trips_per_month`` trips."""
    taxi = trips_per_month * lease.taxi_share
    driven_km_per_year = (trips_per_month - taxi) * pattern.metres_per_trip / 1000 * 12
    excess_km = max(Decimal(0), driven_km_per_year - lease.included_km_per_year)
    fixed = lease.monthly_price_cents + lease.insurance_cents + lease.servicing_cents
    county = (
        Decimal(max(0, fixed - lease.client_contribution_cents))
        + excess_km * lease.excess_km_cents / 12
        + taxi * pattern.cost_per_trip
    )
    client = (
        Decimal(lease.client_contribution_cents)
        + (trips_per_month - taxi) * pattern.metres_per_trip / 1000 * lease.fuel_cents_per_km
        + taxi * pattern.share_per_trip
    )
    return _round(county), _round(client)


def _break_even(pattern: Pattern, lease: Lease) -> int | None:
    """The fewest whole trips a month at which leasing costs the county no more than paying for taxi trips."""
    if pattern.cost_per_trip <= 0 or lease.taxi_share >= 1:
        return None
    fixed = max(
        0, lease.monthly_price_cents + lease.insurance_cents + lease.servicing_cents - lease.client_contribution_cents
    )
    # Without excess kilometres leasing pays off at fixed / (cost per trip × the share not by taxi); start just
    # below that and walk up (excess kilometres can only push it further).
    start = max(1, int(fixed / (pattern.cost_per_trip * (1 - lease.taxi_share))) - 1)
    for trips in range(start, 1001):
        leasing, _client = _leasing(pattern, lease, Decimal(trips))
        if leasing <= _round(trips * pattern.cost_per_trip):
            return trips
    return None


def compare(
    pattern: Pattern,
    *,
    current: str = "",
    lease: Lease = REFERENCE_LEASE,
    can_drive: bool | None = None,
    explain: bool = True,
) -> Comparison:
    """Every model's monthly cost for this pattern, the break-even and the recommendation. ``can_drive``: the
    client drives or has a named driver (False: a leasing car is no option; None: not known, so a leasing car
    is compared on that condition). ``explain=False`` (a cohort) leaves out the words and the break-even."""
    result = Comparison(pattern=pattern, lease=lease, current=current)
    per_month = pattern.trips_per_month
    actual = _round(per_month * pattern.cost_per_trip)
    shares = _round(per_month * pattern.share_per_trip)
    floor_cost = _round(MINIMUM_TRIPS * pattern.cost_per_trip)
    floor_metres = _round(MINIMUM_TRIPS * pattern.metres_per_trip)
    metres_per_month = _round(Decimal(pattern.metres) / pattern.months)
    leisure_quota = max(MINIMUM_TRIPS, math.ceil(pattern.leisure_per_month))
    work_quota = math.ceil((pattern.trips - pattern.leisure_trips) / Decimal(pattern.months))
    km_purse = max(metres_per_month, floor_metres)
    words = {QUOTA: "", EUR_PURSE: "", KM_PURSE: "", LEASING: ""}
    if explain:
        words[QUOTA] = _("%(trips)s trips a month") % {"trips": leisure_quota}
        if work_quota:
            words[QUOTA] += ", " + _("%(trips)s work and study trips") % {"trips": work_quota}
        words[EUR_PURSE] = _("%(euros)s a month") % {"euros": format_cents(max(actual, floor_cost))}
        words[KM_PURSE] = _("%(km)s km a month") % {"km": _round(Decimal(km_purse) / 1000)}
        words[LEASING] = _("a car, and taxis for some trips")
    cost_per_metre = Decimal(pattern.county_cost_cents) / pattern.metres if pattern.metres else Decimal(0)
    leasing_county, leasing_client = _leasing(pattern, lease, per_month)
    result.costs = [
        ModelCost(QUOTA, actual, shares, words[QUOTA]),
        ModelCost(EUR_PURSE, max(actual, floor_cost), shares, words[EUR_PURSE]),
        ModelCost(KM_PURSE, _round(km_purse * cost_per_metre), shares, words[KM_PURSE]),
        ModelCost(LEASING, leasing_county, leasing_client, words[LEASING], can_drive is not False),
    ]
    eligible = [c for c in result.costs if c.meets_minimum]
    best = min(eligible, key=lambda c: (c.county_cents, c.model != current))
    result.recommended = best.model
    if explain:
        result.break_even_trips = _break_even(pattern, lease)
        result.explanation = _explain(result, best, can_drive)
    return result


def _explain(result: Comparison, best: ModelCost, can_drive: bool | None) -> str:
    pattern = result.pattern
    words = {
        "model": MODEL_NAMES[best.model],
        "cost": format_cents(best.county_cents),
        "trips": number_format(pattern.trips_per_month, decimal_pos=1, use_l10n=True),
        "minimum": MINIMUM_TRIPS,
    }
    parts = [
        _(
            "The client has travelled about %(trips)s one-way trips a month. The %(model)s costs the county the least, "
            "%(cost)s a month, and still gives at least %(minimum)s trips a month."
        )
        % words
    ]
    if result.current and result.current != best.model:
        parts.append(
            _("That is %(saving)s a month less than the %(current)s now.")
            % {"saving": format_cents(result.saving_cents), "current": MODEL_NAMES[result.current]}
        )
    elif result.current == best.model:
        parts.append(_("This is the model the client has now."))
    if result.break_even_trips is not None:
        parts.append(
            _("A leasing car would cost the county less from about %(trips)s trips a month.")
            % {"trips": result.break_even_trips}
        )
    if can_drive is False:
        parts.append(_("A leasing car is not an option: the client neither drives nor has a named driver."))
    elif can_drive is None and best.model == LEASING:
        parts.append(_("This assumes the client drives or has a named driver."))
    return " ".join(parts)
