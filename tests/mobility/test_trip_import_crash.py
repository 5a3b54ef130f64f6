"""An import killed in the middle leaves nothing behind, and running it again ends exactly where one clean run
ends (issue 6: the kill-and-rerun test). On PostgreSQL, with ``kukkaro import_trips`` in a real process."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse, Transfer
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import trip_files
from kukkaro.mobility.models import EntitlementModel, TripImport, TripLeg
from tests.databases import postgresql_only
from tests.factories import make_user, organiser, system_actor
from tests.mobility.trips import OPERATOR, leg, trip_file
from tests.mobility.world import load_tariffs, rider
from tests.services.world import approved_provider

ROOT = Path(__file__).resolve().parents[2]
APP = "kukkaro-kill-test"


def _world() -> list:
    with clock.pinned(dt.datetime(2026, 1, 2, 8, 0, tzinfo=dt.UTC)):
        worker, approver = make_user(Role.SOCIAL_WORKER), make_user(Role.DECISION_MAKER)
        area = load_tariffs()
        riders = [
            rider(model, area=area, worker=worker, approver=approver)
            for model in (EntitlementModel.TRIP_QUOTA, EntitlementModel.KM_PURSE, EntitlementModel.EUR_PURSE)
        ]
        approved_provider(
            organiser=organiser(), decision_maker=approver, business_id=OPERATOR, name="Taksi Oy", username="taksi-kill"
        )
        from kukkaro.ledger import services as ledger
        from kukkaro.ledger.models import SYSTEM_SHARDS, PurseKind, Unit

        # The payables shards exist before any run, so every run credits the same rows.
        for unit in Unit.values:
            for shard in range(SYSTEM_SHARDS):
                ledger.system_purse(organiser=organiser(), unit=unit, kind=PurseKind.PAYABLES, shard=shard)
    return riders


def _file(riders) -> bytes:
    rows = []
    for n in range(60_000):
        pickup = dt.datetime(2026, 3, 1, 6, 0, tzinfo=clock.HELSINKI) + dt.timedelta(minutes=(n * 7) % (27 * 24 * 60))
        rows.append(
            leg(
                trip_id=f"K-{n}",
                client_number=riders[n % 3].card.number,
                pickup_at=pickup.isoformat(),
                dropoff_at=(pickup + dt.timedelta(minutes=20)).isoformat(),
                distance_km=("3.5", "10", "0.8")[n % 3],
                fare_eur=("20.00", "43.40", "99.00")[n % 5 % 3],
            )
        )
    return trip_file(rows)


def _state() -> dict:
    legs = list(
        TripLeg.objects.order_by("row_number").values_list(
            "row_number", "outcome", "reasons", "price_cents", "self_share_cents", "debit_amount", "transfer_id"
        )
    )
    transfers = sorted(
        Transfer.objects.filter(ref_type__in=("trip", "trip_file")).values_list("id", "amount", "debit_purse_id")
    )
    purses = sorted(Purse.objects.values_list("id", "debits_posted", "credits_posted", "debits_pending"))
    return {"imports": TripImport.objects.count(), "legs": legs, "transfers": transfers, "purses": purses}


def _backend_query() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE application_name = %s AND state <> 'idle'", [APP])
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.django_db(transaction=True)
def test_import__killed_in_the_middle_then_run_again__ends_as_one_clean_run(tmp_path):
    postgresql_only("the kill-and-rerun test runs the PostgreSQL import in a separate process")
    riders = _world()
    path = tmp_path / "trips.csv"
    path.write_bytes(_file(riders))
    before = _state()

    # What one clean run ends with (in a transaction that is then rolled back).
    with transaction.atomic():
        trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename=path.name, content=path.read_bytes()
        )
        clean = _state()
        transaction.set_rollback(True)
    assert clean["legs"] and clean["transfers"] and _state() == before

    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "KUKKARO_ENV": "test", "PGAPPNAME": APP}
    command = [sys.executable, "-m", "kukkaro", "import_trips", str(path), "--organiser", "lansi-uusimaa"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline and process.poll() is None:
        query = _backend_query() or ""
        if "trip_judged" in query or "trip_final" in query or "mobility_tripleg" in query:
            seen = query
            break
        time.sleep(0.05)
    assert seen, f"the import never reached the judging step (exit {process.poll()}): {process.stderr.read()[:500]}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    while _backend_query() is not None and time.monotonic() < deadline:
        time.sleep(0.1)  # the server ends the orphaned transaction once it notices the client is gone
    assert _state() == before, "a killed import left something behind"

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    assert rerun.returncode == 0, rerun.stderr
    assert _state() == clean
    assert ledger_verify()[1] == []
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    assert again.returncode == 0 and _state() == clean
