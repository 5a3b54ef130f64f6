"""Writes of choice and spending. Each is one transaction with its audit row; money moves only through the ledger.

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
from django.db.models import Q
from django.utils.translation import gettext as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.identifiers import IdentifierError, parse_business_id
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.money import round_cents
from kukkaro.core.permissions import Action, authorize
from kukkaro.core.roles import Role
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Transfer, Unit
from kukkaro.people.models import SupporterGrant, User
from kukkaro.services.models import (
    Accessibility,
    AgreementState,
    BankAccountChange,
    BankAccountChangeState,
    Claim,
    ClaimSource,
    ClaimStatus,
    Language,
    PriceCap,
    Provider,
    ProviderPrice,
    ProviderState,
    ProviderStateChange,
    ProviderUser,
    RejectReason,
    ServiceAgreement,
    ServiceType,
    ServiceUnit,
    SpendingPolicy,
    StandingHold,
)

#: The rulebook (sääntökirja) providers accept when they apply; a new version is accepted again on update.
RULEBOOK_VERSION = "2026.1"
#: How long a claim's hold stays open at most (a disputed claim still unresolved then must be submitted again).
CLAIM_HOLD_DAYS = 120

PROVIDER_TRANSITIONS = {
    ProviderState.APPLIED: {ProviderState.APPROVED, ProviderState.REJECTED},
    ProviderState.APPROVED: {ProviderState.SUSPENDED, ProviderState.ENDED},
    ProviderState.SUSPENDED: {ProviderState.APPROVED, ProviderState.ENDED},
    ProviderState.ENDED: set(),
    ProviderState.REJECTED: set(),
}


# --- validation helpers --------------------------------------------------------------------------------------


def validated_bank_account(iban: str, bic: str) -> tuple[str, str]:
    """(IBAN, BIC) in canonical form; the BIC must be valid and, where the IBAN's bank is known, that bank's."""
    errors = {}
    try:
        parsed_iban = IBAN(iban or "")
    except SchwiftyException:
        errors["iban"] = _("Give a valid IBAN, for example FI21 1234 5600 0007 85.")
    try:
        parsed_bic = BIC(bic or "")
    except SchwiftyException:
        errors["bic"] = _("Give a valid BIC (8 or 11 characters), for example NDEAFIHH.")
    if errors:
        raise ValidationError(errors)
    known = parsed_iban.bic
    if known is not None and str(known)[:8] != str(parsed_bic)[:8]:
        raise ValidationError(
            {"bic": _("The BIC does not match the bank of this IBAN. That bank's BIC is %(bic)s.") % {"bic": known}}
        )
    return parsed_iban.compact, str(parsed_bic)


def _validated_business_id(text: str) -> str:
    try:
        return parse_business_id(text)
    except IdentifierError as exc:
        raise ValidationError({"business_id": _("Give a valid business ID, for example 1234567-8.")}) from exc


def _check_choices(field: str, values: list[str], allowed: Any) -> list[str]:
    values = sorted(set(values or []))
    unknown = [v for v in values if v not in allowed.values]
    if unknown:
        raise ValidationError({field: _("Unknown choice: %(values)s.") % {"values": ", ".join(unknown)}})
    return values


def provider_of(user: Any) -> Provider:
    """The provider a provider user works for; PermissionDenied for anyone else."""
    if getattr(user, "role", None) != Role.PROVIDER:
        raise PermissionDenied("not a provider user")
    link = ProviderUser.objects.select_related("provider").filter(user=user).first()
    if link is None:
        raise PermissionDenied("no provider")
    return link.provider


def policy_for(organiser: Organiser) -> SpendingPolicy:
    policy, _created = SpendingPolicy.objects.get_or_create(organiser=organiser)
    return policy


# --- providers -----------------------------------------------------------------------------------------------


@transaction.atomic
def provider_apply(
    *,
    actor: User,
    organiser: Organiser,
    name: str,
    business_id: str,
    soteri_number: str,
    contact_name: str,
    email: str,
    phone: str,
    municipalities: list[Municipality],
    languages: list[str],
    accessibility: list[str],
    iban: str,
    bic: str,
    rulebook_version: str,
    address: str = "",
    description: str = "",
) -> Provider:
    """A provider applies to an organiser, accepting the current rulebook. A provider user applies for their
    own organisation (and is linked to it); staff may register a provider on paper's behalf."""
    if actor.role != Role.PROVIDER:
        authorize(actor, Action.PROVIDER_REVIEW, _Owned(organiser.pk))
    elif ProviderUser.objects.filter(user=actor).exists():
        raise ValidationError({"business_id": _("Your account already belongs to a provider.")})
    if rulebook_version != RULEBOOK_VERSION:
        raise ValidationError({"rulebook_version": _("Accept the current rulebook to apply.")})
    business_id = _validated_business_id(business_id)
    if Provider.objects.filter(organiser=organiser, business_id=business_id).exists():
        raise ValidationError({"business_id": _("A provider with this business ID is already registered.")})
    iban, bic = validated_bank_account(iban, bic)
    if not municipalities or any(m.organiser_id != organiser.pk for m in municipalities):
        raise ValidationError({"municipalities": _("Choose the organiser's municipalities the provider serves.")})
    now = clock.now()
    provider = Provider(
        organiser=organiser,
        name=name.strip(),
        business_id=business_id,
        soteri_number=soteri_number.strip(),
        contact_name=contact_name.strip(),
        email=email.strip(),
        phone=phone.strip(),
        address=address.strip(),
        description=description.strip(),
        languages=_check_choices("languages", languages, Language),
        accessibility=_check_choices("accessibility", accessibility, Accessibility),
        iban=iban,
        bic=bic,
        rulebook_version=rulebook_version,
        rulebook_accepted_at=now,
        created_at=now,
    )
    provider.full_clean(exclude=["municipalities"])
    provider.save()
    provider.municipalities.set(municipalities)
    ProviderStateChange.objects.create(provider=provider, state=ProviderState.APPLIED, effective_at=now, actor=actor)
    if actor.role == Role.PROVIDER:
        ProviderUser.objects.create(user=actor, provider=provider)
    audit_record(
        action="provider.apply",
        actor=actor,
        target=provider,
        organiser_id=organiser.pk,
        after={
            "name": provider.name,
            "business_id": business_id,
            "iban": iban,
            "bic": bic,
            "municipalities": sorted(m.code for m in municipalities),
            "rulebook_version": rulebook_version,
        },
    )
    return provider


