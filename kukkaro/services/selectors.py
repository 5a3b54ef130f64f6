"""Reads of choice and spending. Every selector takes the actor and scopes to what that actor may see: staff their
own organiser's providers, claims and batches; a provider user only its own provider. Reads that show a client's
data to staff are written to the audit trail with their purpose (``people.selectors.client_log_reads``)."""

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, Q, QuerySet
from django.utils.translation import get_language

if TYPE_CHECKING:  # django-stubs is a development dependency
    from django_stubs_ext import WithAnnotations

from kukkaro.core import clock
from kukkaro.core.audit import PURPOSE_CASEWORK, PURPOSE_CLAIMS
from kukkaro.core.permissions import Action, authorize, visible
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Unit
from kukkaro.people.models import Client, User
from kukkaro.people.selectors import client_log_reads
from kukkaro.services.catalogue import own_share_cents
from kukkaro.services.models import (
    BankAccountChange,
    BankAccountChangeState,
    Claim,
    ClaimStatus,
    ClaimUpload,
    PaymentBatch,
    PaymentBatchLine,
    PaymentLeftOut,
    PaymentLineClaim,
    PaymentOutcome,
    PaymentStatusReport,
    PriceCap,
    Provider,
    ProviderPrice,
    ProviderState,
    ServiceAgreement,
    ServiceType,
)

# --- providers -----------------------------------------------------------------------------------------------


def providers_visible_to(actor: User, action: Action = Action.PROVIDER_LIST) -> QuerySet[Provider]:
    """A provider user sees its own provider; everyone else the providers ``RULES`` lets them ``action`` (staff
    their own organiser's, nobody else any)."""
    if actor.role == Role.PROVIDER:
        return Provider.objects.filter(users__user=actor)
    return visible(Provider.objects.all(), actor, action)


def provider_list(*, actor: User, state: str = "", query: str = "") -> QuerySet[Provider]:
    authorize(actor, Action.PROVIDER_LIST)
    providers = providers_visible_to(actor).prefetch_related("municipalities")
    if state:
        providers = providers.filter(state=state)
    for term in (query or "").split():
        providers = providers.filter(Q(name__icontains=term) | Q(business_id__icontains=term))
    return providers.order_by("name")


def provider_state_counts(*, actor: User) -> dict[str, int]:
    rows = providers_visible_to(actor).values("state").annotate(n=Count("pk"))
    return {row["state"]: row["n"] for row in rows}


def provider_get(*, actor: User, provider_id: uuid.UUID, action: Action = Action.PROVIDER_LIST) -> Provider:
    """One provider the actor may see (else Provider.DoesNotExist: another organiser's looks like none)."""
    provider = providers_visible_to(actor).select_related("organiser").get(pk=provider_id)
    authorize(actor, action, provider)
    return provider


def own_provider(*, actor: User) -> Provider | None:
    """The provider a provider user works for, or None before it has applied."""
    if actor.role != Role.PROVIDER:
        return None
    return Provider.objects.filter(users__user=actor).select_related("organiser").first()


def provider_history(*, provider: Provider) -> QuerySet:
    return provider.state_changes.select_related("actor").order_by("-effective_at", "-pk")


def bank_changes_pending(*, actor: User) -> QuerySet[BankAccountChange]:
    """Changes of bank account waiting for the second person, in the actor's organiser."""
    authorize(actor, Action.BANK_ACCOUNT_APPROVE)
    return (
        _bank_changes(actor)
        .filter(state=BankAccountChangeState.PENDING)
        .select_related("provider", "requested_by")
        .order_by("requested_at")
    )


def bank_changes_decided(*, actor: User, limit: int = 20) -> QuerySet[BankAccountChange]:
    """The organiser's latest decided changes of bank account, newest first: who asked, who decided, why."""
    authorize(actor, Action.BANK_ACCOUNT_APPROVE)
    return (
        _bank_changes(actor)
        .exclude(state=BankAccountChangeState.PENDING)
        .select_related("provider", "requested_by", "decided_by")
        .order_by("-decided_at", "-pk")[:limit]
    )


