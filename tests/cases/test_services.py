import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from kukkaro.cases import selectors, services
from kukkaro.cases.models import BudgetLine, CalculationStage, SupportMethod
from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from tests.cases.factories import rate_table
from tests.factories import client_in, make_user

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(TODAY):
        yield


@pytest.fixture
def worker():
    return make_user(Role.SOCIAL_WORKER)


@pytest.fixture
def client():
    return client_in("lansi-uusimaa", first_names="Helmi")


def test_assessment__versions_and_keeps_the_clients_view_apart(worker, client):
    first = services.assessment_create(
        actor=worker,
        client=client,
        areas={
            "daily_living": {
                "need_level": 3,
                "observations": "Tarvitsee apua aamuisin.",
                "client_view": "Haluan itse päättää aamuista.",
            },
            "mobility": {"need_level": 2},
        },
    )
    second = services.assessment_create(actor=worker, client=client, areas={"mobility": {"need_level": 3}})
    assert (first.version, second.version) == (1, 2)
    daily = first.areas.get(area="daily_living")
    assert daily.client_view == "Haluan itse päättää aamuista."
    assert daily.observations == "Tarvitsee apua aamuisin."
    assert selectors.latest_assessment(client=client) == second
    assert AuditEvent.objects.filter(action="assessment.create", data_subject_id=client.pk).count() == 2


def test_assessment__unknown_area_or_level__is_refused(worker, client):
    with pytest.raises(ValidationError):
        services.assessment_create(actor=worker, client=client, areas={"cooking": {"need_level": 1}})
    with pytest.raises(ValidationError):
        services.assessment_create(actor=worker, client=client, areas={"housing": {"need_level": 7}})


def test_support_plan__in_the_clients_words_with_how_it_was_supported(worker, client):
    record = services.support_record_create(
        actor=worker,
        client=client,
        method=SupportMethod.EASY_READ,
        supported_on=dt.date(2026, 3, 1),
        supporter_name="Sisko",
    )
    plan = services.support_plan_create(
        actor=worker,
        client=client,
        goals="Haluan käydä uimassa kahdesti viikossa.",
        who_helped="Sisko",
        support_record=record,
    )
    assert plan.version == 1
    assert plan.support_record.method == SupportMethod.EASY_READ
    with pytest.raises(ValidationError):
        services.support_plan_create(actor=worker, client=client, goals="  ")


def test_rate_tables__of_one_organiser_never_overlap():
    rate_table(valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31))
    with pytest.raises(ValidationError):
        rate_table(valid_from=dt.date(2026, 6, 1))
    rate_table(valid_from=dt.date(2027, 1, 1))
    rate_table("paijat-hame", valid_from=dt.date(2026, 1, 1))


def test_indicative_calculation__quantity_times_unit_cost_per_period(worker, client):
    rate_table()
    calc = services.calculation_create_indicative(
        actor=worker,
        client=client,
        lines=[
            {"category": "personal-assistance", "quantity": "40.5"},
            {"category": "transport-trips", "quantity": 18, "borrow_limit": 4},
            {"category": "transport-km", "quantity": 150},
        ],
    )
    lines = {line.category_code: line for line in calc.lines.all()}
    assert lines["personal-assistance"].amount_per_period == 131_625  # 40.5 h × 32.50 €
    assert lines["transport-trips"].amount_per_period == 18
    assert lines["transport-km"].amount_per_period == 150_000  # metres
    totals = calc.snapshot["totals"]
    assert totals["EUR"] == 131_625
    assert totals["estimated_cost_cents"] == 131_625 + 18 * 3000 + 150 * 180
    assert calc.snapshot["rate_table"]["valid_from"] == "2026-01-01"


def test_indicative_calculation__fractional_trips_and_adjustments_are_refused(worker, client):
    rate_table()
    with pytest.raises(ValidationError):
        services.calculation_create_indicative(
            actor=worker, client=client, lines=[{"category": "transport-trips", "quantity": "2.5"}]
        )
    with pytest.raises(ValidationError):
        services.calculation_create_indicative(
            actor=worker,
            client=client,
            lines=[{"category": "day-activity", "quantity": 4, "adjustment": 100, "adjustment_reason": "x"}],
        )


def test_final_calculation__every_adjustment_needs_a_reason(worker, client):
    rate_table()
    indicative = services.calculation_create_indicative(
        actor=worker, client=client, lines=[{"category": "day-activity", "quantity": 8}]
    )
    with pytest.raises(ValidationError):
        services.calculation_finalise(
            actor=worker, indicative=indicative, lines=[{"category": "day-activity", "quantity": 8, "adjustment": 5000}]
        )
    final = services.calculation_finalise(
        actor=worker,
        indicative=indicative,
        lines=[{"category": "day-activity", "quantity": 8, "adjustment": 5000, "adjustment_reason": "Retket kesällä"}],
    )
    line = final.lines.get()
    assert (line.computed_amount, line.adjustment, line.amount_per_period) == (78_400, 5000, 83_400)
    assert final.stage == CalculationStage.FINAL
    assert final.based_on == indicative


def test_budget_line__database_refuses_an_adjustment_without_reason(worker, client):
    rate_table()
    calc = services.calculation_create_indicative(
        actor=worker, client=client, lines=[{"category": "day-activity", "quantity": 8}]
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        BudgetLine.objects.filter(calculation=calc).update(adjustment=10, amount_per_period=78_410)


def test_calculation__rate_change_later_does_not_change_what_was_calculated(worker, client):
    table = rate_table()
    calc = services.calculation_create_indicative(
        actor=worker, client=client, lines=[{"category": "day-activity", "quantity": 8}]
    )
    table.categories.filter(code="day-activity").update(unit_cost_cents=99_999)
    assert calc.snapshot["lines"][0]["unit_cost_cents"] == 9800
    assert selectors.explain_calculation(calculation=calc, language="fi")["lines"][0].amount_text == "784,00\u00a0€"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fi", ["Henkilökohtainen apu", "40,5", "32,50\u00a0€", "1\u00a0316,25\u00a0€", "18"]),
        ("sv", ["Personlig assistans", "40,5", "1\u00a0316,25\u00a0€"]),
        ("en", ["Personal assistance", "40.5", "€1,316.25"]),
    ],
)
def test_explain_calculation__worker_and_plain_language_in_the_clients_language(worker, client, language, expected):
    rate_table()
    calc = services.calculation_create_indicative(
        actor=worker,
        client=client,
        lines=[
            {"category": "personal-assistance", "quantity": "40.5"},
            {"category": "transport-trips", "quantity": 18},
        ],
    )
    explained = selectors.explain_calculation(calculation=calc, language=language)
    text = " ".join(f"{line.worker_text} {line.plain_text}" for line in explained["lines"])
    for fragment in expected:
        assert fragment in text
    assert explained["lines"][1].amount_text.startswith("18")
