"""Payment batches: prepared by one finance person, released by another, confirmed by the bank's word.

    prepared ──release (a second person)──▶ released ──status report (pain.002) / by hand──▶ confirmed
       └──cancel (with a reason)──▶ cancelled

* **Prepare** gathers the organiser's approved, unpaid claims, one payment per provider, and makes the
  pain.001.001.09 file and the accounting CSV. A provider whose bank account change waits for its second person,
  or whose stored data cannot be written into a bank file, is left out with the reason; the others are paid.
  Nothing can be downloaded yet.
* **Release** is a second finance person's: not the preparer (a CHECK constraint as well) and not anyone who
  approved or asked for a bank account the batch pays to (a trigger as well, migration ``services.0011``). Only a
  released batch's file may be downloaded and sent to the bank.
* **Confirm**: the bank's status report marks each payment accepted or rejected; a person other than the preparer
  may confirm the rest by hand, with a reason. The batch is confirmed when every payment has an outcome.

Money. An approved claim's amount already sits in ``payables``. A payment the bank accepts moves each of its claims'
amounts from payables to ``paid`` (ids derived from the claim and the payment: confirming twice pays nothing
twice) and the claims are paid. A rejected payment leaves the money in payables; if the bank rejects a payment that
had been accepted (or confirmed by hand), correction transfers move it back. Either way its claims are approved and
unpaid again, with the reason on the payment, and the next batch takes them.
"""

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kukkaro.core import clock, exports
from kukkaro.core.audit import audit_record
from kukkaro.core.models import Organiser
from kukkaro.core.permissions import Action, OfOrganiser, authorize
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import PurseKind, Transfer, TransferCode, Unit
from kukkaro.people.models import User
from kukkaro.services import payment_files, status_reports
from kukkaro.services.models import (
    BankAccountChange,
    BankAccountChangeState,
    Claim,
    ClaimStatus,
    LeftOutReason,
    PaymentBatch,
    PaymentBatchLine,
    PaymentBatchState,
    PaymentLeftOut,
    PaymentLineClaim,
    PaymentOutcome,
    PaymentStatusReport,
    Provider,
)
from kukkaro.services.policies import policy_for

#: Our pain.001 has one payment information block: its id is the batch number and this.
PAYMENT_INFORMATION_SUFFIX = "-1"


def _batch_number(organiser: Organiser, day: dt.date) -> str:
    prefix = f"PB{organiser.pk:02d}{day:%Y%m}"
    count = PaymentBatch.objects.filter(number__startswith=prefix).count()
    return f"{prefix}{count + 1:02d}"


def _accounting_csv(batch: PaymentBatch, claims: list[Claim], lines: dict[uuid.UUID, PaymentBatchLine]) -> bytes:
    """One row per claim for the county's accounting system (semicolons, decimal comma, UTF-8 with BOM), written
    by the shared formula-safe writer."""
    return exports.csv_bytes(
        [
            "batch",
            "payment_reference",
            "business_id",
            "provider",
            "invoice_number",
            "claim_id",
            "agreement",
            "service",
            "service_date",
            "quantity",
            "amount_eur",
            "municipality",
        ],
        (_accounting_row(batch, claim, lines) for claim in claims),
        delimiter=";",
        decimal_separator=",",
    )


def _accounting_row(batch: PaymentBatch, claim: Claim, lines: dict[uuid.UUID, PaymentBatchLine]) -> list:
    # A claim being paid has its agreement (services_live_claim_is_held) and the agreement's client.
    assert claim.agreement is not None
    assert claim.client is not None
    return [
        batch.number,
        lines[claim.provider_id].reference,
        claim.provider.business_id,
        claim.provider.name,
        claim.invoice_number,
        str(claim.pk),
        claim.agreement.number,
        claim.agreement.service_type.code,
        claim.service_date,
        Decimal(claim.quantity_hundredths) / 100,
        Decimal(claim.amount_cents) / 100,
        claim.client.municipality.code,
    ]


# --- prepare -------------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    provider: Provider
    claims: list[Claim]
    line: PaymentBatchLine | None = None

    @property
    def amount_cents(self) -> int:
        return sum(c.amount_cents for c in self.claims)

    @property
    def numbered_line(self) -> PaymentBatchLine:
        """The candidate's line, once ``_number_lines`` has made it."""
        assert self.line is not None
        return self.line


