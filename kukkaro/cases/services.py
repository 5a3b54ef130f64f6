"""Writes of casework. Each is one transaction with its audit row; versions are new rows."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kukkaro.cases import funding, hooks
from kukkaro.cases.documents import decision_document_store
from kukkaro.cases.models import (
    EFFECTIVE_STATES,
    Assessment,
    AssessmentArea,
    BudgetCalculation,
    BudgetLine,
    CalculationStage,
    Decision,
    DecisionLine,
    DecisionState,
    DeliveryMethod,
    Instrument,
    LifeArea,
    RateCategory,
    RateTable,
    SupportPlan,
    SupportRecord,
)
from kukkaro.core import clock
from kukkaro.core.audit import audit_record, lock_audit_chain
from kukkaro.core.money import round_cents
from kukkaro.core.permissions import Action, authorize
from kukkaro.ledger import services as ledger_services
from kukkaro.ledger.models import PeriodKind, RolloverRule, Unit
from kukkaro.people.models import Client, SupporterGrant, User


def _next_version(model: Any, client: Client) -> int:
    current = model.objects.select_for_update().filter(client=client).aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


@transaction.atomic
def support_record_create(
    *,
    actor: User,
    client: Client,
    method: str,
    supported_on: dt.date,
    supporter_name: str = "",
    grant: SupporterGrant | None = None,
    note: str = "",
) -> SupportRecord:
    """Record how the client's decision was supported (who, how, when)."""
    if grant is not None and grant.client_id != client.pk:
        raise ValidationError({"grant": _("The supporter was not named by this client.")})
    record = SupportRecord(
        client=client,
        grant=grant,
        supporter_name=supporter_name or (grant.supporter.get_full_name() if grant else ""),
        method=method,
        supported_on=supported_on,
        note=note,
        recorded_by=actor,
        created_at=clock.now(),
    )
    record.full_clean()
    record.save()
    audit_record(
        action="support_record.create",
        actor=actor,
        target=record,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"method": method, "supported_on": supported_on, "supporter": record.supporter_name},
    )
    return record


@transaction.atomic
def assessment_create(
    *, actor: User, client: Client, areas: dict[str, dict[str, Any]], summary: str = ""
) -> Assessment:
    """A new version of the service need assessment. ``areas`` maps a life area to its need level (0–4), the
    worker's observations and the client's own view (kept apart)."""
    unknown = set(areas) - set(LifeArea.values)
    if unknown:
        raise ValidationError({"areas": _("Unknown life areas: %(areas)s") % {"areas": ", ".join(sorted(unknown))}})
    if not areas:
        raise ValidationError({"areas": _("Assess at least one life area.")})
    assessment = Assessment.objects.create(
        client=client,
        version=_next_version(Assessment, client),
        summary=summary,
        author=actor,
        created_at=clock.now(),
    )
    rows = []
    for area, values in sorted(areas.items()):
        row = AssessmentArea(
            assessment=assessment,
            area=area,
            need_level=int(values.get("need_level", 0)),
            observations=values.get("observations", ""),
            client_view=values.get("client_view", ""),
        )
        row.full_clean(exclude=["assessment"])
        rows.append(row)
    AssessmentArea.objects.bulk_create(rows)
    audit_record(
        action="assessment.create",
        actor=actor,
        target=assessment,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"version": assessment.version, "areas": {r.area: r.need_level for r in rows}},
    )
    return assessment


@transaction.atomic
def support_plan_create(
    *,
    actor: User,
    client: Client,
    goals: str,
    what_works: str = "",
    what_should_change: str = "",
    who_helped: str = "",
    support_record: SupportRecord | None = None,
) -> SupportPlan:
    """A new version of the client's own support plan, in the client's words."""
    if not goals.strip():
        raise ValidationError({"goals": _("Write down the client's goals and wishes in their own words.")})
    if support_record is not None and support_record.client_id != client.pk:
        raise ValidationError({"support_record": _("The support record is about another client.")})
    plan = SupportPlan(
        client=client,
        version=_next_version(SupportPlan, client),
        goals=goals.strip(),
        what_works=what_works.strip(),
        what_should_change=what_should_change.strip(),
        who_helped=who_helped.strip(),
        support_record=support_record,
        author=actor,
        created_at=clock.now(),
    )
    plan.full_clean()
    plan.save()
    audit_record(
        action="support_plan.create",
        actor=actor,
        target=plan,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"version": plan.version, "who_helped": plan.who_helped},
    )
    return plan


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


