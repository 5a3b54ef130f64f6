from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CLIENT = "client", _("client")
    SUPPORTER = "supporter", _("supporter")
    SOCIAL_WORKER = "social_worker", _("social worker")
    DECISION_MAKER = "decision_maker", _("decision maker")
    PROVIDER = "provider", _("provider user")
    DISPATCH = "dispatch", _("dispatch centre")
    FINANCE = "finance", _("finance")
    ANALYST = "analyst", _("analyst")
    ADMIN = "admin", _("administrator")
    #: A job or the demo builder acting in code (``core.actors.SystemActor``); never a person's account.
    SYSTEM = "system", _("system")


#: Roles a person (a ``User`` row) may have: every role but SYSTEM.
PERSON_ROLES = frozenset(Role) - {Role.SYSTEM}
#: The choices of ``User.role``: no account can be given the system role.
PERSON_ROLE_CHOICES = [(role.value, role.label) for role in Role if role in PERSON_ROLES]


#: Roles that work for an organiser and must belong to exactly one.
ORGANISER_ROLES = frozenset(
    {Role.SOCIAL_WORKER, Role.DECISION_MAKER, Role.DISPATCH, Role.FINANCE, Role.ANALYST, Role.ADMIN}
)
#: Roles that sign in with a password (the rest use strong identification or API tokens).
PASSWORD_ROLES = frozenset(
    {Role.SOCIAL_WORKER, Role.DECISION_MAKER, Role.PROVIDER, Role.FINANCE, Role.ANALYST, Role.ADMIN}
)
#: Roles that sign in through the identification adapter (Suomi.fi-shaped).
IDENTIFIED_ROLES = frozenset({Role.CLIENT, Role.SUPPORTER})
