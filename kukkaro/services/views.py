"""Staff pages of choice and spending: providers and their approval, bank-account changes, the catalogue and price
caps, the client's choice of provider, service agreements, the claims queue and payment batches. Thin: load through
selectors (scoped to the organiser; reads of client data logged), act through services, show errors at the fields
they concern."""

import datetime as dt
import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kukkaro.core import clock
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, can, not_html, post_only, requires
from kukkaro.core.shortcuts import or_404
from kukkaro.core.tables import Cell, Table
from kukkaro.people import selectors as people_selectors
from kukkaro.people.models import Client
from kukkaro.services import payments, presenters, selectors, services
from kukkaro.services.forms import (
    STATUS_REPORT_MAX_BYTES,
    AgreementEndForm,
    AgreementForm,
    BankChangeRejectForm,
    ChoiceOrderForm,
    ClaimDecisionForm,
    ClaimQueueForm,
    PaymentBatchForm,
    PaymentReasonForm,
    PriceCapForm,
    ProviderSearchForm,
    ProviderStateForm,
    ServiceTypeForm,
    SpendingPolicyForm,
    StatusReportForm,
)
from kukkaro.services.models import (
    BankAccountChangeState,
    ClaimStatus,
    PaymentBatchState,
    PaymentOutcome,
    ProviderState,
)
from kukkaro.services.payment_files import printable

PAGE_SIZE = 25


def _date(value: dt.date | None) -> str:
    return date_format(value, "SHORT_DATE_FORMAT") if value else "–"


# --- providers -----------------------------------------------------------------------------------------------


@requires(Action.PROVIDER_LIST)
@require_GET
def provider_list(request: HttpRequest) -> HttpResponse:
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
def provider_detail(request: HttpRequest, provider_id: uuid.UUID) -> HttpResponse:
    provider = or_404(lambda: selectors.provider_get(actor=request.user, provider_id=provider_id))
    allowed = sorted(services.PROVIDER_TRANSITIONS[ProviderState(provider.state)])
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
def provider_state(request: HttpRequest, provider_id: uuid.UUID) -> HttpResponse:
    provider = or_404(
        lambda: selectors.provider_get(actor=request.user, provider_id=provider_id, action=Action.PROVIDER_REVIEW)
    )
    form = ProviderStateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the new state."))
    else:
        try:
            services.provider_set_state(
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
def bank_change_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "services/bank_change_list.html",
        {
            "changes": list(selectors.bank_changes_pending(actor=request.user)),
            "decided": list(selectors.bank_changes_decided(actor=request.user)),
        },
    )


def _bank_change_page(request: HttpRequest, change, reject_form=None, status: int = 200) -> HttpResponse:
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
def bank_change_detail(request: HttpRequest, change_id: int) -> HttpResponse:
    """One change of bank account: the accounts, who asked and when, who decided, when and why."""
    change = or_404(lambda: selectors.bank_change_get(actor=request.user, change_id=change_id))
    return _bank_change_page(request, change)


