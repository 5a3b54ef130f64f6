import datetime as dt

import pytest
from django.core.management import call_command

from kukkaro.core import clock
from kukkaro.ledger.models import PeriodKind, Purse, Unit
from kukkaro.ledger.periods import (
    AmountStep,
    Period,
    period_after,
    period_amounts,
    period_containing,
    periods,
    steps_in_force,
)
from kukkaro.ledger.tasks import ledger_daily_job
from tests.ledger.factories import open_purse


def test_periods__monthly__calendar_months_cut_to_validity():
    result = periods(kind=PeriodKind.MONTHLY, valid_from=dt.date(2026, 1, 15), valid_until=dt.date(2026, 3, 10))
    assert result == [
        Period(dt.date(2026, 1, 15), dt.date(2026, 1, 31)),
        Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        Period(dt.date(2026, 3, 1), dt.date(2026, 3, 10)),
    ]


def test_periods__quarterly_and_yearly():
    quarters = periods(kind=PeriodKind.QUARTERLY, valid_from=dt.date(2026, 2, 1), valid_until=dt.date(2027, 1, 31))
    assert [p.start for p in quarters] == [
        dt.date(2026, 2, 1),
        dt.date(2026, 4, 1),
        dt.date(2026, 7, 1),
        dt.date(2026, 10, 1),
        dt.date(2027, 1, 1),
    ]
    assert quarters[0].end == dt.date(2026, 3, 31)
    years = periods(kind=PeriodKind.YEARLY, valid_from=dt.date(2025, 7, 1), valid_until=dt.date(2027, 6, 30))
    assert [(p.start, p.end) for p in years] == [
        (dt.date(2025, 7, 1), dt.date(2025, 12, 31)),
        (dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        (dt.date(2027, 1, 1), dt.date(2027, 6, 30)),
    ]


def test_periods__once__is_the_whole_validity_and_leap_days_count():
    (only,) = periods(kind=PeriodKind.ONCE, valid_from=dt.date(2028, 2, 1), valid_until=dt.date(2028, 2, 29))
    assert only.contains(dt.date(2028, 2, 29))
    assert period_containing([only], dt.date(2028, 3, 1)) is None
    assert period_after([only], only.start) is None


def test_periods__end_before_start__is_refused():
    with pytest.raises(ValueError, match="ends before"):
        periods(kind=PeriodKind.MONTHLY, valid_from=dt.date(2026, 2, 1), valid_until=dt.date(2026, 1, 1))


@pytest.mark.django_db
def test_ledger_daily__command_and_job__release_new_periods_once(capsys):
    with clock.pinned(dt.datetime(2026, 1, 5, tzinfo=dt.UTC)):
        purse = open_purse(amount=10, unit=Unit.TRIP, kind=PeriodKind.QUARTERLY)
    assert Purse.objects.get(pk=purse.pk).available_now == 10
    with clock.pinned(dt.datetime(2026, 4, 1, 6, 0, tzinfo=dt.UTC)):
        call_command("ledger_daily")
        assert "Released 1 period" in capsys.readouterr().out
        assert ledger_daily_job.enqueue().return_value == {"periods_released": 0, "holds_expired": 0}
    assert Purse.objects.get(pk=purse.pk).available_now == 20


# --- amounts per period when a step begins inside a period -------------------------------------------------

YEAR_2027 = (dt.date(2027, 1, 1), dt.date(2027, 12, 31))


def _amounts(steps, kind=PeriodKind.MONTHLY):
    return {e.period.start: e.amount for e in period_amounts(kind=kind, steps=steps)}


def test_period_amounts__one_step__every_period_whole_even_the_cut_first_and_last():
    steps = [AmountStep(dt.date(2027, 1, 15), 98_000, dt.date(2027, 3, 10))]
    assert _amounts(steps) == {dt.date(2027, 1, 15): 98_000, dt.date(2027, 2, 1): 98_000, dt.date(2027, 3, 1): 98_000}


def test_period_amounts__a_step_inside_a_period__shares_it_by_days_rounded_once_half_up():
    steps = [AmountStep(YEAR_2027[0], 98_000, YEAR_2027[1]), AmountStep(dt.date(2027, 3, 15), 11_500, YEAR_2027[1])]
    entries = {e.period.start: e for e in period_amounts(kind=PeriodKind.MONTHLY, steps=steps)}
    assert entries[dt.date(2027, 2, 1)].amount == 98_000 and not entries[dt.date(2027, 2, 1)].shared
    march = entries[dt.date(2027, 3, 1)]
    # 980 € for 14 of March's 31 days and 115 € for 17: (98 000 × 14 + 11 500 × 17) / 31 = 50 564.52 → 50 565
    assert march.amount == 50_565
    assert [(s.days, s.period_amount) for s in march.shares] == [(14, 98_000), (17, 11_500)]
    assert entries[dt.date(2027, 4, 1)].amount == 11_500


def test_period_amounts__a_step_on_the_first_day_of_a_period__shares_nothing():
    steps = [AmountStep(YEAR_2027[0], 98_000, YEAR_2027[1]), AmountStep(dt.date(2027, 3, 1), 11_500, YEAR_2027[1])]
    amounts = _amounts(steps)
    assert [amounts[dt.date(2027, m, 1)] for m in (1, 2, 3, 4)] == [98_000, 98_000, 11_500, 11_500]


def test_period_amounts__a_line_that_ends__gets_only_its_days_and_nothing_after():
    steps = [AmountStep(YEAR_2027[0], 98_000, YEAR_2027[1]), AmountStep(dt.date(2027, 3, 15), 0, YEAR_2027[1])]
    amounts = _amounts(steps)
    assert amounts[dt.date(2027, 3, 1)] == 44_258  # 98 000 × 14 / 31 = 44 258.06
    assert amounts[dt.date(2027, 4, 1)] == 0


def test_period_amounts__an_exact_half_rounds_up():
    # A two-day purse paid all at once, ended after its first day: 1 trip × 1 / 2 = 0.5 → 1.
    steps = [
        AmountStep(dt.date(2027, 1, 1), 1, dt.date(2027, 1, 2)),
        AmountStep(dt.date(2027, 1, 2), 0, dt.date(2027, 1, 2)),
    ]
    assert _amounts(steps, PeriodKind.ONCE) == {dt.date(2027, 1, 1): 1}


def test_period_amounts__a_later_step_on_the_same_day_supersedes_and_its_until_ends_the_periods():
    steps = [
        AmountStep(YEAR_2027[0], 98_000, YEAR_2027[1]),
        AmountStep(dt.date(2027, 3, 1), 11_500, YEAR_2027[1]),
        AmountStep(dt.date(2027, 3, 1), 20_000, dt.date(2027, 6, 30)),
    ]
    assert steps_in_force(steps) == [steps[0], steps[2]]
    amounts = _amounts(steps)
    assert amounts[dt.date(2027, 3, 1)] == 20_000
    assert max(amounts) == dt.date(2027, 6, 1)
