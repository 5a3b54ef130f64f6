"""A client purse's terms: opening it for a budget line or entitlement, changing its amount per period or its
validity while it runs, and ending it."""

import datetime as dt

from django.db import transaction

from kukkaro.core import clock
from kukkaro.core.actors import Actor
from kukkaro.core.audit import audit_record, lock_audit_chain
from kukkaro.core.models import Organiser
from kukkaro.ledger import schedules
from kukkaro.ledger.errors import LedgerError
from kukkaro.ledger.models import (
    PeriodKind,
    Purse,
    PurseAmountStep,
    PurseKind,
    RolloverRule,
    TransferCode,
    Unit,
)
from kukkaro.ledger.purses import shard_of, system_purse
from kukkaro.ledger.releases import _lock_twins, _scheduled, purse_release_due
from kukkaro.ledger.transfers import derived_id, transfer_post
from kukkaro.people.models import Client

# --- client purses and funding periods ----------------------------------------------------------------


@transaction.atomic
def client_purse_open(
    *,
    organiser: Organiser,
    client: Client,
    unit: Unit,
    valid_from: dt.date,
    valid_until: dt.date,
    period_amount: int,
    period_kind: PeriodKind = PeriodKind.ONCE,
    rollover_rule: RolloverRule = RolloverRule.ROLL,
    rollover_cap: int = 0,
    borrow_limit: int = 0,
    funding_ref: str = "",
    label: str = "",
    actor: Actor | None = None,
    schedule_from: dt.date | None = None,
) -> Purse:
    """Open a client purse for a budget line or entitlement: allocate the whole validity from the organiser's
    funding source into the not-yet-released purse, then release the periods that have begun. A purse for a line
    that a replacing decision adds gives ``schedule_from`` (the replaced decision's start): its first period is
    then shared by days like the other lines' (``schedules.opening_steps``)."""
    lock_audit_chain()
    if period_amount <= 0:
        raise LedgerError("the amount per period is positive", reason="amount")
    if client.organiser_id != organiser.pk:
        raise LedgerError("the client is in another organiser's register", reason="organiser_mismatch")
    if rollover_rule == RolloverRule.ROLL_CAPPED and rollover_cap < 0:
        raise LedgerError("the rollover cap is zero or more", reason="rollover_cap")
    plan = schedules.purse_open_plan(
        kind=period_kind,
        valid_from=valid_from,
        valid_until=valid_until,
        period_amount=period_amount,
        schedule_from=schedule_from,
    )
    now = clock.now()
    scheduled = Purse.objects.create(
        organiser=organiser,
        unit=unit,
        kind=PurseKind.SCHEDULED,
        client=client,
        funding_ref=funding_ref,
        label=label,  # shown with "not yet released" in the reader's language (Purse.__str__)
        valid_from=valid_from,
        valid_until=valid_until,
        debits_must_not_exceed_credits=True,
        created_at=now,
    )
    purse = Purse.objects.create(
        organiser=organiser,
        unit=unit,
        kind=PurseKind.CLIENT,
        client=client,
        funding_ref=funding_ref,
        label=label,
        scheduled=scheduled,
        valid_from=valid_from,
        valid_until=valid_until,
        period_kind=period_kind,
        period_amount=period_amount,
        rollover_rule=rollover_rule,
        rollover_cap=rollover_cap,
        borrow_limit=borrow_limit,
        debits_must_not_exceed_credits=True,
        created_at=now,
    )
    PurseAmountStep.objects.bulk_create(
        PurseAmountStep(
            purse=purse,
            seq=seq,
            effective_from=step.effective_from,
            period_amount=step.period_amount,
            until=step.until,
            ref=funding_ref[:100],
            created_at=now,
        )
        for seq, step in enumerate(plan.steps, start=1)
    )
    funding = system_purse(organiser=organiser, unit=unit, kind=PurseKind.FUNDING, shard=shard_of(purse.pk))
    count = len(plan.periods)
    if plan.allocation > 0:  # (a line added for its last few days can round to nothing)
        transfer_post(
            transfer_id=derived_id(purse.pk, "allocation"),
            debit=funding,
            credit=scheduled,
            amount=plan.allocation,
            code=TransferCode.ALLOCATION,
            actor=actor,
            ref_type="funding",
            ref_id=funding_ref[:64],
            memo=f"{count} × {period_amount} {unit}"
            if plan.allocation == count * period_amount
            else f"{count} periods, {plan.allocation} {unit} (the first shared by days)",
        )
    audit_record(
        action="ledger.purse_open",
        actor=actor,
        target=purse,
        organiser_id=organiser.pk,
        data_subject_id=getattr(client, "pk", None),
        after={
            "unit": unit,
            "period_kind": period_kind,
            "period_amount": period_amount,
            "periods": len(plan.periods),
            "allocation": plan.allocation,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "rollover_rule": rollover_rule,
            "rollover_cap": rollover_cap,
            "borrow_limit": borrow_limit,
        },
    )
    purse_release_due(purse=purse, today=clock.today())
    purse.refresh_from_db()
    return purse


