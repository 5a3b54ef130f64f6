from django.conf import settings
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kukkaro.core import audit_words, selectors
from kukkaro.core.models import AuditEvent
from kukkaro.core.permissions import Action, allowed_url, can, post_only, public, requires
from kukkaro.core.sessions import session_absolute_remaining
from kukkaro.core.tables import Cell, Table

PAGE_SIZE = 25


@public
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Front door: signed-in people go to their own front page, others see how to sign in."""
    user = request.user
    if user.is_authenticated:
        if can(user, Action.PORTAL_VIEW):
            return redirect("portal:home")
        if can(user, Action.DASHBOARD_VIEW):
            return redirect("core:dashboard")
    return render(request, "core/home.html")


@requires(Action.DASHBOARD_VIEW)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    entries = [
        ("people:client_list", _("Clients"), _("Find a client by name or personal identity code.")),
        ("provider:home", _("Our organisation"), _("Your details, prices, agreements and claims.")),
        ("services:claim_queue", _("Claims"), _("Disputed, waiting and rejected claims of providers.")),
        ("services:provider_list", _("Providers"), _("Applications, approved providers and prices.")),
        ("services:payment_batch_list", _("Payments"), _("Pay approved claims in monthly bank files.")),
        ("services:catalogue", _("Catalogue"), _("Services and the county's price caps.")),
        ("people:user_list", _("Users"), _("See the accounts of your organisation.")),
        ("core:audit_log", _("Audit log"), _("Follow sign-ins, and changes to and views of client data.")),
    ]
    tasks = [(href, title, text) for url_name, title, text in entries if (href := allowed_url(user, url_name))]
    return render(request, "core/dashboard.html", {"tasks": tasks})


@public
@require_GET
def accessibility(request: HttpRequest) -> HttpResponse:
    return render(request, "core/accessibility.html")


@public
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _kind_label(kind: str) -> str:
    return str(AuditEvent.Kind(kind).label) if kind in AuditEvent.Kind.values else kind


@requires(Action.AUDIT_LOG_VIEW)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if kind not in AuditEvent.Kind.values:
        kind = ""
    events = selectors.audit_events_for_organiser(actor=request.user, kind=kind).select_related("organiser")
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    table = Table(
        caption=_("Audit events, newest first"),
        columns=[_("No."), _("Time"), _("Kind"), _("Action"), _("Actor"), _("Target"), _("Purpose")],
        empty_text=_("No events."),
        numeric_columns=frozenset({0}),
        id="audit-events",
    )
    shown: list[AuditEvent] = list(page)
    affiliations = audit_words.actor_affiliations(event.actor_id for event in shown)
    for event in shown:
        table.add(
            Cell(event.seq, numeric=True),
            date_format(localtime(event.occurred_at), "SHORT_DATETIME_FORMAT"),
            _kind_label(event.kind),
            audit_words.action_text(event.action),
            audit_words.actor_text(event, affiliations) if event.actor_label else _("(not signed in)"),
            audit_words.target_text(event.target_type),
            audit_words.purpose_text(event.purpose),
        )
    return render(
        request,
        "core/audit_log.html",
        {"table": table, "page_obj": page, "kind": kind, "kinds": AuditEvent.Kind.choices},
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "core/error.html", {"status": 403, "title": _("No access")}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "core/error.html", {"status": 404, "title": _("Page not found")}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "core/error.html", {"status": 500, "title": _("Something went wrong")}, status=500)


@post_only
@requires(Action.SESSION_EXTEND)
@require_POST
def session_extend(request: HttpRequest) -> HttpResponse:
    """ "Continue" in the session warning: this request itself renews the idle timeout (every request does);
    the answer says how long the session now has, for the page's timer. The absolute lifetime is not extended."""
    return JsonResponse(
        {"idle_seconds": settings.SESSION_COOKIE_AGE, "lifetime_seconds": session_absolute_remaining(request)}
    )
