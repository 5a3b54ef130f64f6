"""Who may do what — the one place that says so.

An *action* names something a user wants to do. ``RULES`` maps each action to the roles that may do it and,
where the action concerns one object, a rule about that object (same organiser, own record…). Views declare
their action with ``@requires(Action.X)`` (or ``@public``); the API uses ``can()`` the same way; selectors
scope their querysets to the actor so that a missed check still cannot reveal another organiser's data. Pages
build their links with ``allowed_url``, which reads the target view's action, so nobody is shown a link that
would answer 403.

The table is also the one truth of *how far* a grant reaches: ``reach(actor, action)`` reads it (nothing, the
actor's own organiser where the rule is ``same_organiser``, or everything where the rule has no object rule), and
``visible(queryset, actor, action)`` filters a queryset by that reach, so selectors and views never restate a role
set or an organiser filter of their own (ADR 0027). Jobs and the demo act as ``core.actors.SystemActor``s of
``Role.SYSTEM``, checked here like anyone else (ADR 0028).

``tests/core/test_url_permissions.py`` walks every URL pattern for every role against this table: a URL
whose view declares neither ``requires`` nor ``public`` fails that test; it also follows, for every role, each link
on the pages that role can open and fails on any that does not open.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.urls import resolve, reverse

from kukkaro.core.actors import Actor
from kukkaro.core.roles import PERSON_ROLES, Role


class Action(StrEnum):
    DASHBOARD_VIEW = "dashboard.view"
    SESSION_EXTEND = "session.extend"
    CLIENT_SEARCH = "client.search"
    CLIENT_VIEW = "client.view"
    CLIENT_ACCESS_LOG_VIEW = "client.access_log.view"
    AUDIT_LOG_VIEW = "audit.view"
    USER_LIST = "user.list"
    PORTAL_VIEW = "portal.view"
    PORTAL_ACCESS_LOG_VIEW = "portal.access_log.view"
    API_ACCESS = "api.access"
    REFERENCE_DATA_VIEW = "reference.view"
    DECISION_APPROVE = "decision.approve"
    CASE_VIEW = "case.view"
    CASE_EDIT = "case.edit"
    DECISION_SEND = "decision.send"
    PROVIDER_REVIEW = "provider.review"
    PROVIDER_LIST = "provider.list"
    PROVIDER_SELF = "provider.self"
    BANK_ACCOUNT_APPROVE = "provider.bank_account.approve"
    CATALOGUE_VIEW = "catalogue.view"
    CATALOGUE_MANAGE = "catalogue.manage"
    AGREEMENT_CREATE = "agreement.create"
    CLAIM_REVIEW = "claim.review"
    CLAIM_SUBMIT = "claim.submit"
    PAYMENT_MANAGE = "payment.manage"
    PAYMENT_PREPARE = "payment.prepare"
    PAYMENT_RELEASE = "payment.release"
    PAYMENT_CONFIRM = "payment.confirm"
    TARIFF_MANAGE = "tariff.manage"
    TRIP_IMPORT = "trip.import"
    TRIP_REVIEW = "trip.review"
    TRIP_AUTHORIZE = "trip.authorize"
    TRANSPORT_COMPARE = "transport.compare"
    JOB_RUN = "job.run"


ObjectRule = Callable[[Any, Any], bool]


def same_organiser(user: Any, obj: Any) -> bool:
    return user.organiser_id is not None and obj.organiser_id == user.organiser_id


def own_client_record(user: Any, obj: Any) -> bool:
    return user.national_id is not None and obj.national_id == user.national_id


@dataclass(frozen=True)
class OfOrganiser:
    """Something of an organiser not loaded yet (a new price cap, a batch to prepare), for checking an organiser
    rule before it exists: ``authorize(actor, Action.X, OfOrganiser(organiser.pk))``."""

    organiser_id: int | None


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    on_object: ObjectRule | None = None


STAFF = frozenset({Role.SOCIAL_WORKER, Role.DECISION_MAKER, Role.FINANCE, Role.ANALYST, Role.ADMIN})
CASEWORK = frozenset({Role.SOCIAL_WORKER, Role.DECISION_MAKER})

RULES: dict[Action, Rule] = {
    Action.DASHBOARD_VIEW: Rule(STAFF | {Role.PROVIDER, Role.DISPATCH}),
    Action.SESSION_EXTEND: Rule(PERSON_ROLES),  # anyone signed in may keep their own session going
    Action.CLIENT_SEARCH: Rule(CASEWORK, same_organiser),  # the own organiser's register only
    Action.CLIENT_VIEW: Rule(CASEWORK, same_organiser),
    Action.CLIENT_ACCESS_LOG_VIEW: Rule(CASEWORK | {Role.ADMIN}, same_organiser),
    Action.AUDIT_LOG_VIEW: Rule(frozenset({Role.ADMIN}), same_organiser),
    Action.USER_LIST: Rule(frozenset({Role.ADMIN}), same_organiser),
    Action.PORTAL_VIEW: Rule(frozenset({Role.CLIENT, Role.SUPPORTER})),
    Action.PORTAL_ACCESS_LOG_VIEW: Rule(frozenset({Role.CLIENT}), own_client_record),
    Action.API_ACCESS: Rule(frozenset({Role.DISPATCH, Role.PROVIDER})),
    Action.REFERENCE_DATA_VIEW: Rule(STAFF | {Role.PROVIDER, Role.DISPATCH}),
    Action.DECISION_APPROVE: Rule(frozenset({Role.DECISION_MAKER}), same_organiser),
    Action.CASE_VIEW: Rule(CASEWORK, same_organiser),
    Action.CASE_EDIT: Rule(CASEWORK, same_organiser),
    Action.DECISION_SEND: Rule(CASEWORK, same_organiser),
    Action.PROVIDER_REVIEW: Rule(frozenset({Role.DECISION_MAKER, Role.ADMIN}), same_organiser),
    Action.PROVIDER_LIST: Rule(STAFF, same_organiser),
    Action.PROVIDER_SELF: Rule(frozenset({Role.PROVIDER})),
    Action.BANK_ACCOUNT_APPROVE: Rule(frozenset({Role.FINANCE}), same_organiser),
    Action.CATALOGUE_VIEW: Rule(STAFF | {Role.PROVIDER}),
    Action.CATALOGUE_MANAGE: Rule(frozenset({Role.FINANCE, Role.ADMIN}), same_organiser),
    Action.AGREEMENT_CREATE: Rule(CASEWORK, same_organiser),
    Action.CLAIM_REVIEW: Rule(CASEWORK, same_organiser),
    Action.CLAIM_SUBMIT: Rule(frozenset({Role.PROVIDER})),
    Action.PAYMENT_MANAGE: Rule(frozenset({Role.FINANCE}), same_organiser),
    # Each step of a payment batch is finance's; that the steps are taken by different people (who prepared does
    # not release, who approved a bank account does not release a batch paying to it) is checked on the batch in
    # ``services.payments`` and by the database.
    Action.PAYMENT_PREPARE: Rule(frozenset({Role.FINANCE}), same_organiser),
    Action.PAYMENT_RELEASE: Rule(frozenset({Role.FINANCE}), same_organiser),
    Action.PAYMENT_CONFIRM: Rule(frozenset({Role.FINANCE}), same_organiser),
    # The system acts for one organiser here: the demo builder loads tariffs, ``import_trips`` imports files.
    Action.TARIFF_MANAGE: Rule(frozenset({Role.FINANCE, Role.ADMIN, Role.SYSTEM}), same_organiser),
    Action.TRIP_IMPORT: Rule(frozenset({Role.FINANCE, Role.ADMIN, Role.SYSTEM}), same_organiser),
    Action.TRIP_REVIEW: Rule(CASEWORK | {Role.FINANCE}, same_organiser),
    Action.TRIP_AUTHORIZE: Rule(frozenset({Role.DISPATCH}), same_organiser),
    Action.TRANSPORT_COMPARE: Rule(frozenset({Role.DECISION_MAKER, Role.FINANCE, Role.ADMIN}), same_organiser),
    # A scheduled job of every organiser (claims approved after the window, expiries, audit verification): only
    # the system runs them, never a person.
    Action.JOB_RUN: Rule(frozenset({Role.SYSTEM})),
}


def roles_for(action: Action) -> frozenset[Role]:
    return RULES[action].roles


def can(user: Any, action: Action, obj: Any = None) -> bool:
    """May ``user`` do ``action`` (on ``obj``, when the action concerns one)?"""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    rule = RULES[action]
    if user.role not in rule.roles:
        return False
    if obj is not None and rule.on_object is not None:
        return rule.on_object(user, obj)
    return True


def authorize(user: Any, action: Action, obj: Any = None) -> None:
    """Raise PermissionDenied unless ``can``."""
    if not can(user, action, obj):
        raise PermissionDenied(action)


class Scope(StrEnum):
    NONE = "none"  # the actor may not do the action at all
    ORGANISER = "organiser"  # only on its own organiser's objects (the rule is ``same_organiser``)
    ALL = "all"  # the rule has no object rule: whatever the role may do it, everywhere
    PER_OBJECT = "per_object"  # another object rule (own client record): checked object by object with ``can``


@dataclass(frozen=True)
class Reach:
    scope: Scope
    organiser_id: int | None = None


def organiser_id_for(actor: Actor | None) -> int | None:
    """The organiser an actor works for (a person's or a system actor's), or None."""
    return getattr(actor, "organiser_id", None)


def reach(actor: Actor | None, action: Action) -> Reach:
    """How far ``RULES`` lets ``actor`` do ``action``: nowhere, in its own organiser, everywhere, or object by
    object. An organiser-scoped grant to an actor of no organiser reaches nothing."""
    if not can(actor, action):
        return Reach(Scope.NONE)
    rule = RULES[action]
    if rule.on_object is None:
        return Reach(Scope.ALL)
    if rule.on_object is same_organiser:
        organiser_id = organiser_id_for(actor)
        return Reach(Scope.ORGANISER, organiser_id) if organiser_id is not None else Reach(Scope.NONE)
    return Reach(Scope.PER_OBJECT)


def visible[M: Model](
    queryset: QuerySet[M], actor: Actor | None, action: Action, *, organiser_field: str = "organiser"
) -> QuerySet[M]:
    """``queryset`` narrowed to what ``actor`` may ``action``: none, the own organiser's (by ``organiser_field``,
    a lookup path such as ``"provider__organiser"``) or all of it. The one organiser filter of selectors and
    views; an action whose rule is not about organisers cannot be scoped this way (ValueError)."""
    found = reach(actor, action)
    if found.scope == Scope.NONE:
        return queryset.none()
    if found.scope == Scope.ORGANISER:
        return queryset.filter(**{f"{organiser_field}_id": found.organiser_id})
    if found.scope == Scope.ALL:
        return queryset
    raise ValueError(f"{action} is not scoped by organiser; check each object with can()")


def allowed_url(user: Any, url_name: str, *, obj: Any = None, query: str = "", **kwargs: Any) -> str:
    """The URL of ``url_name`` if ``user`` may open it, else "" — so a page shows only links its reader can follow.

    Who may open it is read from the target view itself (its ``@requires(Action.X)`` and ``RULES``), never
    restated at the link; given ``obj``, the action's object rule (same organiser…) is checked on it too.
    Templates use ``{% allowed_url "name" key=value as href %}{% if href %}<a href="{{ href }}">…{% endif %}``.
    """
    url = reverse(url_name, kwargs=kwargs or None)
    view = resolve(url).func
    if not getattr(view, "kukkaro_public", False):
        action = getattr(view, "kukkaro_action", None)
        if action is None or not can(user, action, obj):
            return ""
    return f"{url}?{query}" if query else url


def requires(action: Action) -> Callable:
    """Decorate a view: only users whose role may do ``action`` get in; others get 403 (anonymous users are
    sent to sign in by LoginRequiredMiddleware before this runs)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            authorize(request.user, action)
            return view(request, *args, **kwargs)

        wrapped.kukkaro_action = action  # type: ignore[attr-defined]
        return wrapped

    return decorator


def post_only(view: Callable) -> Callable:
    """Mark a view that only acts on POST (its GET answers 405); page walks and accessibility checks skip it."""
    view.kukkaro_post_only = True  # type: ignore[attr-defined]
    return view


def not_html(view: Callable) -> Callable:
    """Mark a view that answers with something other than a page (a PDF); accessibility checks skip it."""
    view.kukkaro_not_html = True  # type: ignore[attr-defined]
    return view


def public(view: Callable) -> Callable:
    """Mark a view as open to everyone, signed in or not (sign-in pages, accessibility statement…)."""
    view = login_not_required(view)
    view.kukkaro_public = True  # type: ignore[attr-defined]
    return view
