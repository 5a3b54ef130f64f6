"""A trip file's row, read (``kukkaro.mobility.trip_rows``)."""

import datetime as dt
from decimal import Decimal

import pytest
from stdnum import luhn

from kukkaro.mobility.trip_rows import read_row
from tests.mobility.trips import leg

CARD = "491234567" + luhn.calc_check_digit("491234567")


def test_readings__of_a_readable_row_are_its_measured_values():
    read = read_row(2, leg(client_number=CARD)).readings()
    assert read.pickup_at == dt.datetime.fromisoformat("2026-03-04T10:00:00+02:00")
    assert read.dropoff_at == dt.datetime.fromisoformat("2026-03-04T10:25:00+02:00")
    assert (read.distance_km, read.duration_min, read.waiting_min) == (Decimal("10.0"), Decimal(20), Decimal(0))
    assert read.fare_cents == 4340


def test_readings__a_row_with_rejection_reasons_has_none():
    row = read_row(2, leg(client_number=CARD, pickup_at="yesterday"))
    assert row.reasons
    with pytest.raises(ValueError, match="row 2"):
        row.readings()
