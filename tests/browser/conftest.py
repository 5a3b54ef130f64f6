"""Browser tests: headless Chromium (Debian's, driven by Playwright) against pytest-django's live server.

- One browser for the whole session, a fresh browser context (cookies, viewport) for every test.
- One live server and one world for the whole session (``browsing``, ``world``): the world is built once, on first
  use, and committed, so that the server's thread sees it on PostgreSQL too; every test that only reads pages (the
  page walk, keyboard, reflow, charts, error pages reached without changing the world) shares them. Such tests
  carry no ``django_db`` mark: they run, as pytest-django orders tests, after every transactional test, so no
  flush can empty the world under them (and if one did, the world is built again).
- A test that changes the world (a payment batch prepared, cancelled, answered) asks for ``isolated_browsing``
  and ``isolated_world`` instead: pytest-django's live server, a transactional test, a world of its own.
- People are signed in by creating a session with Django's test client and giving its cookie to the browser;
  the language is chosen with the language cookie, exactly as the language switcher leaves it.
- ``axe_violations``/``assert_axe_clean`` run axe-core (WCAG 2.0/2.1 A and AA rules) on the current page.

Run them alone with ``pytest tests/browser`` or leave them out with ``-m "not browser"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as DjangoTestClient

from kukkaro.core.roles import Role
from kukkaro.people.models import Client, User
from tests.factories import client_in, client_user_for, make_user

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LANGUAGES = ("fi", "sv", "en")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"width": 1280, "height": 900}
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
ORGANISER = "lansi-uusimaa"


# --- Browser ----------------------------------------------------------------------------------------------


class BrowserPool:
    """Playwright and one Chromium, started when a test first needs them and stopped as soon as the next test
    does not (see ``pytest_runtest_teardown`` below).

    Stopping early matters: Playwright's sync API keeps an event loop running in the main thread, and tests that
    run after the browser tests in the same pytest run (pytest-django runs transactional tests late, and tests
    without a database last) must not find one there.
    """

    #: Playwright's sync API keeps an asyncio event loop running in this thread, which makes Django refuse ORM
    #: calls from it ("You cannot call this from an async context"). The tests call the ORM only between browser
    #: steps, never concurrently with the loop. Set only while the browser runs: set for the whole pytest process
    #: it would leak into subprocesses of other tests (``check --deploy`` reports it as async.E001).
    ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None
        self._saved_async_unsafe: str | None = None

    def get(self) -> Any:
        if self._browser is None:
            self._start()
        return self._browser

    def _start(self) -> None:
        from django.db import DEFAULT_DB_ALIAS, connections
        from playwright.sync_api import sync_playwright

        # The live server needs transactional tests, which empty every table afterwards, including the
        # organisers and municipalities that a data migration put in. Serialized rollback (requested below)
        # puts them back from a snapshot that Django keeps on the connection object. But while Playwright's
        # event loop runs in this thread, asgiref hands Django a *different* connection object (connections
        # are kept per async context), and the rollback would silently find no snapshot. Give it the snapshot.
        snapshot = getattr(connections[DEFAULT_DB_ALIAS], "_test_serialized_contents", None)
        self._saved_async_unsafe = os.environ.get(self.ASYNC_UNSAFE)
        os.environ[self.ASYNC_UNSAFE] = "true"
        self._playwright = sync_playwright().start()
        if snapshot is not None:
            connections[DEFAULT_DB_ALIAS]._test_serialized_contents = snapshot
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def stop(self) -> None:
        if self._playwright is None:
            return
        from django.db import connections

        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            # Close the connections made while the loop ran; open ones would block dropping the test database.
            connections.close_all()
            self._playwright.stop()
            self._playwright = self._browser = None
            if self._saved_async_unsafe is None:
                os.environ.pop(self.ASYNC_UNSAFE, None)
            else:
                os.environ[self.ASYNC_UNSAFE] = self._saved_async_unsafe


_POOL = BrowserPool()


@pytest.fixture(scope="session")
def browser_pool(django_db_setup: None) -> Iterator[BrowserPool]:
    """The session's one browser (``browser_pool.get()``)."""
    if not Path(CHROMIUM).exists():
        # Never skipped: an accessibility check that silently does not run is worse than a failing one.
        pytest.fail(f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium'; ./dev test installs it)")
    yield _POOL
    _POOL.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Stop the browser once the next test (if any) does not need it."""
    result = yield
    if nextitem is None or "browser_pool" not in getattr(nextitem, "fixturenames", ()):
        _POOL.stop()
    return result


class Browsing:
    """One browser context for one test, pointed at the live server."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.base_url = base_url
        self.context = browser.new_context(base_url=base_url, viewport=DESKTOP)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.stylesheet_failures: list[str] = []
        self.page.on(
            "response",
            lambda r: (
                self.stylesheet_failures.append(f"{r.status} {r.url}")
                if r.request.resource_type in {"stylesheet", "script"} and not r.ok
                else None
            ),
        )

    def _set_cookie(self, name: str, value: str) -> None:
        self.context.add_cookies([{"name": name, "value": value, "url": self.base_url}])

    def sign_in(self, user: User) -> None:
        """Give the browser a signed-in session for ``user`` (as if they had just signed in)."""
        django_client = DjangoTestClient()
        django_client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        self._set_cookie(settings.SESSION_COOKIE_NAME, django_client.cookies[settings.SESSION_COOKIE_NAME].value)

    def use_language(self, language: str) -> None:
        assert language in dict(settings.LANGUAGES), language
        self._set_cookie(settings.LANGUAGE_COOKIE_NAME, language)

    def goto(self, path: str) -> Any:
        response = self.page.goto(path, wait_until="load")
        assert response is not None, f"no response for {path}"
        return response

    def set_width(self, width: int, height: int = 800) -> None:
        self.page.set_viewport_size({"width": width, "height": height})

    def html_lang(self) -> str:
        return self.page.evaluate("document.documentElement.lang")

    def assert_styles_loaded(self) -> None:
        """Guard against false passes: contrast and reflow checks mean nothing without the stylesheet."""
        assert not self.stylesheet_failures, f"stylesheet or script failed to load: {self.stylesheet_failures}"
        rules = self.page.evaluate("Array.from(document.styleSheets).reduce((n, s) => n + s.cssRules.length, 0)")
        assert rules > 20, "kukkaro.css did not load"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def isolated_browsing(
    browser_pool: BrowserPool, live_server: Any, django_db_serialized_rollback: None
) -> Iterator[Browsing]:
    """A browser context on pytest-django's live server: the test is transactional and has its own world; the
    migrations' reference data is put back after it (serialized rollback, see ``BrowserPool._start``)."""
    from kukkaro.core.models import Organiser

    assert Organiser.objects.exists(), "reference data was not restored: serialized rollback found no snapshot"
    session = Browsing(browser_pool.get(), live_server.url)
    yield session
    session.close()


class SharedSite:
    """The session's live server and world for the tests that do not change the world (see the module docstring).

    The server is pytest-django's ``LiveServer`` (its thread shares the connection of an in-memory SQLite
    database, as pytest-django's own live server does); it is started on first use and stopped at the end.
    """

    def __init__(self) -> None:
        self.server: Any = None
        self._world: World | None = None

    def url(self) -> str:
        if self.server is None:
            from pytest_django.live_server_helper import LiveServer

            self.server = LiveServer("localhost")
        return self.server.url

    def world(self) -> World:
        # A transactional test run after the world was built (only if tests are run out of pytest-django's order)
        # would have emptied the database; the world is then built again rather than shown half gone.
        if self._world is None or not User.objects.filter(pk=self._world.caseworker.pk).exists():
            from kukkaro.core.models import Municipality, Organiser
            from kukkaro.core.reference_data import ensure_reference_data

            ensure_reference_data(Organiser, Municipality)
            self._world = build_browser_world()
            self._world.add_clients(FULL_REGISTER)
        return self._world

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # its thread closes its own database connections
            self.server = None


_SITE = SharedSite()


@pytest.fixture(scope="session")
def shared_site(django_db_setup: None, django_db_blocker: Any) -> Iterator[SharedSite]:
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    # pytest-django creates the test database only if some selected test is marked for the database; the shared
    # site's tests are not (see ``shared_database``). Run alone, they would otherwise reach the configured
    # database itself.
    created = None
    if connection.settings_dict["NAME"] != connection.creation._get_test_db_name():
        with django_db_blocker.unblock():
            created = setup_databases(verbosity=0, interactive=False, aliases={connection.alias})
    yield _SITE
    _SITE.stop()
    if created is not None:
        _POOL.stop()  # it closes the connections made while Playwright's loop ran, which would block the drop
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=0)


