"""A trip-file import racing the dispatch centre's cancels and bookings on the same authorisations and purses
(issue 16, item 17): no deadlock escapes, the import completes, every cancel and booking gets a definite answer
(never a 500), no hold that should be closed stays open, and the ledger and the audit chain verify.

PostgreSQL only, with real concurrent connections (a thread each): SQLite has one writer at a time, so there is
nothing to race. The lock order these tests hold every path to is in docs/mobility.md ("Locks") and ADR 0023.
"""

import datetime as dt
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.test import Client as HttpClient

from kukkaro.core import clock
from kukkaro.core.audit import audit_verify
from kukkaro.ledger.models import Transfer, TransferFlag
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import trip_files
from kukkaro.mobility.models import AuthorizationState, TripAuthorization, TripImport
from tests.databases import postgresql_only
from tests.factories import organiser, system_actor
from tests.mobility.test_authorizations import URL, _ask, _body, _token
from tests.mobility.test_trip_files import _eur, _price, world  # noqa: F401 - the fixture is used by name
from tests.mobility.trips import leg, trip_file

NOW = dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC)
ROUNDS = 3
BOOKED = 24  # approved bookings before each round; the file names the first half of them
FILLER = 3_000  # more legs of the same clients, so that the import is still running when the others come
CANCELLERS = 4
BOOKERS = 2


@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    cancels: list = field(default_factory=list)  # (authorisation id, status, state in the answer)
    bookings: list = field(default_factory=list)  # (status, decision)
    errors: list = field(default_factory=list)
    imported: list = field(default_factory=list)
    import_done: threading.Event = field(default_factory=threading.Event)
    during_import: int = 0  # cancels answered while the import was still running


def _pickup(n: int) -> str:
    return (dt.datetime(2026, 3, 10, 14, 0, tzinfo=clock.HELSINKI) + dt.timedelta(minutes=n)).isoformat()


def _book(http, token: str, riders: list, round_no: int) -> list[tuple]:
    booked = []
    for n in range(BOOKED):
        rider = riders[n % len(riders)]
        answer = _ask(http, token, _body(rider.card.number, pickup_at=_pickup(n)), f"race-{round_no}-{n:04d}")
        assert answer.status_code == 201, answer.content
        assert answer.json()["decision"] == "approved", answer.json()
        booked.append((rider, n, answer.json()["authorization_id"]))
    return booked


