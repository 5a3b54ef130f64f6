"""A million taxi legs through the real import on PostgreSQL, against a plain COPY of the same file, in one run.

    ./dev bench-trips          (or: .venv/bin/python bench/trip_import_bench.py --legs 1000000 --clients 5000)

1. A scratch database with the county's tariff, approved operators and ``--clients`` clients, each with a transport
   decision line (a trip quota, a kilometre purse or a euro purse, in turn), an entitlement and a card.
2. A generated file of ``--legs`` legs over a year (seeded), about 1 % of them bad in some way, each fare the
   tariff's price so that most legs are accepted.
3. Baseline: ``COPY`` of the file into a plain table with one text column per field (best of three).
4. The import: ``kukkaro.mobility.trip_files.import_trips`` (the set-based path on PostgreSQL), timed from the
   bytes in memory to the commit, once.
5. The floor under any import that keeps a row per leg, nothing judged: ``COPY`` of the file into typed columns
   (timestamps and numbers), then its rows written as legs into a table shaped like ``mobility_tripleg``: by
   ``COPY`` of rows already made (without indexes, with only the identity index exactly once needs, with the
   leg table's indexes) and by ``INSERT … SELECT`` (without indexes, with the leg table's), each in one
   transaction with its commit (``measure_floor``).

Results go to bench/results/trips.json and the trip section of docs/performance.md.
"""

import argparse
import datetime as dt
import io
import json
import os
import platform
import random
import re
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import transport_world  # noqa: E402 - after the path is set
from bench.common import psql_admin  # noqa: E402

DATABASE = "kukkaro_bench_trips"


def build_world(clients: int, seed: int) -> list[tuple[str, str, str]]:
    """Clients with entitlements and cards (``bench/transport_world.py``), and the approved taxi operators.
    Returns (card number, model, home code) per client."""
    from kukkaro.core import clock
    from kukkaro.core.models import Municipality
    from kukkaro.core.roles import Role
    from kukkaro.people.services import user_create
    from kukkaro.services import providers

    start = dt.datetime(2025, 12, 1, 8, 0, tzinfo=dt.UTC)
    where = transport_world.setting(start)
    with clock.pinned(start):
        for index, business_id in enumerate(OPERATORS):
            user = user_create(
                actor=None,
                username=f"bench.operator{index}",
                role=Role.PROVIDER,
                first_name="O",
                last_name=str(index),
                organiser=None,
                password=transport_world.PASSWORD,
            )
            provider = providers.provider_apply(
                actor=user,
                organiser=where.organiser,
                name=f"Taksi {index} Oy",
                business_id=business_id,
                soteri_number="S",
                contact_name="C",
                email="t@example.fi",
                phone="0401234567",
                municipalities=list(Municipality.objects.filter(organiser=where.organiser)),
                languages=["fi"],
                accessibility=[],
                iban="FI2112345600000785",
                bic="NDEAFIHH",
                rulebook_version=providers.RULEBOOK_VERSION,
            )
            providers.provider_set_state(actor=where.approver, provider=provider, state="approved")
    amounts = {"trip_quota": 400, "km_purse": 4_000_000, "eur_purse": 2_000_000}
    made = transport_world.riders(
        where,
        clients=clients,
        seed=seed,
        start=start,
        valid_from=dt.date(2026, 1, 1),
        valid_until=dt.date(2026, 12, 31),
        amount_for=lambda _index, model: amounts[model],
        prefix="01",
    )
    return [(r.card, r.model, r.home) for r in made]


OPERATORS = ["2222222-9", "3333333-8", "4444444-7"]
NEIGHBOURS_OK = {
    "049": ["049", "235", "257", "927"],
    "235": ["235", "049"],
    "257": ["257", "049", "444"],
    "444": ["444", "927", "224"],
    "224": ["224", "444"],
    "927": ["927", "049", "444"],
}