def _number_lines(batch: PaymentBatch, candidates: list[_Candidate]) -> None:
    """One line per candidate, numbered in order: the RF reference and the end-to-end id come from the number."""
    for sequence, candidate in enumerate(candidates, start=1):
        provider = candidate.provider
        candidate.line = PaymentBatchLine(
            batch=batch,
            provider=provider,
            name=provider.name.strip(),
            iban=provider.iban,
            bic=provider.bic,
            amount_cents=candidate.amount_cents,
            reference=payment_files.rf_reference(f"{batch.number}{sequence:04d}"),
            end_to_end_id=f"{batch.number}-{sequence:04d}",
        )


def _payment(line: PaymentBatchLine) -> payment_files.Payment:
    return payment_files.Payment(
        end_to_end_id=line.end_to_end_id,
        name=line.name,
        iban=line.iban,
        bic=line.bic,
        amount_cents=line.amount_cents,
        reference=line.reference,
    )


def _document(batch: PaymentBatch, policy, candidates: list[_Candidate]) -> bytes:
    return payment_files.pain001(
        message_id=batch.number,
        created_at=batch.prepared_at,
        execution_date=batch.execution_date,
        debtor_name=policy.debtor_name,
        debtor_iban=policy.debtor_iban,
        debtor_bic=policy.debtor_bic,
        payments=[_payment(c.numbered_line) for c in candidates],
    )


def _build_leaving_out_what_fails(
    batch: PaymentBatch, policy, candidates: list[_Candidate], left_out: dict
) -> tuple[bytes, list[_Candidate]]:
    """The file, built with every candidate the checks let through. Should it still fail (data the checks did not
    foresee), each payment is tried alone and the ones that fail alone are left out too, so one provider's data
    never stops the others' payments."""
    _number_lines(batch, candidates)
    try:
        return _document(batch, policy, candidates), candidates
    except payment_files.PaymentFileError as whole:
        failing = []
        for candidate in candidates:
            try:
                _document(batch, policy, [candidate])
            except payment_files.PaymentFileError as alone:
                failing.append((candidate, str(alone)))
        if not failing:
            raise ValidationError(
                {"approved_until": _("The bank file could not be made: %(error)s") % {"error": whole}}
            ) from whole
    for candidate, detail in failing:
        left_out[candidate.provider.pk] = (candidate, [LeftOutReason.FILE_REFUSED], detail)
    kept = [c for c in candidates if c.provider.pk not in left_out]
    if not kept:
        return b"", []
    _number_lines(batch, kept)
    try:
        return _document(batch, policy, kept), kept
    except payment_files.PaymentFileError as rest:  # payments that build alone but not together: not one payee's
        raise ValidationError(
            {"approved_until": _("The bank file could not be made: %(error)s") % {"error": rest}}
        ) from rest


def _left_out_text(left_out: dict) -> str:
    return "; ".join(
        f"{payment_files.printable(candidate.provider.name.strip()) or candidate.provider.business_id}: "
        + ", ".join(str(LeftOutReason(r).label) for r in reasons)
        for candidate, reasons, _detail in left_out.values()
    )


