"""Production settings: `check --deploy` passes, and unsafe combinations refuse to start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "KUKKARO_ENV": "production",
    "SECRET_KEY": "x" * 20 + "a-long-random-looking-secret-key-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "kukkaro.example.fi",
    "DATABASE_URL": "postgres://kukkaro@127.0.0.1:5432/kukkaro",
    "IDENTIFICATION_ADAPTER": "",
    "AUDIT_HMAC_KEYS": "prod:cHJvZHVjdGlvbi1hdWRpdC1rZXktZm9yLXRoZS1kZXBsb3ktY2hlY2s=",
}


def _kukkaro(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DEBUG"}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "kukkaro", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy__production_settings__pass_without_warnings():
    result = _kukkaro("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"IDENTIFICATION_ADAPTER": "kukkaro.people.identification.TestIdentityProvider"}, "test identity provider"),
        ({"DEBUG": "true"}, "DEBUG"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"AUDIT_HMAC_KEYS": ""}, "AUDIT_HMAC_KEYS"),
        ({"AUDIT_HMAC_KEYS": f"prod:{'x' * 44},{settings.DEVELOPMENT_AUDIT_HMAC_KEYS}"}, "development key"),
        ({"AUDIT_HMAC_KEYS": "prod:c2hvcnQ="}, "at least 32"),
    ],
)
def test_production__unsafe_settings__refuse_to_start(override, message):
    env = {**PRODUCTION_ENV, **override}
    for name in ("SECRET_KEY", "AUDIT_HMAC_KEYS"):
        if not override.get(name, "x"):
            env.pop(name)
    result = _kukkaro("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_development__nothing_set__runs_on_sqlite():
    result = _kukkaro(
        "shell", "-v", "0", "-c", "from django.db import connection; print(connection.vendor)", DATABASE_URL=""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "sqlite"


def test_postgresql_without_kukkaro_env__refuses_to_start():
    clean = {k: v for k, v in os.environ.items() if k != "KUKKARO_ENV"}
    result = subprocess.run(
        [sys.executable, "-m", "kukkaro", "check"],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": "postgres://kukkaro@127.0.0.1:5432/kukkaro"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "Set KUKKARO_ENV" in result.stderr
