"""Schemathesis against the OpenAPI schema: every operation, with inputs generated from the schema (valid and
not), signed in as the kind of user it is for, never answers with a server error."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.people import services as people_services
from tests.factories import make_user
from tests.mobility.world import load_tariffs
from tests.services.world import build_world

# The schema document is the app's own (served without touching the database). Generated requests keep the
# test's bearer token (no generated security values) and come from the examples and fuzzing phases, valid and
# invalid input alike.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
schema.config.generation.update(with_security_parameters=False, max_examples=30)
schema.config.phases.update(phases=["examples", "fuzzing"])


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calling the WSGI app directly would close the test's database connection after each request (Django's
    test client switches that off the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db) -> dict[str, str]:
    """A provider with an agreement and claims, and a dispatch centre of the same organiser with a tariff."""
    with clock.pinned(clock.now()):
        world = build_world()
        load_tariffs()
    dispatch = make_user(Role.DISPATCH, organiser_code="lansi-uusimaa")
    return {
        "provider": people_services.api_token_create(actor=None, user=world.provider_user, name="schema")[1],
        "dispatch": people_services.api_token_create(actor=None, user=dispatch, name="schema")[1],
    }


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation__never_a_server_error(case, tokens):
    token = tokens["provider"] if "/provider" in case.operation.path else tokens["dispatch"]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])
