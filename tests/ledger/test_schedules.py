"""A running purse whose amount changes from a date of its own (a replacing decision): earlier periods keep what
they had, the period that date cuts is shared by days, released periods are corrected without undoing spending,
and what is previewed is what is done."""

import datetime as dt
import uuid

import pytest

from kukkaro.core import clock
from kukkaro.ledger import services
from kukkaro.ledger.models import PeriodKind, Purse, PurseKind, Transfer, Unit
from kukkaro.ledger.schedules import granted_by_period, purse_schedule
from kukkaro.ledger.selectors import system_total
from kukkaro.ledger.verification import ledger_verify
from tests.ledger.factories import open_purse

pytestmark = pytest.mark.django_db

DECEMBER = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
YEAR = (dt.date(2027, 1, 1), dt.date(2027, 12, 31))
HOME_HELP, LOWER = 98_000, 11_500  # 980 € and 115 € a month


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=dt.UTC)


def _purse(**kwargs) -> Purse:
    return open_purse(amount=HOME_HELP, kind=PeriodKind.MONTHLY, valid_from=YEAR[0], valid_until=YEAR[1], **kwargs)


def _fresh(purse: Purse) -> Purse:
    return Purse.objects.get(pk=purse.pk)


def _scheduled(purse: Purse) -> int:
    return Purse.objects.get(pk=_fresh(purse).scheduled_id).available_now


def _spend(purse: Purse, amount: int) -> None:
    hold = services.hold_create(
        transfer_id=uuid.uuid4(), purse=purse, amount=amount, expires_at=clock.now() + dt.timedelta(days=1)
    )
    services.hold_post(transfer_id=uuid.uuid4(), hold=hold)


def _reschedule(purse: Purse, start: dt.date, amount: int, ref: str = "decision:b") -> Purse:
    return services.purse_reschedule(
        purse=purse,
        effective_from=start,
        period_amount=amount,
        valid_until=YEAR[1],
        rollover_rule="roll",
        rollover_cap=0,
        borrow_limit=0,
        actor=None,
        ref=ref,
    )


def _funding(purse: Purse) -> int:
    return system_total(organiser_id=purse.organiser_id, unit=Unit.EUR, kind=PurseKind.FUNDING)["balance_posted"]


def _lapsed(purse: Purse) -> int:
    return system_total(organiser_id=purse.organiser_id, unit=Unit.EUR, kind=PurseKind.LAPSED)["balance_posted"]


def test_reschedule__from_a_future_date__keeps_the_earlier_periods_and_shares_the_cut_one():
    with clock.pinned(DECEMBER):
        purse = _purse()
        assert _scheduled(purse) == 12 * HOME_HELP
        funding = _funding(purse)
        preview = services.purse_change_preview(
            purse=purse, effective_from=dt.date(2027, 3, 15), period_amount=LOWER, until=YEAR[1]
        )
        _reschedule(purse, dt.date(2027, 3, 15), LOWER)
    march = 50_565  # 980 € for 14 days, 115 € for 17 of March's 31
    assert _scheduled(purse) == 2 * HOME_HELP + march + 9 * LOWER
    assert _funding(purse) - funding == 12 * HOME_HELP - _scheduled(purse)  # the difference went back, not lapsed
    assert [(row.start.month, row.after) for row in preview.periods[:4]] == [
        (1, HOME_HELP),
        (2, HOME_HELP),
        (3, march),
        (4, LOWER),
    ]
    assert [e.amount for e in purse_schedule(_fresh(purse))] == [p.after for p in preview.periods]
    with clock.pinned(_at(dt.date(2027, 4, 1))):
        services.purse_release_due(purse=purse)
    releases = Transfer.objects.filter(credit_purse=purse, code="release").order_by("period_start")
    assert [t.amount for t in releases] == [HOME_HELP, HOME_HELP, march, LOWER]
    assert ledger_verify()[1] == []


def test_reschedule__from_a_past_date__corrects_released_periods_but_never_takes_what_was_spent():
    with clock.pinned(_at(dt.date(2027, 4, 10))):
        purse = _purse()  # January–April released: 4 × 980 €
        _spend(purse, 300_000)
        available = _fresh(purse).available_now
        assert available == 4 * HOME_HELP - 300_000
        preview = services.purse_change_preview(
            purse=purse, effective_from=dt.date(2027, 3, 1), period_amount=LOWER, until=YEAR[1]
        )
        _reschedule(purse, dt.date(2027, 3, 1), LOWER)
        again = _reschedule(purse, dt.date(2027, 3, 1), LOWER)  # a retry moves nothing
    rows = {row.start.month: row for row in preview.periods}
    assert (rows[2].before, rows[2].after, rows[2].correction) == (HOME_HELP, HOME_HELP, 0)
    # March gives back all 865 €; April only the 55 € still there: the rest was spent, and is not taken back.
    assert (rows[3].correction, rows[3].uncollected) == (-(HOME_HELP - LOWER), 0)
    assert (rows[4].correction, rows[4].uncollected) == (-(available - (HOME_HELP - LOWER)), 81_000)
    assert again.available_now == 0
    assert _fresh(purse).debits_posted == 300_000 + available  # spending stays; only what was there went back
    granted = granted_by_period(purse, [e.period for e in purse_schedule(_fresh(purse))])
    for row in preview.periods:
        if row.released:
            assert granted[row.start] == row.after + row.uncollected
    assert _scheduled(purse) == 8 * LOWER
    assert ledger_verify()[1] == []


def test_purse_end__on_a_future_day__stays_usable_until_then_and_gives_the_rest_back():
    with clock.pinned(DECEMBER):
        purse = _purse()
        funding = _funding(purse)
        services.purse_end(purse=purse, actor=None, ref="decision:b", ends_on=dt.date(2027, 2, 28))
    purse = _fresh(purse)
    assert purse.valid_until == dt.date(2027, 2, 28)
    assert _scheduled(purse) == 2 * HOME_HELP  # January and February, whole
    assert _funding(purse) - funding == 10 * HOME_HELP and _lapsed(purse) == 0
    with clock.pinned(_at(dt.date(2027, 2, 10))):
        services.purse_release_due(purse=purse)
        _spend(purse, 50_000)
    with clock.pinned(_at(dt.date(2027, 3, 2))):
        services.purse_release_due(purse=purse)
    assert _fresh(purse).available_now == 0
    assert _lapsed(purse) == 2 * HOME_HELP - 50_000  # what was left at the end lapses, as at any end
    assert ledger_verify()[1] == []


def test_purse_end__from_a_past_day__the_cut_period_keeps_its_days_only():
    with clock.pinned(_at(dt.date(2027, 3, 20))):
        purse = _purse()  # January–March released
        funding = _funding(purse)
        preview = services.purse_change_preview(purse=purse, effective_from=dt.date(2027, 3, 15), period_amount=0)
        services.purse_end(purse=purse, actor=None, ref="decision:b", ends_on=dt.date(2027, 3, 14))
    march = {row.start.month: row for row in preview.periods}[3]
    assert (march.after, march.correction) == (44_258, 44_258 - HOME_HELP)  # 14 of 31 days of 980 €
    assert _funding(purse) - funding == 9 * HOME_HELP + HOME_HELP - 44_258
    assert _fresh(purse).available_now == 0  # ended in the past: what is left lapses at once
    assert ledger_verify()[1] == []
