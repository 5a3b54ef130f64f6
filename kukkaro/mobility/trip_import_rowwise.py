"""A trip file a row at a time, through the ledger's services: the import on SQLite, and the reference the
set-based import on PostgreSQL (``trip_import_sql``) is compared with, field by field.

Every row ends in exactly one outcome — accepted (debited), rejected (malformed or impossible) or held for review
(with reason codes) — by the rules of ``judgement``, and importing the same file again changes nothing:

1. **Rejected** when it cannot be read or cannot be true (``trip_rows``), or cannot have happened as billed by the
   tariff's limits, or names a supplement the tariff does not know, once the client, decision and tariff are
   looked up (``trip_lookups``).
2. **Held for review** with every reason that applies: ``unknown_client``, ``no_decision``, ``no_tariff``,
   ``operator_not_approved``, ``outside_area``, ``fare_mismatch``, ``insufficient_funds`` (the purse cannot take
   the debit), ``resent_changed`` (the operator sent this trip id before with other content).
3. **Accepted** otherwise, and debited once. A leg's identity (operator and trip id) has one first leg only (a
   unique index), so no leg is ever debited twice, however often it is sent. The file debits each purse once,
   with the sum of its legs (the legs keep the detail and name that transfer; ADR 0016).

A leg sent again with the same content gets the first one's outcome and no second debit. A first leg refused in
review gives up its identity: the trip sent again under the same id is judged afresh. Legs are taken in
pickup order (then row order) for what depends on order: the purse's money and the monthly cap of work and
study self-shares.
"""

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from kukkaro.core import clock
from kukkaro.core.actors import Actor, person
from kukkaro.core.models import Organiser
from kukkaro.core.text import clean_filename
from kukkaro.ledger import bulk
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import TransferCode
from kukkaro.mobility import judgement
from kukkaro.mobility.models import LegOutcome, TripImport, TripLeg
from kukkaro.mobility.trip_import import FILE_REF_TYPE, file_memo, file_transfer_id, import_authorize, import_finish
from kukkaro.mobility.trip_lookups import Context, price_and_share
from kukkaro.mobility.trip_rows import Row, read_file
from kukkaro.mobility.trip_settlement import lock_and_settle, settlement_lock


@dataclass
class Verdict:
    outcome: str
    reasons: list[str]
    client: Any = None
    entitlement: Any = None
    provider_id: uuid.UUID | None = None
    price_cents: int | None = None
    self_share_cents: int | None = None
    county_cost_cents: int | None = None
    debit_unit: str = ""
    debit_amount: int | None = None
    purse: Any = None
    same_as: Any = None


def _lookups(row: Row, context: Context, verdict: Verdict) -> Any:
    """Operator, client, entitlement and tariff of a readable row; review reasons where one is missing. Returns
    the tariff (or None)."""
    read = row.readings()
    day = judgement.helsinki_day(read.pickup_at)
    verdict.provider_id = context.provider_id(row.operator_id)
    if verdict.provider_id is None or not context.operator_approved(verdict.provider_id, day):
        verdict.reasons.append(judgement.OPERATOR_NOT_APPROVED)
    verdict.client = context.client_for(row.client_number, read.pickup_at)
    if verdict.client is None:
        verdict.reasons.append(judgement.UNKNOWN_CLIENT)
        return None
    verdict.entitlement = context.entitlement_for(verdict.client, day)
    if verdict.entitlement is None:
        verdict.reasons.append(judgement.NO_DECISION)
        return None
    if judgement.outside_area(verdict.entitlement, verdict.client, row.origin, row.destination):
        verdict.reasons.append(judgement.OUTSIDE_AREA)
    tariff = context.tariff_for(verdict.entitlement.contract_area_id, day)
    if tariff is None:
        verdict.reasons.append(judgement.NO_TARIFF)
    return tariff


def _price(row: Row, context: Context, verdict: Verdict, tariff: Any) -> int:
    """Price the leg onto the verdict; returns the county's cost."""
    read = row.readings()
    leg = judgement.Leg(
        pickup_at=read.pickup_at,
        distance_km=read.distance_km,
        ride_minutes=read.duration_min,
        waiting_minutes=read.waiting_min,
        vehicle_class=row.vehicle_class,
        supplements=row.supplements,
        shared=bool(row.shared_ride_id),
    )
    price, share = price_and_share(context, verdict.client, tariff, leg, row.purpose)
    verdict.price_cents, verdict.self_share_cents, verdict.county_cost_cents = price, share, price - share
    if judgement.fare_mismatch(read.fare_cents, price, tariff.fare_tolerance_cents):
        verdict.reasons.append(judgement.FARE_MISMATCH)
    return price - share


