"""Writes of mobility: tariffs, transport entitlements and transport cards. Each is one transaction with its audit
row; debits go through the ledger."""

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from stdnum import luhn

from kukkaro.cases.hooks import Replacement
from kukkaro.cases.models import Decision, DecisionLine
from kukkaro.core import clock
from kukkaro.core.actors import Actor, person
from kukkaro.core.audit import audit_record
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, OfOrganiser, authorize
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import PeriodKind, Purse, TransferCode, Unit
from kukkaro.mobility import judgement, tariff_files
from kukkaro.mobility.models import (
    AllowedArea,
    ContractArea,
    EntitlementModel,
    EntitlementState,
    LegOutcome,
    Tariff,
    TransportCard,
    TransportEntitlement,
    TripLeg,
    VehicleClass,
)
from kukkaro.people.models import Client, User

#: The legal minimum: at least 18 one-way trips a month for errands and leisure (Act 675/2023, as before it).
MINIMUM_TRIPS_PER_MONTH = 18
#: Without history, the trip a purse is measured against: 8 km and 15 minutes by car on a weekday.
TYPICAL_TRIP = {"distance_km": Decimal("8.0"), "ride_minutes": Decimal(15), "vehicle_class": "car"}
MODEL_UNITS = {
    EntitlementModel.TRIP_QUOTA: Unit.TRIP,
    EntitlementModel.KM_PURSE: Unit.KM,
    EntitlementModel.EUR_PURSE: Unit.EUR,
}
PERIODS_PER_YEAR = {PeriodKind.MONTHLY: 12, PeriodKind.QUARTERLY: 4, PeriodKind.YEARLY: 1}


# --- tariffs -------------------------------------------------------------------------------------------------


def _overlapping(versions: Any, valid_from: dt.date, valid_until: dt.date | None) -> Any:
    return versions.filter(valid_from__lte=valid_until or dt.date.max).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    )


@transaction.atomic
def tariffs_load(*, actor: Actor, organiser: Organiser, document: dict, source: str) -> tuple[ContractArea, int]:
    """Load a tariff file (``tariff_files``): the contract area is created or its name and municipalities updated,
    and each version is added. A version identical to a stored one is skipped, so loading a file twice changes
    nothing; a version that overlaps a different stored one is refused. Returns (area, versions added)."""
    authorize(actor, Action.TARIFF_MANAGE, OfOrganiser(organiser.pk))
    source = source.replace("\x00", "")[:200]  # a file name, as the browser sent it
    codes = set(Municipality.objects.filter(organiser=organiser).values_list("code", flat=True))
    spec = tariff_files.parse_document(document, organiser_municipalities=codes)
    area = ContractArea.objects.select_for_update().filter(code=spec.code).first()
    if area is not None and area.organiser_id != organiser.pk:
        raise ValidationError(
            {"file": [_("area: the code %(code)s belongs to another organiser") % {"code": spec.code}]}
        )
    if area is None:
        area = ContractArea.objects.create(organiser=organiser, code=spec.code, name=spec.name)
    elif area.name != spec.name:
        area.name = spec.name
        area.save(update_fields=["name"])
    area.municipalities.set(Municipality.objects.filter(code__in=spec.municipalities))
    added = []
    problems = []
    for index, version in enumerate(spec.tariffs):
        values = {
            **version.cents,
            "supplements_cents": version.supplements_cents,
            "shared_discount_bp": version.shared_discount_bp,
            **version.limits,
        }
        existing = area.tariffs.filter(valid_from=version.valid_from, valid_until=version.valid_until).first()
        if existing is not None and all(getattr(existing, k) == v for k, v in values.items()):
            continue
        if _overlapping(area.tariffs.all(), version.valid_from, version.valid_until).exists():
            problems.append(
                _("tariff[%(n)s]: overlaps a stored version with other prices; give the new prices their own dates")
                % {"n": index + 1}
            )
            continue
        added.append(
            Tariff(
                area=area,
                valid_from=version.valid_from,
                valid_until=version.valid_until,
                source=source,
                created_by=person(actor),
                created_at=clock.now(),
                **values,
            )
        )
    if problems:
        raise ValidationError({"file": problems})
    for tariff in added:
        tariff.full_clean()
        tariff.save()
    audit_record(
        action="tariff.load",
        actor=actor,
        target=area,
        organiser_id=organiser.pk,
        after={
            "area": area.code,
            "source": source,
            "municipalities": spec.municipalities,
            "versions_added": [t.valid_from.isoformat() for t in added],
        },
    )
    return area, len(added)


