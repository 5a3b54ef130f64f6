"""Request id: one id per request, taken from X-Request-ID when a proxy sets a sane one, echoed back, and
written into every audit row the request causes."""

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

_request_id: ContextVar[str] = ContextVar("kukkaro_request_id", default="")
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


def _must_not_be_stored(request: HttpRequest, response: HttpResponse) -> bool:
    if response.has_header("Content-Disposition"):  # every file: decision PDFs, payment files, exports
        return True
    if request.path.startswith("/api/"):  # bearer-token callers; their answers are personal or financial data
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on everything that may carry personal or financial data, decided in one place
    so that no download or page can forget it: every file (a response with ``Content-Disposition``, inline or
    attachment), every API answer, and every response to a signed-in user. Neither the browser's disk cache nor
    a proxy keeps a copy, and after signing out on a shared computer the Back button asks the server again
    instead of showing the last client's page. Public pages (sign-in, the accessibility statement) and static
    files (served by WhiteNoise before this runs) stay cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if _must_not_be_stored(request, response):
            # Replaces whatever a view said: nothing here may be kept, and ``private`` alone would allow the
            # browser's own disk cache.
            response["Cache-Control"] = "no-store, private"
            response["Pragma"] = "no-cache"  # HTTP/1.0 caches
        return response