# --- decisions -----------------------------------------------------------------------------------------


def _assert_state(decision: Decision, *allowed: str) -> None:
    if decision.state not in allowed:
        raise ValidationError(
            {
                "state": _("The decision is %(state)s; this is not possible now.")
                % {"state": decision.get_state_display()}
            }
        )


def _assert_no_overlap(decision: Decision) -> None:
    """The service's copy of the PostgreSQL exclusion constraint, so SQLite refuses overlaps too. Run after the
    replaced decision's lines have been cut to end the day before the replacement starts."""
    for line in decision.lines.all():
        clash = (
            DecisionLine.objects.filter(
                client_id=decision.client_id,
                category_code=line.category_code,
                effective=True,
                valid_from__lte=line.valid_until,
                valid_until__gte=line.valid_from,
            )
            .exclude(decision=decision)
            .select_related("decision")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                {
                    "valid_from": _("Decision %(number)s already grants %(code)s for this client in that period.")
                    % {"number": clash.decision.number, "code": line.category_code}
                }
            )


def _date_text(day: dt.date) -> str:
    return date_format(day, "SHORT_DATE_FORMAT")


def _decision_number(decision: Decision) -> str:
    return f"HB-{decision.created_at.year}-{decision.pk.hex[:8].upper()}"


@transaction.atomic
def decision_draft_create(
    *,
    actor: User,
    calculation: BudgetCalculation,
    valid_from: dt.date,
    valid_until: dt.date,
    reasons: str,
    language: str | None = None,
    replaces: Decision | None = None,
) -> Decision:
    """A draft decision from a final budget calculation, in the client's language unless told otherwise."""
    if calculation.stage != CalculationStage.FINAL:
        raise ValidationError({"calculation": _("A decision is made on a final budget calculation.")})
    if valid_until < valid_from:
        raise ValidationError({"valid_until": _("The decision ends before it begins.")})
    if not reasons.strip():
        raise ValidationError({"reasons": _("A decision gives its reasons.")})
    client = calculation.client
    if replaces is not None and (replaces.client_id != client.pk or not replaces.is_effective):
        raise ValidationError({"replaces": _("Only an effective decision of the same client can be replaced.")})
    if replaces is not None and not replaces.valid_from <= valid_from <= replaces.valid_until:
        raise ValidationError(
            {
                "valid_from": _(
                    "A replacing decision starts within the validity of the decision it replaces, %(from)s–%(until)s."
                )
                % {"from": _date_text(replaces.valid_from), "until": _date_text(replaces.valid_until)}
            }
        )
    decision = Decision(
        client=client,
        organiser=client.organiser,
        language=language or client.language,
        calculation=calculation,
        valid_from=valid_from,
        valid_until=valid_until,
        reasons=reasons.strip(),
        preparer=actor,
        created_at=clock.now(),
        replaces=replaces,
    )
    decision.number = _decision_number(decision)
    decision.full_clean(exclude=["snapshot", "change_summary"])
    decision.save()
    lines = []
    for line in calculation.lines.select_related("category"):
        lines.append(
            DecisionLine(
                decision=decision,
                client=client,
                category_code=line.category_code,
                name_fi=line.category.name_fi,
                name_sv=line.category.name_sv,
                name_en=line.category.name_en,
                purse_unit=line.purse_unit,
                amount_per_period=line.amount_per_period,
                period_kind=calculation.period_kind,
                rollover_rule=line.rollover_rule,
                rollover_cap=line.rollover_cap,
                borrow_limit=line.borrow_limit,
                flexibility_group=line.flexibility_group,
                instrument=line.instrument,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
    DecisionLine.objects.bulk_create(lines)
    if replaces is not None:
        decision.change_summary = _changes(replaces, decision)
        decision.save(update_fields=["change_summary"])
    audit_record(
        action="decision.draft",
        actor=actor,
        target=decision,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={
            "number": decision.number,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "replaces": replaces.number if replaces else None,
        },
    )
    return decision


def _changes(old: Decision, new: Decision) -> list[dict[str, Any]]:
    """What a replacement changes, line by line, for the decision text and the audit trail."""
    before = {line.category_code: line for line in old.lines.all()}
    after = {line.category_code: line for line in new.lines.all()}
    changes = []
    for code in sorted(set(before) | set(after)):
        was, now = before.get(code), after.get(code)
        if was and now and (was.amount_per_period, was.purse_unit) == (now.amount_per_period, now.purse_unit):
            continue
        changes.append(
            {
                "code": code,
                "unit": (now or was).purse_unit,
                "before": was.amount_per_period if was else None,
                "after": now.amount_per_period if now else None,
            }
        )
    if (old.valid_from, old.valid_until) != (new.valid_from, new.valid_until):
        changes.append(
            {
                "code": "validity",
                "before": [str(old.valid_from), str(old.valid_until)],
                "after": [str(new.valid_from), str(new.valid_until)],
            }
        )
    return changes


@transaction.atomic
def decision_propose(*, actor: User, decision: Decision) -> Decision:
    decision = Decision.objects.select_for_update().get(pk=decision.pk)
    _assert_state(decision, DecisionState.DRAFT)
    decision.state = DecisionState.PROPOSED
    decision.proposed_at = clock.now()
    decision.save(update_fields=["state", "proposed_at"])
    audit_record(
        action="decision.propose",
        actor=actor,
        target=decision,
        organiser_id=decision.organiser_id,
        data_subject_id=decision.client_id,
        before={"state": DecisionState.DRAFT},
        after={"state": DecisionState.PROPOSED},
    )
    return decision


def _decision_snapshot(decision: Decision, plans: list[funding.LinePlan] | None = None) -> dict[str, Any]:
    return {
        "number": decision.number,
        "language": decision.language,
        "client": {
            "name": decision.client.full_name,
            "national_id": decision.client.national_id,
            "municipality": decision.client.municipality.name,
            "address": [
                decision.client.street_address,
                f"{decision.client.postal_code} {decision.client.post_office}".strip(),
            ],
        },
        "organiser": {"fi": decision.organiser.name_fi, "sv": decision.organiser.name_sv},
        "valid_from": decision.valid_from.isoformat(),
        "valid_until": decision.valid_until.isoformat(),
        "reasons": decision.reasons,
        "calculation": decision.calculation.snapshot,
        "lines": [
            {
                "code": line.category_code,
                "name": {"fi": line.name_fi, "sv": line.name_sv, "en": line.name_en},
                "unit": line.purse_unit,
                "amount_per_period": line.amount_per_period,
                "period_kind": line.period_kind,
                "instrument": line.instrument,
                "flexibility_group": line.flexibility_group,
            }
            for line in decision.lines.order_by("category_code")
        ],
        "preparer": decision.preparer.get_full_name(),
        "approver": decision.approver.get_full_name() if decision.approver else "",
        "approved_at": decision.approved_at.isoformat() if decision.approved_at else None,
        "replaces": decision.replaces.number if decision.replaces else None,
        "replaces_from": decision.valid_from.isoformat() if decision.replaces else None,
        "changes": decision.change_summary,
        # How each line moves from the replaced decision to this one, from the plan approval carries out.
        "transition": funding.transition_snapshot(funding.decision_funding_plan(decision) if plans is None else plans)
        if decision.replaces
        else [],
    }


def decision_preview_snapshot(decision: Decision) -> dict[str, Any]:
    """What the decision would say if approved now (for the preview of a draft); nothing is stored."""
    return _decision_snapshot(decision)


@transaction.atomic
def decision_approve(*, actor: User, decision: Decision) -> Decision:
    """Approve a proposed decision and fund its purses. Only someone other than the preparer may approve.
    A retried approval changes nothing and funds nothing twice."""
    lock_audit_chain()
    decision = (
        Decision.objects.select_for_update(of=("self",))
        .select_related("client", "organiser", "replaces")
        .get(pk=decision.pk)
    )
    authorize(actor, Action.DECISION_APPROVE, decision)
    if decision.is_effective and decision.approver_id == actor.pk:
        return decision  # a retry of the same approval
    _assert_state(decision, DecisionState.PROPOSED)
    if decision.preparer_id == actor.pk:
        raise ValidationError({"approver": _("The person who prepared a decision cannot approve it.")})
    replaced = decision.replaces
    if replaced is not None:
        replaced = Decision.objects.select_for_update().get(pk=replaced.pk)
        _assert_state(replaced, *EFFECTIVE_STATES)
        decision.replaces = replaced
    # The plan of every line, as the decision maker saw it; the snapshot and the document word it, the ledger
    # carries it out below. Made before anything moves.
    plans = funding.decision_funding_plan(decision)
    decision.approver = actor
    decision.approved_at = clock.now()
    decision.snapshot = _decision_snapshot(decision, plans)
    if replaced is not None:
        replaced.state = DecisionState.REPLACED
        replaced.ended_at = clock.now()
        replaced.end_reason = _("Replaced by decision %(number)s from %(date)s.") % {
            "number": decision.number,
            "date": _date_text(decision.valid_from),
        }
        replaced.save(update_fields=["state", "ended_at", "end_reason"])
        _end_lines(replaced, last_day=decision.valid_from - dt.timedelta(days=1))
    _assert_no_overlap(decision)
    decision.state = DecisionState.APPROVED
    decision.save(update_fields=["state", "approver", "approved_at", "snapshot"])
    decision.lines.update(effective=True)
    funded = _fund_lines(actor=actor, decision=decision, plans=plans)
    if replaced is not None:
        hooks.decision_replaced(actor=actor, replacement=_replacement(replaced, decision, plans))
    decision_document_store(decision=decision)
    audit_record(
        action="decision.approve",
        actor=actor,
        target=decision,
        organiser_id=decision.organiser_id,
        data_subject_id=decision.client_id,
        before={"state": DecisionState.PROPOSED},
        after={
            "state": DecisionState.APPROVED,
            "purses": funded,
            "replaces": replaced.number if replaced else None,
            "replaces_from": decision.valid_from if replaced else None,
            # Per line: what released periods were corrected by now, and what had been used beyond the new
            # amounts and is not taken back (the ledger's own audit rows have it per period).
            "corrected": {p.code: p.purse.corrections for p in plans if p.purse.corrections},
            "not_taken_back": {p.code: p.purse.uncollected for p in plans if p.purse.uncollected},
            "document_sha256": decision.document_sha256,
        },
    )
    return decision


def _end_lines(replaced: Decision, *, last_day: dt.date) -> None:
    """The replaced decision's lines stay in force up to the day before the replacement starts (so what they
    granted until then stays true, and the exclusion constraint sees no overlap); a replacement from the replaced
    decision's own first day leaves nothing of it in force."""
    if last_day < replaced.valid_from:
        replaced.lines.update(effective=False)
    else:
        replaced.lines.filter(valid_until__gt=last_day).update(valid_until=last_day)


def _replacement(replaced: Decision, decision: Decision, plans: list[funding.LinePlan]) -> hooks.Replacement:
    """What became of each line of the replaced decision, for the apps that keep rows pointing at lines."""
    successions = []
    for plan in plans:
        if plan.old_line is None:
            continue
        carried = plan.change in (funding.LineChange.CONTINUES, funding.LineChange.CHANGES)
        new = DecisionLine.objects.get(pk=plan.new_line.pk) if carried and plan.new_line else None
        successions.append(hooks.Succession(old=DecisionLine.objects.get(pk=plan.old_line.pk), new=new))
    return hooks.Replacement(
        replaced=replaced, decision=decision, starts_on=decision.valid_from, lines=tuple(successions)
    )


def _fund_lines(*, actor: User, decision: Decision, plans: list[funding.LinePlan]) -> dict[str, str]:
    """Carry out the funding plan: a line that continues a replaced decision's line keeps that purse (and the
    spending already made from it) with the new amount from the replacement's start; a line the replacement drops
    ends the day before; a new line (or one whose unit or period changed) gets a new purse."""
    ref = f"decision:{decision.pk}"
    funded = {}
    for plan in plans:
        line, old = plan.new_line, plan.old_line
        if plan.change == funding.LineChange.ENDS:
            ledger_services.purse_end(purse=old.purse, actor=actor, ref=ref, ends_on=plan.ends_on)
            continue
        line.refresh_from_db(fields=["purse"])
        if line.purse_id is not None:
            continue
        if old is not None and old.purse is not None:
            purse = ledger_services.purse_reschedule(
                purse=old.purse,
                effective_from=plan.effective_from,
                period_amount=line.amount_per_period,
                valid_until=line.valid_until,
                rollover_rule=line.rollover_rule,
                rollover_cap=line.rollover_cap,
                borrow_limit=line.borrow_limit,
                actor=actor,
                ref=ref,
            )
            DecisionLine.objects.filter(pk=old.pk).update(purse=None)
        else:
            purse = ledger_services.client_purse_open(
                organiser=decision.organiser,
                client=decision.client,
                unit=line.purse_unit,
                valid_from=line.valid_from,
                valid_until=line.valid_until,
                period_amount=line.amount_per_period,
                period_kind=line.period_kind,
                rollover_rule=line.rollover_rule,
                rollover_cap=line.rollover_cap,
                borrow_limit=line.borrow_limit,
                funding_ref=f"decision-line:{line.pk}",
                label=line.name_fi,
                actor=actor,
                schedule_from=decision.replaces.valid_from if decision.replaces_id else None,
            )
        line.purse = purse
        line.save(update_fields=["purse"])
        funded[line.category_code] = str(purse.pk)
    return funded


@transaction.atomic
def decision_send(*, actor: User, decision: Decision, method: str, sent_on: dt.date | None = None) -> Decision:
    """Record delivery. A posted letter counts as received on the seventh day after posting (Administrative
    Procedure Act 434/2003 § 59), an electronic one on the third day after sending (Act 13/2003 § 19), one
    handed over on the same day."""
    decision = Decision.objects.select_for_update().get(pk=decision.pk)
    _assert_state(decision, DecisionState.APPROVED)
    sent_on = sent_on or clock.today()
    decision.state = DecisionState.SENT
    decision.sent_at = clock.now()
    decision.delivery_method = method
    delay = {DeliveryMethod.POST: 7, DeliveryMethod.ELECTRONIC: 3}.get(method, 0)
    decision.received_on = sent_on + dt.timedelta(days=delay)
    decision.save(update_fields=["state", "sent_at", "delivery_method", "received_on"])
    audit_record(
        action="decision.send",
        actor=actor,
        target=decision,
        organiser_id=decision.organiser_id,
        data_subject_id=decision.client_id,
        after={"method": method, "sent_on": sent_on, "received_on": decision.received_on},
    )
    return decision


@transaction.atomic
def decision_annul(*, actor: User, decision: Decision, reason: str) -> Decision:
    """Annul an effective decision (e.g. after a request for correction); its purses end now."""
    lock_audit_chain()
    if not reason.strip():
        raise ValidationError({"end_reason": _("Say why the decision is annulled.")})
    decision = Decision.objects.select_for_update().get(pk=decision.pk)
    authorize(actor, Action.DECISION_APPROVE, decision)
    _assert_state(decision, *EFFECTIVE_STATES)
    before = decision.state
    decision.state = DecisionState.ANNULLED
    decision.ended_at = clock.now()
    decision.end_reason = reason.strip()
    decision.save(update_fields=["state", "ended_at", "end_reason"])
    decision.lines.update(effective=False)
    for line in decision.lines.select_related("purse"):
        if line.purse is not None:
            ledger_services.purse_end(purse=line.purse, actor=actor, ref=f"decision:{decision.pk}")
    hooks.decision_annulled(actor=actor, decision=decision)
    audit_record(
        action="decision.annul",
        actor=actor,
        target=decision,
        organiser_id=decision.organiser_id,
        data_subject_id=decision.client_id,
        before={"state": before},
        after={"state": DecisionState.ANNULLED, "reason": decision.end_reason},
    )
    return decision