def _bank_changes(actor: User) -> QuerySet[BankAccountChange]:
    return visible(
        BankAccountChange.objects.all(), actor, Action.BANK_ACCOUNT_APPROVE, organiser_field="provider__organiser"
    )


def bank_change_get(*, actor: User, change_id: int) -> BankAccountChange:
    change = _bank_changes(actor).select_related("provider", "requested_by", "decided_by").get(pk=change_id)
    authorize(actor, Action.BANK_ACCOUNT_APPROVE, change.provider)
    return change


def provider_bank_change_pending(*, provider: Provider) -> BankAccountChange | None:
    return provider.bank_changes.filter(state=BankAccountChangeState.PENDING).first()


def provider_bank_changes(*, provider: Provider) -> QuerySet[BankAccountChange]:
    return provider.bank_changes.select_related("requested_by", "decided_by").order_by("-requested_at")


# --- catalogue and prices ------------------------------------------------------------------------------------


def catalogue_organiser_id(*, actor: User) -> int | None:
    """Whose catalogue the actor works with: staff their own organiser's, a provider user the organiser its
    provider is registered with; nobody else any."""
    if actor.role == Role.PROVIDER:
        provider = own_provider(actor=actor)
        return provider.organiser_id if provider else None
    return actor.organiser_id


def service_type_list(*, organiser_id: int | None) -> QuerySet[ServiceType]:
    """One organiser's catalogue (each organiser owns its own, ADR 0022); no organiser, no services."""
    if organiser_id is None:
        return ServiceType.objects.none()
    return ServiceType.objects.filter(organiser_id=organiser_id).order_by("code")


def service_type_get(*, actor: User, code: str) -> ServiceType:
    """A service of the actor's own catalogue by its code (else ServiceType.DoesNotExist: another organiser's
    service looks like none)."""
    authorize(actor, Action.CATALOGUE_VIEW)
    return service_type_list(organiser_id=catalogue_organiser_id(actor=actor)).get(code=code)


def budget_categories(*, organiser_id: int | None) -> list[tuple[str, str]]:
    """(code, name) of the budget line categories in the organiser's rate tables, for choosing what a service is
    paid from; no organiser, no categories."""
    if organiser_id is None:
        return []
    from kukkaro.cases.models import RateCategory

    language = (get_language() or "fi")[:2]
    seen: dict[str, str] = {}
    for category in RateCategory.objects.filter(rate_table__organiser_id=organiser_id).order_by("code"):
        seen.setdefault(category.code, category.name_in(language))
    return sorted(seen.items(), key=lambda item: item[1])


def caps_of(*, organiser_id: int) -> QuerySet[PriceCap]:
    return (
        PriceCap.objects.filter(organiser_id=organiser_id)
        .select_related("service_type")
        .order_by("service_type__code", "-valid_from")
    )


@dataclass(frozen=True)
class CatalogueRow:
    service_type: ServiceType
    cap: PriceCap | None  # in force on the day asked
    upcoming: list[PriceCap]  # versions that start later


def catalogue(*, organiser_id: int, day: dt.date | None = None) -> list[CatalogueRow]:
    """Each service type with the organiser's cap in force on ``day`` and the versions that start later."""
    day = day or clock.today()
    caps: dict[int, list[PriceCap]] = {}
    for cap in caps_of(organiser_id=organiser_id):
        caps.setdefault(cap.service_type_id, []).append(cap)
    rows = []
    for service_type in service_type_list(organiser_id=organiser_id):
        versions = caps.get(service_type.pk, [])
        current = next(
            (c for c in versions if c.valid_from <= day and (c.valid_until is None or c.valid_until >= day)), None
        )
        upcoming = sorted((c for c in versions if c.valid_from > day), key=lambda c: c.valid_from)
        rows.append(CatalogueRow(service_type=service_type, cap=current, upcoming=upcoming))
    return rows


def prices_of(*, provider: Provider) -> QuerySet[ProviderPrice]:
    return provider.prices.select_related("service_type").order_by("service_type__code", "-valid_from")


