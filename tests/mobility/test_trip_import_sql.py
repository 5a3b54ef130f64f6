"""The set-based import on PostgreSQL gives every row exactly what the row-at-a-time import gives it: the same
outcome, reasons, prices, self-shares, debits and the same ledger. Generated files mix good legs with every kind
of bad one, repeats, changed repeats, work trips past the monthly cap and purses run dry; a catalogue file has a
row for every reason code the judgement declares (``judgement.LEG_REASONS``: a code added without a row here
fails) and probes every limit at, just below and just above it."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import transaction

from kukkaro.core import clock
from kukkaro.ledger.models import Purse, Transfer
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import judgement, trip_files
from kukkaro.mobility.models import Tariff, TripImport, TripLeg
from kukkaro.mobility.trip_import_sql import import_trips_sql
from tests.databases import postgresql_only
from tests.factories import organiser, system_actor
from tests.mobility.test_trip_files import BUILT, IMPORTED, NOBODY, _eur, _price, world  # noqa: F401 - the fixture
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
                importer(
                    actor=system_actor(organiser()), organiser=organiser(), filename="earlier.csv", content=earlier
                )
            done = importer(
                actor=system_actor(organiser()), organiser=organiser(), filename="file.csv", content=content
            )
            results.append(_snapshot(done))
            assert ledger_verify()[1] == []
            transaction.set_rollback(True)
    return results


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_import__gives_every_row_what_the_row_by_row_import_gives_it(world, seed):  # noqa: F811
    postgresql_only("the set-based import is PostgreSQL's; SQLite uses the row-by-row import only")
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


def test_sql_import__after_an_earlier_file_and_with_a_badly_shaped_file(world):  # noqa: F811
    postgresql_only("the set-based import is PostgreSQL's; SQLite uses the row-by-row import only")
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


def test_metres_and_prices_agree_for_half_metre_distances(world):  # noqa: F811
    postgresql_only("the set-based import is PostgreSQL's; SQLite uses the row-by-row import only")
    rows = [
        leg(trip_id=f"H-{n}", client_number=world["km"].card.number, distance_km=km, fare_eur="0.00")
        for n, km in enumerate(["0.0005", "1.0015", "2.0025", "12.3455", "999.9995"])
    ]
    with clock.pinned(IMPORTED):
        (py_legs, *_), (sql_legs, *_) = _both(trip_file(rows))
    assert [r["distance_m"] for r in py_legs] == [1, 1002, 2003, 12346, 1000000]
    assert py_legs == sql_legs
    assert Decimal("1.0015") * 1000 == Decimal("1001.5")


#: Each of the judgement's limits (``judgement.LIMITS``), probed just below, at and just above it: the column, and
#: its values as the file writes them.
LIMIT_PROBES = {
    "distance_km": ("distance_km", ("999.999999", "1000", "1000.000001")),
    "duration_min": ("duration_min", ("1439.99", "1440", "1440.01")),
    "waiting_min": ("waiting_min", ("599.99", "600", "600.01")),
    "fare_cents": ("fare_eur", ("1999.99", "2000.00", "2000.01")),
}
ABSURD = {"distance_km": "distance_absurd", "duration_min": "duration_absurd", "waiting_min": "waiting_absurd"}
ABSURD["fare_cents"] = "fare_absurd"


def _catalogue(w) -> list[dict[str, str]]:
    """A row for each reason code (the one in the comment, alone or first), the limits probed, the edges of the
    day rate and of the fare's tolerance."""
    q, k = w["quota"].card.number, w["km"].card.number
    far = _price(distance_km=Decimal(900), ride_minutes=Decimal(600))
    rows = [
        leg(trip_id="C-ok", client_number=q),  # accepted
        leg(trip_id="C-op", client_number=q, operator_id="1234567-0"),  # operator_id_invalid
        leg(trip_id="C trip!", client_number=q),  # trip_id_invalid
        leg(trip_id="C-card", client_number="123"),  # client_number_invalid
        leg(trip_id="C-auth", client_number=q, authorization_id="not valid!"),  # authorization_id_invalid
        leg(trip_id="C-shared", client_number=q, shared_ride_id="S 1"),  # shared_ride_id_invalid
        leg(trip_id="C-pickup", client_number=q, pickup_at="2026-02-30T10:00:00+02:00"),  # pickup_at_invalid
        leg(trip_id="C-dropoff", client_number=q, dropoff_at="later"),  # dropoff_at_invalid
        leg(trip_id="C-before", client_number=q, dropoff_at="2026-03-04T09:00:00+02:00"),  # dropoff_before_pickup
        leg(trip_id="C-place", client_number=q, origin_municipality="49"),  # municipality_invalid
        leg(trip_id="C-km", client_number=q, distance_km="abc"),  # distance_invalid
        leg(trip_id="C-min", client_number=q, duration_min=""),  # duration_invalid
        leg(trip_id="C-wait", client_number=q, waiting_min="x"),  # waiting_invalid
        leg(trip_id="C-class", client_number=q, vehicle_class="bus"),  # unknown_vehicle_class
        leg(trip_id="C-purpose", client_number=q, purpose="holiday"),  # unknown_purpose
        leg(trip_id="C-escort", client_number=q, escort="2"),  # escort_invalid
        leg(trip_id="C-fare", client_number=q, fare_eur="12.345"),  # fare_invalid
        leg(trip_id="C-share", client_number=q, self_share_eur="abc"),  # self_share_invalid
        leg(trip_id="C-speed", client_number=q, distance_km="50.001", fare_eur="112.40"),  # impossible_speed
        leg(trip_id="C-long", client_number=q, duration_min="30.01"),  # impossible_duration
        leg(trip_id="C-supp", client_number=q, supplements="karaoke"),  # unknown_supplement
        leg(trip_id="C-approved", client_number=q, operator_id="7654321-2"),  # operator_not_approved
        leg(trip_id="C-nobody", client_number=NOBODY),  # unknown_client
        leg(trip_id="C-decision", client_number=w["card_only"].number),  # no_decision
        leg(trip_id="C-area", client_number=q, destination_municipality="837"),  # outside_area
        leg(  # no_tariff: the tariff ends on 30 November (the test's own change)
            trip_id="C-tariff",
            client_number=q,
            pickup_at="2026-12-02T10:00:00+02:00",
            dropoff_at="2026-12-02T10:25:00+02:00",
        ),
        leg(  # insufficient_funds: 900 km from a 200 km purse
            trip_id="C-funds",
            client_number=k,
            distance_km="900",
            duration_min="600",
            dropoff_at="2026-03-04T20:05:00+02:00",
            fare_eur=_eur(far),
        ),
        leg(trip_id="C-ok", client_number=q, distance_km="11.0"),  # resent_changed
    ]
    # The fare's tolerance (1 €): at it, within it and a cent past it, either way.
    price = _price()
    for n, off in enumerate((-101, -100, -99, 99, 100, 101)):
        rows.append(leg(trip_id=f"C-tolerance-{n}", client_number=q, fare_eur=_eur(price + off)))  # fare_mismatch
    # The day rate: Monday to Friday from 06:00 to before 20:00, not on a public holiday (Good Friday 3 April).
    for n, at in enumerate(
        (
            "2026-03-04T05:59:59",
            "2026-03-04T06:00:00",
            "2026-03-04T19:59:59",
            "2026-03-04T20:00:00",
            "2026-03-07T12:00:00",  # a Saturday
            "2026-04-03T12:00:00",  # Good Friday
            "2026-04-02T12:00:00",  # the Thursday before it, a working day
        )
    ):
        pickup = dt.datetime.fromisoformat(at).replace(tzinfo=clock.HELSINKI)
        rows.append(
            leg(
                trip_id=f"C-rate-{n}",
                client_number=w["eur"].card.number,
                pickup_at=pickup.isoformat(),
                dropoff_at=(pickup + dt.timedelta(minutes=25)).isoformat(),
                fare_eur=_eur(_price(pickup_at=pickup)),
            )
        )
    # Each limit just below, at and just above, for a client and for a card nobody has.
    for name, (column, values) in LIMIT_PROBES.items():
        for card in (q, NOBODY):
            for n, value in enumerate(values):
                row = {
                    "trip_id": f"C-{name}-{card[-4:]}-{n}",
                    "client_number": card,
                    "pickup_at": "2026-03-05T10:00:00+02:00",
                    "dropoff_at": "2026-03-06T12:00:00+02:00",  # 26 hours: long enough for every probe
                    "distance_km": "10",
                    "duration_min": "480" if name == "distance_km" else "20",  # 1 000 km at 125 km/h
                }
                rows.append(leg(**{**row, column: value}))
    return rows


