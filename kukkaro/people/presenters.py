"""Turn audit events about a client into a table people can read (used by staff and by the portal)."""

from django.core.paginator import Page
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kukkaro.core import audit
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.core.tables import Table

PURPOSE_LABELS = {
    audit.PURPOSE_CASEWORK: gettext_lazy("handling your matter"),
    audit.PURPOSE_SEARCH: gettext_lazy("search in the client register"),
    audit.PURPOSE_ACCESS_LOG_REVIEW: gettext_lazy("checking who has viewed your data"),
    audit.PURPOSE_SELF_SERVICE: gettext_lazy("you used the service yourself"),
    audit.PURPOSE_SUPPORT: gettext_lazy("supporting you"),
    audit.PURPOSE_CLAIMS: gettext_lazy("checking and paying for your services"),
    audit.PURPOSE_TRIPS: gettext_lazy("checking your transport trips"),
}

ACTION_LABELS = {
    "client.read": gettext_lazy("viewed your data"),
    "client.list": gettext_lazy("saw your name in a list"),
    "client.create": gettext_lazy("added you to the client register"),
    "client.update": gettext_lazy("changed your data"),
    "claim.read": gettext_lazy("viewed a claim for your services"),
    "agreement.read": gettext_lazy("saw your name on a service agreement"),
    "trip.read": gettext_lazy("viewed your transport trips"),
}


def _role_label(role: str) -> str:
    return str(Role(role).label) if role in Role.values else ""


def access_log_table(page: Page) -> Table:
    table = Table(
        caption=_("Who has viewed or changed the data, newest first"),
        columns=[_("Time"), _("Who"), _("What"), _("Why")],
        empty_text=_("Nobody has viewed the data yet."),
        id="access-log",
    )
    event: AuditEvent
    for event in page:
        who = event.actor_label or _("the system")
        role = _role_label(event.actor_role)
        if role:
            who = f"{who} ({role}{', ' + event.organiser.name if event.organiser else ''})"
        table.add(
            date_format(localtime(event.occurred_at), "SHORT_DATETIME_FORMAT"),
            who,
            str(ACTION_LABELS.get(event.action, event.action)),
            str(PURPOSE_LABELS.get(event.purpose, event.purpose or "–")),
        )
    return table
