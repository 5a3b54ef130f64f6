"""``reach`` and ``visible`` say what ``RULES`` says, for every role and every action: the organiser scope of
selectors is read from the permission table, never restated (ADR 0027)."""

from dataclasses import dataclass

import pytest

from kukkaro.core.actors import SystemActor
from kukkaro.core.permissions import (
    RULES,
    Action,
    Reach,
    Scope,
    can,
    organiser_id_for,
    reach,
    same_organiser,
    visible,
)
from kukkaro.core.roles import Role
from kukkaro.people import selectors
from kukkaro.people.models import Client
from tests.factories import client_in, make_user, organiser


@dataclass(frozen=True)
class _Someone:
    """A person of ``role`` without a database row: ``can`` and ``reach`` read only these fields."""

    role: Role
    organiser_id: int | None
    national_id: str | None = None
    pk: int = 1
    is_authenticated: bool = True
    is_active: bool = True


def _actor(role: Role, organiser_id: int | None):
    if role == Role.SYSTEM:
        return SystemActor("test", organiser_id=organiser_id)
    return _Someone(role=role, organiser_id=organiser_id)


def _expected(role: Role, action: Action, organiser_id: int | None) -> Reach:
    """What the table says, read the plain way."""
    rule = RULES[action]
    if role not in rule.roles:
        return Reach(Scope.NONE)
    if rule.on_object is None:
        return Reach(Scope.ALL)
    if rule.on_object is same_organiser:
        return Reach(Scope.ORGANISER, organiser_id) if organiser_id is not None else Reach(Scope.NONE)
    return Reach(Scope.PER_OBJECT)


@pytest.fixture(scope="module")
def two_clients(django_db_setup, django_db_blocker):
    """One client in each organiser, for the whole module (rolled back at its end)."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        own, other = client_in("lansi-uusimaa"), client_in("paijat-hame")
        yield own, other
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _each_test_in_a_savepoint(db):
    """Every test here uses the database inside the module's transaction."""


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_reach__every_role__is_what_the_table_grants(action):
    for role in Role:
        for organiser_id in (7, None):
            assert reach(_actor(role, organiser_id), action) == _expected(role, action, organiser_id), (
                role,
                organiser_id,
            )


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_visible__every_role__holds_exactly_the_objects_can_allows(two_clients, action):
    """``visible`` and ``can`` agree on an object of the actor's own organiser and on one of another."""
    own, other = two_clients
    for role in Role:
        actor = _actor(role, own.organiser_id)
        scope = reach(actor, action).scope
        queryset = Client.objects.filter(pk__in=[own.pk, other.pk])
        if scope == Scope.PER_OBJECT:
            with pytest.raises(ValueError, match="not scoped by organiser"):
                visible(queryset, actor, action)
            continue
        shown = set(visible(queryset, actor, action).values_list("pk", flat=True))
        allowed = {client.pk for client in (own, other) if can(actor, action, client)}
        assert shown == allowed, (role, scope)
        assert (own.pk in shown) == (role in RULES[action].roles), role
        if RULES[action].on_object is same_organiser:
            assert other.pk not in shown, role


def test_visible__an_actor_of_no_organiser__sees_nothing_of_an_organiser_rule(two_clients):
    for action, rule in RULES.items():
        if rule.on_object is same_organiser:
            for role in rule.roles:
                assert not visible(Client.objects.all(), _actor(role, None), action).exists(), (action, role)


def test_visible__nobody_signed_in__sees_nothing(two_clients):
    for action in Action:
        assert reach(None, action) == Reach(Scope.NONE)
        assert organiser_id_for(None) is None


def test_visible__follows_a_lookup_path_to_the_organiser(two_clients):
    from kukkaro.core.models import Municipality

    own, _other = two_clients
    worker = _actor(Role.SOCIAL_WORKER, own.organiser_id)
    found = visible(Municipality.objects.all(), worker, Action.CLIENT_VIEW)
    assert set(found.values_list("organiser_id", flat=True)) == {own.organiser_id}
    by_path = visible(Client.objects.all(), worker, Action.CLIENT_VIEW, organiser_field="municipality__organiser")
    assert set(by_path.values_list("pk", flat=True)) == {own.pk}


@pytest.mark.parametrize("role", [role for role in Role if role != Role.SYSTEM], ids=str)
def test_clients_visible_to__every_role__follows_the_table(two_clients, role):
    """``clients_visible_to`` is the table's reach over clients: an administrator sees none to work on, but its
    organiser's through the access-log action the table grants it."""
    own, other = two_clients
    user = make_user(role)
    for action in (Action.CLIENT_VIEW, Action.CLIENT_SEARCH, Action.CLIENT_ACCESS_LOG_VIEW, Action.CASE_VIEW):
        shown = set(selectors.clients_visible_to(user, action).values_list("pk", flat=True)) & {own.pk, other.pk}
        granted = role in RULES[action].roles and user.organiser_id == organiser().pk
        assert shown == ({own.pk} if granted else set()), (role, action)
