"""Password lockout (ADR 0006): django-axes counts failures per username *and* client address, and this module
adds the second, higher limit per address across usernames, and says which address a request comes from.

axes compares every lockout parameter group with one limit (``AXES_FAILURE_LIMIT``), so "5 for a username from
one address, 50 for an address whatever the username" needs the handler below: the per-account count is axes's
own, the per-address count is summed from the same ``AccessAttempt`` records within the same cool-off.
"""

import ipaddress

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

SCOPE_ACCOUNT = "account"
SCOPE_ADDRESS = "address"


def client_address(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, or, behind ``TRUSTED_PROXY_COUNT`` proxies that each append to
    ``X-Forwarded-For``, the entry the outermost of them added. Entries left of it come from the client and
    are never believed; a header too short to have passed every proxy is ignored."""
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def address_failures(request: HttpRequest) -> int:
    """Failed passwords from this request's address within the cool-off, for every username together."""
    attempts = AccessAttempt.objects.filter(
        ip_address=request.axes_ip_address, attempt_time__gte=get_cool_off_threshold(request)
    )
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LockoutHandler(AxesDatabaseHandler):
    """axes's database handler with the per-address limit (``AXES_ADDRESS_FAILURE_LIMIT``) on top of its own
    per-account one. An address over its limit counts as locked for whichever username it tries next; the
    request is marked with the scope, for the lockout page and the audit row."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        per_account = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        if per_account >= limit:
            request.kukkaro_lockout_scope = SCOPE_ACCOUNT
            return per_account
        if address_failures(request) >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            request.kukkaro_lockout_scope = SCOPE_ADDRESS
            return limit
        return per_account
