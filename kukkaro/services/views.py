"""Staff pages of choice and spending: providers and their approval, bank-account changes, the catalogue and price
caps. Thin: load through selectors (scoped to the organiser; reads of client data logged), act through services,
show errors at the fields they concern. The client's choice and agreements are in ``choice_views``, the claims
queue in ``claim_views``, payment batches and the spending policy in ``payment_views``."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kukkaro.core import clock
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.permissions import Action, can, post_only, reach, requires
from kukkaro.core.shortcuts import or_404
from kukkaro.core.tables import Cell, Table
from kukkaro.people.requests import AuthenticatedRequest
from kukkaro.services import presenters, providers, selectors
from kukkaro.services.catalogue import price_cap_set, service_type_save
from kukkaro.services.forms import (
    BankChangeRejectForm,
    PriceCapForm,
    ProviderSearchForm,
    ProviderStateForm,
    ServiceTypeForm,
)
from kukkaro.services.models import (
    BankAccountChangeState,
    ProviderState,
)

PAGE_SIZE = 25


# --- providers -----------------------------------------------------------------------------------------------


@requires(Action.PROVIDER_LIST)
@require_GET
def provider_list(request: AuthenticatedRequest) -> HttpResponse:
    form = ProviderSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    providers = selectors.provider_list(actor=request.user, state=data.get("state", ""), query=data.get("q", ""))
    page = Paginator(providers, PAGE_SIZE).get_page(request.GET.get("page"))
    table = Table(
        caption=_("Service providers"),
        columns=[_("Name"), _("Business ID"), _("State"), _("Municipalities"), _("Languages")],
        empty_text=_("No providers found."),
        id="providers",
    )
    for provider in page:
        table.add(
            Cell(provider.name, href=reverse("services:provider_detail", kwargs={"provider_id": provider.pk})),
            provider.business_id,
            provider.get_state_display(),
            ", ".join(m.name for m in provider.municipalities.all()),
            presenters.languages(provider.languages),
        )
    counts = selectors.provider_state_counts(actor=request.user)
    return render(
        request,
        "services/provider_list.html",
        {
            "form": form,
            "table": table,
            "page_obj": page,
            "total": page.paginator.count,
            "waiting": counts.get(ProviderState.APPLIED, 0),
            "may_approve_banks": can(request.user, Action.BANK_ACCOUNT_APPROVE),
        },
    )


@requires(Action.PROVIDER_LIST)
@require_GET
def provider_detail(request: AuthenticatedRequest, provider_id: uuid.UUID) -> HttpResponse:
    provider = or_404(lambda: selectors.provider_get(actor=request.user, provider_id=provider_id))
    allowed = sorted(providers.PROVIDER_TRANSITIONS[ProviderState(provider.state)])
    may_review = bool(allowed) and can(request.user, Action.PROVIDER_REVIEW, provider)
    return render(
        request,
        "services/provider_detail.html",
        {
            "provider": provider,
            "facts": presenters.provider_facts(provider),
            "history": selectors.provider_history(provider=provider),
            "bank_changes": selectors.provider_bank_changes(provider=provider),
            "may_see_bank_changes": can(request.user, Action.BANK_ACCOUNT_APPROVE, provider),
            "prices": presenters.price_table(selectors.prices_of(provider=provider), caption=_("Price list")),
            "state_form": ProviderStateForm(allowed=allowed) if may_review else None,
        },
    )


@post_only
@requires(Action.PROVIDER_REVIEW)
@require_POST
def provider_state(request: AuthenticatedRequest, provider_id: uuid.UUID) -> HttpResponse:
    provider = or_404(
        lambda: selectors.provider_get(actor=request.user, provider_id=provider_id, action=Action.PROVIDER_REVIEW)
    )
    form = ProviderStateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the new state."))
    else:
        try:
            providers.provider_set_state(
                actor=request.user,
                provider=provider,
                state=form.cleaned_data["state"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(
                request,
                _("The provider is now “%(state)s”.") % {"state": ProviderState(form.cleaned_data["state"]).label},
            )
    return redirect("services:provider_detail", provider_id=provider.pk)


@requires(Action.BANK_ACCOUNT_APPROVE)
@require_GET
def bank_change_list(request: AuthenticatedRequest) -> HttpResponse:
    return render(
        request,
        "services/bank_change_list.html",
        {
            "changes": list(selectors.bank_changes_pending(actor=request.user)),
            "decided": list(selectors.bank_changes_decided(actor=request.user)),
        },
    )


def _bank_change_page(request: AuthenticatedRequest, change, reject_form=None, status: int = 200) -> HttpResponse:
    pending = change.state == BankAccountChangeState.PENDING
    return render(
        request,
        "services/bank_change_detail.html",
        {
            "change": change,
            "may_decide": pending and change.requested_by_id != request.user.pk,
            "own_request": pending and change.requested_by_id == request.user.pk,
            "reject_form": reject_form or BankChangeRejectForm(),
        },
        status=status,
    )


@requires(Action.BANK_ACCOUNT_APPROVE)
@require_GET
def bank_change_detail(request: AuthenticatedRequest, change_id: int) -> HttpResponse:
    """One change of bank account: the accounts, who asked and when, who decided, when and why."""
    change = or_404(lambda: selectors.bank_change_get(actor=request.user, change_id=change_id))
    return _bank_change_page(request, change)


@post_only
@requires(Action.BANK_ACCOUNT_APPROVE)
@require_POST
def bank_change_decide(request: AuthenticatedRequest, change_id: int) -> HttpResponse:
    change = or_404(lambda: selectors.bank_change_get(actor=request.user, change_id=change_id))
    approve = request.POST.get("approve") == "1"
    form = BankChangeRejectForm(request.POST)
    form.is_valid()
    try:
        providers.bank_account_change_decide(
            actor=request.user, change=change, approve=approve, reason=form.cleaned_data.get("reason", "")
        )
    except ValidationError as error:
        if "reason" in getattr(error, "message_dict", {}):
            add_validation_errors(form, error)
            return _bank_change_page(request, change, reject_form=form, status=200)
        for message in error.messages:
            messages.error(request, message)
        return redirect("services:bank_change_detail", change_id=change.pk)
    messages.success(
        request,
        _("The new bank account of %(name)s is in use.") % {"name": change.provider.name}
        if approve
        else _("The change of bank account of %(name)s was rejected.") % {"name": change.provider.name},
    )
    return redirect("services:bank_change_list")


# --- catalogue -----------------------------------------------------------------------------------------------


@requires(Action.CATALOGUE_VIEW)
@require_GET
def catalogue(request: AuthenticatedRequest) -> HttpResponse:
    organiser_id = selectors.catalogue_organiser_id(actor=request.user)  # a provider: its organiser's catalogue
    rows = selectors.catalogue(organiser_id=organiser_id) if organiser_id else []
    return render(
        request,
        "services/catalogue.html",
        {
            "table": presenters.catalogue_table(rows, editable=can(request.user, Action.CATALOGUE_MANAGE)),
            "may_manage": can(request.user, Action.CATALOGUE_MANAGE),
            "has_organiser": organiser_id is not None,
        },
    )


@requires(Action.CATALOGUE_MANAGE)
@require_http_methods(["GET", "POST"])
def cap_new(request: AuthenticatedRequest) -> HttpResponse:
    form = PriceCapForm(
        request.POST or None,
        initial={"valid_from": clock.today()},
        service_types=selectors.service_type_list(
            organiser_id=reach(request.user, Action.CATALOGUE_MANAGE).organiser_id
        ),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            price_cap_set(
                actor=request.user,
                organiser=request.user.staff_organiser,
                service_type=data["service_type"],
                cap_cents=data["cap"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The price cap was saved."))
            return redirect("services:catalogue")
    return render(
        request,
        "services/form.html",
        {
            "form": form,
            "title": _("New price cap"),
            "intro": _(
                "A new cap applies to services delivered from its first day. An open-ended earlier cap ends the day "
                "before."
            ),
            "back": (reverse("services:catalogue"), _("Back to the catalogue")),
        },
    )


@requires(Action.CATALOGUE_MANAGE)
@require_http_methods(["GET", "POST"])
def service_type_edit(request: AuthenticatedRequest, service_code: str = "") -> HttpResponse:
    """Add a service to the catalogue (no code in the URL) or rename one."""
    existing = (
        or_404(lambda: selectors.service_type_get(actor=request.user, code=service_code)) if service_code else None
    )
    categories = selectors.budget_categories(organiser_id=reach(request.user, Action.CATALOGUE_MANAGE).organiser_id)
    if existing is not None and existing.category_code not in dict(categories):
        categories.append((existing.category_code, existing.category_code))
    initial = {}
    if existing is not None:
        initial = {f: getattr(existing, f) for f in ("code", "name_fi", "name_sv", "name_en", "unit", "category_code")}
    form = ServiceTypeForm(request.POST or None, initial=initial, categories=categories, editing=existing is not None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            service_type_save(actor=request.user, organiser=request.user.staff_organiser, **data)
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The service was saved."))
            return redirect("services:catalogue")
    return render(
        request,
        "services/form.html",
        {
            "form": form,
            "title": _("Rename the service") if existing else _("New service"),
            "back": (reverse("services:catalogue"), _("Back to the catalogue")),
        },
    )