@transaction.atomic
def payment_batch_prepare(
    *, actor: User, organiser: Organiser, approved_until: dt.date, execution_date: dt.date
) -> PaymentBatch:
    """Gather the organiser's approved, unpaid claims approved up to ``approved_until``, one payment per
    provider, and make the pain.001.001.09 file and the accounting CSV. The batch waits for a second person to
    release it; its file cannot be downloaded before that. A claim belongs to one live batch only.

    A provider is left out, its claims staying for the next batch, when its change of bank account waits for
    approval or its stored data cannot be written into a bank file; the batch records who and why."""
    authorize(actor, Action.PAYMENT_PREPARE, OfOrganiser(organiser.pk))
    # One batch at a time per organiser. FOR NO KEY UPDATE, not FOR UPDATE: every audit row and batch refers to the
    # organiser, and PostgreSQL's foreign-key check takes FOR KEY SHARE on it while the writer holds the audit
    # chain's lock, which FOR UPDATE would wait for — a deadlock with this transaction's own audit row.
    Organiser.objects.select_for_update(no_key=True).get(pk=organiser.pk)
    policy = policy_for(organiser)
    if not (policy.debtor_iban and policy.debtor_name):
        raise ValidationError({"organiser": _("Set the organiser's paying bank account first.")})
    if execution_date < clock.today():
        raise ValidationError({"execution_date": _("The payment date cannot be in the past.")})
    try:
        payment_files.check_header(
            message_id="PB0000000000",
            created_at=clock.now(),
            execution_date=execution_date,
            debtor_name=policy.debtor_name,
            debtor_iban=policy.debtor_iban,
            debtor_bic=policy.debtor_bic,
        )
    except payment_files.PaymentFileError as exc:
        raise ValidationError(
            {
                "organiser": _(
                    "The organiser's paying account cannot be written into a bank file; correct it in the settings."
                )
            }
        ) from exc
    until = dt.datetime.combine(approved_until + dt.timedelta(days=1), dt.time(), tzinfo=clock.HELSINKI)
    claims = list(
        Claim.objects.select_for_update(of=("self",))
        .filter(organiser=organiser, status=ClaimStatus.APPROVED, payment__isnull=True, decided_at__lt=until)
        .select_related("provider", "agreement__service_type", "client__municipality")
        .order_by("provider__name", "provider_id", "service_date", "invoice_number")
    )
    if not claims:
        raise ValidationError({"approved_until": _("There are no approved claims to pay.")})
    candidates: dict = {}
    for claim in claims:
        candidates.setdefault(claim.provider_id, _Candidate(provider=claim.provider, claims=[])).claims.append(claim)
    now = clock.now()
    batch = PaymentBatch(
        number=_batch_number(organiser, execution_date),
        organiser=organiser,
        period_end=approved_until,
        execution_date=execution_date,
        prepared_by=actor,
        prepared_at=now,
    )
    # Who is left out, and why: a change of bank account waiting for its second person (nothing is paid to that
    # provider meanwhile), or data that a bank file cannot carry (a name stored before inputs were checked…).
    left_out: dict = {}
    waiting = set(
        BankAccountChange.objects.filter(provider_id__in=candidates, state=BankAccountChangeState.PENDING).values_list(
            "provider_id", flat=True
        )
    )
    _number_lines(batch, list(candidates.values()))
    for provider_id, candidate in candidates.items():
        reasons = [LeftOutReason.BANK_CHANGE_PENDING] if provider_id in waiting else []
        reasons += [LeftOutReason(p) for p in payment_files.payment_problems(_payment(candidate.numbered_line))]
        if reasons:
            left_out[provider_id] = (candidate, reasons, "")
    kept = [c for pid, c in candidates.items() if pid not in left_out]
    document, kept = _build_leaving_out_what_fails(batch, policy, kept, left_out) if kept else (b"", [])
    if not kept:
        raise ValidationError(
            {
                "approved_until": _("No payment could be made. Left out: %(left_out)s.")
                % {"left_out": _left_out_text(left_out)}
            }
        )
    paid_claims = [claim for candidate in kept for claim in candidate.claims]
    lines = {candidate.provider.pk: candidate.numbered_line for candidate in kept}
    batch.period_start = (
        min(c.decided_at for c in paid_claims if c.decided_at is not None).astimezone(clock.HELSINKI).date()
    )
    batch.total_cents = sum(line.amount_cents for line in lines.values())
    batch.pain001 = document
    batch.pain001_sha256 = hashlib.sha256(document).hexdigest()
    batch.accounting_csv = _accounting_csv(batch, paid_claims, lines)
    batch.save()
    PaymentBatchLine.objects.bulk_create(lines.values())
    PaymentLineClaim.objects.bulk_create(
        PaymentLineClaim(line=lines[claim.provider_id], claim=claim, amount_cents=claim.amount_cents)
        for claim in paid_claims
    )
    for line in lines.values():
        Claim.objects.filter(pk__in=[c.pk for c in paid_claims if c.provider_id == line.provider_id]).update(
            payment=line
        )
    PaymentLeftOut.objects.bulk_create(
        PaymentLeftOut(
            batch=batch,
            provider=candidate.provider,
            reasons=[str(r) for r in reasons],
            detail=detail,
            claims=len(candidate.claims),
            amount_cents=candidate.amount_cents,
        )
        for candidate, reasons, detail in left_out.values()
    )
    audit_record(
        action="payment_batch.prepare",
        actor=actor,
        target=batch,
        organiser_id=organiser.pk,
        after={
            "number": batch.number,
            "state": batch.state,
            "claims": len(paid_claims),
            "payments": {line.end_to_end_id: line.amount_cents for line in lines.values()},
            "total_cents": batch.total_cents,
            "pain001_sha256": batch.pain001_sha256,
            "left_out": {
                candidate.provider.business_id: [str(r) for r in reasons]
                for candidate, reasons, _detail in left_out.values()
            },
        },
    )
    return batch


