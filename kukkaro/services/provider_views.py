"""Pages for provider users: apply, keep their own data and prices up to date, see their agreements, report
delivered services by form or CSV file, and follow each claim's result. A provider user sees only its own
provider; a user who has not applied yet is shown how to apply on every page (never someone else's data)."""

import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kukkaro.core import clock, exports
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.permissions import Action, not_html, requires
from kukkaro.core.shortcuts import or_404
from kukkaro.core.tables import Cell, Table
from kukkaro.people.requests import AuthenticatedRequest
from kukkaro.services import catalogue, claim_files, presenters, providers, selectors
from kukkaro.services.claims import claim_submit
from kukkaro.services.forms import (
    BankAccountForm,
    ClaimForm,
    ClaimUploadForm,
    ProviderApplicationForm,
    ProviderPriceForm,
    ProviderUpdateForm,
)
from kukkaro.services.models import AgreementState, ClaimStatus, Provider

PAGE_SIZE = 25


def _not_yet(request: AuthenticatedRequest, title: str) -> HttpResponse:
    """The page a provider user sees where their provider's data would be, before they have applied."""
    return render(request, "services/provider/not_yet.html", {"title": title})


def _provider(request: AuthenticatedRequest) -> Provider | None:
    return selectors.own_provider(actor=request.user)


