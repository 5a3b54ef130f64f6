"""What the audit codes of ``people`` mean (see ``kukkaro.core.audit_words``)."""

from django.utils.translation import gettext_lazy as _

from kukkaro.core.audit_words import AuditWords

ACTIONS = {
    "auth.login": AuditWords(_("signed in")),
    "auth.logout": AuditWords(_("signed out")),
    "auth.login_failed": AuditWords(_("tried to sign in with a wrong password")),
    "auth.locked_out": AuditWords(_("was locked out after too many failed sign-ins")),
    "user.create": AuditWords(_("created a user account")),
    "user.activate": AuditWords(_("opened a user account for use")),
    "user.deactivate": AuditWords(_("closed a user account")),
    "client.create": AuditWords(_("added a client to the register"), for_subject=_("added you to the client register")),
    "client.update": AuditWords(_("changed a client's data"), for_subject=_("changed your data")),
    "client.read": AuditWords(_("viewed a client's data"), for_subject=_("viewed your data")),
    "client.list": AuditWords(_("saw a client's name in a list"), for_subject=_("saw your name in a list")),
    "client.search": AuditWords(_("searched the client register")),
    "api_token.create": AuditWords(_("created an API key")),
    "api_token.revoke": AuditWords(_("revoked an API key")),
    "guardian.add": AuditWords(_("recorded a legal guardian"), for_subject=_("recorded your legal guardian")),
    "supporter.grant": AuditWords(_("named a supporter"), for_subject=_("named your supporter")),
    "supporter.revoke": AuditWords(_("ended a supporter's rights"), for_subject=_("ended your supporter's rights")),
}
