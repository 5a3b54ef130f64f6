"""Staff pages of the client's choice of provider and the service agreements that follow from it."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kukkaro.core import clock
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, can, requires
from kukkaro.core.shortcuts import or_404
from kukkaro.people import selectors as people_selectors
from kukkaro.people.models import Client
from kukkaro.people.requests import AuthenticatedRequest
from kukkaro.services import agreements, presenters, selectors
from kukkaro.services.forms import (
    AgreementEndForm,
    AgreementForm,
    ChoiceOrderForm,
)

# --- the client's choice and agreements ----------------------------------------------------------------------


def _client(request: AuthenticatedRequest, client_id: uuid.UUID, action: Action) -> Client:
    return or_404(lambda: people_selectors.client_get(actor=request.user, client_id=client_id, action=action))


@requires(Action.CASE_VIEW)
@require_GET
def client_services(request: AuthenticatedRequest, client_id: uuid.UUID) -> HttpResponse:
    """The client's euro budget lines, what has been chosen for them, and where to choose more."""
    client = _client(request, client_id, Action.CASE_VIEW)
    language = (get_language() or "fi")[:2]
    lines = [
        {
            "line": line,
            "name": line.name_in(language),
            "available": format_cents(line.purse.available_now),
            "period": format_cents(line.amount_per_period),
        }
        for line in selectors.choice_lines(client=client)
    ]
    return render(
        request,
        "services/client_services.html",
        {
            "client": client,
            "lines": lines,
            "agreements": presenters.agreement_table(
                selectors.agreements_of_client(client=client), caption=_("Service agreements"), staff=True
            ),
            "may_choose": can(request.user, Action.AGREEMENT_CREATE, client),
        },
    )


@requires(Action.AGREEMENT_CREATE)
@require_http_methods(["GET", "POST"])
def choice(request: AuthenticatedRequest, line_id: int) -> HttpResponse:
    """Compare the providers the client could choose for a budget line, and record the choice as an agreement."""
    line = or_404(lambda: selectors.choice_line_get(actor=request.user, line_id=line_id))
    client = line.client
    order_form = ChoiceOrderForm(request.GET or None)
    order = order_form.cleaned_data.get("order") if order_form.is_valid() else ""
    options = selectors.choice_options(line=line, order=order or "own_share")
    start = max(clock.today(), line.valid_from)
    form = AgreementForm(request.POST or None, initial={"valid_from": start, "valid_until": line.valid_until})
    chosen = None
    if request.method == "POST":
        provider_id, _sep, service_type_id = request.POST.get("choice", "").partition("|")
        chosen = next(
            (o for o in options if str(o.provider.pk) == provider_id and str(o.service_type.pk) == service_type_id),
            None,
        )
        if chosen is None:
            messages.error(request, _("Choose one of the providers on the list."))
        elif form.is_valid():
            data = form.cleaned_data
            try:
                agreement = agreements.agreement_create(
                    actor=request.user,
                    line=line,
                    provider=chosen.provider,
                    service_type=chosen.service_type,
                    quantity_hundredths=data["quantity"],
                    valid_from=data["valid_from"],
                    valid_until=data["valid_until"],
                    endorsed=data["endorsed"],
                    standing_hold=data["standing_hold"],
                )
            except ValidationError as error:
                add_validation_errors(form, error)
            else:
                messages.success(
                    request,
                    _("Agreement %(number)s with %(provider)s was made.")
                    % {"number": agreement.number, "provider": chosen.provider.name},
                )
                return redirect("services:client_services", client_id=client.pk)
    language = (get_language() or "fi")[:2]
    return render(
        request,
        "services/choice.html",
        {
            "client": client,
            "line": line,
            "line_name": line.name_in(language),
            "available": format_cents(line.purse.available_now),
            "options": presenters.choice_rows(options, client_language=client.language),
            "order_form": order_form,
            "form": form,
            "chosen": chosen,
            "day": start,
        },
    )


@requires(Action.CASE_VIEW)
@require_GET
def agreement_detail(request: AuthenticatedRequest, agreement_id: uuid.UUID) -> HttpResponse:
    agreement = or_404(lambda: selectors.agreement_get(actor=request.user, agreement_id=agreement_id))
    claims = list(agreement.claims.select_related("service_type").order_by("-service_date")[:50])
    return render(
        request,
        "services/agreement_detail.html",
        {
            "agreement": agreement,
            "client": agreement.client,
            "facts": presenters.agreement_facts(agreement),
            "claims": presenters.claim_table(claims, caption=_("Claims under this agreement"), href="staff"),
            "may_end": agreement.state == "active" and can(request.user, Action.AGREEMENT_CREATE, agreement.client),
        },
    )


@requires(Action.AGREEMENT_CREATE)
@require_http_methods(["GET", "POST"])
def agreement_end(request: AuthenticatedRequest, agreement_id: uuid.UUID) -> HttpResponse:
    agreement = or_404(lambda: selectors.agreement_get(actor=request.user, agreement_id=agreement_id))
    form = AgreementEndForm(request.POST or None, initial={"last_day": clock.today()})
    if request.method == "POST" and form.is_valid():
        try:
            agreements.agreement_end(
                actor=request.user,
                agreement=agreement,
                last_day=form.cleaned_data["last_day"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The agreement was ended."))
            return redirect("services:agreement_detail", agreement_id=agreement.pk)
    return render(
        request,
        "services/form.html",
        {
            "form": form,
            "title": _("End agreement %(number)s") % {"number": agreement.number},
            "intro": _(
                "Services after the last day are not paid from this agreement. Reservations of later months go "
                "back to the budget; claims already made stay as they are."
            ),
            "back": (
                reverse("services:agreement_detail", kwargs={"agreement_id": agreement.pk}),
                _("Back to the agreement"),
            ),
        },
    )
