"""Fixtures shared by every test. Kept small: factories live in tests/factories.py."""

import pytest

from tests.worlds import (  # noqa: F401 - the session fixture is used by name
    _kukkaro_worlds_closed_at_the_end,
    arrange_worlds,
    close_worlds_after,
    reference_data_ensured,
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A shared world (tests/worlds.py) is rolled back once the next test does not ask for it, before that test's
    module sets anything up."""
    result = yield
    close_worlds_after(item, nextitem)
    return result


_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences", "django_db_serialized_rollback"}


@pytest.fixture
def _kukkaro_worlds_arranged(request, _fast_passwords, _default_language):
    """A shared world is built as every test starts: fast password hashing, the default language."""
    arrange_worlds(request)


@pytest.fixture
def _django_db_helper(_kukkaro_worlds_arranged, _django_db_helper):
    """pytest-django's own (which begins each database test), once the shared world the test asks for is open and
    any other rolled back (tests/worlds.py): that world's transaction must be outside the test's."""
    return _django_db_helper


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Organisers and municipalities come from a data migration; a transactional test empties every table when
    it ends, so put them back for whichever database test comes next."""
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(_DB_FIXTURES & set(request.fixturenames))
    if not uses_db:
        return
    request.getfixturevalue("_django_db_helper")  # the database is set up (as the test asked) before we look
    reference_data_ensured()


@pytest.fixture
def on_postgres():
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language (Finnish). A request through the test client leaves its language
    active in the thread, so without this a test's messages would depend on which test ran before it."""
    from django.utils import translation

    translation.activate("fi")
    yield
    translation.activate("fi")


@pytest.fixture(autouse=True)
def _ledger_caches_forgotten():
    """A transactional test flushes the database when it ends, system purses included; the ledger's per-process
    caches of purse ids must not carry them into the next test."""
    yield
    from kukkaro.ledger.services import purse_caches_clear

    purse_caches_clear()
