"""Pages for clients and supporters. Plain language; every page works with a keyboard and a screen reader."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kukkaro.core.audit import PURPOSE_SELF_SERVICE, PURPOSE_SUPPORT
from kukkaro.core.permissions import Action, authorize, requires
from kukkaro.core.roles import Role
from kukkaro.people import selectors
from kukkaro.people.presenters import access_log_table

PAGE_SIZE = 25


@requires(Action.PORTAL_VIEW)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    client = selectors.client_for_identified_user(user=request.user)
    if client is not None:
        selectors.client_log_reads(actor=request.user, clients=[client], purpose=PURPOSE_SELF_SERVICE)
    grants = []
    if request.user.role == Role.SUPPORTER:
        grants = list(selectors.supporter_grants_active(supporter=request.user))
        # Seeing who has named you is seeing their names: logged as support.
        selectors.client_log_reads(actor=request.user, clients=[g.client for g in grants], purpose=PURPOSE_SUPPORT)
    return render(
        request,
        "portal/home.html",
        {"client": client, "is_supporter": request.user.role == Role.SUPPORTER, "grants": grants},
    )


@requires(Action.PORTAL_ACCESS_LOG_VIEW)
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    client = selectors.client_for_identified_user(user=request.user)
    if client is None:
        raise Http404
    authorize(request.user, Action.PORTAL_ACCESS_LOG_VIEW, client)
    events = selectors.client_access_log(client=client, every_organiser=True)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/access_log.html", {"table": access_log_table(page), "page_obj": page})
