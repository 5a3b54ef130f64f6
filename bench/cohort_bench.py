"""The cohort cost comparison for 100 000 clients and a year of legs, against a plain GROUP BY of the same table.

    ./dev bench-cohort        (or: .venv/bin/python bench/cohort_bench.py --clients 100000 --legs-per-month 17)

1. A scratch database with the county's tariff and ``--clients`` clients, each with an approved transport decision
   (a trip quota, a kilometre purse or a euro purse, in turn) and an active entitlement from the start of the
   window to a year ahead. One decision is made through the ORM; the rest are set-based SQL copying its
   calculation and its preparer and approver, so every row satisfies the same constraints.
2. About ``--legs-per-month`` legs per client and month over the last 12 whole months (about 20 million rows in
   ``mobility_tripleg``, one trip import per month), written with ``INSERT … SELECT … generate_series`` (seeded):
   mostly accepted, some held for review (half of them accepted by a person), some rejected; each client with a
   typical trip length, prices from the 2026 tariff's car fares, the adult self-share, purposes mixed. The table's
   secondary indexes and unique constraints are dropped for the load and built again afterwards (as
   ``pg_restore`` does), which also checks every row against them; then ``VACUUM ANALYZE``.
3. Baseline: ``SELECT client_id, count(*), sum(distance_m), sum(county_cost_cents), sum(self_share_cents) FROM
   mobility_tripleg GROUP BY client_id``, fetched with psycopg (best of three after a warm-up).
4. Measured: ``kukkaro.mobility.selectors.cohort`` for the organiser over 12 months (best of three after a
   warm-up): every client ranked with the totals.

The generation time is reported but is not part of the ratio. Results go to bench/results/cohort.json and the
cohort section of docs/performance.md.
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
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import psql_admin  # noqa: E402 - after the path is set

DATABASE = "kukkaro_bench_cohort"
MODELS = ("trip_quota", "km_purse", "eur_purse")
OPERATORS = ("2222222-9", "3333333-8", "4444444-7")
BASELINE_SQL = (
    "SELECT client_id, count(*), sum(distance_m), sum(county_cost_cents), sum(self_share_cents) "
    "FROM mobility_tripleg GROUP BY client_id"
)


def build_clients(clients: int, seed: int, today: dt.date) -> dict:
    """The organiser's tariff, users, one decision made through the ORM and ``clients`` clients with decisions,
    lines and entitlements in set-based SQL. Returns what the legs need."""
    from django.db import connection

    from bench.transport_world import bench_calculation, bench_decision, bench_user, county_tariff
    from kukkaro.core import clock
    from kukkaro.core.identifiers import make_hetu
    from kukkaro.core.models import Municipality
    from kukkaro.core.roles import Role
    from kukkaro.mobility import selectors
    from kukkaro.people.models import Client

    organiser, area = county_tariff()
    since, until = selectors.comparison_window(months=12, today=today)
    valid_from, valid_until = since.date(), today + dt.timedelta(days=365)
    start = since - dt.timedelta(days=30)
    homes = list(Municipality.objects.filter(organiser=organiser).order_by("code"))
    rng = random.Random(seed)
    # Clients: national ids and ids from the seed, written with COPY.
    used: set[str] = set()
    rows = io.StringIO()
    while len(used) < clients:
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(28000))
        hetu = make_hetu(born, rng.randrange(2, 900))
        if hetu in used:
            continue
        used.add(hetu)
        client_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        n = len(used) - 1
        municipality = homes[n % len(homes)]
        rows.write(
            f"{n}\t{client_id}\t{hetu}\tCohort\tClient {n}\tfi\t\t\t\t\t\t{start.isoformat()}\t{start.isoformat()}"
            f"\t{municipality.pk}\t{organiser.pk}\n"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_clients (n integer PRIMARY KEY, client_id uuid NOT NULL, decision_id uuid, "
            "line_id bigint)"
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_client_rows (n integer, id uuid, national_id text, first_names text, "
            "last_name text, language text, email text, phone text, street_address text, postal_code text, "
            "post_office text, created_at timestamptz, updated_at timestamptz, municipality_id bigint, "
            "organiser_id bigint)"
        )
        with cursor.cursor.copy("COPY bench_client_rows FROM STDIN") as copy:
            copy.write(rows.getvalue())
        cursor.execute(
            "INSERT INTO people_client (id, national_id, first_names, last_name, language, email, phone, "
            "street_address, postal_code, post_office, created_at, updated_at, municipality_id, organiser_id) "
            "SELECT id, national_id, first_names, last_name, language, email, phone, street_address, postal_code, "
            "post_office, created_at, updated_at, municipality_id, organiser_id FROM bench_client_rows ORDER BY n"
        )
        cursor.execute("INSERT INTO bench_clients (n, client_id) SELECT n, id FROM bench_client_rows")
        cursor.execute("DROP TABLE bench_client_rows")

    first = Client.objects.get(pk=_client_id(0))
    with clock.pinned(start):
        approver = bench_user("bench.decision", Role.DECISION_MAKER, organiser)
    calculation = bench_calculation(first, organiser, start)
    # The model decision, through the ORM; the others copy its calculation, preparer and approver.
    model = bench_decision(
        number="C-0000000",
        client=first,
        organiser=organiser,
        calculation=calculation,
        approver=approver,
        valid_from=valid_from,
        valid_until=valid_until,
        start=start,
    )
    model.save()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE bench_clients SET decision_id = %s WHERE n = 0", [model.pk])
        cursor.execute(
            "UPDATE bench_clients SET decision_id = gen_random_uuid() WHERE n > 0",
        )
        cursor.execute(
            """INSERT INTO cases_decision (id, number, state, language, valid_from, valid_until, reasons, created_at,
                   approved_at, delivery_method, end_reason, change_summary, snapshot, approver_id, calculation_id,
                   client_id, organiser_id, preparer_id, document_sha256)
               SELECT b.decision_id, 'C-' || lpad(b.n::text, 7, '0'), m.state, m.language, m.valid_from,
                   m.valid_until, m.reasons, m.created_at, m.approved_at, m.delivery_method, m.end_reason,
                   m.change_summary, m.snapshot, m.approver_id, m.calculation_id, b.client_id, m.organiser_id,
                   m.preparer_id, m.document_sha256
               FROM bench_clients b CROSS JOIN cases_decision m
               WHERE m.id = %s AND b.n > 0
               ORDER BY b.n""",
            [model.pk],
        )
        cursor.execute(
            """WITH made AS (
                   INSERT INTO cases_decisionline (category_code, name_fi, name_sv, name_en, purse_unit,
                       amount_per_period, period_kind, rollover_rule, rollover_cap, borrow_limit, flexibility_group,
                       instrument, valid_from, valid_until, effective, client_id, decision_id)
                   SELECT 'transport', 'Kuljetus', 'Färdtjänst', 'Transport',
                       (ARRAY['TRIP', 'KM', 'EUR'])[b.n %% 3 + 1], (ARRAY[400, 4000000, 2000000])[b.n %% 3 + 1],
                       'once', 'roll', 0, 0, '', 'purchased', %s, %s, true, b.client_id, b.decision_id
                   FROM bench_clients b ORDER BY b.n
                   RETURNING id, decision_id)
               UPDATE bench_clients b SET line_id = made.id FROM made WHERE made.decision_id = b.decision_id""",
            [valid_from, valid_until],
        )
        cursor.execute(
            """INSERT INTO mobility_transportentitlement (id, organiser_id, client_id, decision_id, model,
                   leisure_line_id, work_line_id, contract_area_id, allowed_area, vehicle_class, escort, valid_from,
                   valid_until, state, minimum_shortfall, created_by_id, created_at)
               SELECT gen_random_uuid(), %s, b.client_id, b.decision_id, (ARRAY['trip_quota', 'km_purse',
                   'eur_purse'])[b.n %% 3 + 1], b.line_id, NULL, %s, 'neighbours', 'car', false, %s, %s, 'active',
                   '{}', %s, %s
               FROM bench_clients b ORDER BY b.n""",
            [organiser.pk, area.pk, valid_from, valid_until, approver.pk, start],
        )
    analyst = bench_user("bench.finance", Role.FINANCE, organiser)
    return {"organiser": organiser, "since": since, "until": until, "analyst": analyst, "start": start}


def _client_id(n: int) -> uuid.UUID:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT client_id FROM bench_clients WHERE n = %s", [n])
        return cursor.fetchone()[0]


#: One month of legs. Per client: a typical trip length (2–25 km) and a number of legs a month (1–31, a heavy user
#: in twenty 40–70); per leg: the length ±50 %, a pickup anywhere in the month, the 2026 tariff's car fare (base
#: fare by day or night and weekend, 1,38 € a km, 1,06 € a minute at 1,6 minutes a km and 4 more), the adult
#: self-share of 3,00 €; 96 % accepted, 2,5 % held for review (half of those accepted by a person), 1,5 % rejected.
LEGS_SQL = """
INSERT INTO mobility_tripleg (trip_import_id, row_number, outcome, reasons, operator_id, trip_id, content_sha256,
    same_as_id, client_id, entitlement_id, provider_id, client_number, authorization_id, pickup_at, dropoff_at,
    origin_municipality, destination_municipality, distance_m, duration_min, waiting_min, vehicle_class, purpose,
    escort, supplements, shared_ride_id, fare_cents, self_share_collected_cents, price_cents, self_share_cents,
    county_cost_cents, debit_unit, debit_amount, purse_id, transfer_id, resolved_outcome, resolution_note)
