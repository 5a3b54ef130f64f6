"""Sign-in events into the audit trail. Django and django-axes announce these by signal; there is no service
of ours to put the audit row in, so the receivers are the one place that writes them."""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from kukkaro.core.audit import audit_record
from kukkaro.core.models import AuditEvent
from kukkaro.core.sessions import session_mark_signed_in


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        session_mark_signed_in(request)
    audit_record(
        action="auth.login",
        kind=AuditEvent.Kind.AUTH,
        actor=user,
        target=user,
        organiser_id=user.organiser_id,
        after={"method": getattr(request, "kukkaro_login_method", "password") if request else "password"},
    )


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    reason = getattr(request, "kukkaro_logout_reason", "")
    audit_record(
        action="auth.logout",
        kind=AuditEvent.Kind.AUTH,
        actor=user,
        target=user,
        organiser_id=user.organiser_id,
        after={"reason": reason} if reason else None,
    )


def _organiser_of(username: str) -> int | None:
    """Failed sign-ins belong in the audit log of the account's organiser, when the account exists."""
    from kukkaro.people.models import User

    return User.objects.filter(username=username).values_list("organiser_id", flat=True).first()


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:64]
    audit_record(
        action="auth.login_failed",
        kind=AuditEvent.Kind.AUTH,
        actor=None,  # on purpose: a failed sign-in has no actor, neither a person nor the system (ADR 0028)
        organiser_id=_organiser_of(username),
        target_type="people.user",
        target_id=username,
    )


@receiver(user_locked_out)
def _locked_out(sender: Any, request: Any, username: str, ip_address: str, **kwargs: Any) -> None:
    from kukkaro.people.lockout import SCOPE_ACCOUNT

    username = str(username or "")[:64]
    audit_record(
        action="auth.locked_out",
        kind=AuditEvent.Kind.AUTH,
        actor=None,  # on purpose: a lockout has no actor, neither a person nor the system (ADR 0028)
        organiser_id=_organiser_of(username),
        target_type="people.user",
        target_id=username,
        # Whether the username from this address, or the address for every username, was locked.
        after={"scope": getattr(request, "kukkaro_lockout_scope", SCOPE_ACCOUNT), "address": ip_address or ""},
    )
