"""Writes of claims. Each is one transaction with its audit row; money moves only through the ledger.

The life of a claim:
    submitted ─checks─▶ rejected (reasons)                       nothing held
              └─ok──▶ hold on the client's purse ─▶ waiting ─approve / window passes─▶ approved ─batch paid─▶ paid
                                                   │         └─dispute─▶ disputed ─worker─▶ approved | rejected
                                                   └─(endorsed provider under the threshold)─▶ approved
Approving posts the hold; rejecting a held claim voids it; paying moves the amount from payables to paid once the
bank accepts the payment (``payments.py``: payment batches).
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.actors import DAILY_JOB, Actor
from kukkaro.core.audit import audit_record
from kukkaro.core.money import round_cents
from kukkaro.core.permissions import Action, authorize
from kukkaro.core.roles import Role
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Transfer
from kukkaro.people.models import Client, SupporterGrant, User
from kukkaro.services.agreements import release_standing_hold
from kukkaro.services.catalogue import cap_on
from kukkaro.services.models import (
    Claim,
    ClaimSource,
    ClaimStatus,
    PriceCap,
    Provider,
    ProviderState,
    RejectReason,
    ServiceAgreement,
    ServiceType,
)
from kukkaro.services.policies import policy_for
from kukkaro.services.providers import provider_of, provider_state_on

#: How long a claim's hold stays open at most (a disputed claim still unresolved then must be submitted again).
CLAIM_HOLD_DAYS = 120


# --- claims --------------------------------------------------------------------------------------------------


#: Why the ledger refused a claim's hold (``LedgerError.reason``), as the claim's reason; ``not_valid_now`` is told
#: apart in ``reject_reason_for``. A refusal not listed here is still a rejection, never mistaken for another.
LEDGER_REFUSALS = {
    "insufficient_funds": RejectReason.INSUFFICIENT_FUNDS,
    "purse_closed": RejectReason.BUDGET_CLOSED,
    "no_purse": RejectReason.NO_BUDGET,
    "hold_not_open": RejectReason.RESERVATION_GONE,
}


def reject_reason_for(error: ledger.LedgerError, *, purse: Any) -> RejectReason:
    """The one mapping of a ledger refusal to a claim's reject reason, so each keeps its own words for staff,
    the provider's pages and the provider API."""
    if error.reason == "not_valid_now":
        ended = purse is not None and purse.valid_until is not None and purse.valid_until < clock.today()
        return RejectReason.BUDGET_ENDED if ended else RejectReason.BUDGET_NOT_BEGUN
    return LEDGER_REFUSALS.get(error.reason, RejectReason.LEDGER_REFUSED)


def _claim_checks(
    *,
    provider: Provider,
    agreement: ServiceAgreement | None,
    service_type: ServiceType | None,
    day: dt.date,
    unit_price_cents: int,
) -> tuple[list[RejectReason], PriceCap | None]:
    """Every reason the claim cannot be paid (not only the first), and the cap that applies."""
    reasons: list[RejectReason] = []
    if day > clock.today():
        reasons.append(RejectReason.FUTURE_DATE)
    if provider_state_on(provider=provider, day=day) != ProviderState.APPROVED:
        reasons.append(RejectReason.PROVIDER_NOT_APPROVED)
    cap = None
    if agreement is None:
        reasons.append(RejectReason.NO_AGREEMENT)
    else:
        # Ending an agreement shortens its validity to the last day of service, so the dates say it all.
        if not (agreement.valid_from <= day <= agreement.valid_until):
            reasons.append(RejectReason.AGREEMENT_NOT_ACTIVE)
        if service_type is None or service_type.pk != agreement.service_type_id:
            reasons.append(RejectReason.WRONG_SERVICE)
        if unit_price_cents > agreement.agreed_price_cents:
            reasons.append(RejectReason.PRICE_ABOVE_AGREEMENT)
        cap = cap_on(organiser_id=provider.organiser_id, service_type=agreement.service_type, day=day)
        if cap is None:
            reasons.append(RejectReason.NO_CAP)
    return reasons, cap


def claim_amounts(*, quantity_hundredths: int, unit_price_cents: int, cap_cents: int) -> tuple[int, int]:
    """(paid from the budget, the client's own share) for a claim, each rounded once to cents."""
    quantity = Decimal(quantity_hundredths) / 100
    total = round_cents(quantity * Decimal(unit_price_cents) / 100)
    budget = round_cents(quantity * Decimal(min(unit_price_cents, cap_cents)) / 100)
    return budget, total - budget


#: Far above any real claim, and small enough that quantity × price always fits the databases' 64-bit integers.
MAX_CLAIM_QUANTITY_HUNDREDTHS = 100_000_000  # a million units
MAX_CLAIM_UNIT_PRICE_CENTS = 100_000_000  # a million euros


