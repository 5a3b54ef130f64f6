"""Legs that cannot have happened as billed (issue 16, item 8): an implied speed above the tariff's limit, or more
ride and waiting minutes than fit between pickup and drop-off, are rejected by both import paths (``import_trips``
is the set-based one on PostgreSQL, the row-by-row one on SQLite) and denied by the booking API — each probed at,
just below and just above its limit, with the tariff's own limits and with the defaults."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from kukkaro.core import clock
from kukkaro.mobility import judgement, tariff_files, trip_files
from kukkaro.mobility.models import Tariff
from tests.factories import organiser, system_actor
from tests.mobility.test_trip_files import IMPORTED, NOBODY, _eur, _price, world  # noqa: F401 - the fixture
from tests.mobility.trips import leg, trip_file

pytestmark = pytest.mark.django_db

PICKUP = dt.datetime(2026, 3, 4, 10, 0, tzinfo=clock.HELSINKI)


def _leg(trip_id: str, card: str, *, km: str = "10", ride: str = "20", waiting: str = "", span_min: str = "25"):
    dropoff = PICKUP + dt.timedelta(minutes=float(Decimal(span_min)))
    fare = _price(distance_km=Decimal(km), ride_minutes=Decimal(ride), waiting_minutes=Decimal(waiting or 0))
    return leg(
        trip_id=trip_id,
        client_number=card,
        pickup_at=PICKUP.isoformat(),
        dropoff_at=dropoff.isoformat(),
        distance_km=km,
        duration_min=ride,
        waiting_min=waiting,
        fare_eur=_eur(fare),
    )


def _import(rows) -> dict[str, tuple[str, list[str]]]:
    with clock.pinned(IMPORTED):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="p.csv", content=trip_file(rows)
        )
    return {leg.trip_id: (leg.outcome, leg.reasons) for leg in done.legs.all()}


def test_limits__the_functions_at_just_below_and_just_above_each_limit():
    limits = judgement.DEFAULT_LIMITS
    assert (limits.max_speed_kmh, limits.billed_minutes_slack_min) == (150, 5)
    # 150 km/h over 20 ride minutes is 50 km.
    assert not judgement.too_fast(Decimal("49.999"), Decimal(20), limits)
    assert not judgement.too_fast(Decimal("50"), Decimal(20), limits)
    assert judgement.too_fast(Decimal("50.001"), Decimal(20), limits)
    assert judgement.too_fast(Decimal("0.001"), Decimal(0), limits)  # any distance in no time at all
    assert not judgement.too_fast(Decimal(0), Decimal(0), limits)
    # 25 minutes from pickup to drop-off, 5 minutes' slack: 30 minutes may be billed.
    span = dt.timedelta(minutes=25)
    assert not judgement.too_long(Decimal("29.99"), Decimal(0), span, limits)
    assert not judgement.too_long(Decimal(20), Decimal(10), span, limits)
    assert judgement.too_long(Decimal("30.01"), Decimal(0), span, limits)
    assert judgement.too_long(Decimal(20), Decimal("10.01"), span, limits)
    assert not judgement.too_long(Decimal(30), Decimal(0), dt.timedelta(minutes=25, microseconds=1), limits)


def test_import__an_impossible_speed_is_rejected_just_above_the_limit_only(world):  # noqa: F811
    q = world["quota"].card.number
    outcomes = _import(
        [
            _leg("S-below", q, km="49.999"),
            _leg("S-at", q, km="50"),
            _leg("S-above", q, km="50.001"),
            _leg("S-90-in-1", q, km="90", ride="1", span_min="1"),  # the 90 km in one minute
            _leg("S-no-time", q, km="3", ride="0"),
        ]
    )
    assert outcomes["S-below"] == ("accepted", [])
    assert outcomes["S-at"] == ("accepted", [])
    assert outcomes["S-above"] == ("rejected", ["impossible_speed"])
    assert outcomes["S-90-in-1"] == ("rejected", ["impossible_speed"])
    assert outcomes["S-no-time"] == ("rejected", ["impossible_speed"])


def test_import__more_minutes_billed_than_fit_between_pickup_and_drop_off_are_rejected(world):  # noqa: F811
    k = world["km"].card.number
    outcomes = _import(
        [
            _leg("D-below", k, ride="29.99"),
            _leg("D-at", k, ride="20", waiting="10"),
            _leg("D-above", k, ride="30.01"),
            _leg("D-waiting", k, ride="20", waiting="10.01"),
            _leg("D-300-in-20", k, km="100", ride="300", span_min="20"),  # the 300 minutes in 20
        ]
    )
    assert outcomes["D-below"] == ("accepted", [])
    assert outcomes["D-at"] == ("accepted", [])
    assert outcomes["D-above"] == ("rejected", ["impossible_duration"])
    assert outcomes["D-waiting"] == ("rejected", ["impossible_duration"])
    assert outcomes["D-300-in-20"] == ("rejected", ["impossible_duration"])


def test_import__the_tariffs_own_limits_decide_and_a_leg_without_a_tariff_meets_the_defaults(world):  # noqa: F811
    Tariff.objects.update(max_speed_kmh=60, billed_minutes_slack_min=0)
    q = world["quota"].card.number
    outcomes = _import(
        [
            _leg("T-at", q, km="20", ride="20"),  # 60 km/h
            _leg("T-above", q, km="20.001", ride="20"),
            _leg("T-both", q, km="30", ride="25.01"),  # faster than 60 km/h, and 25.01 minutes in 25
            # No client has this card: no tariff, so 150 km/h and 5 minutes' slack.
            _leg("N-fast", NOBODY, km="50.001", ride="20"),
            _leg("N-ok", NOBODY, km="50", ride="30"),
        ]
    )
    assert outcomes["T-at"] == ("accepted", [])
    assert outcomes["T-above"] == ("rejected", ["impossible_speed"])
    assert outcomes["T-both"] == ("rejected", ["impossible_speed", "impossible_duration"])
    assert outcomes["N-fast"] == ("rejected", ["impossible_speed"])
    assert outcomes["N-ok"] == ("review", ["unknown_client"])


def test_tariff_file__limits_are_optional_whole_numbers_in_their_ranges():
    from tests.mobility.world import TARIFF_FILE

    document = tariff_files.read_document(TARIFF_FILE.read_bytes(), TARIFF_FILE.name)
    codes = {m for version in [document] for m in version["municipalities"]}
    spec = tariff_files.parse_document(document, organiser_municipalities=codes)
    assert spec.tariffs[0].limits == {"max_speed_kmh": 150, "billed_minutes_slack_min": 5}  # the defaults
    document["tariff"][0]["max_speed_kmh"] = 90
    document["tariff"][0]["billed_minutes_slack_min"] = 0
    spec = tariff_files.parse_document(document, organiser_municipalities=codes)
    assert spec.tariffs[0].limits == {"max_speed_kmh": 90, "billed_minutes_slack_min": 0}
    document["tariff"][0]["max_speed_kmh"] = "90"
    document["tariff"][0]["billed_minutes_slack_min"] = 500
    with pytest.raises(ValidationError) as refused:
        tariff_files.parse_document(document, organiser_municipalities=codes)
    problems = refused.value.message_dict["file"]  # in the default language, Finnish
    assert "tariff[1].max_speed_kmh: anna kokonaisluku väliltä 10–300" in problems
    assert "tariff[1].billed_minutes_slack_min: anna kokonaisluku väliltä 0–120" in problems
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        tariff_files.parse_document(document, organiser_municipalities=codes)
    problems = refused.value.message_dict["file"]
    assert "tariff[1].max_speed_kmh: give a whole number from 10 to 300" in problems
