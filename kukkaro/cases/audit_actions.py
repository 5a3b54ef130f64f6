"""What the audit codes of ``cases`` mean (see ``kukkaro.core.audit_words``)."""

from django.utils.translation import gettext_lazy as _

from kukkaro.core.audit_words import AuditWords

ACTIONS = {
    "support_record.create": AuditWords(_("recorded supported decision-making")),
    "assessment.create": AuditWords(_("recorded a service need assessment")),
    "support_plan.create": AuditWords(_("recorded an own support plan")),
    "rate_table.create": AuditWords(_("added a rate table")),
    "calculation.indicative": AuditWords(_("made an indicative budget calculation")),
    "calculation.final": AuditWords(_("made the final budget calculation")),
    "decision.draft": AuditWords(_("drafted a decision")),
    "decision.propose": AuditWords(_("proposed a decision for approval")),
    "decision.approve": AuditWords(_("approved a decision")),
    "decision.send": AuditWords(_("sent a decision")),
    "decision.annul": AuditWords(_("annulled a decision")),
}