@pytest.fixture
def shared_database(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[None]:
    """Database access for a test on the shared site: no transaction of its own, what it writes is committed."""
    marker = request.node.get_closest_marker("django_db")
    assert marker is None and "db" not in request.fixturenames and "transactional_db" not in request.fixturenames, (
        "a test on the shared site must not ask for a database of its own: its writes would be invisible to the "
        "live server (PostgreSQL) or would empty the shared world (transactional); use isolated_browsing"
    )
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def browsing(browser_pool: BrowserPool, shared_site: SharedSite, shared_database: None) -> Iterator[Browsing]:
    """A fresh browser context on the session's live server."""
    from axes.models import AccessAttempt, AccessFailureLog

    # Sign-in failures count per address as well as per account (ADR 0006): one test's wrong passwords must not
    # lock the next test's sign-in on the shared database.
    AccessAttempt.objects.all().delete()
    AccessFailureLog.objects.all().delete()
    session = Browsing(browser_pool.get(), shared_site.url())
    yield session
    session.close()


# --- axe-core ---------------------------------------------------------------------------------------------


def axe_violations(page: Any) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]},
    )
    return results.response["violations"]


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation.get('impact')}): {violation['help']}")
        lines.append(f"  {violation.get('helpUrl', '')}")
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            lines.append(f"    at {target}")
            summary = (node.get("failureSummary") or "").replace("\n", " / ")
            if summary:
                lines.append(f"       {summary}")
    return "\n".join(lines)


