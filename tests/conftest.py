"""Fixtures shared by every test. Kept small: factories live in tests/factories.py."""

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def on_postgres():
    from django.db import connection

    return connection.vendor == "postgresql"
