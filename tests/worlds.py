"""Test worlds built once and shared by the tests that only need them to exist, each test still isolated.

Declare a world in a test module with ``shared_world``::

    def _build() -> dict:
        ...  # users, decisions, providers: whatever the tests of the module start from

    world = shared_world("world", _build, at=BUILT)

and ask for ``world`` in a test as for any fixture. The first test that asks builds the world inside an outer
transaction (``transaction.atomic()`` with the test database unblocked, the clock pinned to ``at`` and the
language given active); every test then runs in pytest-django's usual ``db`` transaction, which is a savepoint
within it and is rolled back after the test, as Django's ``TestCase.setUpTestData`` does. Each test gets its own
copy of the world: dataclasses, dicts, lists and tuples are copied and every model instance in them is read
again from the database, so what one test changes in memory or in the database never reaches the next.

The outer transaction is rolled back (and the ledger's per-process purse caches forgotten) as soon as a test
runs that does not ask for the world — another module's, a database test without it — and at the end of the
session. So a world never shows through to a test that did not ask for it, whatever the order of the tests, and
two modules that ask for the same world one after the other (the order pytest-django keeps) share one build.

A transactional test (``django_db(transaction=True)``, for real concurrency on PostgreSQL) cannot run inside an
outer transaction: for it the open world is closed first, and the world is built for that test alone, in the
committed database that pytest-django flushes afterwards.

``arrange_worlds`` must run before the test's database transaction begins and ``close_worlds_after`` after each
test's teardown; tests/conftest.py calls them from its override of pytest-django's ``_django_db_helper`` (which
every database test goes through first) and from ``pytest_runtest_teardown``.
"""

import contextlib
import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import models, transaction
from django.utils import translation

from kukkaro.core import clock

#: The attribute on a fixture function that carries its world's declaration.
_SPEC = "kukkaro_shared_world"


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    build: Callable[[], Any]
    at: dt.datetime | None
    language: str

    def built(self) -> Any:
        pin = clock.pinned(self.at) if self.at is not None else contextlib.nullcontext()
        with pin, translation.override(self.language):
            return self.build()


@dataclasses.dataclass
class _Open:
    spec: _Spec
    world: Any
    stack: contextlib.ExitStack


_open: list[_Open] = []  # at most one: the world whose outer transaction is open now


def shared_world(name: str, build: Callable[[], Any], *, at: dt.datetime | None = None, language: str = "fi"):
    """A fixture ``name`` giving each test a fresh copy of the world ``build()`` makes, built once (see above)
    with the clock pinned to ``at`` (if given) and ``language`` active, as the module's tests would build it."""
    spec = _Spec(name=name, build=build, at=at, language=language)

    def fixture(request):
        if _transactional(request.node):
            request.getfixturevalue("transactional_db")
            return spec.built()
        request.getfixturevalue("db")
        assert _open and _open[-1].spec is spec, f"{name}: arrange_worlds did not run before the test's database"
        return fresh(_open[-1].world)

    setattr(fixture, _SPEC, spec)
    fixture.__name__ = name
    fixture.__doc__ = f"The shared world {build.__module__}.{build.__qualname__}, fresh for this test."
    return pytest.fixture(name=name)(fixture)


def arrange_worlds(request) -> None:
    """Before a database test's own transaction: roll back an open world it does not ask for, and open the one it
    asks for unless it is open already (a transactional test gets none open)."""
    wanted = _wanted(request.node)
    close_worlds_unless(wanted)
    if wanted is None or _open:
        return
    request.getfixturevalue("django_db_setup")
    request.getfixturevalue("_kukkaro_worlds_closed_at_the_end")
    stack = contextlib.ExitStack()
    stack.enter_context(request.getfixturevalue("django_db_blocker").unblock())
    stack.enter_context(transaction.atomic())
    stack.callback(transaction.set_rollback, True)  # runs before the atomic block ends: it rolls back
    try:
        reference_data_ensured()
        world = wanted.built()
    except BaseException:
        stack.close()
        _forget_caches()
        raise
    _open.append(_Open(spec=wanted, world=world, stack=stack))


def close_worlds_after(item, nextitem) -> None:
    """After ``item`` and its fixtures are torn down: roll back the open world unless ``nextitem`` asks for it too
    (so a module's fixtures never start inside another module's world)."""
    if nextitem is not None:
        close_worlds_unless(_wanted(nextitem))


def close_worlds_unless(wanted: _Spec | None) -> None:
    if _open and _open[-1].spec is not wanted:
        close_worlds()


def close_worlds() -> None:
    """Roll back the open world, if any."""
    while _open:
        _open.pop().stack.close()
        _forget_caches()


@pytest.fixture(scope="session")
def _kukkaro_worlds_closed_at_the_end(django_db_setup):
    """Rolls back the last world before the test database is torn down (it depends on that database)."""
    yield
    close_worlds()


def fresh(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A copy of ``value`` whose model instances are read again from the database (the same instance twice in
    ``value`` is one new instance twice)."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    result: Any
    if isinstance(value, models.Model):
        result = value if value.pk is None else type(value)._base_manager.get(pk=value.pk)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        result = copy.copy(value)
        memo[id(value)] = result
        for f in dataclasses.fields(value):
            object.__setattr__(result, f.name, fresh(getattr(value, f.name), memo))
    elif isinstance(value, dict):
        result = {key: fresh(item, memo) for key, item in value.items()}
    elif isinstance(value, list):
        result = [fresh(item, memo) for item in value]
    elif isinstance(value, tuple) and not hasattr(value, "_fields"):
        result = tuple(fresh(item, memo) for item in value)
    else:
        result = value
    memo[id(value)] = result
    return result


def reference_data_ensured() -> None:
    """Organisers and municipalities come from a data migration; a transactional test empties every table when it
    ends, so they are put back for whichever database test comes next."""
    from kukkaro.core.models import Municipality, Organiser
    from kukkaro.core.reference_data import ORGANISERS, ensure_reference_data

    if Municipality.objects.count() < sum(len(o["municipalities"]) for o in ORGANISERS):
        ensure_reference_data(Organiser, Municipality)


def _wanted(item) -> _Spec | None:
    if item is None or _transactional(item):
        return None
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    specs = []
    for name in item.fixturenames:
        definitions = info.name2fixturedefs.get(name, ())
        spec = getattr(definitions[-1].func, _SPEC, None) if definitions else None
        if spec is not None:
            specs.append(spec)
    if len(specs) > 1:
        raise pytest.UsageError(f"{item.nodeid} asks for more than one shared world: {specs}")
    return specs[0] if specs else None


def _transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    return bool(
        {"transactional_db", "live_server", "django_db_reset_sequences"} & set(getattr(item, "fixturenames", ()))
    )


def _forget_caches() -> None:
    from kukkaro.ledger.services import purse_caches_clear

    purse_caches_clear()
