from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from kukkaro.core.permissions import Action, can

# Language names are written in their own language, so everyone can find theirs.
LANGUAGE_NATIVE_NAMES = [("fi", "Suomi"), ("sv", "Svenska"), ("en", "English")]


def _nav_items(request: HttpRequest) -> list[dict[str, Any]]:
    user = request.user
    if not user.is_authenticated:
        return []
    entries = [
        (Action.DASHBOARD_VIEW, "core:dashboard", _("Front page")),
        (Action.CLIENT_SEARCH, "people:client_list", _("Clients")),
        (Action.PROVIDER_SELF, "provider:home", _("Our organisation")),
        (Action.PROVIDER_LIST, "services:provider_list", _("Providers")),
        (Action.CLAIM_REVIEW, "services:claim_queue", _("Claims")),
        (Action.PROVIDER_SELF, "provider:claims", _("Claims")),
        (Action.PAYMENT_MANAGE, "services:payment_batch_list", _("Payments")),
        (Action.TRIP_IMPORT, "mobility:trip_imports", _("Trip files")),
        (Action.TRIP_REVIEW, "mobility:review_queue", _("Trip review")),
        (Action.TRANSPORT_COMPARE, "mobility:cohort_comparison", _("Transport costs")),
        (Action.CATALOGUE_VIEW, "services:catalogue", _("Catalogue")),
        (Action.USER_LIST, "people:user_list", _("Users")),
        (Action.AUDIT_LOG_VIEW, "core:audit_log", _("Audit log")),
        (Action.PORTAL_VIEW, "portal:home", _("My page")),
        (Action.PORTAL_ACCESS_LOG_VIEW, "portal:access_log", _("Who has viewed my data")),
    ]
    items = []
    for action, url_name, label in entries:
        if can(user, action):
            href = reverse(url_name)
            current = request.path == href or (
                href != "/" and request.path.startswith(href) and url_name != "core:dashboard"
            )
            items.append({"href": href, "label": label, "current": current})
    return items


def layout(request: HttpRequest) -> dict[str, Any]:
    return {"language_choices": LANGUAGE_NATIVE_NAMES, "nav_items": _nav_items(request)}
