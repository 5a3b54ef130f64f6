import pytest

from kukkaro.core.audit import audit_verify
from kukkaro.core.identifiers import parse_hetu
from kukkaro.core.roles import Role
from kukkaro.demo.data import CLIENT_COUNT, build_demo
from kukkaro.ledger.verification import ledger_verify
from kukkaro.people.models import Client, User

pytestmark = pytest.mark.django_db


def test_build_demo__builds_the_region_and_is_safe_to_repeat():
    first = build_demo()
    assert first.clients_created == CLIENT_COUNT
    assert Client.objects.count() == CLIENT_COUNT
    snapshot = sorted(Client.objects.values_list("national_id", "first_names", "last_name"))
    assert first.purses_created == CLIENT_COUNT // 4
    again = build_demo()
    assert again.clients_created == 0
    assert again.purses_created == 0
    assert sorted(Client.objects.values_list("national_id", "first_names", "last_name")) == snapshot
    assert audit_verify()[1] == []
    assert ledger_verify()[1] == []


def test_build_demo__every_role_exists_in_both_organisers_and_codes_are_test_range():
    build_demo()
    for role in (Role.SOCIAL_WORKER, Role.DECISION_MAKER, Role.FINANCE, Role.ANALYST, Role.ADMIN, Role.DISPATCH):
        assert set(User.objects.filter(role=role).values_list("organiser__code", flat=True)) == {
            "lansi-uusimaa",
            "paijat-hame",
        }
    assert User.objects.filter(role=Role.PROVIDER).exists()
    assert User.objects.filter(role=Role.SUPPORTER).count() == 3
    assert all(parse_hetu(code).is_test_range for code in Client.objects.values_list("national_id", flat=True))
    languages = set(Client.objects.values_list("language", flat=True))
    assert languages == {"fi", "sv"}
    assert Client.objects.filter(organiser__code="paijat-hame").count() > 50
