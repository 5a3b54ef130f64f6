"""What the audit codes of ``ledger`` mean (see ``kukkaro.core.audit_words``)."""

from django.utils.translation import gettext_lazy as _

from kukkaro.core.audit_words import AuditWords

ACTIONS = {
    "ledger.purse_open": AuditWords(_("opened a budget purse"), for_subject=_("opened a budget purse for you")),
    "ledger.purse_reschedule": AuditWords(_("changed the release dates of a budget purse")),
    "ledger.purse_end": AuditWords(_("ended a budget purse")),
}