def judge(row: Row, context: Context) -> Verdict:
    """The row's one outcome, without changing anything (the caller debits an accepted leg)."""
    if row.reasons:
        return Verdict(outcome=LegOutcome.REJECTED, reasons=list(row.reasons))
    read = row.readings()
    verdict = Verdict(outcome=LegOutcome.ACCEPTED, reasons=[])
    tariff = _lookups(row, context, verdict)
    # What cannot have happened as billed, by the tariff's limits (the defaults without a tariff), and a
    # supplement the tariff does not know: rejected, with the client found.
    rejection = judgement.impossible(
        distance_km=read.distance_km,
        ride_minutes=read.duration_min,
        waiting_minutes=read.waiting_min,
        span=read.dropoff_at - read.pickup_at,
        limits=judgement.limits_of(tariff),
    )
    if tariff is not None and judgement.unknown_supplements(row.supplements, tariff.supplements_cents):
        rejection.append(judgement.UNKNOWN_SUPPLEMENT)
    if rejection:
        return Verdict(outcome=LegOutcome.REJECTED, reasons=judgement.in_order(rejection), client=verdict.client)
    if tariff is not None:
        county_cost = _price(row, context, verdict, tariff)
        verdict.debit_unit, verdict.debit_amount, verdict.purse = judgement.debit_target(
            verdict.entitlement, row.purpose, read.distance_km, county_cost
        )
    verdict.reasons = judgement.in_order(verdict.reasons)
    return verdict


class _Debits:
    """What the file takes from each purse, decided leg by leg in pickup order against the purse's money as it
    was when the import began (the purse locked), and posted as one transfer per purse at the end."""

    def __init__(self) -> None:
        self.available: dict[uuid.UUID, int] = {}
        self.taken: dict[uuid.UUID, int] = {}
        self.legs: dict[uuid.UUID, int] = {}
        self.purses: dict[uuid.UUID, Any] = {}

    def take(self, purse: Any, amount: int) -> bool:
        """Whether the purse can take the leg; False means it (and every later leg of the file) waits."""
        if purse.pk not in self.available:
            self.available.update(bulk.purses_spendable(purse_ids={purse.pk}))  # locked up front already
            self.taken[purse.pk] = self.legs[purse.pk] = 0
            self.purses[purse.pk] = purse
        if self.taken[purse.pk] + amount > self.available[purse.pk]:
            return False
        self.taken[purse.pk] += amount
        self.legs[purse.pk] += 1
        return True

    def post(self, trip_import: TripImport, actor: Actor) -> None:
        for purse_id in sorted(self.taken):
            if not self.taken[purse_id]:
                continue
            purse = self.purses[purse_id]
            ledger.transfer_post(
                transfer_id=file_transfer_id(trip_import.organiser_id, trip_import.sha256, purse_id),
                debit=purse,
                credit=ledger.payables_of(purse),
                amount=self.taken[purse_id],
                code=TransferCode.USAGE,
                actor=actor,
                ref_type=FILE_REF_TYPE,
                ref_id=trip_import.sha256,
                memo=file_memo(trip_import.filename, self.legs[purse_id]),
            )


def _leg(trip_import: TripImport, row: Row, verdict: Verdict) -> TripLeg:
    readable = not row.reasons
    accepted = verdict.outcome == LegOutcome.ACCEPTED
    return TripLeg(
        trip_import=trip_import,
        row_number=row.number,
        outcome=verdict.outcome,
        reasons=verdict.reasons,
        operator_id=row.operator_id[:20],
        trip_id=row.trip_id[:64],
        content_sha256=row.content_sha256,
        same_as=verdict.same_as,
        client=verdict.client,
        entitlement=verdict.entitlement,
        provider_id=verdict.provider_id,
        client_number=row.client_number[:20],
        authorization_id=row.authorization_id[:64],
        pickup_at=row.pickup_at if readable else None,
        dropoff_at=row.dropoff_at if readable else None,
        origin_municipality=row.origin[:3],
        destination_municipality=row.destination[:3],
        distance_m=judgement.metres(row.distance_km) if row.distance_km is not None and readable else None,
        duration_min=row.duration_min if readable else None,
        waiting_min=row.waiting_min if readable else None,
        vehicle_class=row.vehicle_class[:16],
        purpose=row.purpose[:8],
        escort=row.escort,
        supplements=list(row.supplements),
        shared_ride_id=row.shared_ride_id[:64],
        fare_cents=row.fare_cents if readable else None,
        self_share_collected_cents=row.self_share_collected_cents if readable else None,
        price_cents=verdict.price_cents,
        self_share_cents=verdict.self_share_cents,
        county_cost_cents=verdict.county_cost_cents,
        debit_unit=verdict.debit_unit if accepted else "",
        debit_amount=verdict.debit_amount if accepted else None,
        purse=verdict.purse,
        transfer_id=file_transfer_id(trip_import.organiser_id, trip_import.sha256, verdict.purse.pk)
        if accepted and verdict.same_as is None and verdict.debit_amount
        else None,
    )


