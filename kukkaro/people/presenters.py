"""Turn audit events about a client into a table people can read (used by staff and by the portal)."""

from django.core.paginator import Page
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from kukkaro.core import audit_words
from kukkaro.core.models import AuditEvent
from kukkaro.core.tables import Table


def access_log_table(page: Page) -> Table:
    table = Table(
        caption=_("Who has viewed or changed the data, newest first"),
        columns=[_("Time"), _("Who"), _("What"), _("Why")],
        empty_text=_("Nobody has viewed the data yet."),
        id="access-log",
    )
    events: list[AuditEvent] = list(page)
    affiliations = audit_words.actor_affiliations(event.actor_id for event in events)
    for event in events:
        table.add(
            date_format(localtime(event.occurred_at), "SHORT_DATETIME_FORMAT"),
            audit_words.actor_text(event, affiliations),
            audit_words.action_text(event.action, for_subject=True),
            audit_words.purpose_text(event.purpose),
        )
    return table
