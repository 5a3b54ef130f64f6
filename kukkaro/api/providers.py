"""The API for service providers (PSOP): their own data, the catalogue and prices, their agreements, and claims
by request or CSV file. Thin: each operation authorises, finds the token's own provider and calls the same
selectors and services as the provider pages. Everything is scoped to that provider: another provider's agreement,
claim or file answers 404 exactly like one that does not exist.

Conventions: money in integer cents (``*_cents``), quantities in integer hundredths of the service's unit
(``quantity_hundredths``: 250 is 2.5 hours), dates in ISO 8601. Lists take ``limit`` (at most ``MAX_LIMIT``) and
``offset`` and answer ``{"count": …, "items": […]}``.

``kukkaro.api.api`` mounts this router at ``/provider``."""

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema
from ninja.errors import HttpError
from ninja.files import UploadedFile

from kukkaro.api.auth import TokenAuth
from kukkaro.api.schemas import ErrorOut, InputSchema, IsoDate, Line, QueryInt, ValidationErrorOut, whole_number
from kukkaro.core.permissions import Action, authorize
from kukkaro.people.models import User
from kukkaro.services import catalogue, claim_files, claims, selectors, status_reports
from kukkaro.services.models import (
    AgreementState,
    Claim,
    ClaimSource,
    ClaimStatus,
    ClaimUpload,
    PaymentBatchState,
    PaymentOutcome,
    Provider,
    ProviderPrice,
    RejectReason,
    ServiceAgreement,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000

#: Whole numbers only (no texts or booleans) where money or quantities are expected, up to what any one claim or
#: price can be (the services' own limits; beyond them a product of the two would not fit in 64 bits).
Cents = whole_number(gt=0, le=claims.MAX_CLAIM_UNIT_PRICE_CENTS)
Hundredths = whole_number(gt=0, le=claims.MAX_CLAIM_QUANTITY_HUNDREDTHS)

#: The field names of ``claims.claim_submit``'s errors, as this API names them.
CLAIM_FIELDS = {"quantity": "quantity_hundredths", "unit_price": "unit_price_cents"}

# Error answers every operation may give (401 no or bad token, 403 not a provider), and those with input.
DENIED = {401: ErrorOut, 403: ErrorOut}
INVALID = {**DENIED, 422: ValidationErrorOut}
MISSING = {**INVALID, 404: ErrorOut}
# A request body that is not JSON (or not multipart form data) at all: 400.
WITH_BODY = {**INVALID, 400: ErrorOut}


# --- schemas -------------------------------------------------------------------------------------------------


class BankAccountOut(Schema):
    iban: str
    bic: str


class BankAccountChangeOut(Schema):
    iban: str
    bic: str
    requested_at: dt.datetime


class ProviderOut(Schema):
    id: uuid.UUID
    name: str
    business_id: str
    state: str
    organiser: str = Field(description="The organiser's (wellbeing services county's) code.")
    municipalities: list[str] = Field(description="Statistics Finland codes of the municipalities served.")
    languages: list[str]
    accessibility: list[str]
    rulebook_version: str
    bank_account: BankAccountOut
    pending_bank_change: BankAccountChangeOut | None = Field(
        description="A new bank account waiting for the county's approval; payments go to the current one until then."
    )


class CatalogueRowOut(Schema):
    code: str
    name_fi: str
    name_sv: str
    name_en: str
    unit: str
    category_code: str
    cap_cents: int | None = Field(description="The organiser's price cap per unit on the day asked, if any.")


class PriceOut(Schema):
    service: str
    price_cents: int
    valid_from: dt.date
    valid_until: dt.date | None


class PriceIn(InputSchema):
    service: Line = Field(min_length=1, max_length=40, description="The service type's code.")
    price_cents: Cents = Field(description="Price per unit in cents.")
    valid_from: IsoDate = Field(description="First date of service the price applies to (today or later).")
    valid_until: IsoDate | None = Field(None, description="Last date of service; open-ended if left out.")


class AgreementOut(Schema):
    number: str
    client_name: str = Field(description="The client's full name; nothing else about the client is shown.")
    service: str
    quantity_hundredths: int = Field(description="Agreed quantity per month in hundredths of the unit.")
    agreed_price_cents: int
    own_share_cents: int = Field(description="The client's own share per unit (the price above the cap).")
    valid_from: dt.date
    valid_until: dt.date
    state: str


class PageIn(InputSchema):
    limit: QueryInt = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"How many items at most (1–{MAX_LIMIT}).")
    # Bounded: a larger offset than any list has overflows the databases' integers (SQLite: "datatype mismatch").
    offset: QueryInt = Field(0, ge=0, le=MAX_OFFSET, description="How many items to skip.")