def _candidate_purses(rows: list[Row], context: Context) -> set:
    """The client purses the file's readable legs could be debited from: both lines of the entitlement in force
    for the card's client on the pickup date (the same lookups the judgement makes, cached for it)."""
    purses = set()
    for row in rows:
        if row.reasons:
            continue
        pickup_at = row.readings().pickup_at
        client = context.client_for(row.client_number, pickup_at)
        entitlement = None if client is None else context.entitlement_for(client, judgement.helsinki_day(pickup_at))
        if entitlement is None:
            continue
        for line in (entitlement.leisure_line, entitlement.work_line):
            if line is not None and line.purse_id is not None:
                purses.add(line.purse_id)
    return purses


def _order(row: Row) -> tuple:
    # Readable rows in pickup order (then row order); rejected ones keep their place at the end.
    if row.reasons or row.pickup_at is None:
        return (1, dt.datetime.max.replace(tzinfo=dt.UTC), row.number)
    return (0, row.pickup_at, row.number)


@transaction.atomic
def import_trips_rowwise(*, actor: Actor, organiser: Organiser, filename: str, content: bytes) -> TripImport:
    """Import a trip file a row at a time. The same bytes again return the earlier import unchanged; a file that
    cannot be read at all is refused whole and stores nothing."""
    import_authorize(actor, organiser)
    sha256 = hashlib.sha256(content).hexdigest()
    # One import of an organiser at a time. FOR NO KEY UPDATE, not FOR UPDATE: a booking or a cancel that commits
    # meanwhile checks its rows' foreign keys to the organiser (FOR KEY SHARE), and must not wait for the import.
    Organiser.objects.select_for_update(no_key=True).get(pk=organiser.pk)
    existing = TripImport.objects.filter(organiser=organiser, sha256=sha256).first()
    if existing is not None:
        return existing
    rows = read_file(content)
    started = clock.now()
    trip_import = TripImport.objects.create(
        organiser=organiser,
        filename=clean_filename(filename, default="trips.csv"),
        sha256=sha256,
        rows=len(rows),
        imported_by=person(actor),
        started_at=started,
        finished_at=started,
    )
    # The lock order (docs/mobility.md, "Locks"): the bookings the file settles, then every purse it may touch,
    # client purses before system purses; the audit chain last, when everything else is done.
    settlement = settlement_lock(
        organiser_id=organiser.pk,
        references=[(r.authorization_id, r.client_number) for r in rows if r.authorization_id],
    )
    context = Context(organiser)
    lock_and_settle(settlement, _candidate_purses(rows, context), actor)
    legs = []
    debits = _Debits()
    exhausted: set = set()  # purses that could not take a leg of this file: later legs wait too (pickup order)
    for row in sorted(rows, key=_order):
        verdict = judge(row, context)
        if verdict.outcome != LegOutcome.REJECTED:
            _identity(row, verdict, context)
        if verdict.same_as is None and verdict.outcome != LegOutcome.REJECTED:
            if verdict.reasons:
                verdict.outcome = LegOutcome.REVIEW
            elif verdict.debit_amount and (
                verdict.purse.pk in exhausted or not debits.take(verdict.purse, verdict.debit_amount)
            ):
                exhausted.add(verdict.purse.pk)
                verdict.outcome, verdict.reasons = LegOutcome.REVIEW, [judgement.INSUFFICIENT_FUNDS]
            if verdict.self_share_cents is not None and row.purpose in judgement.WORK_OR_STUDY:
                context.work_study_paid_add(verdict.client, row.readings().pickup_at, verdict.self_share_cents)
        leg = _leg(trip_import, row, verdict)
        leg.save()
        if verdict.outcome != LegOutcome.REJECTED and verdict.same_as is None:
            context.first_legs[(row.operator_id, row.trip_id)] = leg
        legs.append(leg)
    debits.post(trip_import, actor)
    counts: dict[str, int] = {}
    for leg in legs:
        counts[leg.outcome] = counts.get(leg.outcome, 0) + 1
    import_finish(trip_import, counts=counts, rows=len(rows), settlement=settlement, actor=actor)
    return trip_import


def _identity(row: Row, verdict: Verdict, context: Context) -> None:
    """A trip id the operator sent before: the same content is the same leg (its outcome, no new debit); other
    content is held for review."""
    key = (row.operator_id, row.trip_id)
    first = context.first_legs.get(key)
    if first is None:
        first = TripLeg.objects.filter(
            judgement.is_first_leg(), operator_id=row.operator_id, trip_id=row.trip_id
        ).first()
        if first is not None:
            context.first_legs[key] = first
    if first is None:
        return
    verdict.same_as = first
    if first.content_sha256 == row.content_sha256:
        verdict.outcome, verdict.reasons = first.outcome, list(first.reasons)
        verdict.price_cents, verdict.self_share_cents = first.price_cents, first.self_share_cents
        verdict.county_cost_cents, verdict.debit_unit = first.county_cost_cents, first.debit_unit
        verdict.debit_amount, verdict.purse = first.debit_amount, first.purse
    else:
        verdict.outcome, verdict.reasons = LegOutcome.REVIEW, [judgement.RESENT_CHANGED]
        verdict.self_share_cents = verdict.county_cost_cents = verdict.debit_amount = verdict.purse = None
        verdict.debit_unit = ""
