"""Finance pages of payment batches (prepare, release, cancel, confirm, status reports) and the organiser's
spending policy."""

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kukkaro.core import clock
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, can, not_html, post_only, requires
from kukkaro.core.shortcuts import or_404
from kukkaro.core.tables import Cell, Table
from kukkaro.people.requests import AuthenticatedRequest
from kukkaro.services import payments, policies, presenters, selectors
from kukkaro.services.forms import (
    STATUS_REPORT_MAX_BYTES,
    PaymentBatchForm,
    PaymentReasonForm,
    SpendingPolicyForm,
    StatusReportForm,
)
from kukkaro.services.models import (
    PaymentBatch,
    PaymentBatchState,
    PaymentOutcome,
)
from kukkaro.services.payment_files import printable

if TYPE_CHECKING:  # django-stubs is a development dependency
    from django_stubs_ext import WithAnnotations
from kukkaro.services.views import PAGE_SIZE


def _date(value: dt.date | None) -> str:
    return date_format(value, "SHORT_DATE_FORMAT") if value else "–"


# --- payments ------------------------------------------------------------------------------------------------


def _left_out_message(request: AuthenticatedRequest, batch) -> None:
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
def payment_batch_list(request: AuthenticatedRequest) -> HttpResponse:
    form = PaymentBatchForm(request.POST or None, today=clock.today())
    if request.method == "POST" and can(request.user, Action.PAYMENT_PREPARE) and form.is_valid():
        try:
            batch = payments.payment_batch_prepare(
                actor=request.user,
                organiser=request.user.staff_organiser,
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
    listed: WithAnnotations[PaymentBatch, selectors.BatchCounts]  # the page's items lose their counts to mypy
    for listed in batches:
        table.add(
            Cell(listed.number, href=reverse("services:payment_batch_detail", kwargs={"batch_id": listed.pk})),
            _date(listed.execution_date),
            Cell(listed.payments, numeric=True),
            Cell(format_cents(listed.total_cents), numeric=True),
            presenters.batch_state(
                listed, payments=listed.payments, answered=listed.answered, rejected=listed.rejected
            ),
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


def _batch_page(request: AuthenticatedRequest, batch, *, forms: dict | None = None) -> HttpResponse:
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
def payment_batch_detail(request: AuthenticatedRequest, batch_id: uuid.UUID) -> HttpResponse:
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    return _batch_page(request, batch)


@not_html
@requires(Action.PAYMENT_MANAGE)
@require_GET
def payment_batch_file(request: AuthenticatedRequest, batch_id: uuid.UUID, kind: str) -> HttpResponse:
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
def payment_batch_release(request: AuthenticatedRequest, batch_id: uuid.UUID) -> HttpResponse:
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    try:
        payments.payment_batch_release(actor=request.user, batch=batch)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The batch was released. Download the bank file and send it to the bank."))
    return redirect("services:payment_batch_detail", batch_id=batch.pk)


def _reasoned_batch_step(
    request: AuthenticatedRequest, batch_id: uuid.UUID, *, step, form_key: str, label: str, done: str
):
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
def payment_batch_cancel(request: AuthenticatedRequest, batch_id: uuid.UUID) -> HttpResponse:
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
def payment_batch_confirm(request: AuthenticatedRequest, batch_id: uuid.UUID) -> HttpResponse:
    return _reasoned_batch_step(
        request,
        batch_id,
        step=payments.payment_batch_confirm,
        form_key="confirm",
        label=_("How do you know the bank has paid?"),
        done=_("The payments were confirmed as paid."),
    )


def _import_report(request: AuthenticatedRequest, form: StatusReportForm, batch=None):
    """Import the uploaded status report; None (errors on the form) or the batch it answered."""
    if not form.is_valid():
        return None
    upload = form.cleaned_data["file"]
    try:
        result = payments.payment_status_import(
            actor=request.user,
            organiser=request.user.staff_organiser,
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
def payment_status_import(request: AuthenticatedRequest) -> HttpResponse:
    """A status report sent from the list of batches: it finds its own batch."""
    form = StatusReportForm(request.POST, request.FILES)
    batch = _import_report(request, form)
    if batch is not None:
        return redirect("services:payment_batch_detail", batch_id=batch.pk)
    for errors in form.errors.values():
        for message in errors:
            # An ErrorList yields its messages as text; the stubs type its items as what it stores.
            messages.error(request, message)  # type: ignore[arg-type]
    return redirect("services:payment_batch_list")


@post_only
@requires(Action.PAYMENT_CONFIRM)
@require_POST
def payment_batch_status_import(request: AuthenticatedRequest, batch_id: uuid.UUID) -> HttpResponse:
    batch = or_404(lambda: selectors.payment_batch_get(actor=request.user, batch_id=batch_id))
    form = StatusReportForm(request.POST, request.FILES)
    if _import_report(request, form, batch=batch) is None:
        return _batch_page(request, batch, forms={"report": form})
    return redirect("services:payment_batch_detail", batch_id=batch.pk)


@requires(Action.PAYMENT_MANAGE)
@require_http_methods(["GET", "POST"])
def spending_policy(request: AuthenticatedRequest) -> HttpResponse:
    policy = policies.policy_for(request.user.staff_organiser)
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
            policies.spending_policy_update(
                actor=request.user,
                organiser=request.user.staff_organiser,
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
