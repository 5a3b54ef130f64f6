"""Schemathesis against the OpenAPI schema, signed in as the kind of user each operation is for: every operation,
with inputs generated from the schema (valid and not, its examples, its boundaries), and workflows that chain
operations (a claim made, then read). The API must conform to its own schema:

- never a server error; only documented status codes; every answer in its documented shape and content type;
- a request the schema does not allow is refused (4xx);
- a request the schema allows is never refused for its shape. It may be refused by a rule of the service (an
  unknown service code, a pickup in the past): that 422 has ``"type": "rule"`` in every error, and is the one
  refusal of valid data allowed here (``kukkaro.api.schemas``).

Bounded to stay within about a minute a database; ``./dev test`` runs it in CI."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from schemathesis.transport.serialization import Binary

from config.wsgi import application
from kukkaro.api.schemas import RULE
from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.people import services as people_services
from tests.factories import make_user
from tests.mobility.world import load_tariffs
from tests.services.world import build_world
from tests.worlds import shared_world

# The schema document is the app's own (served without touching the database). Generated requests keep the
# test's bearer token (no generated security values).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
schema.config.generation.update(with_security_parameters=False, max_examples=25)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])


@schemathesis.check
def valid_data_refused_only_by_rules(ctx, response, case):
    """Schemathesis's positive_data_acceptance, except that a 422 whose every error is a rule of the service (not
    the request's shape) is allowed: no schema can say which service codes exist or what day it is."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 422 and all(e.get("type") == RULE for e in response.json()["detail"]):
            return None
        raise


CHECKS = {"excluded_checks": [positive_data_acceptance], "additional_checks": [valid_data_refused_only_by_rules]}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calling the WSGI app directly would close the test's database connection after each request (Django's
    test client switches that off the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _build_tokens() -> dict[str, str]:
    with clock.pinned(clock.now()):
        world = build_world()
        load_tariffs()
    dispatch = make_user(Role.DISPATCH, organiser_code="lansi-uusimaa")
    return {
        "provider": people_services.api_token_create(actor=None, user=world.provider_user, name="schema")[1],
        "dispatch": people_services.api_token_create(actor=None, user=dispatch, name="schema")[1],
    }


#: A provider with an agreement and claims, and a dispatch centre of the same organiser with a tariff: built once
#: and shared by the module's tests (tests/worlds.py); a test is given the two API tokens.
tokens = shared_world("tokens", _build_tokens)


def _headers(tokens: dict[str, str], path: str) -> dict[str, str]:
    token = tokens["dispatch"] if "/dispatch" in path else tokens["provider"]
    return {"Authorization": f"Bearer {token}"}


def _sendable(case) -> None:
    """Werkzeug, which carries the requests to the WSGI app, writes an empty file as a part that Django's parser
    reads as no file at all (a real HTTP client does not): send a line break instead, as empty a CSV file."""
    if isinstance(case.body, dict):
        file = case.body.get("file")
        if file in (b"", "") or (isinstance(file, Binary) and file.data == b""):
            case.body = {**case.body, "file": b"\n"}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation__conforms_to_the_schema(case, tokens):
    _sendable(case)
    case.call_and_validate(headers=_headers(tokens, case.operation.path), **CHECKS)


@pytest.mark.django_db
def test_workflows__conform_to_the_schema(tokens):
    """Stateful: operations chained by what one answers and the next takes (an id, a number)."""

    class Workflow(schema.as_state_machine()):
        def before_call(self, case):
            _sendable(case)

        def get_call_kwargs(self, case):
            return {"headers": _headers(tokens, case.operation.path)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # Whether each operation refuses a missing or wrong token is checked per operation above; in a
            # workflow the check cannot tell the test's token from a generated one.
            excluded = [*CHECKS["excluded_checks"], ignored_auth]
            case.validate_response(
                response,
                transport_kwargs=kwargs,
                excluded_checks=excluded,
                additional_checks=CHECKS["additional_checks"],
            )

    Workflow.run(
        settings=settings(
            max_examples=15, stateful_step_count=5, deadline=None, suppress_health_check=list(HealthCheck)
        )
    )
