"""Reads about people. Every selector takes the actor and scopes to what that actor may see; every read of a
client's personal data is written to the audit trail with its purpose."""

import uuid

from django.db.models import Q, QuerySet

from kukkaro.core import clock
from kukkaro.core.actors import Actor
from kukkaro.core.audit import (
    PURPOSE_CASEWORK,
    PURPOSE_SEARCH,
    PURPOSE_SUPPORT,
    AuditEntry,
    audit_record_many,
)
from kukkaro.core.identifiers import IdentifierError, parse_hetu
from kukkaro.core.models import AuditEvent
from kukkaro.core.permissions import Action, authorize, organiser_id_for, visible
from kukkaro.core.roles import Role
from kukkaro.people.models import Client, Guardian, SupporterGrant, User


def clients_visible_to(actor: Actor, action: Action = Action.CLIENT_VIEW) -> QuerySet[Client]:
    """The clients an actor may ``action`` at all, as ``RULES`` says: the roles granted it only their own
    organiser's clients, everybody else none (an administrator sees clients only through the access log)."""
    return visible(Client.objects.all(), actor, action)


def client_log_reads(*, actor: User, clients: list[Client], purpose: str, action: str = "client.read") -> None:
    audit_record_many(
        AuditEntry(
            action=action,
            kind=AuditEvent.Kind.READ,
            actor=actor,
            target=client,
            organiser_id=client.organiser_id,
            data_subject_id=client.pk,
            purpose=purpose,
        )
        for client in clients
    )


def client_search(*, actor: User, query: str = "") -> QuerySet[Client]:
    """Search the actor's organiser's register by name or identity code. The search itself is logged here;
    the caller logs the page of results it actually shows (``client_log_reads``)."""
    authorize(actor, Action.CLIENT_SEARCH)
    clients = clients_visible_to(actor, Action.CLIENT_SEARCH).select_related("municipality")
    query = (query or "").strip()
    if not query:
        return clients
    audit_record_many(
        [
            AuditEntry(
                action="client.search",
                kind=AuditEvent.Kind.READ,
                actor=actor,
                organiser_id=organiser_id_for(actor),
                purpose=PURPOSE_SEARCH,
                after={"query": query},
            )
        ]
    )
    try:
        return clients.filter(national_id=parse_hetu(query).value)
    except IdentifierError:
        pass
    for term in query.split():
        clients = clients.filter(Q(first_names__icontains=term) | Q(last_name__icontains=term))
    return clients


def client_get(
    *,
    actor: User,
    client_id: uuid.UUID,
    action: Action = Action.CLIENT_VIEW,
    purpose: str = PURPOSE_CASEWORK,
) -> Client:
    """One client, if the actor may ``action`` them (else Client.DoesNotExist, which views turn into 404, so
    another organiser's client looks exactly like no client at all). The read is logged with its purpose."""
    client = clients_visible_to(actor, action).select_related("municipality", "organiser").get(pk=client_id)
    authorize(actor, action, client)
    client_log_reads(actor=actor, clients=[client], purpose=purpose)
    return client


def client_for_identified_user(*, user: User) -> Client | None:
    """The client record of a signed-in client (matched by identity code)."""
    if user.role != Role.CLIENT or not user.national_id:
        return None
    return Client.objects.select_related("municipality", "organiser").filter(national_id=user.national_id).first()


def client_access_log(*, client: Client, every_organiser: bool = False) -> QuerySet[AuditEvent]:
    """Who has read or changed this client's data, newest first (Act 703/2023: the client may know).
    ``every_organiser``: the person's own view covers their records in every organiser's register."""
    if every_organiser:
        records = Client.objects.filter(national_id=client.national_id).values("pk")
        events = AuditEvent.objects.filter(data_subject_id__in=records)
    else:
        events = AuditEvent.objects.filter(data_subject_id=client.pk)
    return events.select_related("organiser").order_by("-seq")


def users_of_organiser(*, actor: User) -> QuerySet[User]:
    authorize(actor, Action.USER_LIST)
    return visible(User.objects.all(), actor, Action.USER_LIST).order_by("last_name", "first_name")


def supporter_grants_active(*, supporter: User, capability: str = "can_view") -> QuerySet[SupporterGrant]:
    """The clients who have named this supporter and, today, allow ``capability``."""
    today = clock.today()
    return (
        SupporterGrant.objects.filter(
            supporter=supporter, revoked_at__isnull=True, valid_from__lte=today, **{capability: True}
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .select_related("client", "client__municipality", "client__organiser")
    )


def client_for_supporter(*, supporter: User, client_id: uuid.UUID, capability: str = "can_view") -> Client:
    """A client the supporter may act for today (else Client.DoesNotExist). The read is logged as support."""
    grant = supporter_grants_active(supporter=supporter, capability=capability).filter(client_id=client_id).first()
    if grant is None:
        raise Client.DoesNotExist
    client_log_reads(actor=supporter, clients=[grant.client], purpose=PURPOSE_SUPPORT)
    return grant.client


def client_guardians(*, client: Client) -> QuerySet[Guardian]:
    return client.guardians.all()


def client_supporter_grants(*, client: Client) -> QuerySet[SupporterGrant]:
    return client.supporter_grants.select_related("supporter", "recorded_by").order_by("-valid_from")