SELECT %(import)s, n * 100 + k, outcome,
    CASE outcome WHEN 'accepted' THEN '[]' WHEN 'review' THEN '["fare_mismatch"]' ELSE '["no_decision"]' END::jsonb,
    (ARRAY['2222222-9', '3333333-8', '4444444-7'])[(n + k) %% 3 + 1], trip_id, md5(trip_id) || md5(trip_id),
    NULL, client_id, CASE WHEN outcome = 'rejected' THEN NULL ELSE entitlement_id END, NULL,
    lpad(n::text, 10, '0'), '', pickup_at, pickup_at + make_interval(mins => minutes::int), home, home, metres,
    minutes, 0, 'car', purpose, false, '[]', '', price, 300,
    CASE WHEN outcome = 'rejected' THEN NULL ELSE price END,
    CASE WHEN outcome = 'rejected' THEN NULL ELSE share END,
    CASE WHEN outcome = 'rejected' THEN NULL ELSE price - share END,
    CASE WHEN outcome = 'accepted' THEN (ARRAY['TRIP', 'KM', 'EUR'])[n %% 3 + 1] ELSE '' END,
    CASE WHEN outcome <> 'accepted' THEN NULL WHEN n %% 3 = 0 THEN 1 WHEN n %% 3 = 1 THEN metres
        ELSE price - share END,
    NULL, NULL, CASE WHEN outcome = 'review' AND resolved THEN 'accepted' ELSE '' END, ''
