"""How long a signed-in session lasts: an idle timeout (Django's ``SESSION_COOKIE_AGE``, renewed by every
request) and an absolute lifetime from sign-in (``SESSION_ABSOLUTE_SECONDS``, 12 hours by default) that no
activity extends. The page warns before either ends (``static/js/kukkaro.js``, WCAG 2.2.1) and offers to
continue, which renews the idle timeout only.
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from kukkaro.core import clock

SIGNED_IN_AT = "kukkaro_signed_in_at"  # in the session: when the person signed in (Unix time, the clock's)
LOGOUT_REASON_LIFETIME = "session_lifetime"


def session_mark_signed_in(request: HttpRequest) -> None:
    """At sign-in (the ``user_logged_in`` receiver): the absolute lifetime counts from now."""
    request.session[SIGNED_IN_AT] = int(clock.now().timestamp())


def session_absolute_remaining(request: HttpRequest) -> int:
    """Seconds until this signed-in session reaches its absolute lifetime (0 when it has)."""
    started = request.session.get(SIGNED_IN_AT)
    if started is None:
        return settings.SESSION_ABSOLUTE_SECONDS
    return max(0, settings.SESSION_ABSOLUTE_SECONDS - (int(clock.now().timestamp()) - int(started)))


class SessionLifetimeMiddleware:
    """Sign out a session that has reached its absolute lifetime, whatever its activity. The sign-out is an
    ordinary ``auth.logout`` audit event with the reason; ``LoginRequiredMiddleware`` then sends the person to
    sign in again, with a message saying why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            if SIGNED_IN_AT not in request.session:
                session_mark_signed_in(request)  # a session from before this rule: count from now
            elif session_absolute_remaining(request) == 0:
                request.kukkaro_logout_reason = LOGOUT_REASON_LIFETIME  # type: ignore[attr-defined]
                logout(request)
                hours = settings.SESSION_ABSOLUTE_SECONDS // 3600
                messages.info(
                    request,
                    _("For your security a session lasts at most %(hours)d hours. Please sign in again.")
                    % {"hours": hours},
                )
        return self.get_response(request)