class _Owned:
    """Something of an organiser, for permission rules that compare organisers."""

    def __init__(self, organiser_id: int) -> None:
        self.organiser_id = organiser_id


@transaction.atomic
def provider_set_state(*, actor: User, provider: Provider, state: str, reason: str = "") -> Provider:
    """Approve, reject, suspend, reinstate or end a provider. The history keeps when each state began, so a
    claim is checked against the state on its service date."""
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    authorize(actor, Action.PROVIDER_REVIEW, provider)
    before = provider.state
    if state not in PROVIDER_TRANSITIONS[ProviderState(before)]:
        raise ValidationError(
            {
                "state": _("A provider cannot go from “%(from)s” to “%(to)s”.")
                % {
                    "from": ProviderState(before).label,
                    "to": ProviderState(state).label if state in ProviderState.values else state,
                }
            }
        )
    if state in (ProviderState.REJECTED, ProviderState.SUSPENDED, ProviderState.ENDED) and not reason.strip():
        raise ValidationError({"reason": _("Give the reason.")})
    provider.state = state
    provider.save(update_fields=["state"])
    ProviderStateChange.objects.create(
        provider=provider, state=state, effective_at=clock.now(), reason=reason.strip(), actor=actor
    )
    audit_record(
        action="provider.state",
        actor=actor,
        target=provider,
        organiser_id=provider.organiser_id,
        before={"state": before},
        after={"state": state, "reason": reason.strip()},
    )
    return provider


