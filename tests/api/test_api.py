import pytest
from django.urls import reverse

from kukkaro.core.roles import Role
from kukkaro.people import services
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _token(role: Role) -> str:
    _row, token = services.api_token_create(actor=None, user=make_user(role), name="test")
    return token


def test_api__without_token__is_unauthorised(client):
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/municipalities").status_code == 401


def test_api__dispatch_token__sees_who_it_is(client):
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {_token(Role.DISPATCH)}"})
    assert response.status_code == 200
    assert response.json()["role"] == "dispatch"
    assert response.json()["organiser"] == "lansi-uusimaa"


def test_api__municipalities__by_statistics_finland_code(client):
    response = client.get("/api/v1/municipalities", headers={"Authorization": f"Bearer {_token(Role.DISPATCH)}"})
    by_code = {m["code"]: m for m in response.json()}
    assert len(by_code) == 16
    assert by_code["049"]["name_sv"] == "Esbo"
    assert by_code["398"]["organiser"] == "paijat-hame"


@pytest.mark.parametrize("role", [Role.SOCIAL_WORKER, Role.FINANCE, Role.ADMIN])
def test_api__token_of_a_role_without_api_access__is_unauthorised(client, role):
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {_token(role)}"})
    assert response.status_code == 401


def test_api__session_login_alone__does_not_open_the_api(client):
    client.force_login(make_user(Role.DISPATCH))
    assert client.get("/api/v1/me").status_code == 401


def test_api__every_operation__requires_authentication():
    from kukkaro.api.api import api

    schema = api.get_openapi_schema()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security"), f"{method.upper()} {path} has no authentication"


def test_api__every_operation__answers_no_store(client):
    """Every operation of the schema, with and without a token, found or not: no answer may be cached."""
    import re
    import uuid

    from kukkaro.api.api import api

    headers = {
        "provider": {"Authorization": f"Bearer {_token(Role.PROVIDER)}"},
        "dispatch": {"Authorization": f"Bearer {_token(Role.DISPATCH)}"},
    }
    answers = []
    for path, operations in api.get_openapi_schema()["paths"].items():
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for method in operations:
            for auth in [{}, headers["provider" if "/provider" in path else "dispatch"]]:
                response = client.generic(method.upper(), url, data="{}", content_type="application/json", headers=auth)
                answers.append((method, path, response.status_code, response.get("Cache-Control", "")))
    assert len(answers) > 10
    assert [answer for answer in answers if "no-store" not in answer[3]] == []
    schema_answer = client.get(reverse("api:openapi-json"))
    assert "no-store" in schema_answer["Cache-Control"]


def test_api__openapi_schema__is_openapi_3_1(client):
    response = client.get(reverse("api:openapi-json"))
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")