# --- release and cancel --------------------------------------------------------------------------------------


def _account_approvers(batch: PaymentBatch) -> dict[int, list[str]]:
    """Who approved (or asked for) a bank account this batch pays to: user id -> the providers' names."""
    lines = list(batch.lines.values_list("provider_id", "iban", "name"))
    wanted = Q(pk__in=[])
    for provider_id, iban, _name in lines:
        wanted |= Q(provider_id=provider_id, iban=iban)
    names = {(provider_id, iban): name for provider_id, iban, name in lines}
    people: dict[int, list[str]] = {}
    for provider_id, iban, decided_by, requested_by in BankAccountChange.objects.filter(
        wanted, state=BankAccountChangeState.APPROVED
    ).values_list("provider_id", "iban", "decided_by_id", "requested_by_id"):
        for user_id in {decided_by, requested_by} - {None}:
            people.setdefault(user_id, []).append(names[(provider_id, iban)])
    return people


def release_refusals(*, actor: User, batch: PaymentBatch) -> list[str]:
    """Why ``actor`` may not release ``batch`` now (empty: they may). The page shows these; the service raises
    them."""
    if batch.state != PaymentBatchState.PREPARED:
        return [_("Only a prepared batch is released.")]
    refusals = []
    if batch.prepared_by_id == actor.pk:
        refusals.append(_("You prepared this batch, so a second person releases it."))
    approved = sorted(set(_account_approvers(batch).get(actor.pk, [])))
    if approved:
        refusals.append(
            _(
                "You approved or asked for the bank account of %(names)s, which this batch pays to, so someone else "
                "releases it."
            )
            % {"names": ", ".join(approved)}
        )
    if batch.execution_date < clock.today():
        refusals.append(
            _("The payment date %(date)s has passed. Cancel the batch and prepare a new one.")
            % {"date": date_format(batch.execution_date, "SHORT_DATE_FORMAT")}
        )
    changed = sorted(
        line.name
        for line in batch.lines.select_related("provider")
        if (line.provider.iban, line.provider.bic) != (line.iban, line.bic)
        or line.provider.bank_changes.filter(state=BankAccountChangeState.PENDING).exists()
    )
    if changed:
        refusals.append(
            _(
                "The bank account of %(names)s has changed, or a change is waiting, since the batch was prepared. "
                "Cancel the batch and prepare a new one."
            )
            % {"names": ", ".join(changed)}
        )
    if hashlib.sha256(bytes(batch.pain001)).hexdigest() != batch.pain001_sha256:
        refusals.append(_("The stored bank file is not the one that was made. It cannot be released."))
    return refusals


@transaction.atomic
def payment_batch_release(*, actor: User, batch: PaymentBatch) -> PaymentBatch:
    """A second finance person releases a prepared batch: from now on its file may be downloaded and sent."""
    batch = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
    authorize(actor, Action.PAYMENT_RELEASE, batch)
    refusals = release_refusals(actor=actor, batch=batch)
    if refusals:
        raise ValidationError({"released_by": refusals})
    batch.state, batch.released_by, batch.released_at = PaymentBatchState.RELEASED, actor, clock.now()
    batch.save(update_fields=["state", "released_by", "released_at"])
    audit_record(
        action="payment_batch.release",
        actor=actor,
        target=batch,
        organiser_id=batch.organiser_id,
        before={"state": PaymentBatchState.PREPARED},
        after={"state": batch.state, "pain001_sha256": batch.pain001_sha256, "total_cents": batch.total_cents},
    )
    return batch


