"""A replacing decision takes over from its own start date (issue 16, item 1): every line keeps what the old
decision grants up to the day before; from the start the new amounts apply; a period the start cuts is shared by
days; spending already made is never undone; and the preview the decision maker sees before approving is what
the ledger does, row by row."""

import datetime as dt
import shutil
import subprocess
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as HttpClient

from kukkaro.cases import funding, services
from kukkaro.cases.documents import decision_document_pdf
from kukkaro.cases.models import Decision, DecisionLine, DecisionState, Instrument, ServiceUnit
from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import PeriodKind, Purse, PurseKind, Unit
from kukkaro.ledger.selectors import purse_periods, system_total
from kukkaro.ledger.verification import ledger_verify
from tests.cases.factories import CATEGORIES
from tests.factories import client_in, make_user, organiser
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # the decision is for next year
NEXT_YEAR = (dt.date(2027, 1, 1), dt.date(2027, 12, 31))
HOME_HELP = {
    "code": "home-help",
    "name_fi": "Kotiin annettava apu",
    "name_sv": "Hjälp i hemmet",
    "name_en": "Help at home",
    "service_unit": ServiceUnit.MONTH,
    "unit_cost_cents": 100,  # the quantity is euros a month
    "purse_unit": Unit.EUR,
    "default_instrument": Instrument.PURCHASED,
}
#: The issue's decision: home help 980 € a month and three more lines …
FIRST = [
    {"category": "home-help", "quantity": 980},
    {"category": "personal-assistance", "quantity": 20},  # 650 € a month
    {"category": "day-activity", "quantity": 4},  # 392 € a month
    {"category": "transport-trips", "quantity": 18},
]
#: … replaced by one that drops the three and lowers home help to 115 € a month.
SECOND = [{"category": "home-help", "quantity": 115}]
DROPPED = ("day-activity", "personal-assistance", "transport-trips")


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=dt.UTC)


def _build_people() -> dict:
    services.rate_table_create(
        actor=make_user(Role.ADMIN),
        organiser=organiser(),
        name="Yksikkökustannukset",
        valid_from=dt.date(2026, 1, 1),
        valid_until=None,
        categories=[*CATEGORIES, HOME_HELP],
    )
    return {
        "worker": make_user(Role.SOCIAL_WORKER),
        "approver": make_user(Role.DECISION_MAKER),
        "client": client_in("lansi-uusimaa", language="fi", last_name="Korvattava"),
    }


#: Built once on TODAY and shared by the module's tests (tests/worlds.py).
people = shared_world("people", _build_people, at=TODAY)


def _proposed(people, lines, *, valid, replaces=None, period_kind=PeriodKind.MONTHLY) -> Decision:
    worker = people["worker"]
    indicative = services.calculation_create_indicative(
        actor=worker, client=people["client"], lines=lines, period_kind=period_kind
    )
    final = services.calculation_finalise(actor=worker, indicative=indicative, lines=lines)
    draft = services.decision_draft_create(
        actor=worker,
        calculation=final,
        valid_from=valid[0],
        valid_until=valid[1],
        reasons="Palvelun tarve muuttui.",
        replaces=replaces,
    )
    return services.decision_propose(actor=worker, decision=draft)


def _approved(people, lines, *, valid, replaces=None, **kwargs) -> Decision:
    return services.decision_approve(
        actor=people["approver"], decision=_proposed(people, lines, valid=valid, replaces=replaces, **kwargs)
    )


def _first(people) -> Decision:
    with clock.pinned(TODAY):
        return _approved(people, FIRST, valid=NEXT_YEAR)


def _purses(decision: Decision) -> dict[str, Purse]:
    return {line.category_code: line.purse for line in decision.lines.select_related("purse")}


def _ledger_rows(purse: Purse) -> dict[dt.date, int]:
    """The ledger after approval, period by period: what a released period has had, what the others will get."""
    purse = Purse.objects.get(pk=purse.pk)
    return {p.start: p.granted if p.released else p.amount for p in purse_periods(purse=purse)}


def _preview_rows(plan: funding.LinePlan) -> dict[dt.date, int]:
    """The same, as the preview said: a released period gets its new amount plus what was not taken back."""
    return {
        row.start: row.after + row.uncollected if row.released else row.after
        for row in plan.purse.periods
        if row.released or row.after or row.start <= plan.purse.valid_until
    }