class AgreementFilterIn(PageIn):
    state: AgreementState | None = None


class AgreementPageOut(Schema):
    count: int
    items: list[AgreementOut]


class ReasonOut(Schema):
    code: str
    label: str = Field(description="The reason in the request's language.")


class ClaimIn(InputSchema):
    agreement: Line = Field(min_length=1, max_length=32, description="The service agreement number.")
    service: Line = Field(min_length=1, max_length=40, description="The service type's code.")
    service_date: IsoDate
    quantity_hundredths: Hundredths = Field(description="Quantity in hundredths of the unit: 250 is 2.5 hours.")
    unit_price_cents: Cents
    invoice_number: Line = Field(
        min_length=1, max_length=40, description="Unique per provider: the same number again returns the original."
    )


class ClaimOut(Schema):
    id: uuid.UUID
    invoice_number: str
    agreement: str | None
    service: str | None
    service_date: dt.date
    quantity_hundredths: int
    unit_price_cents: int
    amount_cents: int = Field(
        description="Paid from the client's budget (for a rejected claim: what would have been; nothing is held)."
    )
    own_share_cents: int = Field(description="Paid by the client (the price above the county's cap).")
    status: str
    reasons: list[ReasonOut]
    dispute_deadline: dt.date | None = Field(description="The client may approve or dispute until this day.")
    payment_batch: str | None = Field(
        description="The payment batch the claim is in, once it is in one (status paid when the bank has paid)."
    )
    payment_state: str | None = Field(
        description=(
            "Where the payment stands: prepared (in a batch a second person has not released yet; it may still be "
            "cancelled), released (sent for payment, waiting for the bank's answer), paid (the bank accepted it); "
            "null while the claim is in no batch."
        )
    )
    payment_rejected: ReasonOut | None = Field(
        description=(
            "Why the bank last rejected a payment of this claim (an ISO 20022 status reason code, e.g. AC04 closed "
            "account), if it did; the claim then waits for the next batch."
        )
    )


class ClaimFilterIn(PageIn):
    status: ClaimStatus | None = None
    service_date_from: IsoDate | None = Field(None, description="Service dates from this day on.")
    service_date_to: IsoDate | None = Field(None, description="Service dates up to and including this day.")


class ClaimPageOut(Schema):
    count: int
    items: list[ClaimOut]


class UploadReasonOut(Schema):
    field: str
    code: str
    message: str


class UploadRowOut(Schema):
    row: int = Field(description="The row number as a spreadsheet shows it (the header is row 1).")
    outcome: str = Field(description="The claim's status, or duplicate (the original claim) or invalid.")
    claim_id: uuid.UUID | None
    reasons: list[UploadReasonOut]


class UploadOut(Schema):
    id: uuid.UUID
    filename: str
    uploaded_at: dt.datetime
    rows: int
    counts: dict[str, int] = Field(description="Rows per outcome.")
    results: list[UploadRowOut]


# --- helpers -------------------------------------------------------------------------------------------------


def _provider_of(user: User) -> Provider:
    provider = selectors.own_provider(actor=user)
    if provider is None:
        raise HttpError(403, _("This user does not belong to a service provider. Apply to become a provider first."))
    return provider


def _own_provider(request: HttpRequest, action: Action) -> Provider:
    """Authorise the token's user for ``action`` and find its provider (403 without one)."""
    authorize(request.auth, action)
    return _provider_of(request.auth)


