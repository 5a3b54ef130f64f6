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
    assert first.cases["replaced"] == 8  # four in each organiser
    again = build_demo()
    assert again.clients_created == 0
    assert again.cases == {}
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


def test_build_demo__every_effective_decision_funds_exactly_its_budget():
    from kukkaro.cases.models import Decision, DecisionLine, DecisionState
    from kukkaro.ledger.models import Purse
    from kukkaro.ledger.periods import periods

    build_demo()
    states = set(Decision.objects.values_list("state", flat=True))
    assert {"draft", "proposed", "approved", "sent", "replaced"} <= states
    assert set(Decision.objects.filter(state=DecisionState.SENT).values_list("organiser__code", flat=True)) == {
        "lansi-uusimaa",
        "paijat-hame",
    }
    lines = DecisionLine.objects.filter(effective=True).select_related("purse", "purse__scheduled")
    assert lines.count() > 50
    for line in lines:
        purse = line.purse
        assert (purse.period_amount, purse.valid_until, purse.unit) == (
            line.amount_per_period,
            line.valid_until,
            line.purse_unit,
        )
        future = [
            p
            for p in periods(kind=purse.period_kind, valid_from=purse.valid_from, valid_until=purse.valid_until)
            if p.start > purse.current_period_start
        ]
        scheduled = Purse.objects.get(pk=purse.scheduled_id)
        assert scheduled.available_now == line.amount_per_period * len(future) - purse.borrowed_ahead
    assert not DecisionLine.objects.filter(effective=True, purse__isnull=True).exists()
    assert ledger_verify()[1] == []