def tariff_on(*, area_id: int, day: dt.date) -> Tariff | None:
    """The area's tariff in force on ``day`` (the pickup date in Helsinki)."""
    return (
        Tariff.objects.filter(area_id=area_id, valid_from__lte=day)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        .first()
    )


# --- entitlements --------------------------------------------------------------------------------------------


def _monthly(line: Any) -> Decimal:
    """The line's amount per month, whatever its period."""
    per_year = PERIODS_PER_YEAR.get(line.period_kind)
    if per_year is None:  # the whole validity at once
        months = max(
            1, (line.valid_until.year - line.valid_from.year) * 12 + line.valid_until.month - line.valid_from.month + 1
        )
        return Decimal(line.amount_per_period) / months
    return Decimal(line.amount_per_period) * per_year / 12


def typical_trip_cost(
    *, tariff: Tariff, distance_km: Decimal, ride_minutes: Decimal, vehicle_class: str
) -> tuple[int, int]:
    """(county cost in cents, metres) of one typical trip, priced at the weekday rate with the adult self-share."""
    weekday = dt.datetime(2026, 3, 4, 10, 0, tzinfo=clock.HELSINKI)  # a Wednesday, not a holiday
    leg = judgement.Leg(
        pickup_at=weekday,
        distance_km=distance_km,
        ride_minutes=ride_minutes,
        waiting_minutes=Decimal(0),
        vehicle_class=vehicle_class,
    )
    terms = tariff.terms()
    price = judgement.leg_price_cents(leg, terms)
    share = judgement.self_share_cents(price_cents=price, terms=terms, child=False, purpose="leisure")
    return price - share, judgement.metres(distance_km)


def minimum_shortfall(
    *, model: str, line: Any, tariff: Tariff | None, vehicle_class: str, typical: dict | None = None
) -> dict:
    """The figures of a purse that buys fewer than 18 one-way trips a month, priced with the client's own
    typical trip (or a default one); empty when it is enough. Kept as figures, so the warning can be shown in
    the reader's language (``minimum_warning_text``)."""
    monthly = _monthly(line)
    if model == EntitlementModel.TRIP_QUOTA:
        return {"kind": "quota", "trips": f"{monthly:.1f}"} if monthly < MINIMUM_TRIPS_PER_MONTH else {}
    if tariff is None:
        return {"kind": "no_tariff"}
    trip = {**TYPICAL_TRIP, **(typical or {}), "vehicle_class": vehicle_class}
    cost_cents, metres = typical_trip_cost(
        tariff=tariff,
        distance_km=Decimal(trip["distance_km"]),
        ride_minutes=Decimal(trip["ride_minutes"]),
        vehicle_class=trip["vehicle_class"],
    )
    per_trip = metres if model == EntitlementModel.KM_PURSE else cost_cents
    if per_trip <= 0 or monthly / per_trip >= MINIMUM_TRIPS_PER_MONTH:
        return {}
    return {
        "kind": "km" if model == EntitlementModel.KM_PURSE else "eur",
        "trips": f"{monthly / per_trip:.1f}",
        "trip_metres": metres,
        "need": per_trip * MINIMUM_TRIPS_PER_MONTH,  # metres or cents a month
    }


def minimum_warning_text(shortfall: dict) -> str:
    """The 18-trip warning in the active language (empty when there is none)."""
    kind = shortfall.get("kind")
    if not kind:
        return ""
    if kind == "quota":
        trips = shortfall["trips"].removesuffix(".0")
        return _("The quota is %(n)s trips a month, fewer than the legal minimum of 18 one-way trips.") % {"n": trips}
    if kind == "no_tariff":
        return _("There is no tariff to price a typical trip with; check the purse against 18 trips a month.")
    need = (
        _("%(km)s km") % {"km": f"{Decimal(shortfall['need']) / 1000:.1f}"}
        if kind == "km"
        else format_cents(int(shortfall["need"]))
    )
    return _(
        "The purse buys about %(trips)s typical trips (%(km)s km) a month, fewer than the legal minimum of 18 "
        "one-way trips. 18 such trips need %(need)s a month."
    ) % {"trips": shortfall["trips"], "km": f"{Decimal(shortfall['trip_metres']) / 1000:.1f}", "need": need}