def _replace_and_compare(people, first: Decision, start: dt.date) -> tuple[Decision, list[funding.LinePlan]]:
    """Propose the replacement from ``start``, take the preview, approve, and check the ledger against the preview
    row by row, line by line."""
    replacement = _proposed(people, SECOND, valid=(start, NEXT_YEAR[1]), replaces=first)
    preview = funding.decision_funding_plan(replacement)
    old_purses = _purses(first)
    replacement = services.decision_approve(actor=people["approver"], decision=replacement)
    new_purses = _purses(replacement)
    for plan in preview:
        purse = new_purses[plan.code] if plan.change != funding.LineChange.ENDS else old_purses[plan.code]
        assert _ledger_rows(purse) == _preview_rows(plan), plan.code
        assert Purse.objects.get(pk=purse.pk).valid_until == plan.purse.valid_until
    assert ledger_verify()[1] == []
    return replacement, preview


def test_replace__from_a_future_start__january_and_february_stay_whole(people):
    first = _first(people)
    with clock.pinned(TODAY):
        replacement, preview = _replace_and_compare(people, first, dt.date(2027, 3, 1))
    changes = {plan.code: plan.change for plan in preview}
    assert changes == {
        "home-help": "changes",
        "personal-assistance": "ends",
        "day-activity": "ends",
        "transport-trips": "ends",
    }
    home_help = _ledger_rows(replacement.lines.get(category_code="home-help").purse)
    assert [home_help[dt.date(2027, m, 1)] for m in range(1, 13)] == [98_000] * 2 + [11_500] * 10
    purses = _purses(first)
    for code, monthly in (("personal-assistance", 65_000), ("day-activity", 39_200), ("transport-trips", 18)):
        purse = Purse.objects.get(pk=purses[code].pk)
        assert purse.valid_until == dt.date(2027, 2, 28)
        assert _ledger_rows(purse) == {dt.date(2027, 1, 1): monthly, dt.date(2027, 2, 1): monthly}
        assert Purse.objects.get(pk=purse.scheduled_id).available_now == 2 * monthly
    # The old decision's lines are in force until the day before the replacement starts.
    lines = DecisionLine.objects.filter(decision=first)
    assert {(line.effective, line.valid_until) for line in lines} == {(True, dt.date(2027, 2, 28))}
    first.refresh_from_db()
    assert first.state == DecisionState.REPLACED and "1.3.2027" in first.end_reason
    assert replacement.snapshot["replaces_from"] == "2027-03-01"
    # A dropped line's purse is usable until its last day, and then what is left lapses.
    with clock.pinned(_at(dt.date(2027, 2, 20))):
        ledger.purses_release_due()
        trips = Purse.objects.get(pk=purses["transport-trips"].pk)
        assert trips.available_now == 36
    with clock.pinned(_at(dt.date(2027, 3, 1))):
        ledger.purses_release_due()
        assert Purse.objects.get(pk=purses["transport-trips"].pk).available_now == 0
        home_help_purse = replacement.lines.get(category_code="home-help").purse_id
        assert Purse.objects.get(pk=home_help_purse).available_now == 2 * 98_000 + 11_500
    assert ledger_verify()[1] == []


def test_replace__from_the_middle_of_a_month__that_month_is_shared_by_days(people):
    first = _first(people)
    with clock.pinned(TODAY):
        replacement, preview = _replace_and_compare(people, first, dt.date(2027, 3, 15))
    plans = {plan.code: plan for plan in preview}
    march = plans["home-help"].first_period
    assert march is not None and march.shared and march.after == 50_565  # (980 × 14 + 115 × 17) / 31
    assert plans["day-activity"].first_period.after == 17_703  # 392 € × 14 / 31 = 177,03 €
    assert plans["transport-trips"].first_period.after == 8  # 18 trips × 14 / 31 = 8.1
    transition = {row["code"]: row for row in replacement.snapshot["transition"]}
    assert transition["home-help"]["shared_period"]["amount"] == 50_565
    assert transition["day-activity"]["ends_on"] == "2027-03-14"


def test_replace__starting_today__corrects_the_released_month_at_once(people):
    first = _first(people)
    today = dt.date(2027, 3, 15)
    with clock.pinned(_at(today)):
        ledger.purses_release_due()  # the daily job: January–March released at the old amounts
        replacement, preview = _replace_and_compare(people, first, today)
    home_help = {row.start.month: row for row in {p.code: p for p in preview}["home-help"].purse.periods}
    assert home_help[3].released and home_help[3].correction == 50_565 - 98_000
    purse = replacement.lines.get(category_code="home-help").purse
    assert purse.available_now == 2 * 98_000 + 50_565
    dropped = Purse.objects.get(pk=_purses(first)["day-activity"].pk)
    assert dropped.valid_until == dt.date(2027, 3, 14)
    assert _ledger_rows(dropped)[dt.date(2027, 3, 1)] == 17_703  # March had 14 days of 392 €
    assert dropped.available_now == 0  # its last day was yesterday: what was left lapsed, as at any end


