"""Which database a test runs on, for the few tests of a path only PostgreSQL has.

``postgresql_only`` skips such a test on SQLite, and only there: on PostgreSQL the test runs, and a broken path
fails instead of disappearing from the report as a skip."""

import pytest
from django.db import connection


def postgresql_only(reason: str) -> None:
    """Skip the calling test when this run is on SQLite (``reason``: what only PostgreSQL has)."""
    if connection.vendor == "sqlite":
        pytest.skip(f"PostgreSQL only: {reason}")
