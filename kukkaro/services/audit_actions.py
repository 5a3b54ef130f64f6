"""What the audit codes of ``services`` mean, and who a provider's employee is (see
``kukkaro.core.audit_words``)."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kukkaro.core.audit_words import AuditWords

ACTIONS = {
    "provider.apply": AuditWords(gettext_lazy("applied to be a provider")),
    "provider.state": AuditWords(gettext_lazy("changed a provider's approval")),
    "provider.update": AuditWords(gettext_lazy("changed a provider's details")),
    "provider.bank_account.request": AuditWords(gettext_lazy("asked to change a provider's bank account")),
    "provider.bank_account.approve": AuditWords(gettext_lazy("approved a change of a provider's bank account")),
    "provider.bank_account.reject": AuditWords(gettext_lazy("refused a change of a provider's bank account")),
    "service_type.create": AuditWords(gettext_lazy("added a service to the catalogue")),
    "service_type.rename": AuditWords(gettext_lazy("renamed a service in the catalogue")),
    "price_cap.set": AuditWords(gettext_lazy("set a price cap")),
    "provider_price.set": AuditWords(gettext_lazy("set a provider's price")),
    "agreement.create": AuditWords(
        gettext_lazy("made a service agreement"), for_subject=gettext_lazy("made a service agreement for you")
    ),
    "agreement.end": AuditWords(gettext_lazy("ended a service agreement")),
    "agreement.read": AuditWords(
        gettext_lazy("saw a client's name on a service agreement"),
        for_subject=gettext_lazy("saw your name on a service agreement"),
    ),
    "claim.upload": AuditWords(gettext_lazy("sent a file of claims")),
    "claim.submit": AuditWords(gettext_lazy("sent a claim")),
    "claim.client_approve": AuditWords(gettext_lazy("approved a claim")),
    "claim.dispute": AuditWords(gettext_lazy("disputed a claim")),
    "claim.resolve": AuditWords(gettext_lazy("settled a disputed claim")),
    "claim.auto_approve": AuditWords(gettext_lazy("approved a claim when the time to dispute it ended")),
    "claim.read": AuditWords(
        gettext_lazy("viewed a claim for a client's services"),
        for_subject=gettext_lazy("viewed a claim for your services"),
    ),
    "spending_policy.update": AuditWords(gettext_lazy("changed the rules for approving claims")),
    "payment_batch.export": AuditWords(gettext_lazy("made a payment file")),
    "payment_batch.paid": AuditWords(gettext_lazy("marked a payment batch paid")),
    "payment_batch.prepare": AuditWords(gettext_lazy("prepared a payment batch")),
    "payment_batch.release": AuditWords(gettext_lazy("released a payment batch to be sent to the bank")),
    "payment_batch.cancel": AuditWords(gettext_lazy("cancelled a payment batch")),
    "payment_batch.confirm": AuditWords(gettext_lazy("confirmed the payments of a batch by hand")),
    "payment_batch.status_report": AuditWords(gettext_lazy("read the bank's status report of a payment batch")),
}


def AFFILIATIONS(user_ids: list[int]) -> dict[int, str]:  # noqa: N802 - the name the registry looks for
    """A provider's employee reads as their provider ("Hoiva Oy (palveluntuottaja)"), not as county staff."""
    from kukkaro.services.models import ProviderUser

    links = ProviderUser.objects.filter(user_id__in=user_ids).select_related("provider")
    return {link.user_id: _("%(provider)s (service provider)") % {"provider": link.provider.name} for link in links}
