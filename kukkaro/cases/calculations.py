"""Rate tables and budget calculations: what each line costs by the organiser's rates, computed and
snapshotted, first indicative, then final. Each write is one transaction with its audit row."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from kukkaro.cases.models import (
    Assessment,
    BudgetCalculation,
    BudgetLine,
    CalculationStage,
    Instrument,
    RateCategory,
    RateTable,
)
from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.money import round_cents
from kukkaro.ledger.models import PeriodKind, RolloverRule, Unit
from kukkaro.people.models import Client, User


@transaction.atomic
def rate_table_create(
    *,
    actor: User,
    organiser: Any,
    name: str,
    valid_from: dt.date,
    valid_until: dt.date | None,
    categories: list[dict[str, Any]],
    name_sv: str = "",
    name_en: str = "",
) -> RateTable:
    """A new version of an organiser's unit costs. Versions of one organiser never overlap in time."""
    far = dt.date.max
    overlapping = RateTable.objects.filter(organiser=organiser, valid_from__lte=valid_until or far).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    )
    if overlapping.exists():
        raise ValidationError({"valid_from": _("Another rate table of this organiser is valid in that period.")})
    table = RateTable(
        organiser=organiser,
        name=name,
        name_sv=name_sv,
        name_en=name_en,
        valid_from=valid_from,
        valid_until=valid_until,
        created_by=actor,
        created_at=clock.now(),
    )
    table.full_clean()
    table.save()
    rows = []
    for data in categories:
        row = RateCategory(rate_table=table, **data)
        row.full_clean(exclude=["rate_table"])
        rows.append(row)
    RateCategory.objects.bulk_create(rows)
    audit_record(
        action="rate_table.create",
        actor=actor,
        target=table,
        organiser_id=organiser.pk,
        after={
            "name": name,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "categories": {r.code: r.unit_cost_cents for r in rows},
        },
    )
    return table


def rate_table_for(*, organiser: Any, on: dt.date) -> RateTable:
    table = (
        RateTable.objects.filter(organiser=organiser, valid_from__lte=on)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=on))
        .first()
    )
    if table is None:
        raise ValidationError({"rate_table": _("No rate table is valid on %(date)s.") % {"date": on.isoformat()}})
    return table


def _quantity_hundredths(quantity: Decimal | int | str) -> int:
    value = Decimal(str(quantity))
    hundredths = value * 100
    if hundredths != hundredths.to_integral_value() or value < 0:
        raise ValidationError({"quantity": _("Give the quantity as a number with at most two decimals.")})
    return int(hundredths)


def line_amount(*, category: RateCategory, quantity_hundredths: int) -> int:
    """The amount per period in the purse unit for a granted quantity: euro purses get quantity × unit cost,
    rounded once to cents; kilometre purses the kilometres as metres; trip purses the trips (whole)."""
    if category.purse_unit == Unit.EUR:
        return round_cents(Decimal(quantity_hundredths) / 100 * Decimal(category.unit_cost_cents) / 100)
    if category.purse_unit == Unit.KM:
        return quantity_hundredths * 10
    if quantity_hundredths % 100:
        raise ValidationError({"quantity": _("Trips are granted in whole numbers.")})
    return quantity_hundredths // 100


def estimated_cost_cents(*, category: RateCategory, amount: int) -> int:
    """What a line's amount per period costs the organiser at the unit cost, in cents."""
    if category.purse_unit == Unit.EUR:
        return amount
    per_unit = Decimal(amount) / 1000 if category.purse_unit == Unit.KM else Decimal(amount)
    return round_cents(per_unit * Decimal(category.unit_cost_cents) / 100)


def _line_snapshot(line: BudgetLine, category: RateCategory, estimated_cost: int) -> dict[str, Any]:
    return {
        "code": category.code,
        "name": {"fi": category.name_fi, "sv": category.name_sv, "en": category.name_en},
        "service_unit": category.service_unit,
        "quantity": str(Decimal(line.quantity_hundredths) / 100),
        "unit_cost_cents": line.unit_cost_cents,
        "purse_unit": line.purse_unit,
        "computed_amount": line.computed_amount,
        "adjustment": line.adjustment,
        "adjustment_reason": line.adjustment_reason,
        "amount_per_period": line.amount_per_period,
        "estimated_cost_cents": estimated_cost,
        "flexibility_group": line.flexibility_group,
        "instrument": line.instrument,
        "rollover_rule": line.rollover_rule,
        "rollover_cap": line.rollover_cap,
        "borrow_limit": line.borrow_limit,
    }