# --- client choice -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChoiceOption:
    """One provider the client could choose for a budget line, as the comparison page shows it."""

    provider: Provider
    service_type: ServiceType
    price_cents: int
    cap_cents: int
    own_share_cents: int  # per unit, paid by the client (price above the cap)
    speaks_client_language: bool

    @property
    def within_cap(self) -> bool:
        return self.own_share_cents == 0


def choice_lines(*, client: Client) -> list:
    """The client's effective euro budget lines that services can be chosen for (today or later)."""
    from kukkaro.cases.models import DecisionLine

    return list(
        DecisionLine.objects.filter(
            client=client, effective=True, purse__isnull=False, purse_unit=Unit.EUR, valid_until__gte=clock.today()
        )
        .select_related("decision", "purse")
        .order_by("valid_from", "category_code")
    )


def choice_line_get(*, actor: User, line_id: int, action: Action = Action.AGREEMENT_CREATE):
    """A budget line of a client the actor may choose for (else DecisionLine.DoesNotExist). The read of the
    client is logged as casework."""
    from kukkaro.cases.models import DecisionLine

    lines = visible(DecisionLine.objects.all(), actor, action, organiser_field="client__organiser")
    line = lines.select_related("client", "client__organiser", "client__municipality", "purse").get(pk=line_id)
    authorize(actor, action, line.client)
    client_log_reads(actor=actor, clients=[line.client], purpose=PURPOSE_CASEWORK)
    return line


