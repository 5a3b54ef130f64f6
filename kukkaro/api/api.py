"""The REST surface (django-ninja, OpenAPI 3.1). Thin: authorise, call the same selectors and services as the
web pages, return schemas."""

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import ValidationError as RequestValidationError

from kukkaro.api.auth import TokenAuth
from kukkaro.api.dispatch import router as dispatch_router
from kukkaro.api.providers import router as provider_router
from kukkaro.api.schemas import RULE, ErrorOut
from kukkaro.core import selectors
from kukkaro.core.db import LockConflict, is_lock_conflict
from kukkaro.core.permissions import Action, authorize

api = NinjaAPI(
    title="Kukkaro API",
    version="1",
    description="Personal budgets (HB) in Finnish disability services. Authenticate with a bearer token.",
    auth=TokenAuth(),
    urls_namespace="api",
    docs_url=None,
)


class MeOut(Schema):
    username: str
    role: str
    organiser: str | None


class MunicipalityOut(Schema):
    code: str
    name_fi: str
    name_sv: str
    organiser: str


@api.get("/me", response={200: MeOut, 401: ErrorOut}, summary="Who the token belongs to")
def me(request: HttpRequest) -> MeOut:
    user = request.auth
    return MeOut(username=user.username, role=user.role, organiser=user.organiser.code if user.organiser else None)


@api.get(
    "/municipalities",
    response={200: list[MunicipalityOut], 401: ErrorOut, 403: ErrorOut},
    summary="Municipalities by Statistics Finland code",
)
def municipalities(request: HttpRequest) -> list[MunicipalityOut]:
    authorize(request.auth, Action.REFERENCE_DATA_VIEW)
    return [
        MunicipalityOut(code=m.code, name_fi=m.name_fi, name_sv=m.name_sv, organiser=m.organiser.code)
        for m in selectors.municipality_list()
    ]


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": _("You do not have permission to do this.")}, status=403)


def _field_of(loc: list[Any]) -> str:
    """The input field an error is about: the innermost name in ninja's location (["body", "payload", "x"])."""
    names = [str(part) for part in loc if isinstance(part, str)]
    return names[-1] if names else ""


@api.exception_handler(MultiPartParserError)
def _not_multipart(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A multipart body Django cannot parse (no boundary): the documented 400, as for a body that is not JSON
    (it was a 500; schemathesis found it)."""
    return api.create_response(request, {"detail": _("The request body is not valid multipart/form-data.")}, status=400)


@api.exception_handler(RequestValidationError)
def _request_invalid(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
    """Ninja's 422 for a request of the wrong shape, each error also naming its field (see FieldErrorOut)."""
    detail = [
        {
            "type": error.get("type", "value_error"),
            "loc": list(error.get("loc", [])),
            "msg": str(error.get("msg", "")),
            "field": _field_of(list(error.get("loc", []))),
            "message": str(error.get("msg", "")),
        }
        for error in exc.errors
    ]
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(ValidationError)
def _service_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A service refused the input (django ValidationError): 422 in the same shape as ninja's own, one error per
    message, located in the request body under the field's name, of type ``rule`` (the request had the schema's
    shape; a rule of the service refused it)."""
    by_field = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    detail = [
        {"type": RULE, "loc": ["body", field], "msg": message, "field": field, "message": message}
        for field, messages in by_field.items()
        for message in messages
    ]
    return api.create_response(request, {"detail": detail}, status=422)


def _busy(request: HttpRequest) -> HttpResponse:
    response = api.create_response(
        request,
        {"detail": _("The service is busy right now. Nothing was changed; send the same request again.")},
        status=503,
    )
    response["Retry-After"] = "1"
    return response


@api.exception_handler(LockConflict)
def _lock_conflict(request: HttpRequest, exc: LockConflict) -> HttpResponse:
    """The database kept aborting the request's transaction for a lock conflict (retried already): nothing was
    changed, and the same request may be sent again (the Idempotency-Key makes that safe) — 503 with
    Retry-After, never a 500."""
    return _busy(request)


@api.exception_handler(OperationalError)
def _database_aborted(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    """A deadlock or serialisation failure that could not be retried where it happened: 503 as above. Any other
    database error is a fault, and stays one."""
    if is_lock_conflict(exc):
        return _busy(request)
    raise exc


api.add_router("/provider", provider_router)
api.add_router("/dispatch", dispatch_router)