FROM (
    SELECT *, round(metres * 138 / 1000.0 + minutes * 106)::bigint
            + CASE WHEN extract(isodow FROM pickup_at AT TIME ZONE 'Europe/Helsinki') >= 6
                OR extract(hour FROM pickup_at AT TIME ZONE 'Europe/Helsinki') NOT BETWEEN 6 AND 19
              THEN 1140 ELSE 840 END AS price,
        300 AS share
    FROM (
        SELECT c.n, c.client_id, c.entitlement_id, c.home, g.k,
            'C' || %(month)s || '-' || c.n || '-' || g.k AS trip_id,
            %(since)s::timestamptz + random() * (%(until)s::timestamptz - %(since)s::timestamptz) AS pickup_at,
            greatest(500, round(c.km * 1000 * (0.5 + random())))::bigint AS metres,
            CASE WHEN r.o < 0.96 THEN 'accepted' WHEN r.o < 0.985 THEN 'review' ELSE 'rejected' END AS outcome,
            r.o < 0.9725 AS resolved,
            CASE WHEN r.p < 0.75 THEN 'leisure' WHEN r.p < 0.9 THEN 'work' ELSE 'study' END AS purpose
        FROM bench_legs_clients c
        CROSS JOIN LATERAL generate_series(1, greatest(1, c.per_month + floor(random() * 7)::int - 3)) AS g(k)
        CROSS JOIN LATERAL (SELECT random() AS o, random() AS p, g.k AS _k) AS r
    ) AS legs
    CROSS JOIN LATERAL (SELECT round(4 + metres / 1000.0 * 1.6)::numeric(8, 2) AS minutes) AS m
) AS priced
"""


def generate_legs(context: dict, seed: int, legs_per_month: int) -> int:
    """Twelve months of legs, one trip import a month; secondary indexes dropped for the load and rebuilt."""
    from django.db import connection

    from kukkaro.mobility.models import TripImport

    organiser = context["organiser"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
        # Per client: typical kilometres and legs a month (mean about legs_per_month).
        cursor.execute(
            """CREATE TABLE bench_legs_clients AS
               SELECT b.n, b.client_id, e.id AS entitlement_id, m.code AS home,
                   (2 + random() * 23)::numeric(6, 2) AS km,
                   CASE WHEN random() < 0.05 THEN 40 + floor(random() * 31)::int
                       ELSE 1 + floor(random() * %s)::int END AS per_month
               FROM bench_clients b
               JOIN mobility_transportentitlement e ON e.client_id = b.client_id
               JOIN people_client c ON c.id = b.client_id
               JOIN core_municipality m ON m.id = c.municipality_id
               ORDER BY b.n""",
            # The others' mean m, with 5 % heavy users at 55: 0.95 m + 0.05 × 55 = legs_per_month.
            [max(1, round(2 * ((legs_per_month - 0.05 * 55) / 0.95 - 1) + 1))],
        )
        # The load: the table's secondary indexes and unique constraints go, and come back after it.
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'mobility_tripleg'::regclass AND contype = 'u'"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'mobility_tripleg' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'mobility_tripleg'::regclass)"
        )
        indexes = cursor.fetchall()
        for name, _definition in constraints:
            cursor.execute(f'ALTER TABLE mobility_tripleg DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    since = context["since"]
    imports = []
    for month in range(12):
        month_start, month_end = _add_months(since, month), _add_months(since, month + 1)
        imports.append(
            TripImport.objects.create(
                organiser=organiser,
                filename=f"cohort-{month_start:%Y-%m}.csv",
                sha256=f"{month:064d}",
                started_at=month_end,
                finished_at=month_end,
            )
        )

    def load(month: int) -> int:
        """One month's legs on this thread's own connection (months load side by side, one per CPU)."""
        month_start, month_end = _add_months(since, month), _add_months(since, month + 1)
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT setseed(%s)", [((seed + month + 1) % 1000) / 1000])
                cursor.execute(
                    LEGS_SQL, {"import": imports[month].pk, "month": month, "since": month_start, "until": month_end}
                )
                rows = cursor.rowcount
            TripImport.objects.filter(pk=imports[month].pk).update(rows=rows, counts={"generated": rows})
        finally:
            connection.close()
        print(f"  {month_start:%Y-%m}: {rows:,} legs in {time.perf_counter() - started:.1f} s", flush=True)
        return rows

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        total = sum(pool.map(load, range(12)))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in constraints:
            cursor.execute(f'ALTER TABLE mobility_tripleg ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
        print(f"  indexes and constraints rebuilt in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        cursor.execute("DROP TABLE bench_legs_clients")
        cursor.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)
    return total


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def best_of(runs: int, work) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--legs-per-month", type=int, default=17, help="mean legs per client and month")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side after a warm-up")
    parser.add_argument(
        "--no-report", action="store_true", help="print only; leave docs/performance.md and bench/results alone"
    )
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the scratch database {DATABASE} afterwards (to EXPLAIN in it)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help=f"measure in {DATABASE} as a --keep run left it, without generating"
    )
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    if not base_url.startswith("postgres"):
        raise SystemExit("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
    if not args.reuse:
        psql_admin(base_url, f"DROP DATABASE IF EXISTS {DATABASE}")
        psql_admin(base_url, f"CREATE DATABASE {DATABASE}")
    os.environ["DATABASE_URL"] = urlparse(base_url)._replace(path=f"/{DATABASE}").geturl()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["KUKKARO_ENV"] = "test"
    import django

    django.setup()
    from django.db import connection

    from kukkaro.core import clock
    from kukkaro.mobility import selectors
    from kukkaro.people.models import User

    today = clock.today()
    generation = {}
    if args.reuse:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM mobility_tripleg")
            legs = cursor.fetchone()[0]
        generation = json.loads((ROOT / "bench" / "results" / "cohort.json").read_text()).get("generation", {})
    else:
        began = time.perf_counter()
        print(f"building {args.clients:,} clients …", flush=True)
        context = build_clients(args.clients, args.seed, today)
        generation["clients_seconds"] = round(time.perf_counter() - began, 1)
        print(f"  {generation['clients_seconds']:.0f} s; generating 12 months of legs …", flush=True)
        began = time.perf_counter()
        legs = generate_legs(context, args.seed, args.legs_per_month)
        generation["legs_seconds"] = round(time.perf_counter() - began, 1)
        print(f"  {legs:,} legs in {generation['legs_seconds']:.0f} s", flush=True)
    analyst = User.objects.get(username="bench.finance")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('mobility_tripleg'))")
        table_size = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM mobility_transportentitlement WHERE state = 'active'")
        entitled = cursor.fetchone()[0]

    def baseline():
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_SQL)
            return cursor.fetchall()

    def measured():
        return selectors.cohort(actor=analyst, months=12, today=today)

    print("warming up …", flush=True)
    groups = baseline()
    measured()
    print(f"GROUP BY, best of {args.runs} …", flush=True)
    group_times, groups = best_of(args.runs, baseline)
    print(f"  {', '.join(f'{t:.2f} s' for t in group_times)}", flush=True)
    print(f"selectors.cohort, best of {args.runs} …", flush=True)
    cohort_times, (rows, totals) = best_of(args.runs, measured)
    print(f"  {', '.join(f'{t:.2f} s' for t in cohort_times)}", flush=True)
    ratio = min(cohort_times) / min(group_times)
    changing: dict[str, int] = {}
    for row in rows:
        if row.recommended != row.current:
            key = f"{row.current} → {row.recommended}"
            changing[key] = changing.get(key, 0) + 1
    result = {
        "when": dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),  # noqa: TID251 - wall clock of the run
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "postgres": server.split()[0],
        "clients": entitled,
        "legs": legs,
        "table_size": table_size,
        "today": today.isoformat(),
        "generation": generation,
        "group_by_seconds": [round(t, 3) for t in group_times],
        "group_by_rows": len(groups),
        "cohort_seconds": [round(t, 3) for t in cohort_times],
        "cohort_rows": len(rows),
        "totals": totals,
        "changing": dict(sorted(changing.items())),
        "ratio": ratio,
    }
    if not args.no_report:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "cohort.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
        write_report(result, ROOT / "docs" / "performance.md")
    connection.close()
    if not args.keep and not args.reuse:
        psql_admin(base_url, f"DROP DATABASE IF EXISTS {DATABASE}")
    print(
        f"ratio {ratio:.2f} of the GROUP BY ({min(cohort_times):.2f} s against {min(group_times):.2f} s), "
        f"{len(rows):,} clients ranked" + ("" if args.no_report else " — written to docs/performance.md")
    )


def _thousands(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")


def _euros(cents: int) -> str:
    return f"{_thousands(cents // 100)} €"


def write_report(result: dict, path: Path) -> None:
    totals, generation = result["totals"], result["generation"]
    section = f"""<!-- cohort-bench:start -->
