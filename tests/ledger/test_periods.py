import datetime as dt

import pytest
from django.core.management import call_command

from kukkaro.core import clock
from kukkaro.ledger.models import PeriodKind, Purse, Unit
from kukkaro.ledger.periods import Period, period_after, period_containing, periods
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