def provider_state_on(*, provider: Provider, day: dt.date) -> str | None:
    """The provider's state at the end of ``day`` (Helsinki), or None before it applied."""
    end_of_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=clock.HELSINKI)
    change = provider.state_changes.filter(effective_at__lt=end_of_day).order_by("-effective_at", "-pk").first()
    return change.state if change else None


@transaction.atomic
def provider_update(
    *,
    actor: User,
    provider: Provider,
    contact_name: str,
    email: str,
    phone: str,
    address: str,
    description: str,
    languages: list[str],
    accessibility: list[str],
    municipalities: list[Municipality],
) -> Provider:
    """A provider keeps its own public data up to date (not its bank account: see bank_account_change_request)."""
    if provider_of(actor).pk != provider.pk:
        raise PermissionDenied("another provider")
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    if not municipalities or any(m.organiser_id != provider.organiser_id for m in municipalities):
        raise ValidationError({"municipalities": _("Choose the organiser's municipalities the provider serves.")})
    fields = ("contact_name", "email", "phone", "address", "description", "languages", "accessibility")
    before = {f: getattr(provider, f) for f in fields}
    before["municipalities"] = sorted(provider.municipalities.values_list("code", flat=True))
    provider.contact_name, provider.email, provider.phone = contact_name.strip(), email.strip(), phone.strip()
    provider.address, provider.description = address.strip(), description.strip()
    provider.languages = _check_choices("languages", languages, Language)
    provider.accessibility = _check_choices("accessibility", accessibility, Accessibility)
    provider.full_clean(exclude=["municipalities"])
    provider.save(update_fields=list(fields))
    provider.municipalities.set(municipalities)
    after = {f: getattr(provider, f) for f in fields}
    after["municipalities"] = sorted(m.code for m in municipalities)
    audit_record(
        action="provider.update",
        actor=actor,
        target=provider,
        organiser_id=provider.organiser_id,
        before=before,
        after=after,
    )
    return provider


@transaction.atomic
def bank_account_change_request(*, actor: User, provider: Provider, iban: str, bic: str) -> BankAccountChange:
    """Ask to pay to a new account. Nothing is paid there until a second person approves it."""
    if actor.role == Role.PROVIDER:
        if provider_of(actor).pk != provider.pk:
            raise PermissionDenied("another provider")
    else:
        authorize(actor, Action.BANK_ACCOUNT_APPROVE, provider)
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    iban, bic = validated_bank_account(iban, bic)
    if provider.bank_changes.filter(state=BankAccountChangeState.PENDING).exists():
        raise ValidationError({"iban": _("A change of bank account is already waiting for approval.")})
    change = BankAccountChange.objects.create(
        provider=provider, iban=iban, bic=bic, requested_by=actor, requested_at=clock.now()
    )
    audit_record(
        action="provider.bank_account.request",
        actor=actor,
        target=change,
        organiser_id=provider.organiser_id,
        before={"iban": provider.iban, "bic": provider.bic},
        after={"iban": iban, "bic": bic},
    )
    return change


