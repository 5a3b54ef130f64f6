from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from kukkaro.core.permissions import allowed_url

# Language names are written in their own language, so everyone can find theirs.
LANGUAGE_NATIVE_NAMES = [("fi", "Suomi"), ("sv", "Svenska"), ("en", "English")]


def _nav_items(request: HttpRequest) -> list[dict[str, Any]]:
    user = request.user
    if not user.is_authenticated:
        return []
    entries = [
        ("core:dashboard", _("Front page")),
        ("people:client_list", _("Clients")),
        ("provider:home", _("Our organisation")),
        ("services:provider_list", _("Providers")),
        ("services:claim_queue", _("Claims")),
        ("provider:claims", _("Claims")),
        ("services:payment_batch_list", _("Payments")),
        ("mobility:trip_imports", _("Trip files")),
        ("mobility:review_queue", _("Trip review")),
        ("mobility:cohort_comparison", _("Transport costs")),
        ("services:catalogue", _("Catalogue")),
        ("people:user_list", _("Users")),
        ("core:audit_log", _("Audit log")),
        ("portal:home", _("My page")),
        ("portal:access_log", _("Who has viewed my data")),
    ]
    items = []
    for url_name, label in entries:
        href = allowed_url(user, url_name)
        if href:
            current = request.path == href or (
                href != "/" and request.path.startswith(href) and url_name != "core:dashboard"
            )
            items.append({"href": href, "label": label, "current": current})
    return items


def layout(request: HttpRequest) -> dict[str, Any]:
    return {"language_choices": LANGUAGE_NATIVE_NAMES, "nav_items": _nav_items(request)}
