"""Leasing cars (issue 7): a heavy user's car instead of taxi trips, paid from a leasing line of the transport
decision. The county's monthly cost — the lease, insurance and servicing less the client's own contribution — is
posted to the ledger once a month (``leasing_post_due``, part of the daily job), so it shows in the purse's
statement and in reports; each month's transfer id is derived from the contract and the month, so the job can run
any number of times.

The lease includes a number of kilometres a year. Staff record the odometer at delivery, whenever they want to
follow the pace, and at return (``odometer_record``); the return reading charges the kilometres over the
allowance, at the contract's price, to the same purse, once."""

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, authorize
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Transfer, TransferCode, Unit
from kukkaro.mobility.models import CarModification, LeaseState, LeasingContract, OdometerReading, ReadingKind
from kukkaro.people.models import User

logger = logging.getLogger(__name__)

MAX_CONTRACT_MONTHS = 84


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def _validate(decision: Any, line: Any, values: dict, county_cost: int) -> dict[str, str]:
    errors: dict[str, str] = {}
    if line.decision_id != decision.pk or not line.effective:
        errors["line"] = _("Choose an effective line of this decision.")
    elif line.purse_unit != Unit.EUR:
        errors["line"] = _("A leasing car is paid from a line in euros.")
    elif line.amount_per_period < county_cost:
        errors["line"] = _("The line gives %(line)s a month; the lease costs the county %(cost)s a month.") % {
            "line": format_cents(line.amount_per_period),
            "cost": format_cents(county_cost),
        }
    starts_on = values["starts_on"]
    if starts_on.day != 1:
        errors["starts_on"] = _("A lease starts on the first day of a month.")
    elif not (decision.valid_from <= starts_on <= decision.valid_until):
        errors["starts_on"] = _("The lease must start while the decision is valid.")
    if not 1 <= values["contract_months"] <= MAX_CONTRACT_MONTHS:
        errors["contract_months"] = _("A lease is 1–84 months long.")
    unknown = [m for m in values["modifications"] if m not in CarModification.values]
    if unknown:
        errors["modifications"] = _("Unknown modification: %(codes)s.") % {"codes": ", ".join(unknown)}
    if not values["client_drives"] and not [d for d in values["drivers"] if d.strip()]:
        errors["drivers"] = _("Name at least one driver when the client does not drive.")
    for name in ("monthly_price_cents", "insurance_cents", "servicing_cents", "client_contribution_cents"):
        if values[name] < 0:
            errors[name] = _("The amount cannot be negative.")
    return errors


@transaction.atomic
def leasing_create(
    *, actor: User, decision: Any, line: Any, taxi_entitlement: Any = None, **values: Any
) -> LeasingContract:
    """Record a leasing car for the decision's client, paid from ``line``. ``values`` are the contract's fields
    (lessor, contract_number, vehicle, registration, modifications, starts_on, contract_months, monthly_price_cents,
    insurance_cents, servicing_cents, client_contribution_cents, included_km_per_year, excess_km_cents,
    client_drives, drivers)."""
    client = decision.client
    authorize(actor, Action.CASE_EDIT, client)
    values.setdefault("modifications", [])
    values.setdefault("drivers", [])
    values.setdefault("registration", "")
    county_cost = max(
        0,
        values["monthly_price_cents"]
        + values["insurance_cents"]
        + values["servicing_cents"]
        - values["client_contribution_cents"],
    )
    errors = _validate(decision, line, values, county_cost)
    if taxi_entitlement is not None and taxi_entitlement.client_id != client.pk:
        errors["taxi_entitlement"] = _("The taxi purse must be the same client's.")
    if LeasingContract.objects.filter(organiser_id=client.organiser_id, contract_number=values["contract_number"]):
        errors["contract_number"] = _("A lease with this contract number is already recorded.")
    if errors:
        raise ValidationError(errors)
    contract = LeasingContract.objects.create(
        organiser_id=client.organiser_id,
        client=client,
        decision=decision,
        line=line,
        taxi_entitlement=taxi_entitlement,
        drivers=[d.strip() for d in values.pop("drivers") if d.strip()],
        created_by=actor,
        created_at=clock.now(),
        **values,
    )
    audit_record(
        action="leasing.create",
        actor=actor,
        target=contract,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={
            "contract_number": contract.contract_number,
            "vehicle": contract.vehicle,
            "starts_on": contract.starts_on,
            "months": contract.contract_months,
            "county_cost_cents": contract.county_cost_cents,
        },
    )
    return contract