@transaction.atomic
def bank_account_change_decide(
    *, actor: User, change: BankAccountChange, approve: bool, reason: str = ""
) -> BankAccountChange:
    """The second pair of eyes: approve (the new account is used from now on) or reject a requested change. A
    rejection says why (the provider is told); an approval may carry a note."""
    change = BankAccountChange.objects.select_for_update().select_related("provider").get(pk=change.pk)
    provider = change.provider
    authorize(actor, Action.BANK_ACCOUNT_APPROVE, provider)
    if change.state != BankAccountChangeState.PENDING:
        raise ValidationError({"state": _("This change has already been decided.")})
    if change.requested_by_id == actor.pk:
        raise ValidationError({"decided_by": _("The person who asked for a change cannot approve it.")})
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValidationError({"reason": _("Give the reason for rejecting the change.")})
    before = {"iban": provider.iban, "bic": provider.bic}
    change.state = BankAccountChangeState.APPROVED if approve else BankAccountChangeState.REJECTED
    change.decided_by, change.decided_at, change.reason = actor, clock.now(), reason
    change.save(update_fields=["state", "decided_by", "decided_at", "reason"])
    if approve:
        Provider.objects.filter(pk=provider.pk).update(iban=change.iban, bic=change.bic)
    audit_record(
        action="provider.bank_account.approve" if approve else "provider.bank_account.reject",
        actor=actor,
        target=change,
        organiser_id=provider.organiser_id,
        before=before,
        after={"iban": change.iban, "bic": change.bic, "state": change.state, "reason": reason},
    )
    return change


# --- catalogue and prices ------------------------------------------------------------------------------------


def _assert_no_overlap(queryset: Any, valid_from: dt.date, valid_until: dt.date | None) -> None:
    overlapping = queryset.filter(valid_from__lte=valid_until or dt.date.max).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    )
    if overlapping.exists():
        raise ValidationError({"valid_from": _("Another version is valid in that period.")})


def _close_open_version(queryset: Any, valid_from: dt.date) -> None:
    """A new version from ``valid_from`` ends an open-ended earlier version the day before."""
    queryset.filter(valid_until__isnull=True, valid_from__lt=valid_from).update(
        valid_until=valid_from - dt.timedelta(days=1)
    )


@transaction.atomic
def service_type_save(
    *,
    actor: User,
    organiser: Organiser,
    code: str,
    name_fi: str,
    name_sv: str,
    name_en: str,
    unit: str,
    category_code: str,
) -> ServiceType:
    """Add a service to the organiser's catalogue, or rename one of it (its code, unit and budget line category
    stay once claims or prices may refer to it). Only that organiser's row changes, and the audit row is that
    organiser's: each organiser owns its catalogue (ADR 0022)."""
    authorize(actor, Action.CATALOGUE_MANAGE, _Owned(organiser.pk))
    code = (code or "").strip()
    names = {"name_fi": name_fi.strip(), "name_sv": name_sv.strip(), "name_en": name_en.strip()}
    errors = {field: _("Give the name in every language.") for field, value in names.items() if not value}
    if unit not in ServiceUnit.values:
        errors["unit"] = _("Choose the unit.")
    if errors:
        raise ValidationError(errors)
    service_type = ServiceType.objects.select_for_update().filter(organiser=organiser, code=code).first()
    before = None
    if service_type is None:
        service_type = ServiceType(
            organiser=organiser, code=code, unit=unit, category_code=(category_code or "").strip()
        )
    else:
        before = {**{f: getattr(service_type, f) for f in names}, "unit": service_type.unit}
        if (unit, category_code.strip()) != (service_type.unit, service_type.category_code):
            raise ValidationError({"unit": _("The unit and the budget line of a service in use cannot change.")})
    for field, value in names.items():  # not `name` itself: modeltranslation maps it to the active language
        setattr(service_type, field, value)
    service_type.full_clean(validate_unique=before is None)
    service_type.save()
    audit_record(
        action="service_type.create" if before is None else "service_type.rename",
        actor=actor,
        target=service_type,
        organiser_id=service_type.organiser_id,
        before=before,
        after={**names, "code": code, "unit": unit, "category_code": service_type.category_code},
    )
    return service_type