def purse_change_preview(
    *, purse: Purse, effective_from: dt.date, period_amount: int, until: dt.date | None = None
) -> schedules.PurseChange:
    """What ``purse_reschedule`` (or, with ``period_amount`` 0, ``purse_end(ends_on=…)``) would do now, period by
    period, without changing anything: the same plan they carry out."""
    purse = Purse.objects.select_related("scheduled").get(pk=purse.pk)
    return schedules.purse_change_plan(
        purse=purse,
        scheduled_available=_scheduled(purse).available_now,
        effective_from=effective_from,
        period_amount=period_amount,
        until=until,
    )


def _change(
    *,
    purse: Purse,
    effective_from: dt.date,
    period_amount: int,
    until: dt.date | None,
    actor: Actor | None,
    ref: str,
    settings: dict,
    action: str,
) -> Purse:
    """Carry out ``schedules.purse_change_plan``: the allocation first, so the raises can be released from it,
    then each released period's correction (ids from purse, change and period, so a retry moves nothing twice),
    then the step and the purse's new terms; then the periods due are released at their new amounts."""
    lock_audit_chain()
    purse = _lock_twins(purse)
    if PurseAmountStep.objects.filter(purse=purse, ref=ref[:100]).exists():
        return purse  # a retry of the same change
    if purse.valid_from is None or purse.valid_until is None:
        raise LedgerError("a client purse has a validity", reason="no_validity")
    steps = schedules.steps_in_force(schedules.purse_steps(purse))
    if steps and effective_from < steps[-1].effective_from:
        raise LedgerError("a change cannot begin before the one in force began", reason="validity")
    if until is not None and until < effective_from:
        raise LedgerError("the new validity ends before the change begins", reason="validity")
    scheduled = Purse.objects.get(pk=_scheduled(purse).pk)
    plan = schedules.purse_change_plan(
        purse=purse,
        scheduled_available=scheduled.available_now,
        effective_from=effective_from,
        period_amount=period_amount,
        until=until,
    )
    funding = system_purse(organiser=purse.organiser, unit=purse.unit, kind=PurseKind.FUNDING, shard=shard_of(purse.pk))
    words = (
        f"{period_amount} {purse.unit} a period from {effective_from}" if period_amount else f"ends {plan.valid_until}"
    )
    if plan.allocation > 0:
        transfer_post(
            transfer_id=derived_id(purse.pk, "reschedule", ref),
            debit=funding,
            credit=scheduled,
            amount=plan.allocation,
            code=TransferCode.ALLOCATION,
            actor=actor,
            ref_type="funding",
            ref_id=ref[:64],
            memo=f"allocation raised: {words}",
        )
    for row in plan.periods:
        if row.correction == 0:
            continue
        raise_ = row.correction > 0
        transfer_post(
            transfer_id=derived_id(purse.pk, "period", ref, row.start),
            debit=scheduled if raise_ else purse,
            credit=purse if raise_ else funding,
            amount=abs(row.correction),
            code=TransferCode.CORRECTION,
            actor=actor,
            period_start=row.start,
            ref_type=schedules.SCHEDULE_REF,
            ref_id=ref[:64],
            memo=f"period {row.start}–{row.end} {'raised' if raise_ else 'lowered'} to {row.after}: {words}",
        )
    if plan.allocation < 0:
        transfer_post(
            transfer_id=derived_id(purse.pk, "reschedule", ref),
            debit=scheduled,
            credit=funding,
            amount=-plan.allocation,
            code=TransferCode.CORRECTION,
            actor=actor,
            ref_type="funding",
            ref_id=ref[:64],
            memo=f"allocation lowered: {words}",
        )
    last = PurseAmountStep.objects.filter(purse=purse).order_by("-seq").values_list("seq", flat=True).first()
    if last is None:  # a purse opened before steps were kept: its first step, as it was
        PurseAmountStep.objects.create(
            purse=purse,
            seq=1,
            effective_from=purse.valid_from,
            period_amount=purse.period_amount,
            until=purse.valid_until,
            ref=purse.funding_ref[:100],
            created_at=clock.now(),
        )
        last = 1
    new_step = plan.steps[-1]
    PurseAmountStep.objects.create(
        purse=purse,
        seq=last + 1,
        effective_from=new_step.effective_from,
        period_amount=new_step.period_amount,
        until=new_step.until,
        ref=ref[:100],
        created_at=clock.now(),
    )
    before = {
        "period_amount": purse.period_amount,
        "valid_until": purse.valid_until,
        "rollover_rule": purse.rollover_rule,
        "rollover_cap": purse.rollover_cap,
        "borrow_limit": purse.borrow_limit,
    }
    changes = {**settings, "valid_until": plan.valid_until}
    if period_amount > 0:
        changes["period_amount"] = period_amount
    if "borrow_limit" in changes:
        changes["borrow_limit"] = max(changes["borrow_limit"], purse.borrowed_ahead)
    Purse.objects.filter(pk=purse.pk).update(**changes)
    Purse.objects.filter(pk=scheduled.pk).update(valid_until=plan.valid_until)
    audit_record(
        action=action,
        actor=actor,
        target=purse,
        organiser_id=purse.organiser_id,
        data_subject_id=purse.client_id,
        before=before,
        after={
            **changes,
            "effective_from": effective_from,
            "moved": plan.allocation,
            "corrected": {str(r.start): r.correction for r in plan.periods if r.correction},
            "not_taken_back": {str(r.start): r.uncollected for r in plan.periods if r.uncollected},
            "ref": ref,
        },
    )
    purse_release_due(purse=purse, today=clock.today())
    purse.refresh_from_db()
    return purse


