import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kukkaro.core.identifiers import IdentifierError, make_hetu, parse_business_id, parse_hetu


@pytest.mark.parametrize(
    ("code", "born"),
    [
        ("131052-308T", dt.date(1952, 10, 13)),  # the Digital and Population Data Services Agency's example
        ("010594Y9021", dt.date(1994, 5, 1)),  # 2023 century signs
        ("020594X903P", dt.date(1994, 5, 2)),
        ("020594W903P", dt.date(1994, 5, 2)),
        ("020594V903P", dt.date(1994, 5, 2)),
        ("020594U903P", dt.date(1994, 5, 2)),
        ("010106A9034", dt.date(2006, 1, 1)),
        ("010106B9034", dt.date(2006, 1, 1)),
        ("010106F9034", dt.date(2006, 1, 1)),
        ("010180+9026", dt.date(1880, 1, 1)),
    ],
)
def test_parse_hetu__valid_codes__give_birth_date(code, born):
    assert parse_hetu(code).birth_date == born


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("131052-308U", "check_character"),
        ("131052-308", "format"),
        ("311302-9022", "date"),  # no 31st of February-like month 13
        ("300201-9022", "date"),  # 30 February
        ("131052G308T", "format"),  # G is no century sign
        ("131052-000T", "individual_number"),
        ("", "format"),
    ],
)
def test_parse_hetu__invalid_codes__say_why(code, reason):
    with pytest.raises(IdentifierError) as excinfo:
        parse_hetu(code)
    assert str(excinfo.value) == reason


def test_parse_hetu__lowercase_and_spaces__are_normalised():
    assert parse_hetu(" 131052-308t ").value == "131052-308T"


def test_parse_hetu__test_range__is_flagged():
    assert parse_hetu("010180-9026").is_test_range
    assert not parse_hetu("131052-308T").is_test_range


@given(
    born=st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2099, 12, 31)),
    individual=st.integers(min_value=2, max_value=999),
)
def test_make_hetu__round_trips_through_parse(born, individual):
    code = parse_hetu(make_hetu(born, individual))
    assert (code.birth_date, code.individual_number) == (born, individual)


def test_age_on__birthday_not_yet_reached__is_one_less():
    code = parse_hetu(make_hetu(dt.date(2008, 11, 24), 901))
    assert code.age_on(dt.date(2026, 11, 23)) == 17
    assert code.age_on(dt.date(2026, 11, 24)) == 18


@pytest.mark.parametrize("business_id", ["0737546-2", "1572860-0", "737546-2"])
def test_parse_business_id__valid(business_id):
    assert parse_business_id(business_id).endswith(business_id[-1])
    assert len(parse_business_id(business_id)) == 9


@pytest.mark.parametrize("business_id", ["0737546-3", "1234567", "abc", "12345678-1"])
def test_parse_business_id__invalid(business_id):
    with pytest.raises(IdentifierError):
        parse_business_id(business_id)


@pytest.mark.django_db
def test_sql_identifiers__postgresql_reads_codes_as_python_does():
    """The set-based trip import checks business IDs and reads birth dates in SQL, from these rules' own SQL."""
    from django.db import connection

    from kukkaro.core.identifiers import (
        business_id_check_digit,
        sql_business_id_valid,
        sql_hetu_birth_date_parts,
    )
    from tests.databases import postgresql_only

    postgresql_only("the SQL forms of the identifiers are PostgreSQL's")
    business_ids = ["2222222-9", "1234567-1", "1234567-0", "7654321-2", "0000000-0", "1111111-1", "9999999-9"]
    codes = ["131052-308T", "010594Y9021", "020594X903P", "010106A9034", "010106f9034", "010180+9026"]
    codes += [make_hetu(dt.date(2000, 2, 29), 902), make_hetu(dt.date(1899, 12, 31), 903)]
    year, month, day = sql_hetu_birth_date_parts("c")
    with connection.cursor() as cursor:
        for business_id in business_ids:
            cursor.execute(f"SELECT {sql_business_id_valid('b')} FROM (SELECT %s::text AS b) s", [business_id])  # noqa: S608
            expected = business_id_check_digit(business_id[:7]) == int(business_id[8])
            assert cursor.fetchone()[0] is expected, business_id
        for code in codes:
            cursor.execute(f"SELECT {year}, {month}, {day} FROM (SELECT %s::text AS c) s", [code])  # noqa: S608
            born = parse_hetu(code).birth_date
            assert cursor.fetchone() == (born.year, born.month, born.day), code
