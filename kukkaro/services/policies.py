"""The organiser's spending policy: the rules for claims (approval threshold, dispute window) and the account
its payments leave from."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kukkaro.core.audit import audit_record
from kukkaro.core.models import Organiser
from kukkaro.core.permissions import Action, OfOrganiser, authorize
from kukkaro.people.models import User
from kukkaro.services.models import (
    SpendingPolicy,
)
from kukkaro.services.providers import validated_bank_account


def policy_for(organiser: Organiser) -> SpendingPolicy:
    policy, _created = SpendingPolicy.objects.get_or_create(organiser=organiser)
    return policy


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
    authorize(actor, Action.PAYMENT_MANAGE, OfOrganiser(organiser.pk))
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