def assert_axe_clean(page: Any, where: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe found {len(violations)} violation(s) on {where}:\n{format_violations(violations)}"


# --- Data -------------------------------------------------------------------------------------------------


CLIENT_NAMES = [
    ("Aino", "Asiakas"),
    ("Björn", "Åkerlund"),
    ("Eeva-Liisa", "Väänänen"),
    ("Maria", "Sundström"),
    ("Juha", "Mäkinen"),
]
FULL_REGISTER = 27  # one more page than the views' PAGE_SIZE (25), so that pagination shows


@dataclass
class World:
    """Something on every page: clients in two organisers and both languages, audit events, an access log with
    a read by staff, and a client who can sign in to the portal."""

    caseworker: User
    portal_client: Client
    clients: list[Client] = field(default_factory=list)
    cases: dict = field(default_factory=dict)
    _spending: tuple | None = None
    _trips: Any = None
    _lease: Any = None

    def add_clients(self, total: int) -> None:
        """Fill the register of ``ORGANISER`` up to ``total`` clients."""
        for n in range(len(self.clients), total):
            first, last = CLIENT_NAMES[n % len(CLIENT_NAMES)]
            suffix = "" if n < len(CLIENT_NAMES) else f" {n}"
            self.clients.append(
                client_in(ORGANISER, first_names=first, last_name=f"{last}{suffix}", language=("fi", "sv")[n % 2])
            )

    def case_for(self, user: User | None) -> Any:
        """The case (calculations, a proposed decision) of the client ``user`` sees, built on first use."""
        from tests.cases.world import build_case

        client = self.client_for(user)
        if client.pk not in self.cases:
            self.cases[client.pk] = build_case(client, worker=self.caseworker)
        return self.cases[client.pk]

    def client_for(self, user: User | None) -> Client:
        """A client that ``user`` may see: their own record for a client, else one of the organiser's."""
        return self.portal_client

    def spending(self) -> tuple[Any, Any]:
        """(world, activity) of tests/services/world.py in ``ORGANISER``: a provider with an agreement, claims in
        every queue, a file of claims, a payment batch and a pending bank change — built on first use."""
        from tests.services.world import add_activity, build_world

        if self._spending is None:
            world = build_world()
            self._spending = (world, add_activity(world))
        return self._spending

    def trips(self) -> Any:
        """A transport client's imported trip file with a leg held for review (tests/mobility/world.py)."""
        from tests.mobility.world import build_trip_activity

        if self._trips is None:
            self.spending()  # the operator is one of its providers
            self._trips = build_trip_activity(
                worker=self.caseworker, approver=make_user(Role.DECISION_MAKER, organiser_code=ORGANISER)
            )
        return self._trips

    def lease(self) -> Any:
        """A leasing car of the portal client, from this month, with its odometer read at delivery."""
        from tests.mobility.world import build_lease

        if self._lease is None:
            self._lease = build_lease(
                self.portal_client,
                worker=self.caseworker,
                approver=make_user(Role.DECISION_MAKER, organiser_code=ORGANISER),
            )
        return self._lease

    def client_user(self) -> User:
        """The portal client's own account, made on first use: one account per identity code, however many tests
        of the shared world sign in as the client."""
        existing = User.objects.filter(role=Role.CLIENT, national_id=self.portal_client.national_id).first()
        return existing or client_user_for(self.portal_client)

    def user_in(self, role: Role) -> User:
        """A user of ``role``; staff work for the organiser whose clients the world holds; the provider user is the
        one of the spending world's provider."""
        if role == Role.CLIENT:
            return self.client_user()
        if role == Role.PROVIDER:
            return self.spending()[0].provider_user
        return make_user(role, organiser_code=ORGANISER)


def build_browser_world() -> World:
    from kukkaro.core.audit import PURPOSE_CASEWORK
    from kukkaro.people.selectors import client_log_reads

    caseworker = make_user(Role.SOCIAL_WORKER, organiser_code=ORGANISER, first_name="Sanna", last_name="Sosiaali")
    first, last = CLIENT_NAMES[0]
    portal_client = client_in(ORGANISER, first_names=first, last_name=last)
    w = World(caseworker=caseworker, portal_client=portal_client, clients=[portal_client])
    w.add_clients(len(CLIENT_NAMES))
    client_in("paijat-hame", first_names="Toisen", last_name="Alueen")
    client_log_reads(actor=caseworker, clients=[portal_client], purpose=PURPOSE_CASEWORK)
    return w


@pytest.fixture
def isolated_world(isolated_browsing: Browsing) -> World:
    """A world of the test's own, for a test that changes it (with ``isolated_browsing``)."""
    return build_browser_world()


@pytest.fixture
def world(browsing: Browsing, shared_site: SharedSite) -> World:
    """The session's shared world: more clients than fit on one page of a list, the rest built on first use."""
    return shared_site.world()