class ProviderTokenAuth(TokenAuth):
    """The API's bearer token, for users of a provider only. Any other token is refused (403) here, before ninja
    reads the request's body, so a dispatch token or a provider user who has not applied yet gets 403 even for a
    request it got wrong. Each operation still authorises its own action and finds its provider itself."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = super().authenticate(request, token)
        if user is not None:
            authorize(user, Action.PROVIDER_SELF)
            _provider_of(user)
        return user


router = Router(auth=ProviderTokenAuth(), tags=["provider"])


def _renamed(error: ValidationError, names: dict[str, str]) -> ValidationError:
    """A service's field errors under the names this API uses for those fields."""
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError({names.get(field, field): messages for field, messages in error.message_dict.items()})


def _provider_out(provider: Provider) -> ProviderOut:
    pending = selectors.provider_bank_change_pending(provider=provider)
    return ProviderOut(
        id=provider.pk,
        name=provider.name,
        business_id=provider.business_id,
        state=provider.state,
        organiser=provider.organiser.code,
        municipalities=sorted(provider.municipalities.values_list("code", flat=True)),
        languages=provider.languages,
        accessibility=provider.accessibility,
        rulebook_version=provider.rulebook_version,
        bank_account=BankAccountOut(iban=provider.iban, bic=provider.bic),
        pending_bank_change=(
            BankAccountChangeOut(iban=pending.iban, bic=pending.bic, requested_at=pending.requested_at)
            if pending
            else None
        ),
    )


def _price_out(price: ProviderPrice) -> PriceOut:
    return PriceOut(
        service=price.service_type.code,
        price_cents=price.price_cents,
        valid_from=price.valid_from,
        valid_until=price.valid_until,
    )


def _agreements_out(agreements: list[ServiceAgreement], actor: User) -> list[AgreementOut]:
    """The agreements as shown, after logging that their clients' names were read (one row per client)."""
    selectors.agreements_log_reads(actor=actor, agreements=agreements)
    return [
        AgreementOut(
            number=a.number,
            client_name=a.client.full_name,
            service=a.service_type.code,
            quantity_hundredths=a.quantity_hundredths,
            agreed_price_cents=a.agreed_price_cents,
            own_share_cents=a.own_share_cents,
            valid_from=a.valid_from,
            valid_until=a.valid_until,
            state=a.state,
        )
        for a in agreements
    ]


def _reason_out(code: str) -> ReasonOut:
    label = str(RejectReason(code).label) if code in RejectReason.values else code
    return ReasonOut(code=code, label=label)


def _claim_out(claim: Claim) -> ClaimOut:
    return ClaimOut(
        id=claim.pk,
        invoice_number=claim.invoice_number,
        agreement=claim.agreement.number if claim.agreement else None,
        service=claim.service_type.code if claim.service_type else None,
        service_date=claim.service_date,
        quantity_hundredths=claim.quantity_hundredths,
        unit_price_cents=claim.unit_price_cents,
        amount_cents=claim.amount_cents,
        own_share_cents=claim.own_share_cents,
        status=claim.status,
        reasons=[_reason_out(code) for code in claim.reasons],
        dispute_deadline=claim.dispute_deadline,
        payment_batch=claim.payment.batch.number if claim.payment else None,
        payment_state=_payment_state(claim),
        payment_rejected=_payment_rejected(claim),
    )


def _payment_state(claim: Claim) -> str | None:
    if claim.status == ClaimStatus.PAID:
        return "paid"
    if claim.payment is None:
        return None
    return "prepared" if claim.payment.batch.state == PaymentBatchState.PREPARED else "released"


def _payment_rejected(claim: Claim) -> ReasonOut | None:
    rejected = [i.line for i in claim.payment_items.all() if i.line.outcome == PaymentOutcome.REJECTED]
    if not rejected:
        return None
    line = max(rejected, key=lambda line: line.decided_at)
    code = line.reason_code or line.status_code
    return ReasonOut(code=code, label=str(status_reports.REASON_WORDS.get(code, code)))