def _check_claim_input(invoice_number: str, quantity_hundredths: int, unit_price_cents: int) -> None:
    errors = {}
    if not invoice_number:
        errors["invoice_number"] = _("Give the invoice number.")
    if quantity_hundredths <= 0:
        errors["quantity"] = _("Give a quantity above zero.")
    elif quantity_hundredths > MAX_CLAIM_QUANTITY_HUNDREDTHS:
        errors["quantity"] = _("The quantity is larger than any one claim can be.")
    if unit_price_cents <= 0:
        errors["unit_price"] = _("Give a unit price above zero.")
    elif unit_price_cents > MAX_CLAIM_UNIT_PRICE_CENTS:
        errors["unit_price"] = _("The unit price is larger than any one claim can be.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def claim_submit(
    *,
    actor: User,
    provider: Provider,
    agreement_number: str,
    service_code: str,
    service_date: dt.date,
    quantity_hundredths: int,
    unit_price_cents: int,
    invoice_number: str,
    source: str = ClaimSource.FORM,
    upload: Any = None,
    row_number: int | None = None,
) -> tuple[Claim, bool]:
    """Check a provider's claim and, if it passes, hold its amount on the client's purse. Returns (claim,
    created): a claim whose invoice number this provider has already claimed is not claimed again — the original
    comes back with ``created`` False, so a repeated upload or API call pays nothing twice."""
    if provider_of(actor).pk != provider.pk:
        raise PermissionDenied("another provider")
    invoice_number = (invoice_number or "").strip()
    _check_claim_input(invoice_number, quantity_hundredths, unit_price_cents)
    Provider.objects.select_for_update().get(pk=provider.pk)  # one claim of a provider at a time: no twin invoices
    existing = (
        Claim.objects.filter(provider=provider, invoice_number=invoice_number).exclude(status=ClaimStatus.REJECTED)
    ).first()
    if existing is not None:
        return existing, False
    agreement = (
        ServiceAgreement.objects.select_related("purse", "service_type", "client")
        .filter(provider=provider, number=(agreement_number or "").strip())
        .first()
    )
    service_type = ServiceType.objects.filter(
        organiser_id=provider.organiser_id, code=(service_code or "").strip()
    ).first()
    reasons, cap = _claim_checks(
        provider=provider,
        agreement=agreement,
        service_type=service_type,
        day=service_date,
        unit_price_cents=unit_price_cents,
    )
    budget, own_share = (0, 0)
    if cap is not None:
        budget, own_share = claim_amounts(
            quantity_hundredths=quantity_hundredths, unit_price_cents=unit_price_cents, cap_cents=cap.cap_cents
        )
    claim = Claim(
        organiser_id=provider.organiser_id,
        provider=provider,
        agreement=agreement,
        client=agreement.client if agreement else None,
        service_type=service_type,
        service_date=service_date,
        quantity_hundredths=quantity_hundredths,
        unit_price_cents=unit_price_cents,
        amount_cents=budget,
        own_share_cents=own_share,
        invoice_number=invoice_number,
        source=source,
        upload=upload,
        row_number=row_number,
        status=ClaimStatus.REJECTED,
        submitted_by=actor,
        created_at=clock.now(),
    )
    if not reasons and agreement is not None:
        if agreement.standing_hold:
            release_standing_hold(agreement=agreement, day=service_date, amount=budget)
        try:
            hold = ledger.hold_create(
                transfer_id=ledger.derived_id("claim-hold", claim.pk),
                purse=agreement.purse,
                amount=budget,
                expires_at=clock.now() + dt.timedelta(days=CLAIM_HOLD_DAYS),
                ref_type="claim",
                ref_id=str(claim.pk),
                memo=f"{provider.name} {invoice_number}",
            )
        except ledger.LedgerError as error:
            reasons.append(reject_reason_for(error, purse=agreement.purse))
        else:
            claim.hold_id = hold.pk
    claim.reasons = [str(r) for r in reasons]
    policy = policy_for(provider.organiser)
    needs_client = agreement is not None and (not agreement.endorsed or budget > policy.approval_threshold_cents)
    if not reasons:
        claim.status = ClaimStatus.WAITING if needs_client else ClaimStatus.APPROVED
        if needs_client:
            claim.dispute_deadline = clock.today() + dt.timedelta(days=policy.dispute_window_days)
    claim.save()
    audit_record(
        action="claim.submit",
        actor=actor,
        target=claim,
        organiser_id=claim.organiser_id,
        data_subject_id=claim.client_id,
        after={
            "invoice_number": invoice_number,
            "agreement": agreement.number if agreement else agreement_number,
            "amount_cents": budget,
            "own_share_cents": own_share,
            "status": claim.status,
            "reasons": claim.reasons,
            "source": source,
        },
    )
    if claim.status == ClaimStatus.APPROVED:
        _post(claim=claim, actor=actor, how="endorsed")
    return claim, True