def choice_options(*, line, day: dt.date | None = None, order: str = "own_share") -> list[ChoiceOption]:
    """Approved providers serving the client's municipality with a price for a service of the line's category on
    ``day``: price, the county's cap, and the client's own share per unit. Cheapest for the client first."""
    client = line.client
    day = day or max(clock.today(), line.valid_from)
    types = list(service_type_list(organiser_id=client.organiser_id).filter(category_code=line.category_code))
    if not types:
        return []
    caps = {
        c.service_type_id: c
        for c in PriceCap.objects.filter(organiser_id=client.organiser_id, service_type__in=types)
        .filter(valid_from__lte=day)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
    }
    prices = (
        ProviderPrice.objects.filter(
            service_type__in=types,
            provider__organiser_id=client.organiser_id,
            provider__state=ProviderState.APPROVED,
            provider__municipalities=client.municipality_id,
            valid_from__lte=day,
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        .select_related("provider", "service_type")
    )
    options = []
    for price in prices:
        cap = caps.get(price.service_type_id)
        if cap is None:
            continue
        options.append(
            ChoiceOption(
                provider=price.provider,
                service_type=price.service_type,
                price_cents=price.price_cents,
                cap_cents=cap.cap_cents,
                own_share_cents=own_share_cents(price_cents=price.price_cents, cap_cents=cap.cap_cents),
                speaks_client_language=client.language in (price.provider.languages or []),
            )
        )
    key: Callable[[ChoiceOption], tuple]
    if order == "price":
        key = lambda o: (o.price_cents, o.provider.name)  # noqa: E731
    elif order == "name":
        key = lambda o: (o.provider.name.casefold(), o.price_cents)  # noqa: E731
    else:
        key = lambda o: (o.own_share_cents, not o.speaks_client_language, o.price_cents, o.provider.name)  # noqa: E731
    return sorted(options, key=key)


# --- agreements ----------------------------------------------------------------------------------------------


def agreements_of_client(*, client: Client) -> QuerySet[ServiceAgreement]:
    return (
        ServiceAgreement.objects.filter(client=client)
        .select_related("provider", "service_type", "purse")
        .order_by("-valid_from", "number")
    )


def agreements_of_provider(*, provider: Provider, state: str = "") -> QuerySet[ServiceAgreement]:
    agreements = ServiceAgreement.objects.filter(provider=provider).select_related("service_type", "client")
    if state:
        agreements = agreements.filter(state=state)
    return agreements.order_by("-valid_from", "number")


def agreement_of_provider(*, provider: Provider, number: str) -> ServiceAgreement | None:
    return agreements_of_provider(provider=provider).filter(number=number).first()


def agreements_log_reads(*, actor: User, agreements: list[ServiceAgreement]) -> None:
    """Log that a provider user saw the clients of these agreements (their names), once per client."""
    clients = {a.client_id: a.client for a in agreements}
    client_log_reads(actor=actor, clients=list(clients.values()), purpose=PURPOSE_CLAIMS, action="agreement.read")


def agreement_get(*, actor: User, agreement_id: uuid.UUID) -> ServiceAgreement:
    """An agreement of a client in the actor's organiser (casework), or of the actor's own provider."""
    agreements = ServiceAgreement.objects.select_related("client", "provider", "service_type", "purse")
    if actor.role == Role.PROVIDER:
        return agreements.get(pk=agreement_id, provider__users__user=actor)
    agreement = visible(agreements, actor, Action.CASE_VIEW).get(pk=agreement_id)
    authorize(actor, Action.CASE_VIEW, agreement.client)
    client_log_reads(actor=actor, clients=[agreement.client], purpose=PURPOSE_CASEWORK)
    return agreement


# --- claims --------------------------------------------------------------------------------------------------


CLAIM_QUEUES = (ClaimStatus.WAITING, ClaimStatus.DISPUTED, ClaimStatus.REJECTED)


def claim_queue(*, actor: User, status: str, query: str = "") -> QuerySet[Claim]:
    """The organiser's claims in one state, oldest first (what waits longest is dealt with first). The caller
    logs the page of claims it shows with ``claims_log_reads``."""
    authorize(actor, Action.CLAIM_REVIEW)
    claims = visible(Claim.objects.filter(status=status), actor, Action.CLAIM_REVIEW).select_related(
        "provider", "client", "service_type", "agreement"
    )
    for term in (query or "").split():
        claims = claims.filter(
            Q(invoice_number__icontains=term)
            | Q(provider__name__icontains=term)
            | Q(client__last_name__icontains=term)
            | Q(agreement__number__icontains=term)
        )
    return claims.order_by("created_at", "pk")


def claim_queue_counts(*, actor: User) -> dict[str, int]:
    rows = (
        visible(Claim.objects.filter(status__in=CLAIM_QUEUES), actor, Action.CLAIM_REVIEW)
        .values("status")
        .annotate(n=Count("pk"))
    )
    counts = {str(s): 0 for s in CLAIM_QUEUES}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def claims_log_reads(*, actor: User, claims: list[Claim]) -> None:
    """Log that staff saw these claims' clients (once per client)."""
    clients = {c.client_id: c.client for c in claims if c.client is not None}
    client_log_reads(actor=actor, clients=list(clients.values()), purpose=PURPOSE_CLAIMS, action="claim.read")


def claim_get(*, actor: User, claim_id: uuid.UUID) -> Claim:
    """One claim: staff of the organiser (the read of the client is logged) or the provider that made it."""
    claims = Claim.objects.select_related(
        "provider", "client", "client__municipality", "service_type", "agreement", "upload", "payment__batch"
    )
    if actor.role == Role.PROVIDER:
        return claims.get(pk=claim_id, provider__users__user=actor)
    claim = visible(claims, actor, Action.CLAIM_REVIEW).get(pk=claim_id)
    authorize(actor, Action.CLAIM_REVIEW, claim)
    claims_log_reads(actor=actor, claims=[claim])
    return claim


def claims_of_provider(
    *,
    provider: Provider,
    status: str = "",
    service_date_from: dt.date | None = None,
    service_date_to: dt.date | None = None,
) -> QuerySet[Claim]:
    """The provider's claims, newest first; optionally of one status and service dates in a range (inclusive)."""
    claims = Claim.objects.filter(provider=provider).select_related("service_type", "agreement", "client")
    if status:
        claims = claims.filter(status=status)
    if service_date_from is not None:
        claims = claims.filter(service_date__gte=service_date_from)
    if service_date_to is not None:
        claims = claims.filter(service_date__lte=service_date_to)
    return claims.order_by("-created_at", "-pk")


def uploads_of_provider(*, provider: Provider) -> QuerySet[ClaimUpload]:
    return ClaimUpload.objects.filter(provider=provider).order_by("-uploaded_at")


def upload_get(*, provider: Provider, upload_id: uuid.UUID) -> ClaimUpload:
    return ClaimUpload.objects.get(pk=upload_id, provider=provider)


def upload_outcome_counts(*, upload: ClaimUpload) -> dict[str, int]:
    rows = upload.results.values("outcome").annotate(n=Count("pk"))
    return {row["outcome"]: row["n"] for row in rows}


# --- payment batches -----------------------------------------------------------------------------------------


class BatchCounts(TypedDict):
    """What ``payment_batches`` counts of each batch's payments."""

    payments: int
    rejected: int
    answered: int


def payment_batches(*, actor: User) -> "QuerySet[WithAnnotations[PaymentBatch, BatchCounts]]":
    """The organiser's batches, newest first, with how many payments each has and how many the bank rejected."""
    authorize(actor, Action.PAYMENT_MANAGE)
    return (
        visible(PaymentBatch.objects.all(), actor, Action.PAYMENT_MANAGE)
        .annotate(
            payments=Count("lines"),
            rejected=Count("lines", filter=Q(lines__outcome=PaymentOutcome.REJECTED)),
            answered=Count("lines", filter=Q(lines__outcome__in=[PaymentOutcome.ACCEPTED, PaymentOutcome.REJECTED])),
        )
        .order_by("-prepared_at", "-pk")  # Meta.ordering does not apply to a query with aggregates
    )


def payment_batch_get(*, actor: User, batch_id: uuid.UUID) -> PaymentBatch:
    batches = visible(PaymentBatch.objects.all(), actor, Action.PAYMENT_MANAGE)
    batch = batches.select_related("prepared_by", "released_by", "confirmed_by", "cancelled_by").get(pk=batch_id)
    authorize(actor, Action.PAYMENT_MANAGE, batch)
    return batch


class LineCounts(TypedDict):
    """What ``batch_lines`` counts of each payment."""

    claim_count: int


def batch_lines(*, batch: PaymentBatch) -> "QuerySet[WithAnnotations[PaymentBatchLine, LineCounts]]":
    return (
        batch.lines.select_related("status_report", "decided_by")
        .annotate(claim_count=Count("items"))
        .order_by("end_to_end_id")
    )


def batch_left_out(*, batch: PaymentBatch) -> QuerySet[PaymentLeftOut]:
    return batch.left_out.select_related("provider").order_by("provider__name")


def batch_status_reports(*, batch: PaymentBatch) -> QuerySet[PaymentStatusReport]:
    return batch.status_reports.select_related("imported_by").order_by("imported_at")


def payable_claims(*, actor: User, approved_until: dt.date | None = None) -> QuerySet[Claim]:
    """Approved claims not yet in a batch (what the next batch would pay)."""
    authorize(actor, Action.PAYMENT_MANAGE)
    claims = visible(Claim.objects.all(), actor, Action.PAYMENT_MANAGE).filter(
        status=ClaimStatus.APPROVED, payment__isnull=True
    )
    if approved_until is not None:
        until = dt.datetime.combine(approved_until + dt.timedelta(days=1), dt.time(), tzinfo=clock.HELSINKI)
        claims = claims.filter(decided_at__lt=until)
    return claims


def batch_claim_count(*, batch: PaymentBatch) -> int:
    """How many claims the batch's payments carried when it was prepared."""
    return PaymentLineClaim.objects.filter(line__batch=batch).count()


def claim_payments(*, claim: Claim) -> QuerySet[PaymentLineClaim]:
    """Every payment a claim has been in, oldest first (a rejected one, then the one that paid it…)."""
    return claim.payment_items.select_related("line__batch").order_by("line__batch__prepared_at", "pk")