def _upload_out(upload: ClaimUpload) -> UploadOut:
    return UploadOut(
        id=upload.pk,
        filename=upload.filename,
        uploaded_at=upload.uploaded_at,
        rows=upload.rows,
        counts=selectors.upload_outcome_counts(upload=upload),
        results=[
            UploadRowOut(
                row=result.row_number,
                outcome=result.outcome,
                claim_id=result.claim_id,
                reasons=[
                    UploadReasonOut(
                        field=reason.get("field", ""), code=reason.get("code", ""), message=reason.get("message", "")
                    )
                    for reason in result.reasons
                ],
            )
            for result in upload.results.all()
        ],
    )


# --- provider, catalogue and prices --------------------------------------------------------------------------


@router.get("", response={200: ProviderOut, **DENIED}, summary="The token's own provider")
def provider_self(request: HttpRequest) -> ProviderOut:
    return _provider_out(_own_provider(request, Action.PROVIDER_SELF))


@router.get("/catalogue", response={200: list[CatalogueRowOut], **INVALID}, summary="Service types and price caps")
def provider_catalogue(request: HttpRequest, day: IsoDate | None = None) -> list[CatalogueRowOut]:
    """Every service type with the provider's organiser's price cap in force on ``day`` (today if left out)."""
    provider = _own_provider(request, Action.PROVIDER_SELF)
    return [
        CatalogueRowOut(
            code=row.service_type.code,
            name_fi=row.service_type.name_fi or "",
            name_sv=row.service_type.name_sv or "",
            name_en=row.service_type.name_en or "",
            unit=row.service_type.unit,
            category_code=row.service_type.category_code,
            cap_cents=row.cap.cap_cents if row.cap else None,
        )
        for row in selectors.catalogue(organiser_id=provider.organiser_id, day=day)
    ]


@router.get("/prices", response={200: list[PriceOut], **DENIED}, summary="The provider's prices, every version")
def provider_prices(request: HttpRequest) -> list[PriceOut]:
    provider = _own_provider(request, Action.PROVIDER_SELF)
    return [_price_out(price) for price in selectors.prices_of(provider=provider)]


@router.post("/prices", response={201: PriceOut, **WITH_BODY}, summary="Publish a new version of a price")
def provider_price_set(request: HttpRequest, payload: PriceIn) -> tuple[int, PriceOut]:
    """A new price from ``valid_from`` (today or later, by date of service); an open-ended earlier version ends
    the day before. Agreements already made keep their agreed price."""
    provider = _own_provider(request, Action.PROVIDER_SELF)
    service_type = selectors.service_type_list(organiser_id=provider.organiser_id).filter(code=payload.service).first()
    if service_type is None:
        raise ValidationError({"service": _("There is no such service in the catalogue.")})
    price = catalogue.provider_price_set(
        actor=request.auth,
        provider=provider,
        service_type=service_type,
        price_cents=payload.price_cents,
        valid_from=payload.valid_from,
        valid_until=payload.valid_until,
    )
    return 201, _price_out(price)


# --- agreements ----------------------------------------------------------------------------------------------


@router.get("/agreements", response={200: AgreementPageOut, **INVALID}, summary="The provider's service agreements")
def provider_agreements(request: HttpRequest, filters: Query[AgreementFilterIn]) -> AgreementPageOut:
    """Newest first. Each client shown is logged in the client's access log (purpose: claims)."""
    provider = _own_provider(request, Action.PROVIDER_SELF)
    agreements = selectors.agreements_of_provider(provider=provider, state=filters.state or "")
    page = list(agreements[filters.offset : filters.offset + filters.limit])
    return AgreementPageOut(count=agreements.count(), items=_agreements_out(page, request.auth))


@router.get("/agreements/{number}", response={200: AgreementOut, **MISSING}, summary="One service agreement")
def provider_agreement(request: HttpRequest, number: Line) -> AgreementOut:
    """The client's read is logged in the client's access log (purpose: claims)."""
    provider = _own_provider(request, Action.PROVIDER_SELF)
    agreement = selectors.agreement_of_provider(provider=provider, number=number)
    if agreement is None:
        raise HttpError(404, _("There is no such service agreement."))
    return _agreements_out([agreement], request.auth)[0]