@requires(Action.PROVIDER_SELF)
@require_GET
def home(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return render(request, "services/provider/home.html", {"provider": None})
    counts = {
        status: selectors.claims_of_provider(provider=provider, status=status).count()
        for status in (ClaimStatus.WAITING, ClaimStatus.DISPUTED, ClaimStatus.REJECTED)
    }
    return render(
        request,
        "services/provider/home.html",
        {
            "provider": provider,
            "facts": presenters.provider_facts(provider),
            "counts": counts,
            "active_agreements": selectors.agreements_of_provider(
                provider=provider, state=AgreementState.ACTIVE
            ).count(),
            "pending_bank": selectors.provider_bank_change_pending(provider=provider),
            "last_bank_change": selectors.provider_bank_changes(provider=provider).first(),
        },
    )


@requires(Action.PROVIDER_SELF)
@require_http_methods(["GET", "POST"])
def apply(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is not None:
        return render(request, "services/provider/applied.html", {"provider": provider})
    form = ProviderApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            providers.provider_apply(
                actor=request.user,
                organiser=data["organiser"],
                name=data["name"],
                business_id=data["business_id"],
                soteri_number=data["soteri_number"],
                contact_name=data["contact_name"],
                email=data["email"],
                phone=data["phone"],
                address=data["address"],
                description=data["description"],
                municipalities=form.chosen_municipalities(),
                languages=data["languages"],
                accessibility=data["accessibility"],
                iban=data["iban"],
                bic=data["bic"],
                rulebook_version=providers.RULEBOOK_VERSION if data["accept_rulebook"] else "",
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("Thank you. The county will handle your application."))
            return redirect("provider:home")
    return render(
        request,
        "services/provider/form.html",
        {
            "form": form,
            "title": _("Apply to become a service provider"),
            "intro": _(
                "The county approves providers for personal budgets. You accept rulebook version %(version)s; "
                "payments go to the bank account you give here."
            )
            % {"version": providers.RULEBOOK_VERSION},
        },
    )


@requires(Action.PROVIDER_SELF)
@require_http_methods(["GET", "POST"])
def edit(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return _not_yet(request, _("Your details"))
    initial = {
        "contact_name": provider.contact_name,
        "email": provider.email,
        "phone": provider.phone,
        "address": provider.address,
        "description": provider.description,
        "municipalities": list(provider.municipalities.values_list("code", flat=True)),
        "languages": provider.languages,
        "accessibility": provider.accessibility,
    }
    form = ProviderUpdateForm(request.POST or None, initial=initial, organiser_id=provider.organiser_id)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            providers.provider_update(
                actor=request.user,
                provider=provider,
                contact_name=data["contact_name"],
                email=data["email"],
                phone=data["phone"],
                address=data["address"],
                description=data["description"],
                languages=data["languages"],
                accessibility=data["accessibility"],
                municipalities=form.chosen_municipalities(),
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("Your details were saved."))
            return redirect("provider:home")
    return render(request, "services/provider/form.html", {"form": form, "title": _("Your details")})


@requires(Action.PROVIDER_SELF)
@require_http_methods(["GET", "POST"])
def bank_account(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return _not_yet(request, _("Change of bank account"))
    form = BankAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            providers.bank_account_change_request(
                actor=request.user, provider=provider, iban=form.cleaned_data["iban"], bic=form.cleaned_data["bic"]
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The change was sent. The county's finance staff will handle it."))
            return redirect("provider:home")
    return render(
        request,
        "services/provider/form.html",
        {
            "form": form,
            "title": _("Change of bank account"),
            "intro": _(
                "Payments go to the current account %(iban)s until a second person at the county has approved "
                "the change."
            )
            % {"iban": provider.iban},
        },
    )


@requires(Action.PROVIDER_SELF)
@require_http_methods(["GET", "POST"])
def prices(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return _not_yet(request, _("Prices"))
    form = ProviderPriceForm(
        request.POST or None,
        initial={"valid_from": clock.today()},
        service_types=selectors.service_type_list(organiser_id=provider.organiser_id),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            catalogue.provider_price_set(
                actor=request.user,
                provider=provider,
                service_type=data["service_type"],
                price_cents=data["price"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The price was saved."))
            return redirect("provider:prices")
    return render(
        request,
        "services/provider/prices.html",
        {
            "form": form,
            "table": presenters.price_table(selectors.prices_of(provider=provider), caption=_("Your prices")),
        },
    )


@requires(Action.PROVIDER_SELF)
@require_GET
def agreements(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return _not_yet(request, _("Service agreements"))
    page = Paginator(selectors.agreements_of_provider(provider=provider), PAGE_SIZE).get_page(request.GET.get("page"))
    selectors.agreements_log_reads(actor=request.user, agreements=list(page))
    return render(
        request,
        "services/provider/agreements.html",
        {
            "table": presenters.agreement_table(list(page), caption=_("Your service agreements"), staff=False),
            "page_obj": page,
        },
    )


@requires(Action.PROVIDER_SELF)
@require_GET
def claims(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return _not_yet(request, _("Claims"))
    status = request.GET.get("status", "")
    if status and status not in ClaimStatus.values:
        raise Http404
    page = Paginator(selectors.claims_of_provider(provider=provider, status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    tabs = [{"href": "?", "label": _("all"), "current": not status}] + [
        {"href": f"?status={s}", "label": label, "current": s == status} for s, label in ClaimStatus.choices
    ]
    return render(
        request,
        "services/provider/claims.html",
        {
            "tabs": tabs,
            "table": presenters.claim_table(list(page), caption=_("Your claims"), href="provider"),
            "page_obj": page,
            "total": page.paginator.count,
        },
    )


@requires(Action.CLAIM_SUBMIT)
@require_http_methods(["GET", "POST"])
def claim_new(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return _not_yet(request, _("Report a delivered service"))
    active = list(selectors.agreements_of_provider(provider=provider, state=AgreementState.ACTIVE))
    form = ClaimForm(request.POST or None, agreements=active, initial={"service_date": clock.today()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        agreement = next(a for a in active if a.number == data["agreement"])
        try:
            claim, created = claim_submit(
                actor=request.user,
                provider=provider,
                agreement_number=agreement.number,
                service_code=agreement.service_type.code,
                service_date=data["service_date"],
                quantity_hundredths=data["quantity"],
                unit_price_cents=data["unit_price"],
                invoice_number=data["invoice_number"],
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            if not created:
                messages.warning(request, _("This invoice number was claimed before; here is that claim."))
            return redirect("provider:claim_detail", claim_id=claim.pk)
    return render(
        request,
        "services/provider/form.html",
        {
            "form": form,
            "title": _("Report a delivered service"),
            "intro": _("The claim is checked at once against the agreement, the prices and the client's budget."),
        },
    )


@requires(Action.PROVIDER_SELF)
@require_GET
def claim_detail(request: AuthenticatedRequest, claim_id: uuid.UUID) -> HttpResponse:
    if _provider(request) is None:
        raise Http404
    claim = or_404(lambda: selectors.claim_get(actor=request.user, claim_id=claim_id))
    if claim.agreement is not None:
        selectors.agreements_log_reads(actor=request.user, agreements=[claim.agreement])
    return render(
        request,
        "services/provider/claim_detail.html",
        {
            "claim": claim,
            "facts": presenters.claim_facts(claim, staff=False, payments=selectors.claim_payments(claim=claim)),
        },
    )


@requires(Action.CLAIM_SUBMIT)
@require_http_methods(["GET", "POST"])
def uploads(request: AuthenticatedRequest) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        return _not_yet(request, _("Claims from a file"))
    form = ClaimUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload_file = form.cleaned_data["file"]
        try:
            upload = claim_files.claims_upload(
                actor=request.user,
                provider=provider,
                filename=upload_file.name,
                content=upload_file.read(claim_files.MAX_BYTES + 1),
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            return redirect("provider:upload_detail", upload_id=upload.pk)
    table = Table(
        caption=_("Files sent"),
        columns=[_("File"), _("Sent"), _("Rows")],
        empty_text=_("No files sent yet."),
        numeric_columns=frozenset({2}),
        id="uploads",
    )
    for upload in selectors.uploads_of_provider(provider=provider)[:50]:
        table.add(
            Cell(upload.filename, href=reverse("provider:upload_detail", kwargs={"upload_id": upload.pk})),
            presenters.datetime_text(upload.uploaded_at),
            Cell(upload.rows, numeric=True),
        )
    return render(
        request,
        "services/provider/uploads.html",
        {"form": form, "table": table, "columns": claim_files.COLUMNS},
    )


def _reason_text(reason: dict[str, str]) -> str:
    text = claim_files.row_problem_text(reason)
    field = reason.get("field", "")
    return text if field in ("", "claim", "row") else f"{field}: {text}"


def _result_rows(upload: Any) -> list[dict[str, Any]]:
    rows = []
    for result in upload.results.select_related("claim"):
        rows.append(
            {
                "row": result.row_number,
                "outcome": presenters.outcome_label(result.outcome),
                "outcome_code": result.outcome,
                "invoice": result.claim.invoice_number if result.claim else "",
                "reasons": [_reason_text(r) for r in result.reasons],
                "fields": [r.get("field", "") for r in result.reasons],
                "codes": [r.get("code", "") for r in result.reasons],
                "claim": result.claim,
            }
        )
    return rows


@requires(Action.PROVIDER_SELF)
@require_GET
def upload_detail(request: AuthenticatedRequest, upload_id: uuid.UUID) -> HttpResponse:
    provider = _provider(request)
    if provider is None:
        raise Http404
    upload = or_404(lambda: selectors.upload_get(provider=provider, upload_id=upload_id))
    counts = selectors.upload_outcome_counts(upload=upload)
    return render(
        request,
        "services/provider/upload_detail.html",
        {
            "upload": upload,
            "rows": _result_rows(upload),
            "counts": [(presenters.outcome_label(o), n) for o, n in sorted(counts.items())],
        },
    )


@not_html
@requires(Action.PROVIDER_SELF)
@require_GET
def upload_results_csv(request: AuthenticatedRequest, upload_id: uuid.UUID) -> HttpResponse:
    """The result file: one line per row of the file sent, with the outcome and the reasons."""
    provider = _provider(request)
    if provider is None:
        raise Http404
    upload = or_404(lambda: selectors.upload_get(provider=provider, upload_id=upload_id))
    content = exports.csv_bytes(
        ["row", "outcome", "invoice_number", "claim_id", "amount_eur", "fields", "reason_codes", "reasons"],
        (
            [
                row["row"],
                row["outcome_code"],
                row["invoice"],
                str(row["claim"].pk) if row["claim"] else "",
                Decimal(row["claim"].amount_cents) / 100 if row["claim"] else None,
                "|".join(row["fields"]),
                "|".join(row["codes"]),
                " | ".join(str(r) for r in row["reasons"]),
            ]
            for row in _result_rows(upload)
        ),
        delimiter=";",
        decimal_separator=",",
    )
    return exports.csv_response(content, name=f"results-{upload.pk}")