def leasing_post_due(*, today: dt.date | None = None) -> int:
    """Post each active lease's county cost for every month begun, once (the daily job). A month the purse cannot
    pay is logged and tried again the next day. Returns how many months were posted now."""
    today = today or clock.today()
    posted = 0
    for contract in LeasingContract.objects.filter(state=LeaseState.ACTIVE, starts_on__lte=today).select_related(
        "line__purse__organiser"
    ):
        purse = contract.line.purse
        if purse is None or not contract.county_cost_cents:
            continue
        ledger.purse_release_due(purse=purse, today=today)
        last = min(_month_index(today), _month_index(contract.paid_until))
        for index in range(_month_index(contract.starts_on), last + 1):
            month = _month(index)
            transfer_id = ledger.derived_id(contract.pk, "leasing", month)
            if Transfer.objects.filter(pk=transfer_id).exists():
                continue
            try:
                with transaction.atomic():
                    ledger.transfer_post(
                        transfer_id=transfer_id,
                        debit=purse,
                        credit=ledger.payables_of(purse),
                        amount=contract.county_cost_cents,
                        code=TransferCode.USAGE,
                        ref_type="leasing",
                        ref_id=str(contract.pk),
                        memo=f"{contract.vehicle} {month:%Y-%m}",
                    )
                posted += 1
            except ledger.InsufficientFunds:
                logger.warning("lease %s: the purse cannot pay %s yet", contract.pk, month)
            except ledger.LedgerError as error:  # the purse closed (the decision ended before the lease)
                logger.warning("lease %s: %s cannot be paid from its purse: %s", contract.pk, month, error)
        if today > contract.paid_until:
            LeasingContract.objects.filter(pk=contract.pk).update(state=LeaseState.ENDED)
    return posted


# --- odometer readings and excess kilometres -------------------------------------------------------------------

#: The most an odometer may show (a sanity limit on what people type).
MAX_ODOMETER_KM = 2_000_000
#: How long before the first month a car may be delivered, and after the last one returned.
DELIVERY_MARGIN = dt.timedelta(days=31)
RETURN_MARGIN = dt.timedelta(days=92)


def months_used(contract: LeasingContract, returned_on: dt.date) -> int:
    """The contract's months up to and including the month the car was returned (all of them at the latest)."""
    return max(1, min(contract.contract_months, _month_index(returned_on) - _month_index(contract.starts_on) + 1))


def allowance_km(contract: LeasingContract, months: int) -> int:
    """The kilometres included in ``months`` of the contract: the yearly allowance × months / 12, half up."""
    return (contract.included_km_per_year * months * 2 + 12) // 24


@dataclass(frozen=True)
class LeasePace:
    """Where a lease stands against its kilometre allowance, from its odometer readings."""

    start: OdometerReading | None
    latest: OdometerReading | None
    final: OdometerReading | None
    contract_allowance_km: int
    driven_km: int | None = None  # from delivery to the latest reading
    allowance_to_date_km: int | None = None  # the contract's allowance in proportion to the days so far
    projected_km: int | None = None  # at this pace, by the end of the contract
    projected_excess_km: int | None = None
    projected_excess_cents: int | None = None


def lease_pace(contract: LeasingContract) -> LeasePace:
    """The kilometres driven, what the contract allows so far and, at the pace so far, what it will cost at the
    end (in whole kilometres, half up). After the return reading, the figures are the ones charged."""
    readings = list(contract.readings.order_by("read_on", "km"))
    start = next((r for r in readings if r.kind == ReadingKind.START), None)
    final = next((r for r in readings if r.kind == ReadingKind.FINAL), None)
    latest = readings[-1] if readings else None
    whole = allowance_km(contract, contract.contract_months)
    if start is None or latest is None or latest.pk == start.pk:
        return LeasePace(start=start, latest=latest, final=final, contract_allowance_km=whole)
    driven = latest.km - start.km
    if final is not None:
        return LeasePace(
            start=start,
            latest=latest,
            final=final,
            contract_allowance_km=allowance_km(contract, months_used(contract, final.read_on)),
            driven_km=driven,
            projected_excess_km=final.excess_km,
            projected_excess_cents=final.excess_cents,
        )
    days = (latest.read_on - start.read_on).days
    days_in_contract = max(1, (contract.ends_on - start.read_on).days)
    so_far = (whole * min(days, days_in_contract) * 2 + days_in_contract) // (2 * days_in_contract)
    if days <= 0:
        return LeasePace(start, latest, final, whole, driven, so_far)
    projected = (driven * days_in_contract * 2 + days) // (2 * days)
    excess = max(0, projected - whole)
    return LeasePace(start, latest, final, whole, driven, so_far, projected, excess, excess * contract.excess_km_cents)