@transaction.atomic
def price_cap_set(
    *,
    actor: User,
    organiser: Organiser,
    service_type: ServiceType,
    cap_cents: int,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
) -> PriceCap:
    """A new version of the county's price cap for a service type (from ``valid_from`` by date of service)."""
    authorize(actor, Action.CATALOGUE_MANAGE, _Owned(organiser.pk))
    if service_type.organiser_id != organiser.pk:
        raise PermissionDenied("another organiser's service")
    # One version change at a time. FOR NO KEY UPDATE, not FOR UPDATE: a concurrent audit row or claim that refers to
    # the organiser takes FOR KEY SHARE on it at its commit, which FOR UPDATE would block (ADR 0023).
    Organiser.objects.select_for_update(no_key=True).get(pk=organiser.pk)
    if not isinstance(cap_cents, int) or cap_cents <= 0:
        raise ValidationError({"cap_cents": _("Give a price above zero.")})
    versions = PriceCap.objects.filter(organiser=organiser, service_type=service_type)
    _close_open_version(versions, valid_from)
    _assert_no_overlap(versions, valid_from, valid_until)
    cap = PriceCap(
        organiser=organiser,
        service_type=service_type,
        cap_cents=cap_cents,
        valid_from=valid_from,
        valid_until=valid_until,
        created_by=actor,
        created_at=clock.now(),
    )
    cap.full_clean()
    cap.save()
    audit_record(
        action="price_cap.set",
        actor=actor,
        target=cap,
        organiser_id=organiser.pk,
        after={"service": service_type.code, "cap_cents": cap_cents, "from": valid_from, "until": valid_until},
    )
    return cap


@transaction.atomic
def provider_price_set(
    *,
    actor: User,
    provider: Provider,
    service_type: ServiceType,
    price_cents: int,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
) -> ProviderPrice:
    """A provider publishes a new version of its price for a service type (by date of service)."""
    if provider_of(actor).pk != provider.pk:
        raise PermissionDenied("another provider")
    if service_type.organiser_id != provider.organiser_id:
        raise PermissionDenied("another organiser's service")
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    if not isinstance(price_cents, int) or price_cents <= 0:
        raise ValidationError({"price_cents": _("Give a price above zero.")})
    if valid_from < clock.today():
        raise ValidationError({"valid_from": _("A price cannot be changed for past dates.")})
    versions = ProviderPrice.objects.filter(provider=provider, service_type=service_type)
    _close_open_version(versions, valid_from)
    _assert_no_overlap(versions, valid_from, valid_until)
    price = ProviderPrice(
        provider=provider,
        service_type=service_type,
        price_cents=price_cents,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=clock.now(),
    )
    price.full_clean()
    price.save()
    audit_record(
        action="provider_price.set",
        actor=actor,
        target=price,
        organiser_id=provider.organiser_id,
        after={"service": service_type.code, "price_cents": price_cents, "from": valid_from, "until": valid_until},
    )
    return price


def _on(queryset: Any, day: dt.date) -> Any:
    return queryset.filter(valid_from__lte=day).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day)).first()


def cap_on(*, organiser_id: int, service_type: ServiceType, day: dt.date) -> PriceCap | None:
    return _on(PriceCap.objects.filter(organiser_id=organiser_id, service_type=service_type), day)


def price_on(*, provider: Provider, service_type: ServiceType, day: dt.date) -> ProviderPrice | None:
    return _on(ProviderPrice.objects.filter(provider=provider, service_type=service_type), day)


def own_share_cents(*, price_cents: int, cap_cents: int) -> int:
    """What the client pays per unit when the price exceeds the county's cap (omavastuu)."""
    return max(0, price_cents - cap_cents)


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
    if errors:
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


def _release_standing_hold(*, agreement: ServiceAgreement, day: dt.date, amount: int) -> None:
    """Before a claim of ``day``'s month is held, give back that much of the month's reservation (the claim's own
    hold takes it at once), keeping the rest reserved."""
    standing = (
        StandingHold.objects.select_for_update()
        .filter(agreement=agreement, month=day.replace(day=1), hold_id__isnull=False)
        .first()
    )
    if standing is None:
        return
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
) -> tuple[list[str], PriceCap | None]:
    """Every reason the claim cannot be paid (not only the first), and the cap that applies."""
    reasons = []
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
            _release_standing_hold(agreement=agreement, day=service_date, amount=budget)
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