@transaction.atomic
def payment_batch_cancel(*, actor: User, batch: PaymentBatch, reason: str) -> PaymentBatch:
    """Cancel a prepared batch (before anyone could send it): its claims are approved and unpaid again."""
    batch = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
    authorize(actor, Action.PAYMENT_PREPARE, batch)
    if batch.state != PaymentBatchState.PREPARED:
        raise ValidationError({"state": _("Only a batch that has not been released can be cancelled.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for cancelling the batch.")})
    freed = Claim.objects.filter(payment__batch=batch).update(payment=None)
    batch.lines.update(outcome=PaymentOutcome.CANCELLED)
    batch.state, batch.cancelled_by, batch.cancelled_at = PaymentBatchState.CANCELLED, actor, clock.now()
    batch.cancel_reason = reason
    batch.save(update_fields=["state", "cancelled_by", "cancelled_at", "cancel_reason"])
    audit_record(
        action="payment_batch.cancel",
        actor=actor,
        target=batch,
        organiser_id=batch.organiser_id,
        before={"state": PaymentBatchState.PREPARED},
        after={"state": batch.state, "reason": reason, "claims_freed": freed},
    )
    return batch


# --- outcomes --------------------------------------------------------------------------------------------------


def _paid_transfer_id(claim: Claim, line: PaymentBatchLine):
    return ledger.derived_id("claim-paid", claim.pk, line.pk)


def _accept(line: PaymentBatchLine, *, actor: User | None, at: dt.datetime) -> int:
    """The bank pays ``line``: each claim's amount moves from payables to paid, and the claims are paid."""
    batch = line.batch
    claims = list(
        Claim.objects.select_for_update(of=("self",))
        .filter(payment=line)
        .select_related("agreement__purse")
        .order_by("pk")
    )
    for claim in claims:
        assert claim.agreement is not None  # a claim being paid has its agreement (services_live_claim_is_held)
        shard = ledger.shard_of(claim.agreement.purse_id)
        ledger.transfer_post(
            transfer_id=_paid_transfer_id(claim, line),
            debit=ledger.system_purse(organiser=batch.organiser, unit=Unit.EUR, kind=PurseKind.PAYABLES, shard=shard),
            credit=ledger.system_purse(organiser=batch.organiser, unit=Unit.EUR, kind=PurseKind.PAID, shard=shard),
            amount=claim.amount_cents,
            code=TransferCode.PAYMENT,
            actor=actor,
            ref_type="claim",
            ref_id=str(claim.pk),
            memo=f"{batch.number} {claim.invoice_number}",
        )
    Claim.objects.filter(pk__in=[c.pk for c in claims]).update(status=ClaimStatus.PAID)
    return len(claims)


def _reject(line: PaymentBatchLine, *, actor: User | None, reason: str) -> int:
    """The bank does not pay ``line``: its claims are approved and unpaid again. If it had been accepted, the
    payment transfers are reversed by corrections (never edited)."""
    claims = list(Claim.objects.select_for_update(of=("self",)).filter(payment=line).order_by("pk"))
    if line.outcome == PaymentOutcome.ACCEPTED:
        for claim in claims:
            # Batches confirmed before payments had their own ids paid a claim under an id of the claim alone.
            original = Transfer.objects.filter(
                pk__in=[_paid_transfer_id(claim, line), ledger.derived_id("claim-paid", claim.pk)],
                code=TransferCode.PAYMENT,
            ).first()
            if original is not None:
                ledger.transfer_correct(
                    transfer_id=ledger.derived_id("claim-paid-returned", claim.pk, line.pk),
                    original=original,
                    actor=actor,
                    memo=f"{line.batch.number} {claim.invoice_number}: {reason}"[:200],
                )
    Claim.objects.filter(pk__in=[c.pk for c in claims]).update(payment=None, status=ClaimStatus.APPROVED)
    return len(claims)


def _settle_batch(batch: PaymentBatch, at: dt.datetime) -> None:
    """A released batch is confirmed once every payment has an outcome."""
    if batch.state == PaymentBatchState.RELEASED and not batch.lines.filter(outcome=PaymentOutcome.PENDING).exists():
        batch.state, batch.confirmed_at = PaymentBatchState.CONFIRMED, at
        batch.save(update_fields=["state", "confirmed_at"])