def _file(booked: list[tuple], riders: list, round_no: int) -> bytes:
    rows = [
        leg(
            trip_id=f"RACE-{round_no}-{n}",
            client_number=rider.card.number,
            authorization_id=authorization_id,
            pickup_at=_pickup(n),
            dropoff_at=(dt.datetime.fromisoformat(_pickup(n)) + dt.timedelta(minutes=25)).isoformat(),
            fare_eur=_eur(_price(pickup_at=dt.datetime.fromisoformat(_pickup(n)))),
        )
        for rider, n, authorization_id in booked[: BOOKED // 2]
    ]
    for n in range(FILLER):
        pickup = dt.datetime(2026, 3, 2, 10, 0, tzinfo=clock.HELSINKI) + dt.timedelta(minutes=n)
        rows.append(
            leg(
                trip_id=f"FILL-{round_no}-{n}",
                client_number=riders[n % len(riders)].card.number,
                pickup_at=pickup.isoformat(),
                dropoff_at=(pickup + dt.timedelta(minutes=25)).isoformat(),
                distance_km="0.5",
                # A few legs a round are debited; the rest go outside the client's area and wait for review, so
                # the purses last the rounds.
                destination_municipality="049" if n < 15 else "837",
                fare_eur=_eur(_price(pickup_at=pickup, distance_km=Decimal("0.5"))),
            )
        )
    return trip_file(rows)


def _import(content: bytes, name: str, start: threading.Barrier, results: Results) -> None:
    try:
        start.wait()
        with clock.pinned(NOW):
            done = trip_files.import_trips(
                actor=system_actor(organiser()), organiser=organiser(), filename=name, content=content
            )
        results.imported.append(done.pk)
    except Exception as exc:
        results.errors.append(f"import: {exc!r}")
    finally:
        results.import_done.set()
        connection.close()


def _cancel(ids: list[str], token: str, seed: int, start: threading.Barrier, results: Results) -> None:
    http = HttpClient()
    rng = random.Random(seed)
    try:
        start.wait()
        with clock.pinned(NOW):
            for authorization_id in ids:
                time.sleep(rng.uniform(0, 0.15))
                response = http.post(f"{URL}/{authorization_id}/cancel", headers={"Authorization": f"Bearer {token}"})
                state = response.json().get("state") if response.status_code == 200 else None
                with results.lock:
                    results.cancels.append((authorization_id, response.status_code, state))
                    results.during_import += not results.import_done.is_set()
    except Exception as exc:
        results.errors.append(f"cancel: {exc!r}")
    finally:
        connection.close()


def _book_during(riders: list, token: str, key: str, start: threading.Barrier, results: Results) -> None:
    http = HttpClient()
    try:
        start.wait()
        with clock.pinned(NOW):
            for n in range(6):
                time.sleep(0.03)
                rider = riders[n % len(riders)]
                response = _ask(http, token, _body(rider.card.number, pickup_at=_pickup(100 + n)), f"{key}-{n:03d}")
                with results.lock:
                    results.bookings.append((response.status_code, response.json().get("decision")))
    except Exception as exc:
        results.errors.append(f"booking: {exc!r}")
    finally:
        connection.close()


def _hold_open(authorization: TripAuthorization) -> bool:
    return (
        authorization.hold_id is not None
        and not Transfer.objects.filter(pending_id=authorization.hold_id).exists()
        and Transfer.objects.filter(pk=authorization.hold_id, flag=TransferFlag.PENDING).exists()
    )


@pytest.mark.django_db(transaction=True)
def test_import__racing_cancels_and_bookings_on_its_authorisations__every_one_ends_definitely(
    world,  # noqa: F811
):
    postgresql_only("a race needs concurrent writers: PostgreSQL's to prove; SQLite has one writer at a time")
    token = _token()
    riders = [world["quota"], world["km"], world["eur"]]
    setup = HttpClient()
    for round_no in range(ROUNDS):
        with clock.pinned(NOW):
            booked = _book(setup, token, riders, round_no)
        content = _file(booked, riders, round_no)
        ids = [authorization_id for _rider, _n, authorization_id in booked]
        # Every booking is cancelled by someone: those the file names race its settlement, the others only its
        # locks on the same purses.
        shuffled = random.Random(round_no).sample(ids, len(ids))
        chunks = [shuffled[i::CANCELLERS] for i in range(CANCELLERS)]
        results = Results()
        start = threading.Barrier(1 + CANCELLERS + BOOKERS)
        threads = [threading.Thread(target=_import, args=(content, f"race-{round_no}.csv", start, results))]
        threads += [
            threading.Thread(target=_cancel, args=(chunk, token, round_no * 10 + i, start, results))
            for i, chunk in enumerate(chunks)
        ]
        threads += [
            threading.Thread(target=_book_during, args=(riders, token, f"during-{round_no}-{i}", start, results))
            for i in range(BOOKERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads), "a thread never finished"
        close_old_connections()

        assert results.errors == [], results.errors
        # The import completed.
        assert len(results.imported) == 1 and TripImport.objects.filter(pk=results.imported[0]).exists()
        # Every cancel got a definite answer: cancelled, or refused because the file settled it first.
        assert len(results.cancels) == BOOKED
        for authorization_id, status, state in results.cancels:
            authorization = TripAuthorization.objects.get(pk=authorization_id)
            assert status in (200, 422), (authorization_id, status)
            if status == 200:
                assert state == AuthorizationState.CANCELLED == authorization.state
            else:
                assert authorization.state == AuthorizationState.SETTLED
            # Cancelled or settled, its hold is released.
            assert not _hold_open(authorization), authorization_id
        assert {status for status, _decision in results.bookings} <= {201}
        assert len(results.bookings) == 6 * BOOKERS
        # The race was real: cancels were answered while the import was running.
        assert results.during_import > 0
    # The bookings made during the imports are open and hold what they say; nothing else holds anything.
    for authorization in TripAuthorization.objects.filter(state=AuthorizationState.APPROVED, closed_at__isnull=True):
        assert authorization.idempotency_key.startswith("during-")
    assert ledger_verify()[1] == []
    assert audit_verify()[1] == []
