"""Decisions: drafted from a final calculation, proposed, approved (which funds their lines in the ledger and
ends the lines of a decision they replace), sent and annulled. Each write is one transaction with its audit row;
a decision snapshots its inputs."""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kukkaro.cases import funding, hooks
from kukkaro.cases.documents import decision_document_store
from kukkaro.cases.models import (
    EFFECTIVE_STATES,
    BudgetCalculation,
    CalculationStage,
    Decision,
    DecisionLine,
    DecisionState,
    DeliveryMethod,
)
from kukkaro.core import clock
from kukkaro.core.audit import audit_record, lock_audit_chain
from kukkaro.core.permissions import Action, authorize
from kukkaro.ledger import services as ledger_services
from kukkaro.people.models import User


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
