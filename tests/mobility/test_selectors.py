"""Reads of mobility: a client's month of transport counts trips, kilometres and purse use on one date basis."""

import datetime as dt

import pytest

from kukkaro.core import clock
from kukkaro.mobility import selectors, trip_files
from tests.factories import organiser, system_actor
from tests.mobility.test_trip_files import world  # noqa: F401 - the fixture is used by name
from tests.mobility.trips import leg, trip_file

pytestmark = pytest.mark.django_db

# March's trip file comes on 3 April: its debits are posted in April, its trips were picked up in March.
APRIL_IMPORT = dt.datetime(2026, 4, 3, 9, 0, tzinfo=dt.UTC)


def _march_trips_imported_in_april(w) -> None:
    q = w["quota"].card.number
    rows = [
        leg(
            trip_id=f"M-{day}",
            client_number=q,
            pickup_at=f"2026-03-{day:02d}T10:00:00+02:00",
            dropoff_at=f"2026-03-{day:02d}T10:25:00+02:00",
        )
        for day in (2, 3, 4)
    ]
    with clock.pinned(APRIL_IMPORT):
        trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="march.csv", content=trip_file(rows)
        )


def test_client_month__a_leg_picked_up_in_march_and_imported_in_april_counts_in_march_on_both_bases(
    world,  # noqa: F811
):
    _march_trips_imported_in_april(world)
    client = world["quota"].client
    leisure = world["quota"].entitlement.leisure_line.purse_id
    with clock.pinned(APRIL_IMPORT):
        march = selectors.client_month(client=client, month=dt.date(2026, 3, 1), language="en")
        april = selectors.client_month(client=client, month=dt.date(2026, 4, 1), language="en")
    purse_in = {month: {row.purse.pk: row for row in s.purses} for month, s in (("march", march), ("april", april))}
    # The trips, and what they took from the purse, by their pickup date: the three listed legs are March's.
    assert (march.trips, len(march.legs)) == (3, 3)
    assert purse_in["march"][leisure].trips_used == 3
    assert (april.trips, purse_in["april"][leisure].trips_used) == (0, 0)
    # The ledger's own figure follows the posting date and is shown apart, under its own label.
    assert purse_in["march"][leisure].debited == 0
    assert purse_in["april"][leisure].debited == 3
