"""Every URL pattern × every role (and anonymous), against the rules in kukkaro.core.permissions.

A URL whose view declares neither ``@requires(action)`` nor ``@public`` fails here, so no page can be added
without saying who may see it. URL parameters are filled from ``PARAMETER_VALUES``; a new parameter name fails
until it is given a value.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import translation

from kukkaro.core.permissions import RULES, Action
from kukkaro.core.roles import PERSON_ROLES, Role
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
#: Everyone who can sign in (a system actor never does), and nobody.
PEOPLE = [role for role in Role if role in PERSON_ROLES]
ROLES = [*PEOPLE, ANONYMOUS]


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
    users = {role: make_user(role, organiser_code="lansi-uusimaa") for role in PEOPLE if role != Role.CLIENT}
    users[Role.CLIENT] = make_user(Role.CLIENT, national_id=own.national_id)
    spending = build_world()  # providers, claims and payments in Länsi-Uusimaa
    users[Role.PROVIDER] = spending.provider_user
    return {
        "sessions": {role: _session_of(user) for role, user in users.items()},
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


def _session_of(user) -> str:
    """The key of a session signed in as ``user``, once for the module: signing in per test (a session and an
    audit event each time) was most of a test's time."""
    signed_in = Client()
    signed_in.force_login(user)
    return signed_in.cookies[settings.SESSION_COOKIE_NAME].value


def _sign_in(client, world: dict, role) -> None:
    """``client`` as ``role``'s user, in the session signed in for the module (each test's changes to it are
    rolled back with the test)."""
    client.cookies[settings.SESSION_COOKIE_NAME] = world["sessions"][role]


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
        _sign_in(client, world, role)
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
        _sign_in(client, world, next(role for role in PEOPLE if role in RULES[route.action].roles))
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
    _sign_in(client, world, role)
    url = _url(route, world, client_key="other_client")
    response = client.post(url) if getattr(route.callback, "kukkaro_post_only", False) else client.get(url)
    assert response.status_code in {403, 404}
    assert b"Vieras" not in response.content


def test_client_url__other_organiser__leaves_no_read_in_the_clients_log(client, world):
    from kukkaro.core.models import AuditEvent

    client.force_login(world["users"][Role.SOCIAL_WORKER])
    client.get(reverse("people:client_detail", kwargs={"client_id": world["other_client"].pk}))
    assert not AuditEvent.objects.filter(data_subject_id=world["other_client"].pk, kind="read").exists()


# --- What each role sees on its pages ---------------------------------------------------------------------
#
# The walk above asks "does each URL answer each role as the table says?". The crawl below asks what a person
# meets on the pages they can open: every link they are shown must open for them (no link leads to a 403), and
# the text they read holds no UUID and no code (audit action codes, enum values, catalogue codes).

#: Links that rightly answer with a redirect rather than a page: URL name → why.
REDIRECTING_LINKS = {
    "core:home": "the front door sends a signed-in person to their own front page",
}
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)


class _PageReader(HTMLParser):
    """The internal links of a page and the text a person reads on it (not scripts, styles or attributes)."""

    SKIPPED = frozenset({"script", "style", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.text: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self._skipping += 1
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith("/") and not href.startswith("//"):
                self.links.append(href.split("#", 1)[0])

    def handle_endtag(self, tag):
        if tag in self.SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        if not self._skipping:
            self.text.append(data)


def _read(response) -> _PageReader:
    reader = _PageReader()
    reader.feed(response.content.decode())
    return reader


def _pages_of(role, world, client) -> Iterator[tuple[str, object]]:
    """Every page ``role`` may open, as (url, response)."""
    for route in WEB_ROUTES:
        if route.public or role not in RULES[route.action].roles:
            continue
        if getattr(route.callback, "kukkaro_post_only", False) or getattr(route.callback, "kukkaro_not_html", False):
            continue
        url = _url(route, world)
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            yield url, response


def _machine_words() -> dict[str, str]:
    """Codes nobody should read, each with what it is: every audit action code, every enum value that looks
    made for machines (an underscore, hyphen or dot in it, or an English word where Finnish is read), and the
    catalogue's and rate tables' category codes."""
    from kukkaro.cases.models import RateCategory
    from kukkaro.core import audit_words
    from kukkaro.core.translation_checks import choices_classes
    from kukkaro.services.models import ServiceType

    words = dict.fromkeys(audit_words.described_actions(), "an audit action code")
    for module, qualname in choices_classes(Path(settings.BASE_DIR) / "kukkaro"):
        choices = import_module(module)
        for part in qualname.split("."):
            choices = getattr(choices, part)
        for member in choices:
            value = str(member.value)
            with translation.override("fi"):
                label = str(member.label)
            if re.search(r"[_.\-]", value) or (len(value) > 3 and value.isalpha() and value != label):
                words.setdefault(value, f"the value of {qualname}.{member.name}")
    # A service's code is shown in the catalogue on purpose: providers write it in their claim files.
    file_codes = set(ServiceType.objects.values_list("code", flat=True))
    for code in set(RateCategory.objects.values_list("code", flat=True)) - file_codes:
        if re.search(r"[_\-]", code):
            words.setdefault(code, "a rate category code")
    return words


def _codes_in(text: str, words: dict[str, str]) -> list[str]:
    found = [f"a UUID ({m})" for m in UUID.findall(text)]
    for token in set(re.findall(r"(?<![\w@/.-])[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*(?![\w/@-])", text)):
        if token in words:
            found.append(f"{words[token]} ({token!r})")
    return found


#: How many pages of one URL pattern the crawl reads per role (links on all of them are still followed).
PAGES_PER_PATTERN = 3


def _view_name(path: str) -> str:
    return resolve(path.split("?", 1)[0]).view_name


@pytest.mark.parametrize("role", PEOPLE, ids=str)
def test_pages__role__every_link_it_sees_opens_and_no_code_shows(client, world, role):
    """From every page ``role`` can open (in Finnish, the default language), and on from the pages its links lead
    to (up to ``PAGES_PER_PATTERN`` pages of one URL pattern): each internal link answers 200 for that role (or a
    redirect listed in ``REDIRECTING_LINKS``), and no page's text holds a UUID or a code."""
    client.force_login(world["users"][role])
    words = _machine_words()
    followed: dict[str, object] = {}
    read_per_pattern: dict[str, int] = {}
    broken: list[str] = []
    codes: list[str] = []
    queue = list(_pages_of(role, world, client))
    while queue:
        url, response = queue.pop(0)
        reader = _read(response)
        codes += [f"{url}: {found}" for found in _codes_in(" ".join(reader.text), words)]
        for link in dict.fromkeys(reader.links):
            if link.startswith(settings.STATIC_URL) or link.startswith("/api/") or link in followed:
                continue
            followed[link] = answer = client.get(link)
            name = _view_name(link)
            if answer.status_code == 200:
                if answer["Content-Type"].startswith("text/html") and read_per_pattern.get(name, 0) < PAGES_PER_PATTERN:
                    read_per_pattern[name] = read_per_pattern.get(name, 0) + 1
                    queue.append((link, answer))
                continue
            if answer.status_code == 302 and name in REDIRECTING_LINKS:
                continue
            broken.append(f"{url} links to {link} ({name}), which answers {role} with {answer.status_code}")
    assert not broken, f"{role} is shown links it cannot follow:\n  " + "\n  ".join(broken)
    assert not codes, f"{role} reads codes on its pages:\n  " + "\n  ".join(sorted(set(codes)))
