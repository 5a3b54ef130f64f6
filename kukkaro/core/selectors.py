"""Reads of core data: organisers, municipalities and the audit trail, scoped to the actor."""

from django.db.models import QuerySet

from kukkaro.core.models import AuditEvent, Municipality, Organiser
from kukkaro.core.permissions import Action, authorize, visible


def audit_events_for_organiser(*, actor, action_prefix: str = "", kind: str = "") -> QuerySet[AuditEvent]:
    """An organiser's administrators see the events of their own organiser only."""
    authorize(actor, Action.AUDIT_LOG_VIEW)
    events = visible(AuditEvent.objects.all(), actor, Action.AUDIT_LOG_VIEW).order_by("-seq")
    if action_prefix:
        events = events.filter(action__startswith=action_prefix)
    if kind:
        events = events.filter(kind=kind)
    return events


def municipalities_of(*, organiser: Organiser) -> QuerySet[Municipality]:
    return Municipality.objects.filter(organiser=organiser).order_by("code")


def municipality_list() -> QuerySet[Municipality]:
    return Municipality.objects.select_related("organiser").order_by("code")
