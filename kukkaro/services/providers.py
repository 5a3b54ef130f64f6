"""Writes about providers: their application, approval and state over time, their own details and the changes
of their bank account (asked by the provider, decided by finance). Each is one transaction with its audit row."""

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.identifiers import IdentifierError, parse_business_id
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.permissions import Action, OfOrganiser, authorize
from kukkaro.core.roles import Role
from kukkaro.people.models import User
from kukkaro.services.models import (
    Accessibility,
    BankAccountChange,
    BankAccountChangeState,
    Language,
    Provider,
    ProviderState,
    ProviderStateChange,
    ProviderUser,
)

#: The rulebook (sääntökirja) providers accept when they apply; a new version is accepted again on update.
RULEBOOK_VERSION = "2026.1"

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
        authorize(actor, Action.PROVIDER_REVIEW, OfOrganiser(organiser.pk))
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
    if day >= dt.date.max:  # the last day there is: its end is past every change (no day after it to start)
        change = provider.state_changes.order_by("-effective_at", "-pk").first()
        return change.state if change else None
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
