"""The API for dispatch centres: real-time trip authorisation (issue 7). A dispatch centre's token is scoped to its
organiser; an authorisation of another organiser answers 404 exactly like one that does not exist.

Conventions: money in integer cents (``*_cents``), distances in kilometres as a decimal string or number in the
request and in the purse's unit in the answer (``TRIP`` count, ``KM`` metres, ``EUR`` cents), times in ISO 8601
with an offset. Every authorisation request carries an ``Idempotency-Key`` header: the same key with the same
request returns the first answer (200) and never holds twice; with another request it is refused (409). A
request the database kept aborting for a lock conflict (retried already) answers 503 with ``Retry-After``:
nothing was changed, and the same request may be sent again.

``kukkaro.api.api`` mounts this router at ``/dispatch``."""

import datetime as dt
import uuid
from typing import Annotated

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Header, Router, Schema
from ninja.errors import HttpError

from kukkaro.api.schemas import ErrorOut, InputSchema, IsoDateTime, Line, ValidationErrorOut, decimal_input
from kukkaro.core.permissions import Action, authorize, visible
from kukkaro.mobility import authorizations, judgement
from kukkaro.mobility.models import AuthorizationState, TripAuthorization, TripPurpose, VehicleClass
from kukkaro.mobility.tariff_files import SUPPLEMENT_CODE

router = Router(tags=["dispatch"])

DENIED = {401: ErrorOut, 403: ErrorOut}
INVALID = {**DENIED, 422: ValidationErrorOut}
MISSING = {**INVALID, 404: ErrorOut}

# What the service accepts (``authorizations``, by the limits of ``judgement``), said in the schema: kilometres to
# the metre and minutes to the hundredth, at most the judgement's distance and duration (the range is the
# service's rule), digits only in card numbers and municipality codes, the tariff's supplement codes.
MAX_KM, MAX_MINUTES = int(judgement.MAX_DISTANCE_KM), int(judgement.MAX_DURATION_MIN)
Kilometres = decimal_input(maximum=MAX_KM, places=3)
Minutes = decimal_input(maximum=MAX_MINUTES, places=2)
SupplementCode = Annotated[str, Field(pattern=f"^{SUPPLEMENT_CODE.pattern}$")]
MunicipalityCode = Annotated[str, Field(pattern=f"^[0-9]{{{judgement.MUNICIPALITY_DIGITS}}}$")]
CARD_PATTERN = f"^[0-9]{{{judgement.CARD_DIGITS[0]},{judgement.CARD_DIGITS[1]}}}$"


def _grouped(number: int) -> str:
    """1 000, as the descriptions write numbers."""
    return f"{number:,}".replace(",", " ")


class TripRequestIn(InputSchema):
    client_number: str = Field(description="The client's transport card number.", pattern=CARD_PATTERN)
    pickup_at: IsoDateTime = Field(description="Planned pickup time, ISO 8601 (RFC 3339) with an offset.")
    distance_km: Kilometres = Field(
        description=f"Estimated distance in kilometres, above 0 and at most {_grouped(MAX_KM)}; a number is rounded to "
        "metres."
    )
    duration_min: Minutes = Field(
        description=f"Estimated ride time in minutes, above 0 and at most {_grouped(MAX_MINUTES)}; a number is rounded "
        "to hundredths."
    )
    vehicle_class: VehicleClass
    purpose: TripPurpose
    origin_municipality: MunicipalityCode = Field(description="Statistics Finland code, three digits.")
    destination_municipality: MunicipalityCode = Field(description="Statistics Finland code, three digits.")
    supplements: list[SupplementCode] = Field(
        default_factory=list, max_length=20, description="Supplement codes of the tariff."
    )


class HoldOut(Schema):
    unit: str = Field(description="TRIP (count), KM (metres) or EUR (cents).")
    amount: int
    expires_at: dt.datetime


