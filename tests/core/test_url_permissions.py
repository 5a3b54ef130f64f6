"""Every URL pattern × every role (and anonymous), against the rules in kukkaro.core.permissions.

A URL whose view declares neither ``@requires(action)`` nor ``@public`` fails here, so no page can be added
without saying who may see it. URL parameters are filled from ``PARAMETER_VALUES``; a new parameter name fails
until it is given a value.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from kukkaro.core.permissions import RULES, Action
from kukkaro.core.roles import Role
from tests.cases.world import INDICATIVE_PAGES, build_case
from tests.factories import client_in, make_user
from tests.mobility.world import build_lease, build_trip_activity
from tests.services.world import add_activity, build_world

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Route:
    name: str
    callback: object
    parameters: tuple[str, ...]

    @property
    def action(self) -> Action | None:
        return getattr(self.callback, "kukkaro_action", None)

    @property
    def public(self) -> bool:
        return bool(getattr(self.callback, "kukkaro_public", False))

    @property
    def api(self) -> bool:
        return bool(getattr(self.callback, "kukkaro_api", False))


def _walk(patterns, namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield Route(
                name=f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed {entry.pattern}>",
                callback=entry.callback,
                parameters=tuple(entry.pattern.regex.groupindex),
            )


ROUTES = list(_walk(get_resolver().url_patterns))
WEB_ROUTES = [route for route in ROUTES if not route.api]
ROLES = [*Role, ANONYMOUS]


def test_every_url__declares_a_rule():
    undeclared = [r.name for r in WEB_ROUTES if r.action is None and not r.public]
    assert undeclared == [], f"views without @requires or @public: {undeclared}"


def test_every_action__has_a_rule_and_every_url_is_named():
    assert set(RULES) == set(Action)
    assert not [r.name for r in ROUTES if "<unnamed" in r.name]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One user per role in Länsi-Uusimaa, a client there and a client in Päijät-Häme, with cases, providers,
    claims and payments. Built once for the module inside a transaction that is rolled back at its end; each test
    runs in a savepoint within it (as Django's setUpTestData does), so what a test changes is undone."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _each_test_in_a_savepoint(db):
    """Every test here uses the database inside the module's world transaction."""


def _build_world() -> dict:
    own = client_in("lansi-uusimaa", first_names="Oma")
    other = client_in("paijat-hame", first_names="Vieras")
    users = {role: make_user(role, organiser_code="lansi-uusimaa") for role in Role if role != Role.CLIENT}
    users[Role.CLIENT] = make_user(Role.CLIENT, national_id=own.national_id)
    spending = build_world()  # providers, claims and payments in Länsi-Uusimaa
    users[Role.PROVIDER] = spending.provider_user
    return {
        "own_client": own,
        "other_client": other,
        "users": users,
        "own_case": build_case(own, worker=users[Role.SOCIAL_WORKER]),
        "other_case": build_case(other, worker=make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame")),
        "spending": spending,
        "activity": add_activity(spending),
        "trips": build_trip_activity(worker=users[Role.SOCIAL_WORKER], approver=users[Role.DECISION_MAKER]),
        "lease": build_lease(own, worker=users[Role.SOCIAL_WORKER], approver=users[Role.DECISION_MAKER]),
    }


def _url(route: Route, world: dict, *, client_key: str = "own_client") -> str:
    case = world["own_case" if client_key == "own_client" else "other_case"]
    calculation = case.indicative if route.name in INDICATIVE_PAGES else case.final
    spending, activity = world["spending"], world["activity"]
    parameter_values = {
        "client_id": world[client_key].pk,
        "calculation_id": calculation.pk,
        "decision_id": case.decision.pk,
        "provider_id": spending.provider.pk,
        "change_id": activity.bank_change.pk,
        "line_id": spending.line.pk,
        "agreement_id": spending.agreement.pk,
        "claim_id": activity.disputed.pk,
        "batch_id": activity.batch.pk,
        "upload_id": activity.upload.pk,
        "service_code": spending.day_activity.code,
        "import_id": world["trips"].trip_import.pk,
        "leg_id": world["trips"].review_leg.pk,
        "lease_id": world["lease"].pk,
    }
    missing = [p for p in route.parameters if p not in parameter_values]
    assert not missing, f"{route.name}: add a value for URL parameter(s) {missing} in this test"
    return reverse(route.name, kwargs={p: parameter_values[p] for p in route.parameters})


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("people:login"))