def _build_lines(
    calculation: BudgetCalculation, table: RateTable, specs: list[dict[str, Any]]
) -> tuple[list[BudgetLine], list[dict[str, Any]]]:
    categories = {c.code: c for c in table.categories.all()}
    lines, snapshots = [], []
    for spec in specs:
        category = categories.get(spec["category"])
        if category is None:
            raise ValidationError(
                {
                    "category": _("%(code)s is not in the rate table %(table)s.")
                    % {"code": spec["category"], "table": table.name}
                }
            )
        quantity = _quantity_hundredths(spec["quantity"])
        computed = line_amount(category=category, quantity_hundredths=quantity)
        adjustment = int(spec.get("adjustment", 0))
        reason = (spec.get("adjustment_reason") or "").strip()
        if adjustment and not reason:
            raise ValidationError(
                {"adjustment_reason": _("Every adjustment needs a reason (%(code)s).") % {"code": category.code}}
            )
        if computed + adjustment < 0:
            raise ValidationError({"adjustment": _("A line cannot be negative (%(code)s).") % {"code": category.code}})
        line = BudgetLine(
            calculation=calculation,
            category=category,
            category_code=category.code,
            quantity_hundredths=quantity,
            unit_cost_cents=category.unit_cost_cents,
            computed_amount=computed,
            adjustment=adjustment,
            adjustment_reason=reason,
            amount_per_period=computed + adjustment,
            purse_unit=category.purse_unit,
            rollover_rule=spec.get("rollover_rule", RolloverRule.ROLL),
            rollover_cap=int(spec.get("rollover_cap", 0)),
            borrow_limit=int(spec.get("borrow_limit", 0)),
            flexibility_group=spec.get("flexibility_group", ""),
            instrument=spec.get("instrument") or category.default_instrument or Instrument.VOUCHER,
        )
        lines.append(line)
        snapshots.append(
            _line_snapshot(line, category, estimated_cost_cents(category=category, amount=line.amount_per_period))
        )
    codes = [line.category_code for line in lines]
    if len(codes) != len(set(codes)):
        raise ValidationError({"category": _("Each service category appears once in a calculation.")})
    return lines, snapshots


def _totals(snapshots: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in snapshots:
        totals[line["purse_unit"]] = totals.get(line["purse_unit"], 0) + line["amount_per_period"]
    totals["estimated_cost_cents"] = sum(line["estimated_cost_cents"] for line in snapshots)
    return totals


#: The audit code of each stage, written out so that ``check_translations`` can see every code.
CALCULATION_ACTIONS = {
    CalculationStage.INDICATIVE: "calculation.indicative",
    CalculationStage.FINAL: "calculation.final",
}


def _create_calculation(
    *,
    actor: User,
    client: Client,
    stage: str,
    table: RateTable,
    period_kind: str,
    specs: list[dict[str, Any]],
    based_on: BudgetCalculation | None,
    assessment: Assessment | None,
) -> BudgetCalculation:
    if not specs:
        raise ValidationError({"lines": _("A calculation has at least one line.")})
    calculation = BudgetCalculation(
        client=client,
        organiser=client.organiser,
        stage=stage,
        based_on=based_on,
        rate_table=table,
        assessment=assessment,
        period_kind=period_kind,
        snapshot={},
        created_by=actor,
        created_at=clock.now(),
    )
    lines, snapshots = _build_lines(calculation, table, specs)
    calculation.snapshot = {
        "stage": stage,
        "period_kind": period_kind,
        "rate_table": {
            "id": str(table.pk),
            "name": table.name,
            "name_sv": table.name_sv,
            "name_en": table.name_en,
            "valid_from": table.valid_from.isoformat(),
            "valid_until": table.valid_until.isoformat() if table.valid_until else None,
        },
        "assessment": {"id": str(assessment.pk), "version": assessment.version} if assessment else None,
        "based_on": str(based_on.pk) if based_on else None,
        "lines": snapshots,
        "totals": _totals(snapshots),
    }
    calculation.save()
    BudgetLine.objects.bulk_create(lines)
    audit_record(
        action=CALCULATION_ACTIONS[stage],
        actor=actor,
        target=calculation,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"totals": calculation.snapshot["totals"], "lines": [s["code"] for s in snapshots]},
    )
    return calculation


@transaction.atomic
def calculation_create_indicative(
    *,
    actor: User,
    client: Client,
    lines: list[dict[str, Any]],
    on: dt.date | None = None,
    period_kind: str = PeriodKind.MONTHLY,
    assessment: Assessment | None = None,
) -> BudgetCalculation:
    """An indicative budget from granted quantities and the rate table valid on ``on``. No adjustments."""
    if any(spec.get("adjustment") for spec in lines):
        raise ValidationError({"adjustment": _("Adjustments belong to the final budget.")})
    table = rate_table_for(organiser=client.organiser, on=on or clock.today())
    return _create_calculation(
        actor=actor,
        client=client,
        stage=CalculationStage.INDICATIVE,
        table=table,
        period_kind=period_kind,
        specs=lines,
        based_on=None,
        assessment=assessment,
    )


@transaction.atomic
def calculation_finalise(
    *, actor: User, indicative: BudgetCalculation, lines: list[dict[str, Any]]
) -> BudgetCalculation:
    """The final budget after the support plan: same rate table as the indicative one; every adjustment says why."""
    if indicative.stage != CalculationStage.INDICATIVE:
        raise ValidationError({"based_on": _("A final budget is based on an indicative one.")})
    return _create_calculation(
        actor=actor,
        client=indicative.client,
        stage=CalculationStage.FINAL,
        table=indicative.rate_table,
        period_kind=indicative.period_kind,
        specs=lines,
        based_on=indicative,
        assessment=indicative.assessment,
    )