@transaction.atomic
def payment_batch_confirm(*, actor: User, batch: PaymentBatch, reason: str) -> PaymentBatch:
    """Confirm by hand that the bank has made the payments it has not answered for (its online service shows
    them, say). Someone other than the preparer, with a reason; a status report imported later still wins."""
    batch = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
    authorize(actor, Action.PAYMENT_CONFIRM, batch)
    if batch.state != PaymentBatchState.RELEASED:
        raise ValidationError({"state": _("Only a released batch waiting for the bank is confirmed by hand.")})
    if batch.prepared_by_id == actor.pk:
        raise ValidationError({"confirmed_by": _("You prepared this batch, so a second person confirms it.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason: how do you know the bank has paid?")})
    now = clock.now()
    pending = list(batch.lines.select_for_update().filter(outcome=PaymentOutcome.PENDING).order_by("end_to_end_id"))
    claims = 0
    for line in pending:
        claims += _accept(line, actor=actor, at=now)
        line.outcome, line.decided_at, line.decided_by, line.reason_text = PaymentOutcome.ACCEPTED, now, actor, reason
        line.save(update_fields=["outcome", "decided_at", "decided_by", "reason_text"])
    batch.state, batch.confirmed_at, batch.confirmed_by = PaymentBatchState.CONFIRMED, now, actor
    batch.confirmation_reason = reason
    batch.save(update_fields=["state", "confirmed_at", "confirmed_by", "confirmation_reason"])
    audit_record(
        action="payment_batch.confirm",
        actor=actor,
        target=batch,
        organiser_id=batch.organiser_id,
        before={"state": PaymentBatchState.RELEASED},
        after={
            "state": batch.state,
            "reason": reason,
            "accepted": [line.end_to_end_id for line in pending],
            "claims_paid": claims,
        },
    )
    return batch


# --- the bank's status report ----------------------------------------------------------------------------------


@dataclass
class StatusImport:
    report: PaymentStatusReport
    created: bool  # False: this very file had been imported before, and nothing changed


def _reason_of(status: status_reports.Status) -> tuple[str, str]:
    """(code, text) of a status's first reason, the bank's words of all of them."""
    if not status.reasons:
        return "", ""
    first = status.reasons[0]
    text = " ".join(r.text for r in status.reasons if r.text)
    return first.code[:35], text


def _file_error(message: str) -> ValidationError:
    return ValidationError({"file": message})


def _target_batch(report: status_reports.StatusReport, organiser: Organiser, batch: PaymentBatch | None):
    """The released batch a report answers, locked; refused with the reason if it is not one it may answer."""
    if report.original_message_name and not report.original_message_name.startswith("pain.001"):
        raise _file_error(
            _("The file answers a %(kind)s message, not a payment file.") % {"kind": report.original_message_name}
        )
    target = (
        PaymentBatch.objects.select_for_update().filter(organiser=organiser, number=report.original_message_id).first()
    )
    if target is None:
        raise _file_error(
            _("The file answers the payment file %(number)s, which is none of this organiser's batches.")
            % {"number": report.original_message_id}
        )
    if batch is not None and target.pk != batch.pk:
        raise _file_error(
            _("The file answers batch %(file)s, not this batch (%(page)s).")
            % {"file": target.number, "page": batch.number}
        )
    if target.state == PaymentBatchState.PREPARED:
        raise _file_error(
            _("Batch %(number)s has not been released, so the bank cannot have answered for it.")
            % {"number": target.number}
        )
    if target.state == PaymentBatchState.CANCELLED:
        raise _file_error(_("Batch %(number)s was cancelled.") % {"number": target.number})
    return target


def _decisions(
    report: status_reports.StatusReport, target: PaymentBatch, lines: dict[str, PaymentBatchLine]
) -> dict[str, status_reports.Status]:
    """The final status the report gives each payment of ``target`` (end-to-end id -> status); refused whole if
    it names anything not in the batch or accepts a payment the bank had rejected."""
    block_id = f"{target.number}{PAYMENT_INFORMATION_SUFFIX}"
    unknown_blocks = report.payment_information_ids() - {block_id}
    if unknown_blocks:
        raise _file_error(
            _("The file names a payment block (%(ids)s) that is not in batch %(number)s.")
            % {"ids": ", ".join(sorted(unknown_blocks)), "number": target.number}
        )
    unknown = report.end_to_end_ids() - set(lines)
    if unknown:
        raise _file_error(
            _("The file names payments that are not in batch %(number)s: %(ids)s.")
            % {"number": target.number, "ids": ", ".join(sorted(unknown))}
        )
    decisions = {}
    for end_to_end_id, line in lines.items():
        status = report.status_of(payment_information_id=block_id, end_to_end_id=end_to_end_id)
        if status is None or not status.final:
            continue
        if line.outcome == PaymentOutcome.REJECTED and status.accepted:
            # Its claims are back in the queue (perhaps paid in a later batch): accepting it now could pay twice.
            raise _file_error(
                _(
                    "The file says the payment to %(name)s (%(id)s) was accepted, but the bank rejected it earlier "
                    "and its claims have gone back for payment. Nothing was changed; ask the bank."
                )
                % {"name": line.name, "id": end_to_end_id}
            )
        decisions[end_to_end_id] = status
    return decisions