@transaction.atomic
def entitlement_create(
    *,
    actor: User,
    decision: Decision,
    model: str,
    leisure_line: DecisionLine,
    contract_area: ContractArea,
    allowed_area: str,
    vehicle_class: str,
    escort: bool = False,
    work_line: DecisionLine | None = None,
    typical: dict | None = None,
) -> TransportEntitlement:
    """How an effective transport decision's lines pay for trips. The amounts are the decision's; this adds the
    model, the area, the vehicle and which line pays for work and study trips. A purse that buys fewer than 18
    typical trips a month is allowed (the decision maker decides) but carries a warning."""
    client = decision.client
    authorize(actor, Action.CASE_EDIT, client)
    errors: dict[str, str] = {}
    if not decision.is_effective:
        errors["decision"] = _("The decision is not in force.")
    if model not in EntitlementModel.values:
        errors["model"] = _("Choose the model.")
    elif leisure_line.decision_id != decision.pk or leisure_line.purse_unit != MODEL_UNITS[EntitlementModel(model)]:
        errors["leisure_line"] = _("Choose a line of this decision kept in the model's unit.")
    if work_line is not None and (
        model != EntitlementModel.TRIP_QUOTA
        or work_line.decision_id != decision.pk
        or work_line.purse_unit != Unit.TRIP
        or work_line.pk == leisure_line.pk
    ):
        errors["work_line"] = _("Work and study trips have their own trip line only in a trip quota.")
    if (
        contract_area.organiser_id != client.organiser_id
        or not contract_area.municipalities.filter(pk=client.municipality_id).exists()
    ):
        errors["contract_area"] = _("The contract area does not cover the client's municipality.")
    if allowed_area not in AllowedArea.values:
        errors["allowed_area"] = _("Choose the area.")
    if vehicle_class not in VehicleClass.values:
        errors["vehicle_class"] = _("Choose the vehicle.")
    if errors:
        raise ValidationError(errors)
    TransportEntitlement.objects.filter(
        client=client,
        state=EntitlementState.ACTIVE,
        valid_from__lte=decision.valid_until,
        valid_until__gte=decision.valid_from,
    ).exclude(decision=decision).update(state=EntitlementState.ENDED)
    tariff = tariff_on(area_id=contract_area.pk, day=max(decision.valid_from, clock.today()))
    shortfall = minimum_shortfall(
        model=model, line=leisure_line, tariff=tariff, vehicle_class=vehicle_class, typical=typical
    )
    entitlement = TransportEntitlement.objects.create(
        organiser_id=client.organiser_id,
        client=client,
        decision=decision,
        model=model,
        leisure_line=leisure_line,
        work_line=work_line,
        contract_area=contract_area,
        allowed_area=allowed_area,
        vehicle_class=vehicle_class,
        escort=escort,
        valid_from=decision.valid_from,
        valid_until=decision.valid_until,
        minimum_shortfall=shortfall,
        created_by=actor,
        created_at=clock.now(),
    )
    audit_record(
        action="transport_entitlement.create",
        actor=actor,
        target=entitlement,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={
            "decision": decision.number,
            "model": model,
            "allowed_area": allowed_area,
            "vehicle_class": vehicle_class,
            "escort": escort,
            "below_minimum": shortfall,
        },
    )
    return entitlement


def _entitlement_facts(entitlement: TransportEntitlement) -> dict[str, Any]:
    return {
        "decision": str(entitlement.decision_id),
        "leisure_line": entitlement.leisure_line_id,
        "work_line": entitlement.work_line_id,
        "valid_from": entitlement.valid_from,
        "valid_until": entitlement.valid_until,
        "state": entitlement.state,
    }