## Cohort comparison: 100 000 clients against a GROUP BY

Measured {result["when"]} on {result["machine"]} ({result["cpus"]} CPUs), PostgreSQL {result["postgres"]}, by
`./dev bench-cohort` (`bench/cohort_bench.py`): {_thousands(result["clients"])} clients with a transport
decision in force, {_thousands(result["legs"])} legs over the 12 whole months before {result["today"]}
(`mobility_tripleg` with its indexes: {result["table_size"]}), generated with SQL in
{generation.get("clients_seconds", 0) + generation.get("legs_seconds", 0):.0f} s (not part of the ratio).

| measure | value |
|---|---|
| `SELECT client_id, count(*), sum(…) … GROUP BY client_id` via psycopg (three runs) | {", ".join(f"{s:.2f} s" for s in result["group_by_seconds"])} ({_thousands(result["group_by_rows"])} rows) |
| `selectors.cohort(months=12)`: patterns, models, ranking and totals (three runs) | {", ".join(f"{s:.2f} s" for s in result["cohort_seconds"])} ({_thousands(result["cohort_rows"])} rows ranked) |
| **ratio cohort / fastest GROUP BY** | **{result["ratio"]:.2f}** (target ≤ 3) |
| county cost a month now / recommended / saving | {_euros(totals["current_cents"])} / {_euros(totals["recommended_cents"])} / {_euros(totals["saving_cents"])} |
| clients whose recommended model differs | {_thousands(totals["changing"])} |
<!-- cohort-bench:end -->"""
    text = path.read_text()
    if "<!-- cohort-bench:start -->" in text:
        text = re.sub(r"<!-- cohort-bench:start -->.*<!-- cohort-bench:end -->", section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
