"""Staff pages for casework. Thin: load through selectors (scoped to the organiser, reads logged), act through
services, show errors next to the fields they concern."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kukkaro.cases import funding, presenters, selectors, services
from kukkaro.cases.forms import (
    AnnulForm,
    AssessmentForm,
    CalculationForm,
    DecisionForm,
    FinaliseForm,
    SendForm,
    SupportPlanForm,
)
from kukkaro.cases.models import BudgetCalculation, CalculationStage, Decision, DecisionState
from kukkaro.core import clock
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.permissions import Action, can, not_html, post_only, requires
from kukkaro.people import selectors as people_selectors
from kukkaro.people.models import Client


def _client(request: HttpRequest, client_id: uuid.UUID, action: Action) -> Client:
    try:
        return people_selectors.client_get(actor=request.user, client_id=client_id, action=action)
    except Client.DoesNotExist as exc:
        raise Http404 from exc


def _calculation(request: HttpRequest, calculation_id: uuid.UUID, action: Action) -> BudgetCalculation:
    try:
        return selectors.calculation_get(actor=request.user, calculation_id=calculation_id, action=action)
    except BudgetCalculation.DoesNotExist as exc:
        raise Http404 from exc


def _decision(request: HttpRequest, decision_id: uuid.UUID, action: Action) -> Decision:
    try:
        return selectors.decision_get(actor=request.user, decision_id=decision_id, action=action)
    except Decision.DoesNotExist as exc:
        raise Http404 from exc


def _language() -> str:
    return (get_language() or "fi")[:2]


@requires(Action.CASE_VIEW)
@require_GET
def case_overview(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    client = _client(request, client_id, Action.CASE_VIEW)
    return render(
        request,
        "cases/case_overview.html",
        {
            "client": client,
            "assessment": selectors.latest_assessment(client=client),
            "plan": selectors.latest_support_plan(client=client),
            "calculations": selectors.calculations_of(client=client)[:10],
            "decisions": selectors.decisions_of(client=client),
            "grants": people_selectors.client_supporter_grants(client=client),
            "guardians": people_selectors.client_guardians(client=client),
            "can_edit": can(request.user, Action.CASE_EDIT, client),
        },
    )


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def assessment_new(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    client = _client(request, client_id, Action.CASE_EDIT)
    form = AssessmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.assessment_create(
                actor=request.user, client=client, areas=form.areas(), summary=form.cleaned_data["summary"]
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The assessment was saved as a new version."))
            return redirect("cases:case_overview", client_id=client.pk)
    return render(
        request,
        "cases/form.html",
        {"client": client, "form": form, "groups": form.groups(), "title": _("New service need assessment")},
    )


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def plan_new(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    client = _client(request, client_id, Action.CASE_EDIT)
    form = SupportPlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.support_plan_create(actor=request.user, client=client, **form.cleaned_data)
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The own support plan was saved as a new version."))
            return redirect("cases:case_overview", client_id=client.pk)
    return render(request, "cases/form.html", {"client": client, "form": form, "title": _("New own support plan")})


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def calculation_new(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    client = _client(request, client_id, Action.CASE_EDIT)
    try:
        table = services.rate_table_for(organiser=client.organiser, on=clock.today())
    except ValidationError:
        messages.error(request, _("There is no rate table in force. Ask an administrator to add one."))
        return redirect("cases:case_overview", client_id=client.pk)
    form = CalculationForm(
        request.POST or None, categories=list(table.categories.order_by("code")), language=_language()
    )
    if request.method == "POST" and form.is_valid():
        try:
            calculation = services.calculation_create_indicative(
                actor=request.user,
                client=client,
                lines=form.lines(),
                period_kind=form.cleaned_data["period_kind"],
                assessment=selectors.latest_assessment(client=client),
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            return redirect("cases:calculation_detail", calculation_id=calculation.pk)
    return render(
        request,
        "cases/form.html",
        {
            "client": client,
            "form": form,
            "title": _("Indicative budget"),
            "intro": _(
                "Give the granted quantity per period for each service; leave empty what is not granted. "
                "Unit costs come from %(table)s."
            )
            % {"table": table.name},
        },
    )


@requires(Action.CASE_VIEW)
@require_GET
def calculation_detail(request: HttpRequest, calculation_id: uuid.UUID) -> HttpResponse:
    calculation = _calculation(request, calculation_id, Action.CASE_VIEW)
    return render(
        request,
        "cases/calculation_detail.html",
        {
            "calculation": calculation,
            "client": calculation.client,
            "explained": selectors.explain_calculation(calculation=calculation, language=_language()),
            "is_indicative": calculation.stage == CalculationStage.INDICATIVE,
            "can_edit": can(request.user, Action.CASE_EDIT, calculation.client),
        },
    )


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def calculation_finalise(request: HttpRequest, calculation_id: uuid.UUID) -> HttpResponse:
    indicative = _calculation(request, calculation_id, Action.CASE_EDIT)
    if indicative.stage != CalculationStage.INDICATIVE:
        raise Http404
    lines = list(indicative.lines.select_related("category").order_by("category_code"))
    form = FinaliseForm(request.POST or None, lines=lines, language=_language())
    if request.method == "POST" and form.is_valid():
        try:
            final = services.calculation_finalise(actor=request.user, indicative=indicative, lines=form.lines())
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            return redirect("cases:calculation_detail", calculation_id=final.pk)
    return render(
        request,
        "cases/form.html",
        {"client": indicative.client, "form": form, "groups": form.groups(), "title": _("Final budget")},
    )


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def decision_new(request: HttpRequest, calculation_id: uuid.UUID) -> HttpResponse:
    calculation = _calculation(request, calculation_id, Action.CASE_EDIT)
    if calculation.stage != CalculationStage.FINAL:
        raise Http404
    client = calculation.client
    replaceable = list(selectors.effective_decisions_of(client=client))
    form = DecisionForm(
        request.POST or None,
        replaceable=replaceable,
        initial={"language": client.language, "valid_from": clock.today()},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            decision = services.decision_draft_create(
                actor=request.user,
                calculation=calculation,
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                reasons=data["reasons"],
                language=data["language"],
                replaces=form.replaceable.get(data["replaces"]) if data["replaces"] else None,
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            return redirect("cases:decision_detail", decision_id=decision.pk)
    return render(request, "cases/form.html", {"client": client, "form": form, "title": _("Draft decision")})


@requires(Action.CASE_VIEW)
@require_GET
def decision_detail(request: HttpRequest, decision_id: uuid.UUID) -> HttpResponse:
    decision = _decision(request, decision_id, Action.CASE_VIEW)
    user = request.user
    language = _language()
    pending = decision.state in (DecisionState.DRAFT, DecisionState.PROPOSED)
    return render(
        request,
        "cases/decision_detail.html",
        {
            "decision": decision,
            "client": decision.client,
            "lines": decision.lines.order_by("category_code"),
            "explained": selectors.explain_calculation(calculation=decision.calculation, language=language),
            # Before approval: what approval will do to each purse (the plan approval carries out); after: the
            # purses as the ledger has them.
            "plan_views": presenters.funding_plan_views(funding.decision_funding_plan(decision), language=language)
            if pending
            else [],
            "rule_text": presenters.rule_text(decision) if decision.replaces_id else "",
            "purse_views": [] if pending else presenters.decision_purse_views(decision, language=language),
            "may_propose": decision.state == DecisionState.DRAFT and can(user, Action.CASE_EDIT, decision.client),
            "may_approve": decision.state == DecisionState.PROPOSED
            and can(user, Action.DECISION_APPROVE, decision)
            and decision.preparer_id != user.pk,
            "may_send": decision.state == DecisionState.APPROVED and can(user, Action.DECISION_SEND, decision.client),
            "may_annul": decision.is_effective and can(user, Action.DECISION_APPROVE, decision),
            "send_form": SendForm(initial={"sent_on": clock.today()}),
            "annul_form": AnnulForm(),
        },
    )


def _act(request: HttpRequest, decision: Decision, work, done: str) -> HttpResponse:
    try:
        work()
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, done)
    return redirect("cases:decision_detail", decision_id=decision.pk)


@post_only
@requires(Action.CASE_EDIT)
@require_POST
def decision_propose(request: HttpRequest, decision_id: uuid.UUID) -> HttpResponse:
    decision = _decision(request, decision_id, Action.CASE_EDIT)
    return _act(
        request,
        decision,
        lambda: services.decision_propose(actor=request.user, decision=decision),
        _("The decision was sent to the decision maker for approval."),
    )


@post_only
@requires(Action.DECISION_APPROVE)
@require_POST
def decision_approve(request: HttpRequest, decision_id: uuid.UUID) -> HttpResponse:
    decision = _decision(request, decision_id, Action.DECISION_APPROVE)
    return _act(
        request,
        decision,
        lambda: services.decision_approve(actor=request.user, decision=decision),
        _("The decision was approved and the budget is now in the client's purses."),
    )


@post_only
@requires(Action.DECISION_SEND)
@require_POST
def decision_send(request: HttpRequest, decision_id: uuid.UUID) -> HttpResponse:
    decision = _decision(request, decision_id, Action.DECISION_SEND)
    form = SendForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose how and when the decision was delivered."))
        return redirect("cases:decision_detail", decision_id=decision.pk)
    return _act(
        request,
        decision,
        lambda: services.decision_send(
            actor=request.user,
            decision=decision,
            method=form.cleaned_data["method"],
            sent_on=form.cleaned_data["sent_on"],
        ),
        _("The delivery was recorded."),
    )


@post_only
@requires(Action.DECISION_APPROVE)
@require_POST
def decision_annul(request: HttpRequest, decision_id: uuid.UUID) -> HttpResponse:
    decision = _decision(request, decision_id, Action.DECISION_APPROVE)
    form = AnnulForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the decision is annulled."))
        return redirect("cases:decision_detail", decision_id=decision.pk)
    return _act(
        request,
        decision,
        lambda: services.decision_annul(actor=request.user, decision=decision, reason=form.cleaned_data["reason"]),
        _("The decision was annulled and its purses ended."),
    )


@not_html
@requires(Action.CASE_VIEW)
@require_GET
def decision_document(request: HttpRequest, decision_id: uuid.UUID) -> HttpResponse:
    """The decision as a PDF: the stored document once approved, a preview before that."""
    from kukkaro.cases import documents

    decision = _decision(request, decision_id, Action.CASE_VIEW)
    if decision.document_pdf:
        content = bytes(decision.document_pdf)
    else:
        decision.snapshot = services.decision_preview_snapshot(decision)
        content = documents.decision_document_render(decision=decision)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{decision.number}.pdf"'
    return response