def _apply(
    line: PaymentBatchLine, status: status_reports.Status, *, actor: User, at: dt.datetime, report: PaymentStatusReport
) -> str | None:
    """Give ``line`` the outcome ``status`` says; the outcome it got, or None if it already had it."""
    wanted = PaymentOutcome.ACCEPTED if status.accepted else PaymentOutcome.REJECTED
    if line.outcome == wanted:
        return None
    code, text = _reason_of(status)
    if wanted == PaymentOutcome.ACCEPTED:
        _accept(line, actor=actor, at=at)
    else:
        _reject(line, actor=actor, reason=code or status.code)
    line.outcome, line.status_code, line.reason_code, line.reason_text = wanted, status.code[:4], code, text
    line.decided_at, line.decided_by, line.status_report = at, None, report
    line.save(
        update_fields=[
            "outcome",
            "status_code",
            "reason_code",
            "reason_text",
            "decided_at",
            "decided_by",
            "status_report",
        ]
    )
    return wanted


@transaction.atomic
def payment_status_import(
    *, actor: User, organiser: Organiser, filename: str, content: bytes, batch: PaymentBatch | None = None
) -> StatusImport:
    """Import the bank's status report (pain.002) on a released batch: each payment it decides is accepted (paid)
    or rejected (its claims approved and unpaid again, with the reason). The report finds its batch by our message
    id; ``batch`` (the page it was sent from) must then be that one. The same file again changes nothing. A file
    that cannot be read, is for a batch not of this organiser's, or contradicts what is known is refused whole."""
    authorize(actor, Action.PAYMENT_CONFIRM, OfOrganiser(organiser.pk))
    try:
        report = status_reports.parse(content)
    except status_reports.StatusReportError as exc:
        raise _file_error(str(exc)) from exc
    target = _target_batch(report, organiser, batch)
    authorize(actor, Action.PAYMENT_CONFIRM, target)
    digest = hashlib.sha256(content).hexdigest()
    existing = PaymentStatusReport.objects.filter(batch=target, sha256=digest).first()
    if existing is not None:
        return StatusImport(report=existing, created=False)
    lines = {line.end_to_end_id: line for line in target.lines.select_for_update().order_by("end_to_end_id")}
    decisions = _decisions(report, target, lines)

    now = clock.now()
    stored = PaymentStatusReport.objects.create(
        batch=target,
        message_name=report.message_name,
        message_id=report.message_id[:35],
        created_in_file=report.created_at,
        group_status=(report.group.code if report.group else "")[:4],
        filename=(filename or "")[:200],
        sha256=digest,
        content=content,
        imported_by=actor,
        imported_at=now,
    )
    outcomes = {e: _apply(lines[e], status, actor=actor, at=now, report=stored) for e, status in decisions.items()}
    accepted = [e for e, outcome in outcomes.items() if outcome == PaymentOutcome.ACCEPTED]
    rejected = [e for e, outcome in outcomes.items() if outcome == PaymentOutcome.REJECTED]
    stored.accepted, stored.rejected = len(accepted), len(rejected)
    stored.unchanged = len(lines) - len(accepted) - len(rejected)
    stored.save(update_fields=["accepted", "rejected", "unchanged"])
    before_state = target.state
    _settle_batch(target, now)
    audit_record(
        action="payment_batch.status_report",
        actor=actor,
        target=target,
        organiser_id=target.organiser_id,
        before={"state": before_state},
        after={
            "state": target.state,
            "report": str(stored.pk),
            "message_id": stored.message_id,
            "sha256": digest,
            "group_status": stored.group_status,
            "accepted": accepted,
            "rejected": {e: lines[e].reason_code or lines[e].status_code for e in rejected},
        },
    )
    return StatusImport(report=stored, created=True)
