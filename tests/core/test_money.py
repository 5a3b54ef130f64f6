from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from kukkaro.core.money import MoneyError, format_cents, parse_cents, round_cents

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("language", "cents", "text"),
    [
        ("fi", 123456, f"1{NBSP}234,56{NBSP}€"),
        ("sv", 123456, f"1{NBSP}234,56{NBSP}€"),
        ("en", 123456, "€1,234.56"),
        ("fi", 5, f"0,05{NBSP}€"),
        ("fi", -290, f"\u22122,90{NBSP}€"),
        ("fi", 100000000, f"1{NBSP}000{NBSP}000,00{NBSP}€"),
    ],
)
def test_format_cents__per_locale(language, cents, text):
    with translation.override(language):
        assert format_cents(cents) == text


def test_format_cents__refuses_floats():
    with pytest.raises(TypeError):
        format_cents(12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "cents"),
    [("1 234,56", 123456), ("1234.56", 123456), ("1\u00a0234,5 €", 123450), ("-2,90", -290), ("7", 700)],
)
def test_parse_cents__accepts_finnish_and_plain_forms(text, cents):
    assert parse_cents(text) == cents


@pytest.mark.parametrize("text", ["", "1,234.56", "1.234,56", "12,345", "abc", "1e3"])
def test_parse_cents__refuses_ambiguous_or_invalid(text):
    with pytest.raises(MoneyError):
        parse_cents(text)


@pytest.mark.parametrize(
    ("euros", "cents"),
    [("0.005", 1), ("0.004", 0), ("2.675", 268), ("-0.005", -1), ("10", 1000), ("1.2349", 123)],
)
def test_round_cents__half_up_once(euros, cents):
    assert round_cents(Decimal(euros)) == cents


def test_round_cents__refuses_floats():
    with pytest.raises(TypeError):
        round_cents(0.1)  # type: ignore[arg-type]


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_parse_of_format__round_trips(cents):
    with translation.override("fi"):
        assert parse_cents(format_cents(cents)) == cents


@pytest.mark.parametrize(
    ("language", "expected_date", "expected_datetime"),
    [
        ("fi", "23.11.2026", "23.11.2026 14.05"),
        ("sv", "23.11.2026", "23.11.2026 14.05"),
        ("en", "23 Nov 2026", "23.11.2026 14:05"),
    ],
)
def test_dates__formatted_per_locale_in_helsinki_time(language, expected_date, expected_datetime):
    import datetime as dt

    from django.utils.formats import date_format
    from django.utils.timezone import localtime

    moment = dt.datetime(2026, 11, 23, 12, 5, tzinfo=dt.UTC)  # 14.05 in Helsinki
    with translation.override(language):
        assert date_format(moment.date(), "DATE_FORMAT") == expected_date
        assert date_format(localtime(moment), "SHORT_DATETIME_FORMAT") == expected_datetime


@pytest.mark.parametrize(("language", "expected"), [("fi", "1\u00a0234,5"), ("en", "1,234.5")])
def test_numbers__formatted_per_locale(language, expected):
    from django.utils.formats import number_format

    with translation.override(language):
        assert number_format(1234.5, decimal_pos=1, force_grouping=True) == expected