def entitlements_follow_replacement(*, actor: User, replacement: Replacement) -> None:
    """A transport decision was replaced (``cases.hooks.Replacement``): in the same transaction, each entitlement
    of the replaced decision follows its lines. Where every line it pays from continues (in the same purse), it
    moves to the new decision's lines and validity. Where a line ends, the entitlement ends the day before the
    replacement starts, keeping the lines that paid until then; if its leisure line continues, a new entitlement
    with the same terms begins on the start day, without the line that ended. With nothing in force for a day,
    a trip of that day is denied as having no decision (never an error)."""
    start = replacement.starts_on
    last_day = start - dt.timedelta(days=1)
    decision = replacement.decision
    for entitlement in TransportEntitlement.objects.select_for_update().filter(
        decision_id=replacement.replaced.pk, state=EntitlementState.ACTIVE
    ):
        before = _entitlement_facts(entitlement)
        leisure = replacement.successor_of(entitlement.leisure_line_id)
        work = replacement.successor_of(entitlement.work_line_id) if entitlement.work_line_id else None
        work_follows = entitlement.work_line_id is None or work is not None
        # A line that continues keeps its purse under its new line; the old line no longer has one.
        if leisure is not None:
            entitlement.leisure_line = leisure
        if work is not None:
            entitlement.work_line = work
        successor = None
        if leisure is not None and work_follows:
            entitlement.decision_id = decision.pk
            entitlement.valid_until = decision.valid_until
        else:
            if last_day < entitlement.valid_from:
                entitlement.state = EntitlementState.ENDED
            else:
                entitlement.valid_until = min(entitlement.valid_until, last_day)
            if leisure is not None:
                successor = TransportEntitlement.objects.create(
                    organiser_id=entitlement.organiser_id,
                    client_id=entitlement.client_id,
                    decision_id=decision.pk,
                    model=entitlement.model,
                    leisure_line=leisure,
                    work_line=None,
                    contract_area_id=entitlement.contract_area_id,
                    allowed_area=entitlement.allowed_area,
                    vehicle_class=entitlement.vehicle_class,
                    escort=entitlement.escort,
                    valid_from=start,
                    valid_until=decision.valid_until,
                    minimum_shortfall=entitlement.minimum_shortfall,
                    created_by=actor,
                    created_at=clock.now(),
                )
        entitlement.save(update_fields=["decision", "leisure_line", "work_line", "valid_until", "state"])
        audit_record(
            action="transport_entitlement.follow_replacement",
            actor=actor,
            target=entitlement,
            organiser_id=entitlement.organiser_id,
            data_subject_id=entitlement.client_id,
            before=before,
            after={
                **_entitlement_facts(entitlement),
                "replaced_by": decision.number,
                "continued_as": str(successor.pk) if successor else None,
            },
        )


def entitlements_end_with_decision(*, actor: User, decision: Decision) -> None:
    """A transport decision was annulled: its entitlements end with it, in the same transaction."""
    for entitlement in TransportEntitlement.objects.select_for_update().filter(
        decision_id=decision.pk, state=EntitlementState.ACTIVE
    ):
        before = _entitlement_facts(entitlement)
        entitlement.state = EntitlementState.ENDED
        entitlement.save(update_fields=["state"])
        audit_record(
            action="transport_entitlement.end",
            actor=actor,
            target=entitlement,
            organiser_id=entitlement.organiser_id,
            data_subject_id=entitlement.client_id,
            before=before,
            after={"state": entitlement.state, "annulled": decision.number},
        )


# --- transport cards -----------------------------------------------------------------------------------------


def _card_number(organiser: Organiser, sequence: int) -> str:
    body = f"{organiser.pk:02d}{sequence:07d}"
    return body + luhn.calc_check_digit(body)


@transaction.atomic
def card_issue(*, actor: User, client: Client) -> TransportCard:
    """Give the client a transport card (closing an earlier one): its number is the ``client_number`` of trip files
    and of the dispatch centre's requests. Nine digits and a Luhn check digit, so a mistyped number is caught."""
    authorize(actor, Action.CASE_EDIT, client)
    # Card numbers are handed out one at a time per organiser. FOR NO KEY UPDATE, like every organiser lock (ADR
    # 0023): a booking's or an audit row's foreign-key check on the organiser must not wait for it.
    Organiser.objects.select_for_update(no_key=True).get(pk=client.organiser_id)
    sequence = TransportCard.objects.filter(client__organiser_id=client.organiser_id).count() + 1
    now = clock.now()
    closed = list(TransportCard.objects.filter(client=client, closed_at__isnull=True).values_list("number", flat=True))
    TransportCard.objects.filter(client=client, closed_at__isnull=True).update(closed_at=now)
    card = TransportCard.objects.create(client=client, number=_card_number(client.organiser, sequence), issued_at=now)
    audit_record(
        action="transport_card.issue",
        actor=actor,
        target=card,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"number": card.number, "closed": closed},
    )
    return card


# --- the review queue ----------------------------------------------------------------------------------------

#: Reasons a person can look past: the leg is known, priced and has a purse, and accepting it debits the purse as
#: the import would have. Other reasons (no client, no decision, no tariff, content changed) leave nothing to
#: debit, so such a leg can only be refused.
ACCEPTABLE_REASONS = frozenset(
    {judgement.OPERATOR_NOT_APPROVED, judgement.OUTSIDE_AREA, judgement.FARE_MISMATCH, judgement.INSUFFICIENT_FUNDS}
)


