"""Staff pages of claims: the queue, one claim and the resolution of a disputed one."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kukkaro.core.permissions import Action, post_only, requires
from kukkaro.core.shortcuts import or_404
from kukkaro.people.requests import AuthenticatedRequest
from kukkaro.services import claims, presenters, selectors
from kukkaro.services.forms import (
    ClaimDecisionForm,
    ClaimQueueForm,
)
from kukkaro.services.models import (
    ClaimStatus,
)
from kukkaro.services.views import PAGE_SIZE

# --- claims --------------------------------------------------------------------------------------------------


@requires(Action.CLAIM_REVIEW)
@require_GET
def claim_queue(request: AuthenticatedRequest) -> HttpResponse:
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
                list(page), caption=str(ClaimStatus(status).label), href="staff", with_client=True
            ),
            "page_obj": page,
            "total": page.paginator.count,
        },
    )


@requires(Action.CLAIM_REVIEW)
@require_GET
def claim_detail(request: AuthenticatedRequest, claim_id: uuid.UUID) -> HttpResponse:
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
def claim_resolve(request: AuthenticatedRequest, claim_id: uuid.UUID) -> HttpResponse:
    claim = or_404(lambda: selectors.claim_get(actor=request.user, claim_id=claim_id))
    form = ClaimDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose whether the claim is paid."))
    else:
        try:
            claims.claim_dispute_resolve(
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
