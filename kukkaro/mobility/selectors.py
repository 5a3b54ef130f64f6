"""Reads of mobility for staff pages: trip files and their results, the review queue, a leg, and a client's
month of transport. Everything is scoped to the actor's organiser; the pages log which clients they showed."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from kukkaro.core.audit import PURPOSE_TRIPS
from kukkaro.core.clock import HELSINKI
from kukkaro.core.permissions import Action, authorize, reach, visible
from kukkaro.ledger.models import Purse
from kukkaro.ledger.selectors import purse_statement
from kukkaro.mobility import judgement
from kukkaro.mobility.comparison import Pattern, compare
from kukkaro.mobility.models import LeasingContract, LegOutcome, TransportEntitlement, TripImport, TripLeg
from kukkaro.people.models import Client, User
from kukkaro.people.selectors import client_log_reads

#: Why a leg is held for review (``judgement.REVIEW_REASONS``), in the order the queue offers them as filters.
REVIEW_REASONS = (
    judgement.UNKNOWN_CLIENT,
    judgement.NO_DECISION,
    judgement.NO_TARIFF,
    judgement.OPERATOR_NOT_APPROVED,
    judgement.OUTSIDE_AREA,
    judgement.FARE_MISMATCH,
    judgement.INSUFFICIENT_FUNDS,
    judgement.RESENT_CHANGED,
)


def trip_imports(*, actor: User) -> QuerySet[TripImport]:
    authorize(actor, Action.TRIP_IMPORT)
    return visible(TripImport.objects.all(), actor, Action.TRIP_IMPORT).select_related("imported_by")


def trip_import_get(*, actor: User, import_id: Any) -> TripImport:
    return trip_imports(actor=actor).get(pk=import_id)


def import_legs(*, trip_import: TripImport, outcome: str = "") -> QuerySet[TripLeg]:
    legs = TripLeg.objects.filter(trip_import=trip_import)
    if outcome:
        legs = legs.filter(outcome=outcome)
    # A duplicate names its first row and that row's import (presenters.duplicate_text).
    return legs.select_related("same_as__trip_import").order_by("row_number")


def _legs_of_organiser(actor: User) -> QuerySet[TripLeg]:
    return visible(TripLeg.objects.all(), actor, Action.TRIP_REVIEW, organiser_field="trip_import__organiser")


def review_queue(*, actor: User, reason: str = "") -> QuerySet[TripLeg]:
    """Legs held for review and not yet resolved, oldest trip first."""
    authorize(actor, Action.TRIP_REVIEW)
    legs = _legs_of_organiser(actor).filter(outcome=LegOutcome.REVIEW, resolved_outcome="")
    if reason:
        # The reasons are a JSON list of codes; a quoted code matches one whole element on both databases.
        legs = legs.filter(reasons__icontains=f'"{reason}"')
    return legs.select_related("client").order_by("pickup_at", "pk")


def review_counts(*, actor: User) -> dict[str, int]:
    """How many unresolved legs wait for each reason (a leg with two reasons counts under both)."""
    waiting = review_queue(actor=actor)
    counts = waiting.aggregate(
        **{code: Count("pk", filter=Q(reasons__icontains=f'"{code}"')) for code in REVIEW_REASONS},
        total=Count("pk"),
    )
    return {code: counts[code] or 0 for code in (*REVIEW_REASONS, "total")}


def leg_get(*, actor: User, leg_id: int) -> TripLeg:
    authorize(actor, Action.TRIP_REVIEW)
    return (
        _legs_of_organiser(actor)
        .select_related("trip_import", "client", "entitlement", "provider", "resolved_by", "same_as__trip_import")
        .get(pk=leg_id)
    )


def legs_log_reads(*, actor: User, legs: list[TripLeg]) -> None:
    """Log that staff saw these legs' clients (once per client)."""
    clients = {leg.client_id: leg.client for leg in legs if leg.client_id}
    client_log_reads(actor=actor, clients=list(clients.values()), purpose=PURPOSE_TRIPS, action="trip.read")


# --- a client's month ----------------------------------------------------------------------------------------


@dataclass
class PurseMonth:
    """One purse in a month. ``trips_used`` is what the month's trips took from it, by pickup date, the same legs
    the month lists and counts; ``debited`` is what left the purse in the month by the ledger's posting date (a
    month's trip file is posted early the next month), the basis of the opening and closing balances."""

    purse: Purse
    label: str
    opening: int
    trips_used: int
    debited: int
    added: int
    closing: int
    available_now: int