def transfer_id_for(operator_id: str, trip_id: str) -> uuid.UUID:
    """The transfer of a leg accepted on its own, in review: the MD5 of its identity as a UUID."""
    return uuid.UUID(hashlib.md5(f"kukkaro/trip/{operator_id}/{trip_id}".encode(), usedforsecurity=False).hexdigest())


class Resolution:
    ACCEPT = "accept"
    REJECT = "reject"


def leg_may_be_accepted(leg: TripLeg) -> bool:
    return (
        leg.same_as_id is None
        and leg.purse_id is not None
        and leg.price_cents is not None
        and leg.self_share_cents is not None
        and set(leg.reasons) <= ACCEPTABLE_REASONS
    )


def _debit_of(leg: TripLeg, unit: str) -> int:
    """What accepting the leg takes from its purse: the same rule as the import (one trip, the distance in
    metres, or the county's cost in cents)."""
    if unit == Unit.TRIP:
        return 1
    if unit == Unit.KM:
        return leg.distance_m or 0
    return leg.county_cost_cents or 0


@transaction.atomic
def leg_resolve(*, actor: User, leg_id: int, resolution: str, note: str) -> TripLeg:
    """Resolve a leg held for review: accept it (the purse is debited now, with the leg's own transfer id, so a
    second click debits nothing) or refuse it (nothing is debited; the operator is not paid for it). The import's
    outcome stays as it was; the resolution is kept beside it with who, when and why."""
    leg = TripLeg.objects.select_for_update().select_related("trip_import").get(pk=leg_id)
    authorize(actor, Action.TRIP_REVIEW, OfOrganiser(leg.trip_import.organiser_id))
    note = (note or "").strip()
    if leg.outcome != LegOutcome.REVIEW:
        raise ValidationError({"resolution": _("Only a trip held for review can be resolved.")})
    if leg.resolved_outcome:
        raise ValidationError({"resolution": _("This trip has already been resolved.")})
    if resolution not in (Resolution.ACCEPT, Resolution.REJECT):
        raise ValidationError({"resolution": _("Choose whether the trip is accepted or refused.")})
    if not note:
        raise ValidationError({"note": _("Write the reason for the resolution; the client and the operator may ask.")})
    before = {"outcome": leg.outcome, "reasons": leg.reasons}
    if resolution == Resolution.ACCEPT:
        if not leg_may_be_accepted(leg) or leg.purse_id is None or leg.pickup_at is None:
            raise ValidationError(
                {"resolution": _("This trip cannot be accepted: it has no client, decision, price or purse to debit.")}
            )
        purse = Purse.objects.select_related("organiser").get(pk=leg.purse_id)
        amount = _debit_of(leg, purse.unit)
        transfer = None
        if amount:
            try:
                transfer = ledger.transfer_post(
                    transfer_id=transfer_id_for(leg.operator_id, leg.trip_id),
                    debit=purse,
                    credit=ledger.payables_of(purse),
                    amount=amount,
                    code=TransferCode.USAGE,
                    actor=actor,
                    ref_type="trip",
                    ref_id=f"{leg.operator_id}/{leg.trip_id}"[:64],
                    memo=f"{leg.pickup_at.astimezone(clock.HELSINKI):%Y-%m-%d %H:%M} "
                    f"{leg.origin_municipality}-{leg.destination_municipality}",
                )
            except ledger.InsufficientFunds as error:
                raise ValidationError(
                    {
                        "resolution": _("The purse does not have enough left for this trip: %(reason)s")
                        % {"reason": error}
                    }
                ) from error
        leg.resolved_outcome = LegOutcome.ACCEPTED
        leg.debit_unit, leg.debit_amount = purse.unit, amount
        leg.transfer_id = transfer.pk if transfer is not None else None
    else:
        leg.resolved_outcome = LegOutcome.REJECTED
    leg.resolution_note, leg.resolved_by, leg.resolved_at = note, actor, clock.now()
    leg.save(
        update_fields=[
            "resolved_outcome",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "debit_unit",
            "debit_amount",
            "transfer_id",
        ]
    )
    audit_record(
        action="trips.leg_resolve",
        actor=actor,
        target=leg,
        organiser_id=leg.trip_import.organiser_id,
        data_subject_id=leg.client_id,
        before=before,
        after={
            "resolved_outcome": leg.resolved_outcome,
            "note": note,
            "debit_unit": leg.debit_unit,
            "debit_amount": leg.debit_amount,
        },
    )
    return leg