def _post(*, claim: Claim, actor: Actor, how: str) -> None:
    assert claim.hold_id is not None  # a live claim is held (services_live_claim_is_held)
    hold = Transfer.objects.get(pk=claim.hold_id)
    ledger.hold_post(transfer_id=ledger.derived_id("claim-post", claim.pk), hold=hold, actor=actor)
    Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.APPROVED, decided_at=clock.now())
    claim.status = ClaimStatus.APPROVED


def _void(*, claim: Claim, actor: Actor) -> None:
    assert claim.hold_id is not None  # a disputed claim is held (services_live_claim_is_held)
    hold = Transfer.objects.get(pk=claim.hold_id)
    ledger.hold_void(transfer_id=ledger.derived_id("claim-void", claim.pk), hold=hold, actor=actor)


def _may_decide_for_client(actor: User, client: Client) -> bool:
    if actor.role == Role.CLIENT:
        return actor.national_id is not None and actor.national_id == client.national_id
    if actor.role == Role.SUPPORTER:
        today = clock.today()
        grants = SupporterGrant.objects.filter(
            client=client, supporter=actor, can_approve_claims=True, revoked_at__isnull=True
        )
        return any(g.active_on(today) for g in grants)
    return False


@transaction.atomic
def claim_client_decide(*, actor: User, claim: Claim, approve: bool, reason: str = "") -> Claim:
    """The client (or a supporter the client has allowed to) approves a waiting claim or disputes it."""
    claim = Claim.objects.select_for_update(of=("self",)).select_related("client").get(pk=claim.pk)
    if claim.client is None or not _may_decide_for_client(actor, claim.client):
        raise PermissionDenied("not the client's claim")
    if claim.status != ClaimStatus.WAITING:
        raise ValidationError({"status": _("This claim is no longer waiting for approval.")})
    if not approve and not reason.strip():
        raise ValidationError({"reason": _("Tell what is wrong with the claim.")})
    if approve:
        _post(claim=claim, actor=actor, how="client")
        Claim.objects.filter(pk=claim.pk).update(decided_by=actor)
    else:
        Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.DISPUTED, dispute_reason=reason.strip())
        claim.status = ClaimStatus.DISPUTED
    audit_record(
        action="claim.client_approve" if approve else "claim.dispute",
        actor=actor,
        target=claim,
        organiser_id=claim.organiser_id,
        data_subject_id=claim.client_id,
        before={"status": ClaimStatus.WAITING},
        after={"status": claim.status, "reason": reason.strip()},
    )
    claim.refresh_from_db()
    return claim


@transaction.atomic
def claim_dispute_resolve(*, actor: User, claim: Claim, approve: bool, reason: str) -> Claim:
    """A worker settles a disputed claim: pay it after all, or uphold the dispute (the hold is released)."""
    claim = Claim.objects.select_for_update().get(pk=claim.pk)
    authorize(actor, Action.CLAIM_REVIEW, claim)
    if claim.status != ClaimStatus.DISPUTED:
        raise ValidationError({"status": _("Only a disputed claim is resolved here.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason.")})
    if approve:
        _post(claim=claim, actor=actor, how="worker")
    else:
        _void(claim=claim, actor=actor)
        claim.status = ClaimStatus.REJECTED
        claim.reasons = [*claim.reasons, RejectReason.DISPUTE_UPHELD]
    Claim.objects.filter(pk=claim.pk).update(
        status=claim.status, reasons=claim.reasons, decided_by=actor, decided_at=clock.now()
    )
    audit_record(
        action="claim.resolve",
        actor=actor,
        target=claim,
        organiser_id=claim.organiser_id,
        data_subject_id=claim.client_id,
        before={"status": ClaimStatus.DISPUTED},
        after={"status": claim.status, "reason": reason.strip()},
    )
    claim.refresh_from_db()
    return claim


def claims_auto_approve(*, actor: Actor = DAILY_JOB, today: dt.date | None = None) -> int:
    """Approve waiting claims whose dispute window has passed (as NDIS does). Each claim is its own transaction;
    running it again approves nothing twice. Only the system runs it (``Action.JOB_RUN``)."""
    authorize(actor, Action.JOB_RUN)
    today = today or clock.today()
    approved = 0
    for claim_id in Claim.objects.filter(status=ClaimStatus.WAITING, dispute_deadline__lt=today).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            claim = Claim.objects.select_for_update().get(pk=claim_id)
            if claim.status != ClaimStatus.WAITING:
                continue
            _post(claim=claim, actor=actor, how="window")
            audit_record(
                action="claim.auto_approve",
                actor=actor,
                target=claim,
                organiser_id=claim.organiser_id,
                data_subject_id=claim.client_id,
                before={"status": ClaimStatus.WAITING},
                after={"status": ClaimStatus.APPROVED, "dispute_deadline": claim.dispute_deadline},
            )
            approved += 1
    return approved