@post_only
@requires(Action.BANK_ACCOUNT_APPROVE)
@require_POST
def bank_change_decide(request: HttpRequest, change_id: int) -> HttpResponse:
    change = or_404(lambda: selectors.bank_change_get(actor=request.user, change_id=change_id))
    approve = request.POST.get("approve") == "1"
    form = BankChangeRejectForm(request.POST)
    form.is_valid()
    try:
        services.bank_account_change_decide(
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
def catalogue(request: HttpRequest) -> HttpResponse:
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
def cap_new(request: HttpRequest) -> HttpResponse:
    form = PriceCapForm(
        request.POST or None,
        initial={"valid_from": clock.today()},
        service_types=selectors.service_type_list(organiser_id=request.user.organiser_id),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.price_cap_set(
                actor=request.user,
                organiser=request.user.organiser,
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
def service_type_edit(request: HttpRequest, service_code: str = "") -> HttpResponse:
    """Add a service to the catalogue (no code in the URL) or rename one."""
    existing = (
        or_404(lambda: selectors.service_type_get(actor=request.user, code=service_code)) if service_code else None
    )
    categories = selectors.budget_categories(organiser_id=request.user.organiser_id)
    if existing is not None and existing.category_code not in dict(categories):
        categories.append((existing.category_code, existing.category_code))
    initial = {}
    if existing is not None:
        initial = {f: getattr(existing, f) for f in ("code", "name_fi", "name_sv", "name_en", "unit", "category_code")}
    form = ServiceTypeForm(request.POST or None, initial=initial, categories=categories, editing=existing is not None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.service_type_save(actor=request.user, organiser=request.user.organiser, **data)
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


# --- the client's choice and agreements ----------------------------------------------------------------------


def _client(request: HttpRequest, client_id: uuid.UUID, action: Action) -> Client:
    return or_404(lambda: people_selectors.client_get(actor=request.user, client_id=client_id, action=action))


@requires(Action.CASE_VIEW)
@require_GET
def client_services(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
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
def choice(request: HttpRequest, line_id: int) -> HttpResponse:
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
                agreement = services.agreement_create(
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
def agreement_detail(request: HttpRequest, agreement_id: uuid.UUID) -> HttpResponse:
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
def agreement_end(request: HttpRequest, agreement_id: uuid.UUID) -> HttpResponse:
    agreement = or_404(lambda: selectors.agreement_get(actor=request.user, agreement_id=agreement_id))
    form = AgreementEndForm(request.POST or None, initial={"last_day": clock.today()})
    if request.method == "POST" and form.is_valid():
        try:
            services.agreement_end(
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


# --- claims --------------------------------------------------------------------------------------------------


@requires(Action.CLAIM_REVIEW)
@require_GET
def claim_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or ClaimStatus.DISPUTED
    if status not in selectors.CLAIM_QUEUES:
        raise Http404
    form = ClaimQueueForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    claims = selectors.claim_queue(actor=request.user, status=status, query=query)
    page = Paginator(claims, PAGE_SIZE).get_page(request.GET.get("page"))
    selectors.claims_log_reads(actor=request.user, claims=list(page))
    counts = selectors.claim_queue_counts(actor=request.user)
    tabs = [
        {
            "href": f"?status={s}",
            "label": ClaimStatus(s).label,
            "count": counts.get(str(s), 0),
            "current": s == status,
        }
        for s in selectors.CLAIM_QUEUES
    ]
    return render(
        request,
        "services/claim_queue.html",
        {
            "form": form,
            "status": status,
            "tabs": tabs,
            "table": presenters.claim_table(
                list(page), caption=ClaimStatus(status).label, href="staff", with_client=True
            ),
            "page_obj": page,
            "total": page.paginator.count,
        },
    )


@requires(Action.CLAIM_REVIEW)
@require_GET
def claim_detail(request: HttpRequest, claim_id: uuid.UUID) -> HttpResponse:
    claim = or_404(lambda: selectors.claim_get(actor=request.user, claim_id=claim_id))
    return render(
        request,
        "services/claim_detail.html",
        {
            "claim": claim,
            # Back to the claim's own queue where it has one (an approved or paid claim is in none).
            "queue_href": reverse("services:claim_queue")
            + (f"?status={claim.status}" if claim.status in selectors.CLAIM_QUEUES else ""),
            "facts": presenters.claim_facts(claim, staff=True, payments=selectors.claim_payments(claim=claim)),
            "resolve_form": ClaimDecisionForm() if claim.status == ClaimStatus.DISPUTED else None,
        },
    )


@post_only
@requires(Action.CLAIM_REVIEW)
@require_POST
def claim_resolve(request: HttpRequest, claim_id: uuid.UUID) -> HttpResponse:
    claim = or_404(lambda: selectors.claim_get(actor=request.user, claim_id=claim_id))
    form = ClaimDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose whether the claim is paid."))
    else:
        try:
            services.claim_dispute_resolve(
                actor=request.user,
                claim=claim,
                approve=form.cleaned_data["approve"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(
                request,
                _("The claim will be paid.") if form.cleaned_data["approve"] else _("The dispute was upheld."),
            )
    return redirect("services:claim_detail", claim_id=claim.pk)


# --- payments ------------------------------------------------------------------------------------------------


def _left_out_message(request: HttpRequest, batch) -> None:
    left_out = list(selectors.batch_left_out(batch=batch))
    if left_out:
        messages.warning(
            request,
            _("Not in this batch (their claims wait for the next one): %(list)s.")
            % {
                "list": "; ".join(
                    f"{printable(row.provider.name)} – {presenters.left_out_reasons(row.reasons)}" for row in left_out
                )
            },
        )


@requires(Action.PAYMENT_MANAGE)
@require_http_methods(["GET", "POST"])
def payment_batch_list(request: HttpRequest) -> HttpResponse:
    form = PaymentBatchForm(request.POST or None, today=clock.today())
    if request.method == "POST" and can(request.user, Action.PAYMENT_PREPARE) and form.is_valid():
        try:
            batch = payments.payment_batch_prepare(
                actor=request.user,
                organiser=request.user.organiser,
                approved_until=form.cleaned_data["approved_until"],
                execution_date=form.cleaned_data["execution_date"],
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Payment batch %(number)s was prepared. A second person releases it before the file can go to the "
                    "bank."
                )
                % {"number": batch.number},
            )
            _left_out_message(request, batch)
            return redirect("services:payment_batch_detail", batch_id=batch.pk)
    batches = Paginator(selectors.payment_batches(actor=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    table = Table(
        caption=_("Payment batches"),
        columns=[_("Batch"), _("Payment date"), _("Payments"), _("Total"), _("State")],
        empty_text=_("No payment batches yet."),
        numeric_columns=frozenset({2, 3}),
        id="batches",
    )
    for batch in batches:
        table.add(
            Cell(batch.number, href=reverse("services:payment_batch_detail", kwargs={"batch_id": batch.pk})),
            _date(batch.execution_date),
            Cell(batch.payments, numeric=True),
            Cell(format_cents(batch.total_cents), numeric=True),
            presenters.batch_state(batch, payments=batch.payments, answered=batch.answered, rejected=batch.rejected),
        )
    payable = selectors.payable_claims(actor=request.user)
    return render(
        request,
        "services/payment_batch_list.html",
        {
            "form": form,
            "report_form": StatusReportForm(),
            "table": table,
            "page_obj": batches,
            "payable_count": payable.count(),
            "payable_total": format_cents(sum(payable.values_list("amount_cents", flat=True))),
            "may_prepare": can(request.user, Action.PAYMENT_PREPARE),
            "may_confirm": can(request.user, Action.PAYMENT_CONFIRM),
        },
    )


def _batch_page(request: HttpRequest, batch, *, forms: dict | None = None) -> HttpResponse:
    """The batch's page in whatever state it is, with the actions the user may take now (and the forms of a
    failed one bound, so their errors show at their fields)."""
    forms = forms or {}
    lines = list(selectors.batch_lines(batch=batch))
    table = Table(
        caption=_("Payments to providers"),
        columns=[_("Provider"), _("IBAN"), _("Reference"), _("Claims"), _("Amount"), _("Outcome")],
        empty_text=_("No payments."),
        numeric_columns=frozenset({3, 4}),
        id="payments",
    )
    for line in lines:
        line.batch = batch
        table.add(
            line.name,
            line.iban,
            line.reference,
            Cell(line.claim_count, numeric=True),
            Cell(format_cents(line.amount_cents), numeric=True),
            presenters.payment_outcome(line),
        )
    rejected = sum(1 for line in lines if line.outcome == PaymentOutcome.REJECTED)
    answered = sum(1 for line in lines if line.outcome in (PaymentOutcome.ACCEPTED, PaymentOutcome.REJECTED))
    user = request.user
    prepared = batch.state == PaymentBatchState.PREPARED
    released = batch.state == PaymentBatchState.RELEASED
    return render(
        request,
        "services/payment_batch_detail.html",
        {
            "batch": batch,
            "state_text": presenters.batch_state(batch, payments=len(lines), answered=answered, rejected=rejected),
            "table": table,
            "claims": selectors.batch_claim_count(batch=batch),
            "left_out": [
                (row, printable(row.provider.name), presenters.left_out_reasons(row.reasons))
                for row in selectors.batch_left_out(batch=batch)
            ],
            "reports": list(selectors.batch_status_reports(batch=batch)),
            "rejected": rejected,
            "may_release": prepared and can(user, Action.PAYMENT_RELEASE, batch),
            "release_refusals": payments.release_refusals(actor=user, batch=batch) if prepared else [],
            "may_cancel": prepared and can(user, Action.PAYMENT_PREPARE, batch),
            "cancel_form": forms.get("cancel") or PaymentReasonForm(label=_("Why is the batch cancelled?")),
            "may_import": batch.file_available and can(user, Action.PAYMENT_CONFIRM, batch),
            "report_form": forms.get("report") or StatusReportForm(),
            "may_confirm": released and can(user, Action.PAYMENT_CONFIRM, batch) and batch.prepared_by_id != user.pk,
            "confirm_form": forms.get("confirm")
            or PaymentReasonForm(
                label=_("How do you know the bank has paid?"),
                help_text=_("For example: the bank's online service shows the payments as made on 15.3."),
            ),
        },
    )


@requires(Action.PAYMENT_MANAGE)
@require_GET
def payment_batch_detail(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    return _batch_page(request, batch)


@not_html
@requires(Action.PAYMENT_MANAGE)
@require_GET
def payment_batch_file(request: HttpRequest, batch_id: uuid.UUID, kind: str) -> HttpResponse:
    """The bank file and the accounting file, once a second person has released the batch (never before)."""
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    if not batch.file_available:
        raise Http404("the batch has not been released")
    if kind == "pain001":
        response = HttpResponse(bytes(batch.pain001), content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="{batch.number}.xml"'
    else:
        response = HttpResponse(bytes(batch.accounting_csv), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{batch.number}.csv"'
    return response


@post_only
@requires(Action.PAYMENT_RELEASE)
@require_POST
def payment_batch_release(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    try:
        payments.payment_batch_release(actor=request.user, batch=batch)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The batch was released. Download the bank file and send it to the bank."))
    return redirect("services:payment_batch_detail", batch_id=batch.pk)


def _reasoned_batch_step(request: HttpRequest, batch_id: uuid.UUID, *, step, form_key: str, label: str, done: str):
    """A step on a batch that needs a reason (cancelling, confirming by hand): the reason's form, the service, and
    the batch page again with the form's errors if the service refuses."""
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    form = PaymentReasonForm(request.POST, label=label)
    form.is_valid()
    try:
        step(actor=request.user, batch=batch, reason=form.cleaned_data.get("reason", ""))
    except ValidationError as error:
        add_validation_errors(form, error)
        return _batch_page(request, batch, forms={form_key: form})
    messages.success(request, done)
    return redirect("services:payment_batch_detail", batch_id=batch.pk)


@post_only
@requires(Action.PAYMENT_PREPARE)
@require_POST
def payment_batch_cancel(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    return _reasoned_batch_step(
        request,
        batch_id,
        step=payments.payment_batch_cancel,
        form_key="cancel",
        label=_("Why is the batch cancelled?"),
        done=_("The batch was cancelled. Its claims will be in the next batch."),
    )


@post_only
@requires(Action.PAYMENT_CONFIRM)
@require_POST
def payment_batch_confirm(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    return _reasoned_batch_step(
        request,
        batch_id,
        step=payments.payment_batch_confirm,
        form_key="confirm",
        label=_("How do you know the bank has paid?"),
        done=_("The payments were confirmed as paid."),
    )


def _import_report(request: HttpRequest, form: StatusReportForm, batch=None):
    """Import the uploaded status report; None (errors on the form) or the batch it answered."""
    if not form.is_valid():
        return None
    upload = form.cleaned_data["file"]
    try:
        result = payments.payment_status_import(
            actor=request.user,
            organiser=request.user.organiser,
            filename=upload.name,
            content=upload.read(STATUS_REPORT_MAX_BYTES + 1),
            batch=batch,
        )
    except ValidationError as error:
        add_validation_errors(form, error)
        return None
    report = result.report
    if not result.created:
        messages.info(
            request,
            _("This status report was imported already on %(when)s. Nothing changed.")
            % {"when": presenters.datetime_text(report.imported_at)},
        )
    else:
        messages.success(
            request,
            _("The status report was imported: %(accepted)s accepted, %(rejected)s rejected, %(unchanged)s unchanged.")
            % {"accepted": report.accepted, "rejected": report.rejected, "unchanged": report.unchanged},
        )
        if report.rejected:
            messages.warning(
                request,
                _("The claims of the rejected payments are approved and unpaid again; the next batch pays them."),
            )
    return report.batch


@post_only
@requires(Action.PAYMENT_CONFIRM)
@require_POST
def payment_status_import(request: HttpRequest) -> HttpResponse:
    """A status report sent from the list of batches: it finds its own batch."""
    form = StatusReportForm(request.POST, request.FILES)
    batch = _import_report(request, form)
    if batch is not None:
        return redirect("services:payment_batch_detail", batch_id=batch.pk)
    for errors in form.errors.values():
        for message in errors:
            messages.error(request, message)
    return redirect("services:payment_batch_list")


@post_only
@requires(Action.PAYMENT_CONFIRM)
@require_POST
def payment_batch_status_import(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    form = StatusReportForm(request.POST, request.FILES)
    if _import_report(request, form, batch=batch) is None:
        return _batch_page(request, batch, forms={"report": form})
    return redirect("services:payment_batch_detail", batch_id=batch.pk)


@requires(Action.PAYMENT_MANAGE)
@require_http_methods(["GET", "POST"])
def spending_policy(request: HttpRequest) -> HttpResponse:
    policy = services.policy_for(request.user.organiser)
    form = SpendingPolicyForm(
        request.POST or None,
        initial={
            "approval_threshold": format_cents(policy.approval_threshold_cents, symbol=False),
            "dispute_window_days": policy.dispute_window_days,
            "payment_day": policy.payment_day,
            "debtor_name": policy.debtor_name,
            "debtor_iban": policy.debtor_iban,
            "debtor_bic": policy.debtor_bic,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.spending_policy_update(
                actor=request.user,
                organiser=request.user.organiser,
                approval_threshold_cents=data["approval_threshold"],
                dispute_window_days=data["dispute_window_days"],
                payment_day=data["payment_day"],
                debtor_name=data["debtor_name"],
                debtor_iban=data["debtor_iban"],
                debtor_bic=data["debtor_bic"],
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The settings were saved."))
            return redirect("services:payment_batch_list")
    return render(
        request,
        "services/form.html",
        {
            "form": form,
            "title": _("Claims and payments settings"),
            "back": (reverse("services:payment_batch_list"), _("Back to payment batches")),
        },
    )