@dataclass
class MonthStatement:
    client: Client
    month: dt.date  # the first day
    entitlements: list[TransportEntitlement]
    purses: list[PurseMonth] = field(default_factory=list)
    legs: list[TripLeg] = field(default_factory=list)
    trips: int = 0
    metres: int = 0
    price_cents: int = 0
    self_share_cents: int = 0
    county_cost_cents: int = 0
    waiting: int = 0  # legs still held for review
    leases: list = field(default_factory=list)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime, dt.date]:
    """The month's first moment and the next month's first moment in Helsinki, and the month's last day."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=HELSINKI)
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, dt.datetime(following.year, following.month, 1, tzinfo=HELSINKI), following - dt.timedelta(days=1)


def _counts(leg: TripLeg) -> bool:
    """Does the leg count as a trip taken: accepted at import, or accepted by a person afterwards."""
    return leg.same_as_id is None and (
        leg.outcome == LegOutcome.ACCEPTED
        or (leg.outcome == LegOutcome.REVIEW and leg.resolved_outcome == LegOutcome.ACCEPTED)
    )


def client_month(*, client: Client, month: dt.date, language: str) -> MonthStatement:
    """The client's transport in one calendar month: every leg picked up in the month (a leg repeated in a later
    file once), what the trips cost and what the client paid, and each transport purse's opening balance, what the
    month's trips took from it (by pickup date, like everything else here), what left it in the month by the
    ledger's posting date, and what is left.
    The caller has fetched ``client`` through ``client_get`` (scoped and logged)."""
    start, end, last_day = month_bounds(month)
    entitlements = list(
        TransportEntitlement.objects.filter(
            client=client, valid_from__lte=last_day, valid_until__gte=month.replace(day=1)
        )
        .select_related("leisure_line", "work_line", "leisure_line__purse", "work_line__purse")
        .order_by("valid_from")
    )
    statement = MonthStatement(client=client, month=month.replace(day=1), entitlements=entitlements)
    statement.leases = list(
        LeasingContract.objects.filter(client=client, starts_on__lte=last_day)
        .select_related("line__purse")
        .order_by("starts_on")
    )
    legs = list(
        TripLeg.objects.filter(client=client, pickup_at__gte=start, pickup_at__lt=end, same_as__isnull=True)
        .exclude(outcome=LegOutcome.REJECTED)
        .order_by("pickup_at", "pk")
    )
    statement.legs = legs
    trips_used: dict[Any, int] = {}
    for leg in legs:
        if leg.outcome == LegOutcome.REVIEW and not leg.resolved_outcome:
            statement.waiting += 1
        if not _counts(leg):
            continue
        statement.trips += 1
        statement.metres += leg.distance_m or 0
        statement.price_cents += leg.price_cents or 0
        statement.self_share_cents += leg.self_share_cents or 0
        statement.county_cost_cents += leg.county_cost_cents or 0
        if leg.purse_id is not None:
            trips_used[leg.purse_id] = trips_used.get(leg.purse_id, 0) + (leg.debit_amount or 0)
    seen: set = set()
    lines = [line for e in entitlements for line in (e.leisure_line, e.work_line)]
    lines += [lease.line for lease in statement.leases if lease.ends_on >= month.replace(day=1)]
    for line in lines:
        if line is None or line.purse is None or line.purse.pk in seen:
            continue
        seen.add(line.purse.pk)
        period = purse_statement(purse=line.purse, start=month.replace(day=1), end=last_day)
        statement.purses.append(
            PurseMonth(
                purse=line.purse,
                label=line.name_in(language),
                opening=period.opening_balance,
                trips_used=trips_used.get(line.purse.pk, 0),
                debited=period.debits,
                added=period.credits,
                closing=period.closing_balance,
                available_now=line.purse.available_now,
            )
        )
    return statement


def leg_counts_as_trip(leg: TripLeg) -> bool:
    return _counts(leg)


# --- patterns for the cost comparison --------------------------------------------------------------------------


def comparison_window(*, months: int, today: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The last ``months`` whole calendar months before today's, in Helsinki time."""
    this_month = today.replace(day=1)
    index = this_month.year * 12 + this_month.month - 1 - months
    first = dt.date(index // 12, index % 12 + 1, 1)
    return (
        dt.datetime(first.year, first.month, 1, tzinfo=HELSINKI),
        dt.datetime(this_month.year, this_month.month, 1, tzinfo=HELSINKI),
    )


def patterns(
    *, organiser_id: int, since: dt.datetime, until: dt.datetime, months: int, client_ids: Any = None
) -> dict[Any, Pattern]:
    """Each client's travel in [since, until): one GROUP BY over the legs the county paid for (accepted at import
    or in review; a leg sent again counted once)."""
    legs = TripLeg.objects.filter(
        pickup_at__gte=since, pickup_at__lt=until, same_as__isnull=True, client_id__isnull=False
    ).filter(Q(outcome=LegOutcome.ACCEPTED) | Q(outcome=LegOutcome.REVIEW, resolved_outcome=LegOutcome.ACCEPTED))
    if client_ids is not None:
        legs = legs.filter(client_id__in=client_ids)
    else:
        legs = legs.filter(
            client_id__in=TransportEntitlement.objects.filter(organiser_id=organiser_id).values("client_id")
        )
    rows = legs.values("client_id").annotate(
        trips=Count("pk"),
        leisure=Count("pk", filter=Q(purpose="leisure")),
        metres=Sum("distance_m"),
        cost=Sum("county_cost_cents"),
        share=Sum("self_share_cents"),
    )
    return {
        row["client_id"]: Pattern(
            months=months,
            trips=row["trips"],
            leisure_trips=row["leisure"],
            metres=row["metres"] or 0,
            county_cost_cents=row["cost"] or 0,
            self_share_cents=row["share"] or 0,
        )
        for row in rows.order_by()
    }


def active_lease(*, client: Client, on: dt.date) -> LeasingContract | None:
    return (
        LeasingContract.objects.filter(client=client, state="active", starts_on__lte=on).order_by("-starts_on").first()
    )


def leased_clients(*, organiser_id: int, on: dt.date) -> set:
    return set(
        LeasingContract.objects.filter(organiser_id=organiser_id, state="active", starts_on__lte=on).values_list(
            "client_id", flat=True
        )
    )


def current_models(*, organiser_id: int, on: dt.date, client_ids: Any = None) -> dict[Any, str]:
    """The model of each client's transport decision in force on ``on``."""
    entitlements = TransportEntitlement.objects.filter(
        organiser_id=organiser_id, state="active", valid_from__lte=on, valid_until__gte=on
    )
    if client_ids is not None:
        entitlements = entitlements.filter(client_id__in=client_ids)
    return dict(entitlements.values_list("client_id", "model"))


def entered_pattern(
    *, client: Client, trips: int, work_trips: int, km_per_trip: Decimal, on: dt.date
) -> Pattern | None:
    """A month of the pattern a worker enters, each trip priced as a weekday daytime car trip of that length
    (ride minutes: 1,6 a kilometre and 4 more) with the tariff in force, less the adult self-share."""
    from kukkaro.mobility import services as mobility
    from kukkaro.mobility.models import ContractArea

    entitlement = TransportEntitlement.objects.filter(client=client).order_by("-valid_from").first()
    area_id = entitlement.contract_area_id if entitlement else None
    if area_id is None:
        area = ContractArea.objects.filter(organiser_id=client.organiser_id).order_by("pk").first()
        area_id = area.pk if area else None
    tariff = mobility.tariff_on(area_id=area_id, day=on) if area_id else None
    if tariff is None:
        return None
    terms = tariff.terms()
    weekday = on + dt.timedelta(days=(7 - on.weekday()) % 7 + 1)  # a Tuesday ahead, never a weekend
    price = judgement.leg_price_cents(
        judgement.Leg(
            pickup_at=dt.datetime(weekday.year, weekday.month, weekday.day, 10, tzinfo=HELSINKI),
            distance_km=km_per_trip,
            ride_minutes=(km_per_trip * Decimal("1.6") + 4).quantize(Decimal(1)),
            waiting_minutes=Decimal(0),
            vehicle_class="car",
        ),
        terms,
    )
    share = min(terms.self_share_adult_cents, price)
    return Pattern(
        months=1,
        trips=trips,
        leisure_trips=trips - work_trips,
        metres=trips * judgement.metres(km_per_trip),
        county_cost_cents=trips * (price - share),
        self_share_cents=trips * share,
    )


@dataclass(frozen=True)
class CohortRow:
    client_id: Any
    municipality: str
    current: str
    current_cents: int
    recommended: str
    recommended_cents: int
    saving_cents: int


def cohort(
    *, actor: User, months: int, today: dt.date, municipality: str = ""
) -> tuple[list[CohortRow], dict[str, int]]:
    """Every client of the organiser with a transport decision in force and trips in the window, ranked by what a
    different model would save the county a month; and the totals."""
    authorize(actor, Action.TRANSPORT_COMPARE)
    since, until = comparison_window(months=months, today=today)
    organiser_id = reach(actor, Action.TRANSPORT_COMPARE).organiser_id
    assert organiser_id is not None, "the rule is the own organiser's, and authorize let the actor in"
    clients = visible(Client.objects.all(), actor, Action.TRANSPORT_COMPARE)
    client_ids = None
    if municipality:
        client_ids = clients.filter(municipality__code=municipality).values("pk")
    found = patterns(organiser_id=organiser_id, since=since, until=until, months=months, client_ids=client_ids)
    models = current_models(organiser_id=organiser_id, on=today, client_ids=client_ids)
    homes = dict(
        clients.filter(
            pk__in=TransportEntitlement.objects.filter(organiser_id=organiser_id).values("client_id"),
        ).values_list("pk", "municipality__code")
    )
    # A leasing car's own trips are not in the trip files: such clients are counted, not ranked by their taxis.
    leased = leased_clients(organiser_id=organiser_id, on=today)
    rows = []
    for client_id, pattern in found.items():
        current = models.get(client_id)
        if current is None or not pattern.trips or client_id in leased:
            continue
        result = compare(pattern, current=current, explain=False)
        now_cents = result.cost(current).county_cents
        best = result.cost(result.recommended).county_cents
        rows.append(
            CohortRow(
                client_id, homes.get(client_id, ""), current, now_cents, result.recommended, best, now_cents - best
            )
        )
    rows.sort(key=lambda r: (-r.saving_cents, str(r.client_id)))
    totals = {
        "clients": len(rows),
        "current_cents": sum(r.current_cents for r in rows),
        "recommended_cents": sum(r.recommended_cents for r in rows),
        "saving_cents": sum(r.saving_cents for r in rows),
        "changing": sum(1 for r in rows if r.recommended != r.current),
        "leased": len(leased),
    }
    return rows, totals
