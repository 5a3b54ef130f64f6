"""The REST surface (django-ninja, OpenAPI 3.1). Thin: authorise, call the same selectors and services as the
web pages, return schemas."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema

from kukkaro.api.auth import TokenAuth
from kukkaro.core import selectors
from kukkaro.core.permissions import Action, authorize

api = NinjaAPI(
    title="Kukkaro API",
    version="1",
    description="Personal budgets (HB) in Finnish disability services. Authenticate with a bearer token.",
    auth=TokenAuth(),
    urls_namespace="api",
    docs_url=None,
)


class ErrorOut(Schema):
    detail: str


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
    return api.create_response(request, {"detail": "forbidden"}, status=403)