def _reading_errors(contract: LeasingContract, readings: list, read_on: dt.date, km: int, kind: str) -> dict:
    errors: dict[str, str] = {}
    if kind not in ReadingKind.values:
        errors["kind"] = _("Choose which reading this is.")
        return errors
    if not 0 <= km <= MAX_ODOMETER_KM:
        errors["km"] = _("Give the odometer in whole kilometres, 0–%(most)s.") % {"most": MAX_ODOMETER_KM}
    if read_on > clock.today():
        errors["read_on"] = _("A reading cannot be in the future.")
    elif not contract.starts_on - DELIVERY_MARGIN <= read_on <= contract.ends_on + RETURN_MARGIN:
        errors["read_on"] = _("The car is read between its delivery and its return: %(first)s–%(last)s.") % {
            "first": (contract.starts_on - DELIVERY_MARGIN).isoformat(),
            "last": (contract.ends_on + RETURN_MARGIN).isoformat(),
        }
    start = next((r for r in readings if r.kind == ReadingKind.START), None)
    if any(r.kind == ReadingKind.FINAL for r in readings):
        errors["kind"] = _("The car has been returned: its readings are complete.")
    elif kind == ReadingKind.START and start is not None:
        errors["kind"] = _("The reading at delivery is already recorded.")
    elif kind != ReadingKind.START and start is None:
        errors["kind"] = _("Record the reading at delivery first.")
    if errors or not readings:
        return errors
    if kind != ReadingKind.START and start is not None and read_on < start.read_on:
        errors["read_on"] = _("The car was delivered on %(day)s.") % {"day": start.read_on.isoformat()}
        return errors
    if kind == ReadingKind.FINAL and read_on < readings[-1].read_on:
        errors["read_on"] = _("The return is the last reading: there is one from %(day)s.") % {
            "day": readings[-1].read_on.isoformat()
        }
        return errors
    before = [r.km for r in readings if r.read_on <= read_on]
    after = [r.km for r in readings if r.read_on > read_on]
    if before and km < max(before):
        errors["km"] = _("An odometer does not go back: it showed %(km)s km on an earlier reading.") % {
            "km": max(before)
        }
    elif after and km > min(after):
        errors["km"] = _("A later reading shows %(km)s km, less than this.") % {"km": min(after)}
    return errors


@transaction.atomic
def odometer_record(
    *, actor: User, contract: LeasingContract, read_on: dt.date, km: int, kind: str, note: str = ""
) -> OdometerReading:
    """Record an odometer reading. The return reading (``final``) charges the kilometres over the allowance of
    the months used (the yearly allowance × months / 12) at the contract's price per kilometre to the lease's
    purse, in the same transaction: if the purse cannot pay it, nothing is recorded."""
    authorize(actor, Action.CASE_EDIT, contract.client)
    contract = (
        LeasingContract.objects.select_for_update(of=("self",))
        .select_related("line__purse__organiser")
        .get(pk=contract.pk)
    )
    readings = list(contract.readings.order_by("read_on", "km"))
    errors = _reading_errors(contract, readings, read_on, km, kind)
    if errors:
        raise ValidationError(errors)
    reading = OdometerReading(
        contract=contract,
        read_on=read_on,
        km=km,
        kind=kind,
        note=(note or "").replace("\x00", "").strip()[:500],
        entered_by=actor,
        entered_at=clock.now(),
    )
    if kind == ReadingKind.FINAL:
        start = next(r for r in readings if r.kind == ReadingKind.START)
        allowed = allowance_km(contract, months_used(contract, read_on))
        reading.excess_km = max(0, km - start.km - allowed)
        reading.excess_cents = reading.excess_km * contract.excess_km_cents
        if reading.excess_cents:
            _charge_excess(contract, reading, allowed, actor, cost=reading.excess_cents)
        # The county pays the months up to the return, and no more (leasing_post_due).
        contract.returned_on = read_on
        contract.save(update_fields=["returned_on"])
    reading.save()
    audit_record(
        action="leasing.odometer",
        actor=actor,
        target=contract,
        organiser_id=contract.organiser_id,
        data_subject_id=contract.client_id,
        after={
            "read_on": read_on,
            "km": km,
            "kind": kind,
            "excess_km": reading.excess_km,
            "excess_cents": reading.excess_cents,
        },
    )
    return reading


def _charge_excess(
    contract: LeasingContract, reading: OdometerReading, allowed: int, actor: User, *, cost: int
) -> None:
    purse = contract.line.purse
    if purse is None:
        raise ValidationError({"kind": _("The lease's line has no purse to charge the excess kilometres to.")})
    ledger.purse_release_due(purse=purse, today=clock.today())
    purse.refresh_from_db()
    try:
        ledger.transfer_post(
            transfer_id=ledger.derived_id(contract.pk, "excess-km"),
            debit=purse,
            credit=ledger.payables_of(purse),
            amount=cost,
            code=TransferCode.USAGE,
            actor=actor,
            ref_type="leasing",
            ref_id=str(contract.pk),
            memo=f"{contract.vehicle}: {reading.excess_km} km over {allowed} km",
        )
    except ledger.InsufficientFunds as error:
        raise ValidationError(
            {
                "km": _(
                    "The excess kilometres cost %(cost)s but the lease's purse has %(available)s left. Raise the "
                    "decision's leasing line first; nothing was recorded."
                )
                % {"cost": format_cents(cost), "available": format_cents(purse.available_now)}
            }
        ) from error
    except ledger.LedgerError as error:  # the purse is closed: its decision ended
        raise ValidationError(
            {
                "kind": _(
                    "The lease's purse is closed: its decision was valid until %(day)s. The excess kilometres "
                    "cannot be charged to it; nothing was recorded."
                )
                % {"day": purse.valid_until.isoformat() if purse.valid_until else "–"}
            }
        ) from error