def generate(people: list[tuple[str, str, str]], legs: int, seed: int, booked: int = 0) -> bytes:
    """A year of legs, round-robin over the clients, priced with the tariff; about 1 % of rows bad. ``booked``
    good legs, spread over the file, were booked first through the dispatch centre's authorisation (the real
    service, the clock set to an hour before the pickup) and carry the authorisation's id."""
    from kukkaro.mobility import judgement
    from kukkaro.mobility.models import Tariff
    from kukkaro.mobility.trip_files import COLUMNS

    terms = {t.valid_from.year: t.terms() for t in Tariff.objects.all()}[2026]
    rng = random.Random(seed)
    out = io.StringIO()
    out.write(",".join(COLUMNS) + "\r\n")
    year_minutes = 365 * 24 * 60
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    kms = [Decimal(k) for k in ("2.4", "5.1", "7.75", "10.0", "12.345", "18.2", "25.0")]
    book = _booker() if booked else None
    every = max(1, legs // booked) if booked else 0
    for n in range(legs):
        card, _model, home = people[n % len(people)]
        pickup = start + dt.timedelta(minutes=rng.randrange(year_minutes))
        km = kms[n % len(kms)]
        minutes = Decimal(8 + n % 30 + int(km))  # at most ~110 km/h: the import rejects impossible speeds
        vehicle = ("car", "car", "car", "van", "wheelchair")[n % 5]
        purpose = ("leisure", "leisure", "work", "study")[n % 4]
        supplements = ("", "", "", "assist")[n % 4]
        shared = f"S-{n // 2}" if n % 10 == 0 else ""
        price = judgement.leg_price_cents(
            judgement.Leg(
                pickup_at=pickup,
                distance_km=km,
                ride_minutes=minutes,
                waiting_minutes=Decimal(0),
                vehicle_class=vehicle,
                supplements=(supplements,) if supplements else (),
                shared=bool(shared),
            ),
            terms,
        )
        fare = f"{price // 100}.{price % 100:02d}"
        places = NEIGHBOURS_OK[home]
        row = [
            OPERATORS[n % 3],
            f"L{n}",
            card,
            "",
            pickup.isoformat(),
            (pickup + dt.timedelta(minutes=int(minutes))).isoformat(),
            places[n % len(places)],
            places[(n // 3) % len(places)],
            str(km),
            str(minutes),
            "",
            vehicle,
            purpose,
            "0",
            supplements,
            shared,
            fare,
            "3.00",
        ]
        bad = n % 97
        if book is not None and n % every == 0 and bad > 2:
            row[3] = book(n, row, km, minutes, pickup)
        if bad == 0:
            row[5] = (pickup - dt.timedelta(minutes=5)).isoformat()  # drop-off before pickup
        elif bad == 1:
            row[8] = "1500"  # absurd distance
        elif bad == 2:
            row[16] = f"{price // 100 + 9}.00"  # fare off
        out.write(",".join(row) + "\r\n")
    return out.getvalue().encode()


def _booker():
    """Book a leg as the dispatch centre would have, before the trip: returns the authorisation's id."""
    from kukkaro.core import clock
    from kukkaro.core.models import Organiser
    from kukkaro.core.roles import Role
    from kukkaro.mobility.authorizations import TripRequest, trip_authorize

    dispatcher = transport_world.bench_user(
        "bench.dispatch", Role.DISPATCH, Organiser.objects.get(code="lansi-uusimaa")
    )

    def book(n: int, row: list[str], km: Decimal, minutes: Decimal, pickup: dt.datetime) -> str:
        request = TripRequest(
            client_number=row[2],
            pickup_at=pickup,
            distance_km=km,
            duration_min=minutes,
            vehicle_class=row[11],
            purpose=row[12],
            origin_municipality=row[6],
            destination_municipality=row[7],
            supplements=(row[14],) if row[14] else (),
        )
        with clock.pinned(pickup - dt.timedelta(hours=1)):
            authorization, _created = trip_authorize(actor=dispatcher, idempotency_key=f"bench-{n}", request=request)
        return str(authorization.pk)

    return book


TYPED = {
    "pickup_at": "timestamptz",
    "dropoff_at": "timestamptz",
    "distance_km": "numeric",
    "duration_min": "numeric",
    "waiting_min": "numeric",
    "escort": "smallint",
    "fare_eur": "numeric",
    "self_share_eur": "numeric",
}

# The typed rows written as legs: every value the import writes from the file, and constants where it judges.
FLOOR_INSERT = """
INSERT INTO floor_legs (trip_import_id, row_number, outcome, reasons, operator_id, trip_id, content_sha256,
    client_id, client_number, authorization_id, pickup_at, dropoff_at, origin_municipality, destination_municipality,
    distance_m, duration_min, waiting_min, vehicle_class, purpose, escort, supplements, shared_ride_id, fare_cents,
    self_share_collected_cents, debit_unit, resolved_outcome, resolution_note)
SELECT %s, row_number() OVER (), 'accepted', '[]'::jsonb, operator_id, trip_id, '', md5(client_number)::uuid,
    client_number, coalesce(authorization_id, ''), pickup_at, dropoff_at, origin_municipality,
    destination_municipality, round(distance_km * 1000)::bigint, duration_min, coalesce(waiting_min, 0),
    vehicle_class, purpose, escort = 1, '[]'::jsonb, coalesce(shared_ride_id, ''), round(fare_eur * 100)::bigint,
    round(self_share_eur * 100)::bigint, 'EUR', '', ''
FROM floor_typed
"""


#: (key, how the table is made from mobility_tripleg, whether it gets the leg table's identity index alone, how
#: the rows go in). The identity index is the least a row per leg needs: the first row of each identity once,
#: across imports (exactly once).
FLOOR_WRITES = (
    ("legs_copy_no_index", "INCLUDING DEFAULTS INCLUDING IDENTITY", False, "copy"),
    ("legs_copy_identity", "INCLUDING DEFAULTS INCLUDING IDENTITY", True, "copy"),
    ("legs_copy_indexed", "INCLUDING ALL", False, "copy"),
    ("legs_no_index", "INCLUDING DEFAULTS INCLUDING IDENTITY", False, "insert"),
    ("legs_indexed", "INCLUDING ALL", False, "insert"),
)


def measure_floor(content: bytes) -> dict[str, float]:
    """What PostgreSQL itself needs to read the file typed and to write a row per leg, with nothing judged: the
    least any import that keeps the legs could take (it does this and more). The legs are written two ways: by
    ``COPY`` of rows already made (the fastest way PostgreSQL has to store rows: the floor under any design, even
    one that judged the file outside the database) and by ``INSERT … SELECT`` from the typed rows (the import's
    way); into a table without indexes, with only the identity index that exactly once needs, and with the leg
    table's own indexes. Each in one transaction with its commit, after a ``CHECKPOINT``. Scratch tables, dropped
    after."""
    from django.db import connection, transaction

    from kukkaro.mobility.trip_files import COLUMNS

    seconds: dict[str, float] = {}
    columns, select = FLOOR_INSERT.split("(", 1)[1].split(")", 1)[0], FLOOR_INSERT.split("SELECT", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE floor_typed ({', '.join(f'{c} {TYPED.get(c, "text")}' for c in COLUMNS)})")
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with cursor.cursor.copy("COPY floor_typed FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            copy.write(content)
        seconds["typed_copy"] = time.perf_counter() - started
        cursor.execute("SELECT id FROM mobility_tripimport LIMIT 1")
        import_id = cursor.fetchone()[0]
        # The leg table's own identity index (its unique constraint), as PostgreSQL defines it, on the scratch table.
        cursor.execute("SELECT pg_get_indexdef('mobility_leg_identity_once'::regclass)")
        identity_index = re.sub(r"INDEX \S+ ON \S+", "INDEX ON floor_legs", cursor.fetchone()[0], count=1)
        # The legs' rows as COPY text, made once and not timed (this also reads every page of the typed table
        # once, so each timed step below finds it alike).
        rows = io.BytesIO()
        with cursor.cursor.copy(f"COPY (SELECT {select}) TO STDOUT", [import_id]) as copy:
            for block in copy:
                rows.write(block)
        for key, like, identity_only, how in FLOOR_WRITES:
            cursor.execute(f"CREATE TABLE floor_legs (LIKE mobility_tripleg {like})")
            if identity_only:
                cursor.execute(identity_index)
            cursor.execute("CHECKPOINT")
            started = time.perf_counter()
            with transaction.atomic():
                if how == "copy":
                    with cursor.cursor.copy(f"COPY floor_legs ({columns}) FROM STDIN") as copy:
                        copy.write(rows.getvalue())
                else:
                    cursor.execute(FLOOR_INSERT, [import_id])
            seconds[key] = time.perf_counter() - started
            cursor.execute("DROP TABLE floor_legs")
        cursor.execute("DROP TABLE floor_typed")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--legs", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument(
        "--booked",
        type=int,
        default=10_000,
        help="legs to book through the authorisation API first, spread over the file (bad rows skipped)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="print only; leave docs/performance.md and bench/results alone"
    )
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the scratch database {DATABASE} afterwards (to EXPLAIN in it)"
    )
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    if not base_url.startswith("postgres"):
        raise SystemExit("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
    psql_admin(base_url, f"DROP DATABASE IF EXISTS {DATABASE}")
    psql_admin(base_url, f"CREATE DATABASE {DATABASE}")
    os.environ["DATABASE_URL"] = urlparse(base_url)._replace(path=f"/{DATABASE}").geturl()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["KUKKARO_ENV"] = "test"
    import django

    django.setup()
    import logging

    logging.basicConfig(level=logging.INFO)  # the import logs how long each of its steps took
    logged: list[str] = []

    class Steps(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logging.getLogger("kukkaro.mobility.trip_import_sql").addHandler(Steps())
    from django.db import connection
    from django.db.models import Count

    from kukkaro.core.models import Organiser
    from kukkaro.ledger.verification import ledger_verify
    from kukkaro.mobility.models import TripAuthorization
    from kukkaro.mobility.trip_files import COLUMNS, import_trips

    began = time.perf_counter()
    print(f"building {args.clients} clients …", flush=True)
    people = build_world(args.clients, args.seed)
    print(f"  {time.perf_counter() - began:.0f} s; generating {args.legs} legs …", flush=True)
    content = generate(people, args.legs, args.seed, booked=args.booked)
    print(f"  {len(content) / 1e6:.0f} MB, {time.perf_counter() - began:.0f} s so far", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute(f"CREATE TABLE copy_baseline ({', '.join(f'{c} text' for c in COLUMNS)})")
    copies = []
    for _round in range(3):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE copy_baseline")
            cursor.execute("CHECKPOINT")
            started = time.perf_counter()
            with cursor.cursor.copy("COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write(content)
            copies.append(time.perf_counter() - started)
        print(f"  COPY: {copies[-1]:.2f} s", flush=True)
    baseline = min(copies)
    print("importing …", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    from kukkaro.core.actors import trip_import_command

    lansi = Organiser.objects.get(code="lansi-uusimaa")
    started = time.perf_counter()
    done = import_trips(actor=trip_import_command(lansi), organiser=lansi, filename="bench.csv", content=content)
    elapsed = time.perf_counter() - started
    print(f"  import: {elapsed:.2f} s — {done.counts}", flush=True)
    # "trip import <id>: <rows> rows, stage 1.23 s, keys …": the seconds of each step.
    steps = {
        name: float(seconds) for name, seconds in re.findall(r"(\w+) (\d+\.\d+) s", logged[-1].split(" rows, ", 1)[-1])
    }
    floor = measure_floor(content)
    print("  floor: " + ", ".join(f"{key} {value:.2f} s" for key, value in floor.items()), flush=True)
    started = time.perf_counter()
    again = import_trips(actor=trip_import_command(lansi), organiser=lansi, filename="bench.csv", content=content)
    again_s = time.perf_counter() - started
    assert again.pk == done.pk
    _count, problems = ledger_verify()
    authorizations = dict(
        TripAuthorization.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    print(f"  bookings after the import: {authorizations}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    result = {
        "when": dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),  # noqa: TID251 - wall clock of the run
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "postgres": server.split()[0],
        "legs": args.legs,
        "clients": args.clients,
        "file_mb": round(len(content) / 1e6, 1),
        "copy_seconds": [round(c, 3) for c in copies],
        "import_seconds": round(elapsed, 3),
        "reimport_seconds": round(again_s, 3),
        "ratio": elapsed / baseline,
        "floor_seconds": {key: round(value, 3) for key, value in floor.items()},
        "floor_ratios": {key: value / baseline for key, value in floor.items()},
        "legs_per_second": args.legs / elapsed,
        "outcomes": done.counts,
        "booked": args.booked,
        "authorizations": authorizations,
        "steps": steps,
        "ledger_verify_problems": len(problems),
    }
    if not args.no_report:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "trips.json").write_text(json.dumps(result, indent=2))
        write_report(result, ROOT / "docs" / "performance.md")
    connection.close()
    if not args.keep:
        psql_admin(base_url, f"DROP DATABASE IF EXISTS {DATABASE}")
    print(f"ratio {result['ratio']:.2f} of COPY" + ("" if args.no_report else " — written to docs/performance.md"))
    if problems:
        raise SystemExit("ledger_verify found problems after the import")


def _thousands(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")


def write_report(result: dict, path: Path) -> None:
    outcomes = ", ".join(f"{k} {_thousands(v)}" for k, v in sorted(result["outcomes"].items()))
    floor, ratios = result["floor_seconds"], result["floor_ratios"]
    bookings = ", ".join(f"{k} {_thousands(v)}" for k, v in sorted(result["authorizations"].items())) or "none"
    steps = ", ".join(f"{k} {v:.2f}" for k, v in result["steps"].items())
    section = f"""<!-- trips-bench:start -->
## Trip files: a million legs against COPY

Measured {result["when"]} on {result["machine"]} ({result["cpus"]} CPUs), PostgreSQL {result["postgres"]}, by
`./dev bench-trips` (`bench/trip_import_bench.py`): {_thousands(result["legs"])} legs of
{_thousands(result["clients"])} clients over a year, {result["file_mb"]} MB, about 1 % of rows bad.

| measure | value |
|---|---|
| `COPY` of the file into a plain table (three runs) | {", ".join(f"{s:.2f} s" for s in result["copy_seconds"])} |
| the import (read, judge, price, debit, commit) | {result["import_seconds"]:.2f} s |
| **ratio import / fastest COPY** | **{result["ratio"]:.2f}** (target ≤ 3) |
| floor, nothing judged: `COPY` of the file into typed columns | {floor["typed_copy"]:.2f} s ({ratios["typed_copy"]:.2f} × `COPY`) |
| floor: legs already made, `COPY` into a table like the leg table, no index | {floor["legs_copy_no_index"]:.2f} s ({ratios["legs_copy_no_index"]:.2f} × `COPY`) |
| **floor: the same with only the identity index that exactly once needs** | {floor["legs_copy_identity"]:.2f} s (**{ratios["legs_copy_identity"]:.2f} × `COPY`**) |
| floor: the same with the leg table's indexes | {floor["legs_copy_indexed"]:.2f} s ({ratios["legs_copy_indexed"]:.2f} × `COPY`) |
| floor: the typed rows written as legs by `INSERT … SELECT` (the import's way), no index / the leg table's indexes | {floor["legs_no_index"]:.2f} s ({ratios["legs_no_index"]:.2f} ×) / {floor["legs_indexed"]:.2f} s ({ratios["legs_indexed"]:.2f} ×) |
| legs per second | {_thousands(result["legs_per_second"])} |
| outcomes | {outcomes} |
| legs picked to book through the authorisation API first (bad rows among them skipped); the bookings afterwards | {_thousands(result["booked"])}; {bookings} |
| the import's steps (s) | {steps} |
| the same file again | {result["reimport_seconds"]:.2f} s, nothing changed |
| `ledger_verify` problems afterwards | {result["ledger_verify_problems"]} |
<!-- trips-bench:end -->"""
    text = path.read_text()
    if "<!-- trips-bench:start -->" in text:
        text = re.sub(r"<!-- trips-bench:start -->.*<!-- trips-bench:end -->", section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
