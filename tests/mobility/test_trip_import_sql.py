"""The set-based import on PostgreSQL gives every row exactly what the row-at-a-time import gives it: the same
outcome, reasons, prices, self-shares, debits and the same ledger. Generated files mix good legs with every kind
of bad one, repeats, changed repeats, work trips past the monthly cap and purses run dry."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import transaction

from kukkaro.core import clock
from kukkaro.ledger.models import Purse, Transfer
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import trip_files
from kukkaro.mobility.models import TripImport, TripLeg
from kukkaro.mobility.trip_import_sql import import_trips_sql
from tests.factories import organiser
from tests.mobility.test_trip_files import BUILT, IMPORTED, NOBODY, world  # noqa: F401 - the fixture
from tests.mobility.trips import leg, trip_file

pytestmark = pytest.mark.django_db

LEG_FIELDS = (
    "row_number",
    "outcome",
    "reasons",
    "operator_id",
    "trip_id",
    "content_sha256",
    "client_id",
    "entitlement_id",
    "provider_id",
    "client_number",
    "authorization_id",
    "pickup_at",
    "dropoff_at",
    "origin_municipality",
    "destination_municipality",
    "distance_m",
    "duration_min",
    "waiting_min",
    "vehicle_class",
    "purpose",
    "escort",
    "supplements",
    "shared_ride_id",
    "fare_cents",
    "self_share_collected_cents",
    "price_cents",
    "self_share_cents",
    "county_cost_cents",
    "debit_unit",
    "debit_amount",
    "purse_id",
    "transfer_id",
)


def _random_rows(rng: random.Random, w) -> list[dict[str, str]]:
    cards = [w["quota"].card.number, w["km"].card.number, w["eur"].card.number, w["card_only"].number, NOBODY]
    rows = []
    for n in range(160):
        pickup = dt.datetime(2026, 3, 1, 0, 0, tzinfo=clock.HELSINKI) + dt.timedelta(
            minutes=rng.randrange(0, 28 * 24 * 60)
        )
        minutes = rng.choice(["12", "20", "35.5", "7.25", "60"])
        values = {
            "trip_id": f"T-{n}",
            "client_number": rng.choice(cards[:3] * 4 + cards[3:]),
            "pickup_at": pickup.isoformat(),
            "dropoff_at": (pickup + dt.timedelta(minutes=75)).isoformat(),
            "origin_municipality": rng.choice(["049", "049", "235", "257", "091", "837"]),
            "destination_municipality": rng.choice(["049", "049", "927", "092"]),
            "distance_km": rng.choice(["3.2", "10", "12.3455", "0.5", "48.75", "150", "7.0005"]),
            "duration_min": minutes,
            "waiting_min": rng.choice(["", "", "0", "5", "12.5"]),
            "vehicle_class": rng.choice(["car", "car", "van", "wheelchair", "stretcher"]),
            "purpose": rng.choice(["leisure", "leisure", "work", "study"]),
            "escort": rng.choice(["0", "1"]),
            "supplements": rng.choice(["", "", "assist", "assist;stairs", "service;assist"]),
            "shared_ride_id": rng.choice(["", "", "", "S-1", "S-2"]),
            "fare_eur": rng.choice(["43.40", "20.00", "99.99", "12.34"]),
            "self_share_eur": rng.choice(["3.00", "0", ""]),
        }
        bad = rng.random()
        if bad < 0.04:
            values["pickup_at"] = rng.choice(
                ["2026-02-30T10:00:00+02:00", "2026-03-04 10:00", "2026-03-04T24:00+02:00"]
            )
        elif bad < 0.07:
            values["distance_km"] = rng.choice(["-1", "1200", "abc", ""])
        elif bad < 0.09:
            values["vehicle_class"] = "bus"
        elif bad < 0.11:
            values["supplements"] = "karaoke"
        elif bad < 0.13:
            values["operator_id"] = rng.choice(["1234567-0", "7654321-2", ""])
        elif bad < 0.15:
            values["client_number"] = rng.choice(["123", "1000000001", "abc"])
        elif bad < 0.17:
            values["dropoff_at"] = (pickup - dt.timedelta(minutes=5)).isoformat()
        elif bad < 0.19:
            values["fare_eur"] = rng.choice(["12.345", "-5", "5000.00"])
        elif bad < 0.21:
            values["escort"] = "2"
        rows.append(leg(**values))
    # Repeats: the same content again, and changed content under an old trip id.
    rows += [dict(rows[i]) for i in rng.sample(range(len(rows)), 12)]
    for i in rng.sample(range(len(rows) - 12), 6):
        changed = dict(rows[i])
        changed["distance_km"] = "9.9"
        rows.append(changed)
    # Work trips of one client past the monthly cap, priced so that the fare matches.
    for n in range(26):
        pickup = dt.datetime(2026, 3, 2, 7, 0, tzinfo=clock.HELSINKI) + dt.timedelta(days=n % 25, minutes=n)
        rows.append(
            leg(
                trip_id=f"W-{n}",
                client_number=w["quota"].card.number,
                purpose="work",
                pickup_at=pickup.isoformat(),
                dropoff_at=(pickup + dt.timedelta(minutes=25)).isoformat(),
            )
        )
    # Legs that cannot have happened as billed (plausibility): at, just below and just above each default limit,
    # for a client with a tariff and for a card nobody has (no tariff: the defaults).
    start = dt.datetime(2026, 3, 9, 10, 0, tzinfo=clock.HELSINKI)
    cases = [
        ("50", "20", "", 25),  # 150 km/h: at the speed limit
        ("49.999", "20", "", 25),
        ("50.001", "20", "", 25),
        ("3", "0", "", 25),  # a distance in no ride time
        ("10", "30", "", 25),  # 30 minutes in 25 + 5: at the limit
        ("10", "20", "10.01", 25),
        ("10", "30.01", "", 25),
        ("90", "1", "", 1),  # 90 km in a minute
        ("100", "300", "", 20),  # 300 minutes in 20, and 20 km/h: the duration only
        ("200", "60", "", 40),  # both
    ]
    for n, (km, ride, waiting, span) in enumerate(cases * 2):
        pickup = start + dt.timedelta(hours=n)
        rows.append(
            leg(
                trip_id=f"I-{n}",
                client_number=(w["km"].card.number, NOBODY)[n // len(cases)],
                pickup_at=pickup.isoformat(),
                dropoff_at=(pickup + dt.timedelta(minutes=span)).isoformat(),
                distance_km=km,
                duration_min=ride,
                waiting_min=waiting,
            )
        )
    rng.shuffle(rows)
    return rows


def _snapshot(trip_import: TripImport) -> tuple[list, list, list]:
    legs = list(
        TripLeg.objects.filter(trip_import=trip_import).order_by("row_number").values(*LEG_FIELDS, "same_as_id")
    )
    rows_by_id = dict(TripLeg.objects.values_list("id", "row_number"))
    for row in legs:
        row["same_as"] = rows_by_id.get(row.pop("same_as_id"))
    transfers = sorted(
        Transfer.objects.filter(ref_type__in=("trip", "trip_file")).values_list(
            "id", "debit_purse_id", "credit_purse_id", "amount", "unit", "code", "flag", "ref_id", "memo", "fingerprint"
        )
    )
    purses = sorted(Purse.objects.values_list("id", "debits_posted", "credits_posted", "debits_pending"))
    return legs, transfers, purses


def _both(content: bytes, *, earlier: bytes | None = None):
    from kukkaro.ledger import services as ledger
    from kukkaro.ledger.models import SYSTEM_SHARDS, PurseKind, Unit

    # The payables shards exist before either run, so both runs credit the same rows.
    for unit in Unit.values:
        for shard in range(SYSTEM_SHARDS):
            ledger.system_purse(organiser=organiser(), unit=unit, kind=PurseKind.PAYABLES, shard=shard)
    results = []
    for importer in (trip_files.import_trips_rowwise, import_trips_sql):
        with transaction.atomic():
            if earlier is not None:
                importer(actor=None, organiser=organiser(), filename="earlier.csv", content=earlier)
            done = importer(actor=None, organiser=organiser(), filename="file.csv", content=content)
            results.append(_snapshot(done))
            assert ledger_verify()[1] == []
            transaction.set_rollback(True)
    return results


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_import__gives_every_row_what_the_row_by_row_import_gives_it(world, on_postgres, seed):  # noqa: F811
    if not on_postgres:
        pytest.skip("the set-based import is PostgreSQL's; SQLite uses the row-by-row import only")
    rng = random.Random(seed)
    rows = _random_rows(rng, world)
    with clock.pinned(IMPORTED):
        (py_legs, py_transfers, py_purses), (sql_legs, sql_transfers, sql_purses) = _both(trip_file(rows))
    outcomes = {row["outcome"] for row in py_legs}
    assert outcomes == {"accepted", "rejected", "review"}
    reasons = {r for row in py_legs for r in row["reasons"]}
    assert {"fare_mismatch", "unknown_client", "resent_changed", "outside_area", "pickup_at_invalid"} <= reasons
    assert {"impossible_speed", "impossible_duration", "unknown_supplement"} <= reasons
    assert any(row["reasons"] == ["impossible_speed", "impossible_duration"] for row in py_legs)
    for py_row, sql_row in zip(py_legs, sql_legs, strict=True):
        assert py_row == sql_row, f"row {py_row['row_number']} differs"
    assert py_transfers == sql_transfers
    assert py_purses == sql_purses


def test_sql_import__after_an_earlier_file_and_with_a_badly_shaped_file(world, on_postgres):  # noqa: F811
    if not on_postgres:
        pytest.skip("the set-based import is PostgreSQL's; SQLite uses the row-by-row import only")
    rng = random.Random(7)
    rows = _random_rows(rng, world)
    earlier = trip_file(rows[:80])
    content = trip_file(rows[60:]).replace(b"\r\n", b"\r\n\r\n", 3)  # blank lines: PostgreSQL's CSV reader refuses
    content += b"2222222-9,X-1,too,few\r\n"
    with clock.pinned(IMPORTED):
        (py_legs, py_transfers, py_purses), (sql_legs, sql_transfers, sql_purses) = _both(content, earlier=earlier)
    assert any("columns" in row["reasons"] for row in py_legs)
    assert any(row["same_as"] for row in py_legs)
    for py_row, sql_row in zip(py_legs, sql_legs, strict=True):
        assert py_row == sql_row, f"row {py_row['row_number']} differs"
    assert (py_transfers, py_purses) == (sql_transfers, sql_purses)


def test_metres_and_prices_agree_for_half_metre_distances(world, on_postgres):  # noqa: F811
    if not on_postgres:
        pytest.skip("the set-based import is PostgreSQL's")
    rows = [
        leg(trip_id=f"H-{n}", client_number=world["km"].card.number, distance_km=km, fare_eur="0.00")
        for n, km in enumerate(["0.0005", "1.0015", "2.0025", "12.3455", "999.9995"])
    ]
    with clock.pinned(IMPORTED):
        (py_legs, *_), (sql_legs, *_) = _both(trip_file(rows))
    assert [r["distance_m"] for r in py_legs] == [1, 1002, 2003, 12346, 1000000]
    assert py_legs == sql_legs
    assert Decimal("1.0015") * 1000 == Decimal("1001.5")
