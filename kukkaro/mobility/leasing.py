"""Leasing cars (issue 7): a heavy user's car instead of taxi trips, paid from a leasing line of the transport
decision. The county's monthly cost — the lease, insurance and servicing less the client's own contribution — is
posted to the ledger once a month (``leasing_post_due``, part of the daily job), so it shows in the purse's
statement and in reports; each month's transfer id is derived from the contract and the month, so the job can run
any number of times."""

import datetime as dt
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, authorize
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import PurseKind, Transfer, TransferCode, Unit
from kukkaro.mobility.models import CarModification, LeaseState, LeasingContract

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
    *, actor: Any, decision: Any, line: Any, taxi_entitlement: Any = None, **values: Any
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
        last = min(_month_index(today), _month_index(contract.ends_on))
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
                        credit=ledger.system_purse(
                            organiser=purse.organiser,
                            unit=Unit.EUR,
                            kind=PurseKind.PAYABLES,
                            shard=ledger.shard_of(purse.pk),
                        ),
                        amount=contract.county_cost_cents,
                        code=TransferCode.USAGE,
                        ref_type="leasing",
                        ref_id=str(contract.pk),
                        memo=f"{contract.vehicle} {month:%Y-%m}",
                    )
                posted += 1
            except ledger.InsufficientFunds:
                logger.warning("lease %s: the purse cannot pay %s yet", contract.pk, month)
        if today > contract.ends_on:
            LeasingContract.objects.filter(pk=contract.pk).update(state=LeaseState.ENDED)
    return posted