def test_replace__that_started_in_the_past__never_takes_back_what_was_spent(people):
    first = _first(people)
    today = dt.date(2027, 4, 10)
    with clock.pinned(_at(today)):
        ledger.purses_release_due()  # January–April released: 4 × 980 €
        purse = _purses(first)["home-help"]
        hold = ledger.hold_create(
            transfer_id=uuid.uuid4(), purse=purse, amount=300_000, expires_at=clock.now() + dt.timedelta(days=1)
        )
        ledger.hold_post(transfer_id=uuid.uuid4(), hold=hold)
        funding_before = system_total(organiser_id=purse.organiser_id, unit=Unit.EUR, kind=PurseKind.FUNDING)
        replacement, preview = _replace_and_compare(people, first, dt.date(2027, 3, 1))
    rows = {row.start.month: row for row in {p.code: p for p in preview}["home-help"].purse.periods}
    assert (rows[3].correction, rows[3].uncollected) == (-86_500, 0)
    assert (rows[4].correction, rows[4].uncollected) == (-5_500, 81_000)  # only 55 € was left to take back
    purse = Purse.objects.get(pk=purse.pk)
    assert purse.debits_posted == 300_000 + 92_000 and purse.available_now == 0
    assert replacement.lines.get(category_code="home-help").purse_id == purse.pk
    transition = {row["code"]: row for row in replacement.snapshot["transition"]}
    assert transition["home-help"]["not_taken_back"] == 81_000
    approval = AuditEvent.objects.get(action="decision.approve", target_id=str(replacement.pk))
    assert approval.after["not_taken_back"] == {"home-help": 81_000}
    after = system_total(organiser_id=purse.organiser_id, unit=Unit.EUR, kind=PurseKind.FUNDING)
    assert after["balance_posted"] > funding_before["balance_posted"]


def test_replace__a_line_whose_period_changes__ends_its_old_purse_and_funds_once(people):
    first = _first(people)
    with clock.pinned(TODAY):
        replacement = _approved(
            people,
            [{"category": "home-help", "quantity": 300}],
            valid=(dt.date(2027, 3, 1), NEXT_YEAR[1]),
            replaces=first,
            period_kind=PeriodKind.QUARTERLY,
        )
    old = Purse.objects.get(pk=_purses(first)["home-help"].pk)
    new = replacement.lines.get(category_code="home-help").purse
    assert new.pk != old.pk
    assert old.valid_until == dt.date(2027, 2, 28)
    assert Purse.objects.get(pk=old.scheduled_id).available_now == 2 * 98_000  # not all year any more
    # The first quarter is shared by days: 31 of its 90 days at 300 € (1.3.–31.3.), nothing before.
    assert [p.amount for p in purse_periods(purse=new)] == [10_333, 30_000, 30_000, 30_000]
    assert ledger_verify()[1] == []


@pytest.mark.parametrize("start", [dt.date(2026, 12, 31), dt.date(2028, 1, 1)])
def test_replace__starting_outside_the_replaced_decision__is_refused(people, start):
    first = _first(people)
    with clock.pinned(TODAY), pytest.raises(ValidationError) as refused:
        _proposed(people, SECOND, valid=(start, dt.date(2028, 6, 30)), replaces=first)
    assert "valid_from" in refused.value.message_dict


def test_replace__the_decision_page_shows_the_preview_and_the_pdf_states_the_rule(people):
    first = _first(people)
    with clock.pinned(TODAY):
        replacement = _proposed(people, SECOND, valid=(dt.date(2027, 3, 15), NEXT_YEAR[1]), replaces=first)
        http = HttpClient()
        http.force_login(people["approver"])
        page = http.get(f"/decisions/{replacement.pk}/", headers={"accept-language": "en"})
        assert page.status_code == 200
        text = page.content.decode()
        assert "Day activity: ends, last day 14.3.2027" in text
        assert "Help at home: changes from 15.3.2027" in text
        # March as the ledger will give it, with the rule in words.
        assert "is shared by days (€980.00 for 14 days, €115.00 for 17 days of its 31): €505.65" in text
        replacement = services.decision_approve(actor=people["approver"], decision=replacement)
    if shutil.which("pdftotext") is None:
        pytest.skip("needs pdftotext (Debian poppler-utils)")
    pdf = decision_document_pdf(decision=replacement)
    words = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"],  # noqa: S607 - a fixed Debian tool
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    words = " ".join(words.replace("\u00a0", " ").split())
    assert f"korvaa päätöksen {first.number} 15.3.2027 alkaen" in words
    assert "jaetaan päivien mukaan" in words
    assert "505,65 €" in words  # home help's March, as the ledger gives it