@pytest.mark.parametrize("route", WEB_ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize("role", ROLES, ids=str)
def test_url__role__gets_the_expected_outcome(client, world, route, role):
    if role != ANONYMOUS:
        client.force_login(world["users"][role])
    response = client.get(_url(route, world))
    if role != ANONYMOUS:
        # Whatever a signed-in person is answered — a page, a refusal, a redirect, a file — no cache keeps it.
        assert "no-store" in response.get("Cache-Control", ""), f"{route.name}: {role} got a storable answer"
    if route.public:
        assert not _is_login_redirect(response), f"{route.name} is public but asked {role} to sign in"
        assert response.status_code < 500
        return
    if role == ANONYMOUS:
        assert _is_login_redirect(response), f"{route.name}: anonymous got {response.status_code}"
    elif role in RULES[route.action].roles:
        assert response.status_code in {200, 302, 405}, f"{route.name}: {role} got {response.status_code}"
        assert not _is_login_redirect(response)
    else:
        assert response.status_code == 403, f"{route.name}: {role} should be refused, got {response.status_code}"


# Files that must exist for the walk below to mean something; any new download is found by the walk itself.
KNOWN_DOWNLOADS = {
    "cases:decision_document",
    "services:payment_batch_pain001",
    "services:payment_batch_csv",
    "provider:upload_results_csv",
    "mobility:trip_import_results",
    "mobility:cohort_comparison_csv",
}


def test_every_download__is_marked_no_store(client, world):
    """Every URL as the first role allowed to see it: each answer that is a file (decision PDFs, payment files,
    exports, result files) carries ``Cache-Control: no-store``."""
    downloads = {}
    for route in WEB_ROUTES:
        if route.public:
            continue
        client.force_login(world["users"][next(iter(RULES[route.action].roles))])
        response = client.get(_url(route, world))
        if response.has_header("Content-Disposition"):
            downloads[route.name] = response.get("Cache-Control", "")
    assert set(downloads) >= KNOWN_DOWNLOADS, f"not reached as files: {KNOWN_DOWNLOADS - set(downloads)}"
    assert {name: value for name, value in downloads.items() if "no-store" not in value} == {}


CLIENT_ROUTES = [r for r in WEB_ROUTES if {"client_id", "calculation_id", "decision_id"} & set(r.parameters)]


@pytest.mark.parametrize("route", CLIENT_ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize("role", [Role.SOCIAL_WORKER, Role.DECISION_MAKER, Role.ADMIN], ids=str)
def test_client_url__other_organisers_client__is_not_found(client, world, route, role):
    """A Länsi-Uusimaa worker cannot reach a Päijät-Häme client by any client URL — it looks like no client."""
    client.force_login(world["users"][role])
    url = _url(route, world, client_key="other_client")
    response = client.post(url) if getattr(route.callback, "kukkaro_post_only", False) else client.get(url)
    assert response.status_code in {403, 404}
    assert b"Vieras" not in response.content


def test_client_url__other_organiser__leaves_no_read_in_the_clients_log(client, world):
    from kukkaro.core.models import AuditEvent

    client.force_login(world["users"][Role.SOCIAL_WORKER])
    client.get(reverse("people:client_detail", kwargs={"client_id": world["other_client"].pk}))
    assert not AuditEvent.objects.filter(data_subject_id=world["other_client"].pk, kind="read").exists()
