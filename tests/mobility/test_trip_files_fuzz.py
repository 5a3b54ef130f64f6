"""Broken trip files (tests/csv_fuzz.py) through ``import_trips``, the service the page and the command call: the
file is refused whole with a message and nothing is stored, or every row gets exactly one outcome and the ledger
stays whole. Any other exception is a bug (a value over the csv module's 128 KiB limit was a 500). On PostgreSQL
the set-based import gives every fuzzed file exactly the outcome the row-by-row import gives it."""

import csv
import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kukkaro.core import clock
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import SYSTEM_SHARDS, PurseKind, Unit
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import trip_files
from kukkaro.mobility.models import LegOutcome, TripImport, TripLeg
from kukkaro.mobility.trip_import_sql import import_trips_sql
from tests import csv_fuzz
from tests.factories import organiser, system_actor
from tests.mobility.test_trip_files import IMPORTED, NOBODY, world  # noqa: F401 - the fixture
from tests.mobility.test_trip_import_sql import _snapshot
from tests.mobility.trips import OPERATOR, leg, trip_file

pytestmark = pytest.mark.django_db

GOOD = {
    "operator_id": [OPERATOR, OPERATOR, "7654321-2"],
    "trip_id": ["T-1", "T-2", "T-3", "T-1"],
    "pickup_at": ["2026-03-04T10:00:00+02:00", "2026-03-07T23:30:00+02:00"],
    "dropoff_at": ["2026-03-04T10:25:00+02:00", "2026-03-07T23:55:00+02:00"],
    "origin_municipality": ["049", "235", "837"],
    "destination_municipality": ["049", "927"],
    "distance_km": ["10.0", "12.3456", "0.5", "900"],
    "duration_min": ["20", "17.5", "600"],
    "waiting_min": ["", "0", "7"],
    "vehicle_class": ["car", "wheelchair", "bus"],
    "purpose": ["leisure", "work", "study"],
    "escort": ["0", "1"],
    "supplements": ["", "assist", "assist;stairs", "karaoke"],
    "shared_ride_id": ["", "S-1"],
    "fare_eur": ["43.40", "46.64", "99.99"],
    "self_share_eur": ["3.00", "0", ""],
    "authorization_id": ["", "", "A-1"],
}


@st.composite
def _trip_files(draw: st.DrawFn, cards: list[str]) -> bytes:
    good = {**GOOD, "client_number": cards}
    header = list(trip_files.COLUMNS)
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 9)) == 0:
        header = header[: draw(st.integers(0, len(header)))]
    rows = draw(st.lists(st.fixed_dictionaries({c: csv_fuzz.value(good[c]) for c in header}), max_size=5))
    values = [[leg(**row)[c] for c in header] + draw(st.sampled_from([[], [], [], ["extra"]])) for row in rows]
    values = [row[: draw(st.sampled_from([len(row), len(row), len(row), 3]))] for row in values]
    text = csv_fuzz.write_csv(
        header,
        values,
        delimiter=",",
        line_end=draw(st.sampled_from(csv_fuzz.LINE_ENDS)),
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
    )
    return draw(csv_fuzz.encoded(text))


@pytest.fixture(autouse=True)
def _payables(world):  # noqa: F811
    """The payables shards exist before any run, so every run credits the same rows."""
    for unit in Unit.values:
        for shard in range(SYSTEM_SHARDS):
            ledger.system_purse(organiser=organiser(), unit=unit, kind=PurseKind.PAYABLES, shard=shard)


def _outcome(importer, content: bytes):
    """What one import of the file does, rolled back: the refusal's messages, or every leg, transfer and purse."""
    with transaction.atomic():
        before = (TripImport.objects.count(), TripLeg.objects.count())
        refused = None
        try:
            done = importer(
                actor=system_actor(organiser()), organiser=organiser(), filename="fuzz.csv", content=content
            )
        except ValidationError as error:
            refused = error
        if refused is not None:
            assert list(refused.message_dict) == ["file"] and all(refused.message_dict["file"])
            assert (TripImport.objects.count(), TripLeg.objects.count()) == before
            result = ("refused", refused.message_dict)
        else:
            legs = list(done.legs.all())
            assert len(legs) == done.rows == len({leg.row_number for leg in legs}) > 0
            assert sum(done.counts.values()) == done.rows
            for one in legs:
                assert one.outcome in LegOutcome.values
                assert one.outcome == LegOutcome.REJECTED or one.pickup_at is not None
                assert one.outcome != LegOutcome.ACCEPTED or one.debit_amount is not None
            assert ledger_verify()[1] == []
            result = ("imported", _snapshot(done))
        transaction.set_rollback(True)
    return result


