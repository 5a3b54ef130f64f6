"""The price of a leg and the self-share, worked out by hand for each rule of issue 6."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kukkaro.core.clock import HELSINKI
from kukkaro.mobility import judgement

TERMS = judgement.TariffTerms(
    base_day_cents=819,
    base_other_cents=1112,
    per_km_cents={"car": 135, "van": 187, "wheelchair": 187, "stretcher": 187},
    per_minute_cents=103,
    waiting_per_hour_cents=6218,
    supplements_cents={"assist": 1939, "stairs": 2500},
    shared_discount_bp=2000,
    self_share_adult_cents=290,
    self_share_child_cents=145,
    work_study_monthly_cap_cents=6710,
)


def _leg(when: dt.datetime, **kwargs) -> judgement.Leg:
    values = {
        "pickup_at": when,
        "distance_km": Decimal("10.0"),
        "ride_minutes": Decimal(20),
        "waiting_minutes": Decimal(0),
        "vehicle_class": "car",
    }
    values.update(kwargs)
    return judgement.Leg(**values)


WEDNESDAY_NOON = dt.datetime(2026, 3, 4, 12, 0, tzinfo=HELSINKI)


def test_leg_price__day_rate_by_hand():
    # 8,19 + 10 × 1,35 + 20 × 1,03 = 8,19 + 13,50 + 20,60 = 42,29
    assert judgement.leg_price_cents(_leg(WEDNESDAY_NOON), TERMS) == 4229


def test_leg_price__waiting_supplements_and_class_by_hand():
    leg = _leg(
        WEDNESDAY_NOON,
        distance_km=Decimal("12.345"),
        ride_minutes=Decimal("17.5"),
        waiting_minutes=Decimal(7),
        vehicle_class="wheelchair",
        supplements=("assist", "stairs"),
    )
    # 8,19 + 12,345 × 1,87 + 17,5 × 1,03 + 7 × 62,18 / 60 + 19,39 + 25,00
    # = 8,19 + 23,08515 + 18,025 + 7,254333… + 44,39 = 100,944483… → 100,94
    assert judgement.leg_price_cents(leg, TERMS) == 10094


def test_leg_price__shared_ride_discount_is_applied_before_the_one_rounding():
    # (8,19 + 3 × 1,35 + 7 × 1,03) × 0,8 = (8,19 + 4,05 + 7,21) × 0,8 = 19,45 × 0,8 = 15,56
    leg = _leg(WEDNESDAY_NOON, distance_km=Decimal(3), ride_minutes=Decimal(7), shared=True)
    assert judgement.leg_price_cents(leg, TERMS) == 1556


def test_leg_price__rounds_half_up_once():
    # 8,19 + 0,005 km × 1,35 = 8,19675 → 8,20 (half up), not 8,19
    terms = judgement.TariffTerms(**{**TERMS.__dict__, "per_minute_cents": 0})
    leg = _leg(WEDNESDAY_NOON, distance_km=Decimal("0.005"), ride_minutes=Decimal(0))
    assert judgement.leg_price_cents(leg, terms) == 820
    # exactly half a cent: 8,19 + 0,01 km × 0,50 = 8,195 → 8,20
    half = judgement.TariffTerms(**{**terms.__dict__, "per_km_cents": {**TERMS.per_km_cents, "car": 50}})
    assert (
        judgement.leg_price_cents(_leg(WEDNESDAY_NOON, distance_km=Decimal("0.01"), ride_minutes=Decimal(0)), half)
        == 820
    )


@pytest.mark.parametrize(
    ("local", "day_rate"),
    [
        (dt.datetime(2026, 3, 4, 6, 0, tzinfo=HELSINKI), True),  # Wednesday 06:00
        (dt.datetime(2026, 3, 4, 5, 59, tzinfo=HELSINKI), False),
        (dt.datetime(2026, 3, 4, 19, 59, 59, tzinfo=HELSINKI), True),
        (dt.datetime(2026, 3, 4, 20, 0, tzinfo=HELSINKI), False),
        (dt.datetime(2026, 3, 7, 12, 0, tzinfo=HELSINKI), False),  # Saturday
        (dt.datetime(2026, 3, 8, 12, 0, tzinfo=HELSINKI), False),  # Sunday
        (dt.datetime(2026, 4, 3, 12, 0, tzinfo=HELSINKI), False),  # Good Friday
        (dt.datetime(2026, 6, 19, 12, 0, tzinfo=HELSINKI), False),  # Midsummer Eve
        (dt.datetime(2026, 12, 24, 12, 0, tzinfo=HELSINKI), False),  # Christmas Eve
        (dt.datetime(2026, 12, 7, 12, 0, tzinfo=HELSINKI), True),  # the Monday after Independence Day
        (dt.datetime(2026, 5, 14, 12, 0, tzinfo=HELSINKI), False),  # Ascension Day
    ],
)
def test_is_day_rate__weekdays_06_to_20_in_helsinki_except_public_holidays(local, day_rate):
    assert judgement.is_day_rate(local) is day_rate


def test_is_day_rate__uses_helsinki_time_whatever_the_offset_given():
    # 03:30 UTC on a Wednesday in March is 05:30 in Helsinki (UTC+2): not yet the day rate.
    assert judgement.is_day_rate(dt.datetime(2026, 3, 4, 3, 30, tzinfo=dt.UTC)) is False
    # In summer (UTC+3) 03:30 UTC is 06:30 in Helsinki.
    assert judgement.is_day_rate(dt.datetime(2026, 8, 5, 3, 30, tzinfo=dt.UTC)) is True
    with pytest.raises(ValueError, match="aware"):
        judgement.is_day_rate(dt.datetime(2026, 3, 4, 12, 0))  # noqa: DTZ001 - naive on purpose


def test_self_share__adult_child_and_never_above_the_price():
    assert judgement.self_share_cents(price_cents=4229, terms=TERMS, child=False, purpose="leisure") == 290
    assert judgement.self_share_cents(price_cents=4229, terms=TERMS, child=True, purpose="leisure") == 145
    assert judgement.self_share_cents(price_cents=200, terms=TERMS, child=False, purpose="leisure") == 200


def test_self_share__work_and_study_stop_at_the_monthly_cap():
    # 67,10 cap: after 23 trips × 2,90 = 66,70 the 24th costs only 0,40, the 25th nothing.
    assert (
        judgement.self_share_cents(
            price_cents=4229, terms=TERMS, child=False, purpose="work", paid_this_month_cents=6670
        )
        == 40
    )
    assert (
        judgement.self_share_cents(
            price_cents=4229, terms=TERMS, child=False, purpose="study", paid_this_month_cents=6710
        )
        == 0
    )
    # the cap does not touch leisure trips
    assert (
        judgement.self_share_cents(
            price_cents=4229, terms=TERMS, child=False, purpose="leisure", paid_this_month_cents=9999
        )
        == 290
    )


def test_age_on__under_18_until_the_birthday():
    born = dt.date(2008, 6, 15)
    assert judgement.age_on(born, dt.date(2026, 6, 14)) == 17
    assert judgement.age_on(born, dt.date(2026, 6, 15)) == 18


def test_metres__half_up():
    assert judgement.metres(Decimal("12.3455")) == 12346
    assert judgement.metres(Decimal("12.3454")) == 12345
    assert judgement.metres(Decimal("0.0005")) == 1


@given(
    km=st.decimals(min_value=0, max_value=300, places=3),
    minutes=st.decimals(min_value=0, max_value=300, places=2),
    waiting=st.decimals(min_value=0, max_value=120, places=2),
    shared=st.booleans(),
)
def test_leg_price__equals_the_exact_fraction_rounded_half_up(km, minutes, waiting, shared):
    """The Decimal computation agrees with exact rational arithmetic, rounded once, half up."""
    from fractions import Fraction

    leg = _leg(WEDNESDAY_NOON, distance_km=km, ride_minutes=minutes, waiting_minutes=waiting, shared=shared)
    exact = Fraction(819) + Fraction(km) * 135 + Fraction(minutes) * 103 + Fraction(waiting) * 6218 / 60
    if shared:
        exact = exact * Fraction(8000, 10000)
    expected = (exact * 2 + 1) // 2  # half up, in cents (exact is never negative)
    assert judgement.leg_price_cents(leg, TERMS) == expected
