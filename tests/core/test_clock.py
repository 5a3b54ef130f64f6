import datetime as dt

import pytest

from kukkaro.core import clock


def test_today__uses_helsinki_date_not_utc():
    # 23:30 UTC on 31 Dec is already New Year's Day in Helsinki.
    with clock.pinned(dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)):
        assert clock.today() == dt.date(2026, 1, 1)
        assert clock.now().tzinfo is dt.UTC


def test_pinned__refuses_naive_datetimes():
    with pytest.raises(ValueError, match="naive"), clock.pinned(dt.datetime(2026, 1, 1)):  # noqa: DTZ001
        pass


def test_now__is_aware_when_not_pinned():
    assert clock.now().tzinfo is not None
