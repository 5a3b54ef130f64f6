"""Writes of service agreements: the client's choice of a provider for a service, its end, and the monthly
reservation (standing hold) each agreement keeps on the client's purse."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.models import Organiser
from kukkaro.core.money import round_cents
from kukkaro.core.permissions import Action, authorize
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Transfer, Unit
from kukkaro.people.models import User
from kukkaro.services.catalogue import cap_on, own_share_cents, price_on
from kukkaro.services.models import (
    AgreementState,
    ClaimStatus,
    Provider,
    ProviderState,
    ServiceAgreement,
    ServiceType,
    StandingHold,
)

# --- agreements ----------------------------------------------------------------------------------------------


def _agreement_number(organiser: Organiser) -> str:
    prefix = f"SA-{organiser.code[:2].upper()}-{clock.today().year}-"
    count = ServiceAgreement.objects.filter(number__startswith=prefix).count()
    return f"{prefix}{count + 1:05d}"


@transaction.atomic
def agreement_create(
    *,
    actor: User,
    line: Any,
    provider: Provider,
    service_type: ServiceType,
    quantity_hundredths: int,
    valid_from: dt.date,
    valid_until: dt.date,
    endorsed: bool = False,
    standing_hold: bool = False,
) -> ServiceAgreement:
    """The client's choice of provider for a budget line, at the provider's price on ``valid_from``. The budget
    pays up to the county's cap; above it the client's own share is recorded on the agreement."""
    client = line.client
    authorize(actor, Action.AGREEMENT_CREATE, client)
    errors: dict[str, str] = {}
    if not line.effective or line.purse_id is None:
        errors["line"] = _("The budget line is not in force.")
    elif line.purse_unit != Unit.EUR:
        errors["line"] = _("Services are paid from euro budgets only.")
    if service_type.organiser_id != client.organiser_id:
        raise PermissionDenied("another organiser's service")
    if service_type.category_code != line.category_code:
        errors["service_type"] = _("This service is not paid from this budget line.")
    if provider.organiser_id != client.organiser_id or provider.state != ProviderState.APPROVED:
        errors["provider"] = _("The provider is not approved.")
    elif not provider.municipalities.filter(pk=client.municipality_id).exists():
        errors["provider"] = _("The provider does not serve the client's municipality.")
    if valid_from > valid_until or valid_from < line.valid_from or valid_until > line.valid_until:
        errors["valid_until"] = _("The agreement must fit within the budget line's validity.")
    if quantity_hundredths <= 0:
        errors["quantity"] = _("Give a quantity above zero.")
    price = price_on(provider=provider, service_type=service_type, day=valid_from)
    cap = cap_on(organiser_id=client.organiser_id, service_type=service_type, day=valid_from)
    if price is None:
        errors["service_type"] = _("The provider has no price for this service on that date.")
    if cap is None:
        errors["service_type"] = _("The county has no price cap for this service on that date.")
    if errors or price is None or cap is None:  # a missing price or cap is one of the errors
        raise ValidationError(errors)
    agreement = ServiceAgreement.objects.create(
        number=_agreement_number(client.organiser),
        organiser_id=client.organiser_id,
        client=client,
        provider=provider,
        purse_id=line.purse_id,
        category_code=line.category_code,
        service_type=service_type,
        quantity_hundredths=quantity_hundredths,
        agreed_price_cents=price.price_cents,
        own_share_cents=own_share_cents(price_cents=price.price_cents, cap_cents=cap.cap_cents),
        valid_from=valid_from,
        valid_until=valid_until,
        endorsed=endorsed,
        standing_hold=standing_hold,
        created_by=actor,
        created_at=clock.now(),
    )
    audit_record(
        action="agreement.create",
        actor=actor,
        target=agreement,
        organiser_id=agreement.organiser_id,
        data_subject_id=client.pk,
        after={
            "number": agreement.number,
            "provider": provider.business_id,
            "service": service_type.code,
            "quantity_hundredths": quantity_hundredths,
            "agreed_price_cents": agreement.agreed_price_cents,
            "own_share_cents": agreement.own_share_cents,
            "from": valid_from,
            "until": valid_until,
            "endorsed": endorsed,
            "standing_hold": standing_hold,
        },
    )
    if standing_hold and valid_from <= clock.today() <= valid_until:
        agreement_reserve_month(agreement=agreement, month=clock.today().replace(day=1))
    return agreement


@transaction.atomic
def agreement_end(*, actor: User, agreement: ServiceAgreement, last_day: dt.date, reason: str) -> ServiceAgreement:
    """End an agreement (a change of provider, or the client's wish): services after ``last_day`` are not paid
    from it, and the reservations of later months go back to the budget. Claims already made stay as they are."""
    agreement = ServiceAgreement.objects.select_for_update().select_related("client").get(pk=agreement.pk)
    authorize(actor, Action.AGREEMENT_CREATE, agreement.client)
    if agreement.state != AgreementState.ACTIVE:
        raise ValidationError({"last_day": _("The agreement has already ended.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason.")})
    if last_day < agreement.valid_from - dt.timedelta(days=1) or last_day > agreement.valid_until:
        raise ValidationError({"last_day": _("The last day must fall within the agreement's validity.")})
    if (
        last_day < clock.today() - dt.timedelta(days=1)
        and agreement.claims.filter(
            service_date__gt=last_day, status__in=[ClaimStatus.WAITING, ClaimStatus.APPROVED, ClaimStatus.PAID]
        ).exists()
    ):
        raise ValidationError({"last_day": _("Services after that day have already been claimed.")})
    before = {"state": agreement.state, "valid_until": agreement.valid_until}
    for standing in StandingHold.objects.select_for_update().filter(
        agreement=agreement, month__gt=last_day, hold_id__isnull=False
    ):
        assert standing.hold_id is not None  # the filter above took only standing holds still open
        hold = Transfer.objects.get(pk=standing.hold_id)
        ledger.hold_void(transfer_id=ledger.derived_id("standing-end", hold.pk), hold=hold, actor=actor)
        standing.hold_id, standing.remaining_cents = None, 0
        standing.save(update_fields=["hold_id", "remaining_cents"])
    agreement.state, agreement.valid_until = AgreementState.ENDED, last_day
    agreement.ended_at, agreement.end_reason = clock.now(), reason.strip()
    agreement.save(update_fields=["state", "valid_until", "ended_at", "end_reason"])
    audit_record(
        action="agreement.end",
        actor=actor,
        target=agreement,
        organiser_id=agreement.organiser_id,
        data_subject_id=agreement.client_id,
        before=before,
        after={"state": agreement.state, "valid_until": last_day, "reason": agreement.end_reason},
    )
    return agreement


def agreements_reserve_month(*, month: dt.date | None = None) -> int:
    """Reserve this month's amount of every active agreement that asks for it (the daily job; reserving twice
    does nothing). Returns how many reservations were made."""
    month = (month or clock.today()).replace(day=1)
    month_end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    due = (
        ServiceAgreement.objects.filter(
            state=AgreementState.ACTIVE, standing_hold=True, valid_from__lte=month_end, valid_until__gte=month
        )
        .exclude(standing_holds__month=month)
        .select_related("purse")
    )
    made = 0
    for agreement in due:
        try:
            with transaction.atomic():
                agreement_reserve_month(agreement=agreement, month=month)
        except ledger.LedgerError:
            continue  # the purse is not valid or open now: nothing to reserve
        made += 1
    return made


def monthly_budget_cents(agreement: ServiceAgreement) -> int:
    """What the budget pays in a month at the agreed quantity: the price up to the cap."""
    budget_price = agreement.agreed_price_cents - agreement.own_share_cents
    return round_cents(Decimal(agreement.quantity_hundredths) / 100 * Decimal(budget_price) / 100)


@transaction.atomic
def agreement_reserve_month(*, agreement: ServiceAgreement, month: dt.date) -> StandingHold | None:
    """Reserve the agreement's monthly amount on the purse (a standing hold), once per month. If the purse cannot
    cover it all, what is available is reserved; claims of that month draw on the reservation first."""
    standing, created = StandingHold.objects.select_for_update().get_or_create(agreement=agreement, month=month)
    if not created:
        return standing
    amount = monthly_budget_cents(agreement)
    purse = agreement.purse
    amount = min(amount, purse.available_now)
    if amount > 0:
        hold = ledger.hold_create(
            transfer_id=ledger.derived_id("standing-hold", agreement.pk, month),
            purse=purse,
            amount=amount,
            expires_at=_month_end(month),
            ref_type="agreement",
            ref_id=str(agreement.pk),
            memo=f"{agreement.number} {month:%Y-%m}",
        )
        standing.hold_id, standing.remaining_cents = hold.pk, amount
        standing.save(update_fields=["hold_id", "remaining_cents"])
    return standing


def _month_end(month: dt.date) -> dt.datetime:
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(following + dt.timedelta(days=7), dt.time(), tzinfo=clock.HELSINKI)


def release_standing_hold(*, agreement: ServiceAgreement, day: dt.date, amount: int) -> None:
    """Before a claim of ``day``'s month is held, give back that much of the month's reservation (the claim's own
    hold takes it at once), keeping the rest reserved."""
    standing = (
        StandingHold.objects.select_for_update()
        .filter(agreement=agreement, month=day.replace(day=1), hold_id__isnull=False)
        .first()
    )
    if standing is None:
        return
    assert standing.hold_id is not None  # the filter above took only a standing hold still open
    hold = Transfer.objects.get(pk=standing.hold_id)
    if hold.resolutions.exists():  # the reservation expired (the expiry job released it): nothing left to give
        standing.hold_id, standing.remaining_cents = None, 0
        standing.save(update_fields=["hold_id", "remaining_cents"])
        return
    ledger.hold_void(transfer_id=ledger.derived_id("standing-release", hold.pk), hold=hold)
    remaining = standing.remaining_cents - amount
    standing.hold_id, standing.remaining_cents = None, max(0, remaining)
    if remaining > 0 and hold.expires_at is not None and hold.expires_at > clock.now():
        replacement = ledger.hold_create(
            transfer_id=ledger.derived_id("standing-hold", hold.pk, "rest"),
            purse=agreement.purse,
            amount=remaining,
            expires_at=hold.expires_at,
            ref_type="agreement",
            ref_id=str(agreement.pk),
            memo=hold.memo,
        )
        standing.hold_id = replacement.pk
    standing.save(update_fields=["hold_id", "remaining_cents"])