@transaction.atomic
def purse_reschedule(
    *,
    purse: Purse,
    effective_from: dt.date,
    period_amount: int,
    valid_until: dt.date,
    rollover_rule: str,
    rollover_cap: int,
    borrow_limit: int,
    actor: Actor | None,
    ref: str,
) -> Purse:
    """Change a running purse's amount per period from ``effective_from`` on (a replacing decision's start,
    which may be in the past, today or later) and its validity to ``valid_until``. Every period before it keeps
    what it had, a period that date cuts is shared by days, released periods are corrected at once and the
    difference in the not-yet-released allocation moves to or from the funding source; spending is never
    undone (``schedules.purse_change_plan``). Idempotent for the same ``ref``."""
    if period_amount <= 0:
        raise LedgerError("the amount per period is positive; end the purse instead", reason="amount")
    return _change(
        purse=purse,
        effective_from=effective_from,
        period_amount=period_amount,
        until=valid_until,
        actor=actor,
        ref=ref,
        settings={"rollover_rule": rollover_rule, "rollover_cap": rollover_cap, "borrow_limit": borrow_limit},
        action="ledger.purse_reschedule",
    )


@transaction.atomic
def purse_end(*, purse: Purse, actor: Actor | None, ref: str, ends_on: dt.date | None = None) -> Purse:
    """End a purse. With ``ends_on`` (its line is dropped by a decision replacing it from the next day): the purse
    keeps what it has up to that day and stays usable until then; a period that day cuts gets its share of days,
    the allocation beyond it goes back to the funding source, periods released beyond it are corrected at once
    (only what is still available is taken back), and what is left at the end lapses as at any end of validity.
    Without (its decision was annulled): it ends today — no new holds from now on, what is available and what
    was never released lapse. Open holds stay and can still be posted or voided; what comes back later lapses
    on the next daily run. Idempotent for the same ``ref``."""
    if ends_on is not None:
        return _change(
            purse=purse,
            effective_from=ends_on + dt.timedelta(days=1),
            period_amount=0,
            until=None,
            actor=actor,
            ref=ref,
            settings={},
            action="ledger.purse_end",
        )
    lock_audit_chain()
    purse = _lock_twins(purse)
    yesterday = clock.today() - dt.timedelta(days=1)
    before = {"valid_until": purse.valid_until}
    if purse.valid_until is None or purse.valid_until > yesterday:
        Purse.objects.filter(pk__in=[purse.pk, _scheduled(purse).pk]).update(valid_until=yesterday)
    purse_release_due(purse=purse, today=clock.today())
    audit_record(
        action="ledger.purse_end",
        actor=actor,
        target=purse,
        organiser_id=purse.organiser_id,
        data_subject_id=purse.client_id,
        before=before,
        after={"valid_until": yesterday, "ref": ref},
    )
    purse.refresh_from_db()
    return purse
