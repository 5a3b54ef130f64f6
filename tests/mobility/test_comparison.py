"""The cost comparison of transport models (issue 7), checked against calculations written out by hand."""

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from kukkaro.core import clock
from kukkaro.mobility import comparison, selectors, trip_files
from kukkaro.mobility.comparison import EUR_PURSE, KM_PURSE, LEASING, QUOTA, Lease, Pattern, compare
from kukkaro.mobility.models import EntitlementModel
from tests.factories import organiser, system_actor
from tests.mobility.test_trip_files import IMPORTED, _rows, world  # noqa: F401 - the fixture is used by name
from tests.mobility.trips import trip_file


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


# A heavy user: 40 one-way trips a month for a year (20 of them to work), 12 km and 40,00 € to the county each,
# self-share 3,00 €.
HEAVY = Pattern(
    months=12,
    trips=480,
    leisure_trips=240,
    metres=480 * 12_000,
    county_cost_cents=480 * 4_000,
    self_share_cents=480 * 300,
)
# A light user: 10 leisure trips a month, 8 km and 30,00 € each.
LIGHT = Pattern(
    months=12, trips=120, leisure_trips=120, metres=120 * 8_000, county_cost_cents=120 * 3_000, self_share_cents=0
)


def test_compare__a_heavy_user_is_cheapest_with_a_leasing_car():
    result = compare(HEAVY, current=QUOTA)
    # Trip quota: 40 trips × 40,00 € = 1 600,00 €; the client pays 40 × 3,00 € = 120,00 €.
    assert (result.cost(QUOTA).county_cents, result.cost(QUOTA).client_cents) == (160_000, 12_000)
    assert result.cost(QUOTA).units == "20 trips a month, 20 work and study trips"
    # Euro purse: the larger of 1 600,00 € and 18 × 40,00 € = 720,00 €.
    assert result.cost(EUR_PURSE).county_cents == 160_000
    # Kilometre purse: 480 km a month (more than 18 × 12 km = 216 km) × 1 920 000 c / 5 760 000 m = 1 600,00 €.
    assert result.cost(KM_PURSE).county_cents == 160_000
    # Leasing: 890 + 90 + 60 − 150 = 890,00 € fixed; 15 % of 40 = 6 trips still by taxi = 240,00 €; driven
    # 34 × 12 km × 12 = 4 896 km a year, within 15 000: no excess. 890 + 240 = 1 130,00 €.
    # The client: 150,00 € + 34 × 12 km × 0,12 € = 48,96 € of fuel + 6 × 3,00 € = 216,96 €.
    assert (result.cost(LEASING).county_cents, result.cost(LEASING).client_cents) == (113_000, 21_696)
    # Break-even: 89 000 + 0,15 t × 4 000 ≤ 4 000 t ⇔ t ≥ 26,2 → 27 trips a month.
    assert result.break_even_trips == 27
    assert result.recommended == LEASING and result.saving_cents == 160_000 - 113_000
    assert "€1,130.00" in result.explanation and "€470.00 a month less" in result.explanation
    assert "27 trips a month" in result.explanation and "drives or has a named driver" in result.explanation


def test_compare__a_light_user_keeps_the_quota_and_purses_never_go_below_18_trips():
    result = compare(LIGHT, current=EUR_PURSE, can_drive=False)
    assert result.cost(QUOTA).county_cents == 30_000  # 10 × 30,00 €
    assert result.cost(QUOTA).units == "18 trips a month"  # the legal minimum, though 10 are used
    assert result.cost(EUR_PURSE).county_cents == 54_000  # 18 × 30,00 €, not 300,00 €
    assert result.cost(KM_PURSE).county_cents == 54_000  # 18 × 8 km = 144 km × 0,375 c/m
    assert result.cost(LEASING).county_cents == 89_000 + 4_500  # 1,5 taxi trips × 30,00 €
    # Break-even: 89 000 ≤ 0,85 t × 3 000 ⇔ t ≥ 34,9 → 35.
    assert result.break_even_trips == 35
    assert not result.cost(LEASING).meets_minimum  # no driver: leasing is no option
    assert result.recommended == QUOTA and result.saving_cents == 24_000
    assert "not an option" in result.explanation


def test_compare__excess_kilometres_are_charged_beyond_the_yearly_allowance():
    lease = Lease(
        monthly_price_cents=50_000,
        insurance_cents=0,
        servicing_cents=0,
        client_contribution_cents=0,
        included_km_per_year=10_000,
        excess_km_cents=20,
        taxi_share=Decimal(0),
    )
    # 100 trips × 12 km a month = 14 400 km a year: 4 400 km over × 0,20 € / 12 = 73,33 € a month.
    pattern = Pattern(
        months=1, trips=100, leisure_trips=100, metres=1_200_000, county_cost_cents=400_000, self_share_cents=0
    )
    assert compare(pattern, lease=lease).cost(LEASING).county_cents == 50_000 + 7_333


@pytest.mark.django_db
def test_patterns__sum_the_legs_the_county_paid_for(world):  # noqa: F811
    with clock.pinned(IMPORTED):
        trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="m.csv", content=trip_file(_rows(world))
        )
    since = dt.datetime(2026, 3, 1, tzinfo=clock.HELSINKI)
    until = dt.datetime(2026, 4, 1, tzinfo=clock.HELSINKI)
    found = selectors.patterns(organiser_id=organiser().pk, since=since, until=until, months=1)
    quota = found[world["quota"].client.pk]
    # The quota client's only accepted leg is G-1 (43,40 €, self-share 3,00 €, 10 km); the rest wait in review.
    assert quota == Pattern(
        months=1, trips=1, leisure_trips=1, metres=10_000, county_cost_cents=4_040, self_share_cents=300
    )
    km = found[world["km"].client.pk]
    assert (km.trips, km.metres) == (1, 12_346)  # G-2 once, though the file repeats it
    models = selectors.current_models(organiser_id=organiser().pk, on=dt.date(2026, 3, 15))
    assert models[world["eur"].client.pk] == EntitlementModel.EUR_PURSE
    assert comparison.compare(quota, current=models[world["quota"].client.pk]).recommended == QUOTA


@settings(max_examples=200, deadline=None)
@given(
    cost=st.integers(100, 20_000),
    metres=st.integers(500, 80_000),
    share=st.sampled_from(["0", "0.1", "0.15", "0.5"]),
    allowance=st.integers(0, 30_000),
)
def test_break_even__is_the_first_trip_count_where_leasing_costs_no_more(cost, metres, share, allowance):
    """The shortcut in ``_break_even`` finds what walking up from one trip finds."""
    pattern = Pattern(
        months=1, trips=10, leisure_trips=10, metres=10 * metres, county_cost_cents=10 * cost, self_share_cents=0
    )
    lease = replace(comparison.REFERENCE_LEASE, taxi_share=Decimal(share), included_km_per_year=allowance)
    brute = next(
        (
            t
            for t in range(1, 1001)
            if comparison._leasing(pattern, lease, Decimal(t))[0] <= comparison._round(t * pattern.cost_per_trip)
        ),
        None,
    )
    assert comparison._break_even(pattern, lease) == brute