def _post(*, claim: Claim, actor: Any, how: str) -> None:
    hold = Transfer.objects.get(pk=claim.hold_id)
    ledger.hold_post(transfer_id=ledger.derived_id("claim-post", claim.pk), hold=hold, actor=actor)
    Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.APPROVED, decided_at=clock.now())
    claim.status = ClaimStatus.APPROVED


def _void(*, claim: Claim, actor: Any) -> None:
    hold = Transfer.objects.get(pk=claim.hold_id)
    ledger.hold_void(transfer_id=ledger.derived_id("claim-void", claim.pk), hold=hold, actor=actor)


def _may_decide_for_client(actor: User, claim: Claim) -> bool:
    client = claim.client
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
    if claim.client is None or not _may_decide_for_client(actor, claim):
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


def claims_auto_approve(*, today: dt.date | None = None) -> int:
    """Approve waiting claims whose dispute window has passed (as NDIS does). Each claim is its own transaction;
    running it again approves nothing twice."""
    today = today or clock.today()
    approved = 0
    for claim_id in Claim.objects.filter(status=ClaimStatus.WAITING, dispute_deadline__lt=today).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            claim = Claim.objects.select_for_update().get(pk=claim_id)
            if claim.status != ClaimStatus.WAITING:
                continue
            _post(claim=claim, actor=None, how="window")
            audit_record(
                action="claim.auto_approve",
                actor=None,
                target=claim,
                organiser_id=claim.organiser_id,
                data_subject_id=claim.client_id,
                before={"status": ClaimStatus.WAITING},
                after={"status": ClaimStatus.APPROVED, "dispute_deadline": claim.dispute_deadline},
            )
            approved += 1
    return approved


@transaction.atomic
def spending_policy_update(
    *,
    actor: User,
    organiser: Organiser,
    approval_threshold_cents: int,
    dispute_window_days: int,
    payment_day: int,
    debtor_name: str,
    debtor_iban: str,
    debtor_bic: str,
) -> SpendingPolicy:
    """The organiser's rules for claims and the account its payments leave from."""
    authorize(actor, Action.PAYMENT_MANAGE, _Owned(organiser.pk))
    policy = SpendingPolicy.objects.select_for_update().filter(organiser=organiser).first() or policy_for(organiser)
    errors = {}
    if not isinstance(approval_threshold_cents, int) or approval_threshold_cents <= 0:
        errors["approval_threshold"] = _("Give an amount above zero.")
    if not 1 <= dispute_window_days <= 60:
        errors["dispute_window_days"] = _("Give 1–60 days.")
    if not 1 <= payment_day <= 28:
        errors["payment_day"] = _("Give a day between 1 and 28.")
    if not debtor_name.strip():
        errors["debtor_name"] = _("Give the payer's name.")
    if errors:
        raise ValidationError(errors)
    try:
        iban, bic = validated_bank_account(debtor_iban, debtor_bic)
    except ValidationError as exc:
        raise ValidationError({f"debtor_{field}": messages for field, messages in exc.message_dict.items()}) from exc
    fields = [
        "approval_threshold_cents",
        "dispute_window_days",
        "payment_day",
        "debtor_name",
        "debtor_iban",
        "debtor_bic",
    ]
    before = {f: getattr(policy, f) for f in fields}
    policy.approval_threshold_cents, policy.dispute_window_days = approval_threshold_cents, dispute_window_days
    policy.payment_day, policy.debtor_name = payment_day, debtor_name.strip()[:70]
    policy.debtor_iban, policy.debtor_bic = iban, bic
    policy.save(update_fields=fields)
    audit_record(
        action="spending_policy.update",
        actor=actor,
        target=policy,
        organiser_id=organiser.pk,
        before=before,
        after={f: getattr(policy, f) for f in fields},
    )
    return policy