# --- claims --------------------------------------------------------------------------------------------------
# The upload paths come before /claims/{claim_id} so that "uploads" is never read as a claim id.


@router.post("/claims/uploads", response={201: UploadOut, **WITH_BODY}, summary="Claims from a CSV file")
def provider_claims_upload(request: HttpRequest, file: File[UploadedFile]) -> tuple[int, UploadOut]:
    """The file as on the provider pages: UTF-8, semicolons or commas, a header row with the columns
    agreement, service, service_date, quantity, unit_price and invoice_number (prices in euros, decimal comma or
    point). Every row gets one result. A file that cannot be read at all is refused with 422 and nothing is
    stored; invoice numbers already claimed come back as ``duplicate``."""
    provider = _own_provider(request, Action.CLAIM_SUBMIT)
    upload = claim_files.claims_upload(
        actor=request.auth,
        provider=provider,
        filename=file.name or "",
        content=file.read(claim_files.MAX_BYTES + 1),
    )
    return 201, _upload_out(upload)


@router.get("/claims/uploads/{upload_id}", response={200: UploadOut, **MISSING}, summary="One CSV file's results")
def provider_claims_upload_get(request: HttpRequest, upload_id: uuid.UUID) -> UploadOut:
    provider = _own_provider(request, Action.PROVIDER_SELF)
    try:
        upload = selectors.upload_get(provider=provider, upload_id=upload_id)
    except ObjectDoesNotExist as exc:
        raise HttpError(404, _("There is no such file.")) from exc
    return _upload_out(upload)


@router.post("/claims", response={201: ClaimOut, 200: ClaimOut, **WITH_BODY}, summary="Claim a delivered service")
def provider_claim_submit(request: HttpRequest, payload: ClaimIn) -> tuple[int, ClaimOut]:
    """The claim is checked at once against the agreement, the prices and the client's budget. 201: a new claim,
    approved, waiting for the client, or rejected with its reasons (nothing is held for a rejected claim). 200:
    this invoice number was already claimed; the original claim comes back and nothing is claimed twice, so a
    retry is safe. 422: the request itself is not valid."""
    provider = _own_provider(request, Action.CLAIM_SUBMIT)
    try:
        claim, created = claims.claim_submit(
            actor=request.auth,
            provider=provider,
            agreement_number=payload.agreement,
            service_code=payload.service,
            service_date=payload.service_date,
            quantity_hundredths=payload.quantity_hundredths,
            unit_price_cents=payload.unit_price_cents,
            invoice_number=payload.invoice_number,
            source=ClaimSource.API,
        )
    except ValidationError as exc:
        raise _renamed(exc, CLAIM_FIELDS) from exc
    claim = selectors.claim_get(actor=request.auth, claim_id=claim.pk)
    return (201 if created else 200), _claim_out(claim)


@router.get("/claims", response={200: ClaimPageOut, **INVALID}, summary="The provider's claims")
def provider_claims(request: HttpRequest, filters: Query[ClaimFilterIn]) -> ClaimPageOut:
    """Newest first, optionally of one status and of service dates within a range (both ends included)."""
    provider = _own_provider(request, Action.PROVIDER_SELF)
    claims = selectors.claims_of_provider(
        provider=provider,
        status=filters.status or "",
        service_date_from=filters.service_date_from,
        service_date_to=filters.service_date_to,
    ).select_related("payment__batch")
    page = claims.prefetch_related("payment_items__line")[filters.offset : filters.offset + filters.limit]
    return ClaimPageOut(count=claims.count(), items=[_claim_out(claim) for claim in page])


@router.get("/claims/{claim_id}", response={200: ClaimOut, **MISSING}, summary="One claim")
def provider_claim(request: HttpRequest, claim_id: uuid.UUID) -> ClaimOut:
    _own_provider(request, Action.PROVIDER_SELF)
    try:
        claim = selectors.claim_get(actor=request.auth, claim_id=claim_id)
    except ObjectDoesNotExist as exc:
        raise HttpError(404, _("There is no such claim.")) from exc
    return _claim_out(claim)


__all__ = ["router"]
