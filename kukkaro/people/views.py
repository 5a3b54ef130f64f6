import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kukkaro.core import clock
from kukkaro.core.audit import PURPOSE_ACCESS_LOG_REVIEW, PURPOSE_SEARCH
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.permissions import Action, public, requires
from kukkaro.core.tables import Cell, Table
from kukkaro.people import identification, selectors, services
from kukkaro.people.forms import ClientSearchForm, GuardianForm, StaffLoginForm, SupporterGrantForm, TestIdentityForm
from kukkaro.people.models import Client
from kukkaro.people.presenters import access_log_table

PAGE_SIZE = 25


class StaffLoginView(LoginView):
    template_name = "people/login.html"
    authentication_form = StaffLoginForm
    redirect_authenticated_user = True


login_view = public(StaffLoginView.as_view())
logout_view = public(LogoutView.as_view())


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """What django-axes shows when an account or an address is locked (it calls this; not a URL of its own)."""
    from kukkaro.people.lockout import SCOPE_ADDRESS

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "cooloff_minutes": minutes,
        "address_locked": getattr(request, "kukkaro_lockout_scope", "") == SCOPE_ADDRESS,
    }
    return render(request, "people/locked_out.html", context, status=429)


@public
@require_GET
def identify(request: HttpRequest) -> HttpResponse:
    """Start strong identification for clients and supporters."""
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    try:
        adapter = identification.get_adapter()
    except identification.IdentificationUnavailable:
        return render(request, "people/identification_failed.html", {"unavailable": True}, status=503)
    return adapter.begin(request, next_url=next_url)


@public
@require_http_methods(["GET", "POST"])
def test_idp(request: HttpRequest) -> HttpResponse:
    """The test identity provider's own page. Exists only where the test provider is configured."""
    if not identification.test_provider_enabled():
        raise Http404
    state = request.GET.get("state", "")
    form = TestIdentityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            identification.TestIdentityProvider.answer(
                request,
                state=state,
                national_id=form.cleaned_data["national_id"],
                given_names=form.cleaned_data["given_names"],
                last_name=form.cleaned_data["last_name"],
            )
        except identification.IdentificationFailed:
            form.add_error("national_id", _("Use a valid test identity code (individual number 900–999)."))
        else:
            return redirect("people:identify_return")
    return render(request, "people/test_idp.html", {"form": form, "state": state})


@public
@require_GET
def identify_return(request: HttpRequest) -> HttpResponse:
    """Where the identity provider sends the person back."""
    next_url = identification.next_url_after(request)
    try:
        claims = identification.get_adapter().complete(request)
    except (identification.IdentificationFailed, identification.IdentificationUnavailable):
        return render(request, "people/identification_failed.html", status=403)
    user = services.user_for_identity(claims=claims)
    if user is None:
        return render(request, "people/identification_failed.html", {"no_record": True}, status=403)
    request.kukkaro_login_method = f"identification:{claims.provider}"
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    response = redirect(next_url or "portal:home")
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
        # A Swedish-speaking client gets Swedish pages without having to find the switcher first.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            user.language,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            max_age=365 * 24 * 3600,
        )
    return response


@requires(Action.CLIENT_SEARCH)
@require_GET
def client_list(request: HttpRequest) -> HttpResponse:
    form = ClientSearchForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    clients = selectors.client_search(actor=request.user, query=query)
    page = Paginator(clients, PAGE_SIZE).get_page(request.GET.get("page"))
    # Each client whose name is shown counts as a read of their data.
    selectors.client_log_reads(actor=request.user, clients=list(page), purpose=PURPOSE_SEARCH, action="client.list")
    table = Table(
        caption=_("Clients") if not query else _("Clients matching the search"),
        columns=[_("Name"), _("Date of birth"), _("Municipality"), _("Language")],
        empty_text=_("No clients found."),
        id="clients",
    )
    for client in page:
        table.add(
            Cell(f"{client.last_name}, {client.first_names}", href=client.get_absolute_url()),
            date_format(client.birth_date, "SHORT_DATE_FORMAT"),
            client.municipality.name,
            client.get_language_display(),
        )
    return render(
        request,
        "people/client_list.html",
        {"form": form, "table": table, "page_obj": page, "query": query, "total": page.paginator.count},
    )


def _client_or_404(request: HttpRequest, client_id: uuid.UUID, action: Action, purpose: str) -> Client:
    try:
        return selectors.client_get(actor=request.user, client_id=client_id, action=action, purpose=purpose)
    except Client.DoesNotExist as exc:
        raise Http404 from exc


@requires(Action.CLIENT_VIEW)
@require_GET
def client_detail(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    client = _client_or_404(request, client_id, Action.CLIENT_VIEW, "casework")
    return render(request, "people/client_detail.html", {"client": client})


@requires(Action.CLIENT_ACCESS_LOG_VIEW)
@require_GET
def client_access_log(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    client = _client_or_404(request, client_id, Action.CLIENT_ACCESS_LOG_VIEW, PURPOSE_ACCESS_LOG_REVIEW)
    page = Paginator(selectors.client_access_log(client=client), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "people/client_access_log.html",
        {"client": client, "table": access_log_table(page), "page_obj": page},
    )


@requires(Action.USER_LIST)
@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    users = selectors.users_of_organiser(actor=request.user)
    page = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    table = Table(
        caption=_("Accounts of your organisation"),
        columns=[_("Name"), _("Username"), _("Role"), _("In use"), _("Last sign-in")],
        empty_text=_("No accounts."),
        id="users",
    )
    for account in page:
        table.add(
            account.get_full_name() or account.username,
            account.username,
            account.get_role_display(),
            _("yes") if account.is_active else _("no"),
            date_format(localtime(account.last_login), "SHORT_DATETIME_FORMAT") if account.last_login else "–",
        )
    return render(request, "people/user_list.html", {"table": table, "page_obj": page})


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def supporter_new(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    """Record a supporter the client has named (supported decision-making)."""
    client = _client_or_404(request, client_id, Action.CASE_EDIT, "casework")
    form = SupporterGrantForm(
        request.POST or None, initial={"valid_from": clock.today(), "consent_given_on": clock.today()}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                supporter = services.supporter_account_for(
                    actor=request.user,
                    national_id=data["national_id"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                )
                services.supporter_grant_create(
                    actor=request.user,
                    client=client,
                    supporter=supporter,
                    consent_given_on=data["consent_given_on"],
                    consent_method=data["consent_method"],
                    valid_from=data["valid_from"],
                    valid_until=data["valid_until"],
                    can_view=data["can_view"],
                    can_help_choose=data["can_help_choose"],
                    can_approve_claims=data["can_approve_claims"],
                )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The supporter was recorded."))
            return redirect("cases:case_overview", client_id=client.pk)
    return render(request, "people/person_form.html", {"client": client, "form": form, "title": _("Name a supporter")})


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def guardian_new(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    """Record a legal guardian (edunvalvoja) appointed for the client."""
    client = _client_or_404(request, client_id, Action.CASE_EDIT, "casework")
    form = GuardianForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.guardian_add(actor=request.user, client=client, **form.cleaned_data)
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The guardian was recorded."))
            return redirect("cases:case_overview", client_id=client.pk)
    return render(request, "people/person_form.html", {"client": client, "form": form, "title": _("Record a guardian")})