def test_sql_import__every_reason_code_and_every_limit__as_the_row_by_row_import(world):  # noqa: F811
    postgresql_only("the set-based import is PostgreSQL's; SQLite uses the row-by-row import only")
    assert set(LIMIT_PROBES) == set(judgement.LIMITS)  # a limit added to the judgement is probed here too
    for name, (_column, values) in LIMIT_PROBES.items():
        below, at, above = (Decimal(v) * (100 if name == "fare_cents" else 1) for v in values)
        assert below < at == judgement.LIMITS[name] < above
    Tariff.objects.filter(valid_from=dt.date(2026, 1, 1)).update(valid_until=dt.date(2026, 11, 30))
    clean = trip_file(_catalogue(world))
    # A badly shaped file (a row with too few values): the staging's other way, and the "columns" reason.
    shaped = trip_file(_catalogue(world)[:3]) + b"2222222-9,X-1,too,few\r\n"
    compared: set[str] = set()
    for content in (clean, shaped):
        with clock.pinned(IMPORTED):
            (py_legs, py_transfers, py_purses), (sql_legs, sql_transfers, sql_purses) = _both(content)
        for py_row, sql_row in zip(py_legs, sql_legs, strict=True):
            assert py_row == sql_row, f"row {py_row['row_number']} differs"
        assert (py_transfers, py_purses) == (sql_transfers, sql_purses)
        compared |= {reason for row in py_legs for reason in row["reasons"]}
        if content is clean:
            by_trip = {row["trip_id"]: (row["outcome"], row["reasons"]) for row in py_legs}
    # Every reason the judgement declares, compared — and no other.
    assert compared == set(judgement.LEG_REASONS)
    for name, (_column, _values) in LIMIT_PROBES.items():
        for card in (world["quota"].card.number, NOBODY):
            below, at, above = (by_trip[f"C-{name}-{card[-4:]}-{n}"] for n in range(3))
            assert ABSURD[name] not in below[1] and ABSURD[name] not in at[1]
            assert above == ("rejected", [ABSURD[name]])
    tolerance = [by_trip[f"C-tolerance-{n}"] for n in range(6)]
    assert [reasons for _outcome, reasons in tolerance] == [["fare_mismatch"], [], [], [], [], ["fare_mismatch"]]
    assert all(by_trip[f"C-rate-{n}"] == ("accepted", []) for n in range(7))