class AuthorizationOut(Schema):
    authorization_id: uuid.UUID = Field(description="Put this in the trip file's authorization_id column.")
    decision: str = Field(description="approved or denied.")
    state: str = Field(description="approved, denied, cancelled, expired or settled.")
    reason: str | None = Field(description="Why denied, as a code.")
    reason_text: str | None = Field(description="Why denied, in words.")
    hold: HoldOut | None
    available_after: int | None = Field(description="What the purse has available after this hold, in its unit.")
    expected_price_cents: int | None
    expected_self_share_cents: int | None = Field(description="What the driver collects from the client.")


class ConflictOut(Schema):
    detail: str


def _out(authorization: TripAuthorization) -> AuthorizationOut:
    approved = authorization.state != AuthorizationState.DENIED
    hold = None
    if authorization.hold_id is not None and authorization.amount:
        expires_at = authorization.expires_at.astimezone(dt.UTC)
        hold = HoldOut(unit=authorization.unit, amount=authorization.amount, expires_at=expires_at)
    return AuthorizationOut(
        authorization_id=authorization.pk,
        decision="approved" if approved else "denied",
        state=authorization.state,
        reason=None if approved else authorization.reason,
        reason_text=None if approved else authorizations.denial_text(authorization.reason),
        hold=hold,
        available_after=authorization.available_after,
        expected_price_cents=authorization.price_cents,
        expected_self_share_cents=authorization.self_share_cents,
    )


@router.post(
    "/authorizations",
    response={201: AuthorizationOut, 200: AuthorizationOut, 409: ConflictOut, 400: ErrorOut, **INVALID},
    summary="Ask whether the client's purse covers a trip",
)
def authorization_create(
    request: HttpRequest,
    payload: TripRequestIn,
    idempotency_key: Annotated[
        Line,
        # The service checks the key (authorizations.KEY) and names it idempotency_key in its 422.
        Header(alias="Idempotency-Key", description="8–100 letters, digits or ._:/+=- characters, unique per trip"),
    ],
) -> tuple[int, AuthorizationOut | ConflictOut]:
    """201: a new answer — approved with the amount held in the purse until the trip file settles it, or denied
    with a reason. 200: this Idempotency-Key was asked before with the same request; the first answer comes back
    and nothing is held twice. 409: the key was used for another request."""
    authorize(request.auth, Action.TRIP_AUTHORIZE)
    trip = authorizations.TripRequest(
        client_number=payload.client_number,
        pickup_at=payload.pickup_at,
        distance_km=payload.distance_km,
        duration_min=payload.duration_min,
        vehicle_class=payload.vehicle_class.value,
        purpose=payload.purpose.value,
        origin_municipality=payload.origin_municipality,
        destination_municipality=payload.destination_municipality,
        supplements=tuple(payload.supplements),
    )
    try:
        authorization, created = authorizations.trip_authorize(
            actor=request.auth, idempotency_key=idempotency_key, request=trip
        )
    except authorizations.IdempotencyConflict:
        return 409, ConflictOut(detail=_("This Idempotency-Key was already used for another request."))
    return (201 if created else 200), _out(authorization)


def _get(request: HttpRequest, authorization_id: uuid.UUID) -> TripAuthorization:
    try:
        return visible(TripAuthorization.objects.all(), request.auth, Action.TRIP_AUTHORIZE).get(pk=authorization_id)
    except ObjectDoesNotExist as exc:
        raise HttpError(404, _("There is no such authorisation.")) from exc


@router.get("/authorizations/{authorization_id}", response={200: AuthorizationOut, **MISSING}, summary="An answer")
def authorization_get(request: HttpRequest, authorization_id: uuid.UUID) -> AuthorizationOut:
    authorize(request.auth, Action.TRIP_AUTHORIZE)
    return _out(_get(request, authorization_id))


@router.post(
    "/authorizations/{authorization_id}/cancel",
    response={200: AuthorizationOut, **MISSING},
    summary="The trip was cancelled: release the hold",
)
def authorization_cancel(request: HttpRequest, authorization_id: uuid.UUID) -> AuthorizationOut:
    """Cancelling again answers the same. A settled, expired or denied trip cannot be cancelled (422)."""
    authorize(request.auth, Action.TRIP_AUTHORIZE)
    authorization = _get(request, authorization_id)
    return _out(authorizations.trip_authorization_cancel(actor=request.auth, authorization_id=authorization.pk))