def test_import_trips__fuzzed_files__outcomes_or_the_whole_file_refused_never_a_crash(world, on_postgres):  # noqa: F811
    cards = [world["quota"].card.number, world["km"].card.number, world["eur"].card.number, NOBODY, "123"]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(content=_trip_files(cards))
    # A value over the csv module's limit (a 500), and CR-only line ends (the set-based path's 500), always.
    @example(content=trip_file([leg(trip_id="X" * 140_000, client_number=cards[0])]))
    @example(content=trip_file([leg(client_number=cards[0])]).replace(b"\r\n", b"\r"))
    def imported(content: bytes) -> None:
        with clock.pinned(IMPORTED):
            rowwise = _outcome(trip_files.import_trips_rowwise, content)
            if on_postgres:
                assert _outcome(import_trips_sql, content) == rowwise

    imported()


@pytest.mark.parametrize("size", [1025, 140_000], ids=["over-1-kib", "over-128-kib"])
def test_import_trips__a_long_value__rejects_its_row_the_same_on_both_paths(world, on_postgres, size):  # noqa: F811
    card = world["km"].card.number
    rows = [leg(trip_id="L-1", client_number=card, distance_km="1" * size), leg(trip_id="L-2", client_number=card)]
    content = trip_file(rows)
    with clock.pinned(dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)):
        importers = [trip_files.import_trips_rowwise] + ([import_trips_sql] if on_postgres else [])
        results = [_outcome(importer, content) for importer in importers]
    kind, (legs, _transfers, _purses) = results[0]
    assert kind == "imported"
    assert [(one["row_number"], one["outcome"], one["reasons"]) for one in legs] == [
        (2, "rejected", ["distance_invalid"]),
        (3, "accepted", []),
    ]
    assert all(result == results[0] for result in results)


def test_import_trips__other_scripts_digits__are_rejected_the_same_on_both_paths(world, on_postgres):  # noqa: F811
    """Python's \\d takes "٣" (Arabic-Indic 3); PostgreSQL's does not. Both read digits as 0–9 only."""
    card = world["km"].card.number
    rows = [
        leg(trip_id="U-1", client_number=card, distance_km="١٠"),
        leg(trip_id="U-2", client_number=card, origin_municipality="٠٤٩"),
        leg(trip_id="U-3", client_number=card, fare_eur="٤٣.٤٠"),
        leg(trip_id="U-4", client_number=card, pickup_at="٢٠٢٦-03-04T10:00:00+02:00"),
    ]
    with clock.pinned(dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)):
        importers = [trip_files.import_trips_rowwise] + ([import_trips_sql] if on_postgres else [])
        results = [_outcome(importer, trip_file(rows)) for importer in importers]
    _kind, (legs, _transfers, _purses) = results[0]
    assert [(one["outcome"], one["reasons"]) for one in legs] == [
        ("rejected", ["distance_invalid"]),
        ("rejected", ["municipality_invalid"]),
        ("rejected", ["fare_invalid"]),
        ("rejected", ["pickup_at_invalid"]),
    ]
    assert all(result == results[0] for result in results)


def test_import_trips__cr_only_line_ends__are_read_as_lines_on_both_paths(world, on_postgres):  # noqa: F811
    card = world["km"].card.number
    content = trip_file([leg(trip_id="C-1", client_number=card), leg(trip_id="C-2", client_number=card)])
    content = content.replace(b"\r\n", b"\r")
    with clock.pinned(dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)):
        importers = [trip_files.import_trips_rowwise] + ([import_trips_sql] if on_postgres else [])
        results = [_outcome(importer, content) for importer in importers]
    _kind, (legs, _transfers, _purses) = results[0]
    assert [(one["row_number"], one["outcome"]) for one in legs] == [(2, "accepted"), (3, "accepted")]
    assert all(result == results[0] for result in results)


def test_import_trips__a_quoted_value_over_two_lines__numbers_rows_the_same_on_both_paths(world, on_postgres):  # noqa: F811
    """Rows are numbered as a spreadsheet (and PostgreSQL's COPY) numbers them, by record: the row-by-row path
    counted physical lines, so a line break inside a quoted value moved every later row's number there."""
    card = world["km"].card.number
    rows = [leg(trip_id="Q-1", client_number=card, shared_ride_id="S\n1"), leg(trip_id="Q-2", client_number=card)]
    with clock.pinned(dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)):
        importers = [trip_files.import_trips_rowwise] + ([import_trips_sql] if on_postgres else [])
        results = [_outcome(importer, trip_file(rows)) for importer in importers]
    _kind, (legs, _transfers, _purses) = results[0]
    assert [(one["row_number"], one["outcome"], one["reasons"]) for one in legs] == [
        (2, "rejected", ["shared_ride_id_invalid"]),
        (3, "accepted", []),
    ]
    assert all(result == results[0] for result in results)
