"""Trip authorisations over HTTP against pgbench on the same PostgreSQL server, in the same run.

    ./dev bench-authorizations   (or: .venv/bin/python bench/authorization_bench.py --seconds 20 --connections 16)

1. A scratch database with the county's tariff and ``--clients`` clients, each with a transport decision in force
   from a month ago to three months ahead (a trip quota, a kilometre purse or a euro purse, in turn), its funded
   purse and a card. One client in ten has a purse for about one trip, so some purses run dry and the answers
   include denials; the others' purses cover every request of the run.
2. The real application under gunicorn (``2 × CPUs`` sync workers, as production would run it) on 127.0.0.1, and
   a dispatch centre's token.
3. Rounds alternate the baseline and the load, so a noisy neighbour hits both alike:
   - baseline: ``pgbench -b tpcb-like`` (its own scratch database) with ``--connections`` clients;
   - load: ``wrk`` with ``--connections`` connections for the same time, each request a booking of a random card
     (seeded per thread) for a pickup between two hours and 30 days ahead, with its own ``Idempotency-Key``;
   - the floor (unless ``--no-floor``): the same load against a second gunicorn, same workers and settings but for
     one bench-only endpoint (``bench/authorization_floor.py``) that authenticates, parses and answers like the
     booking but does one pgbench ``tpcb-like`` transaction instead: the most a booking endpoint on this stack
     could reach on the machine.
4. Afterwards ``ledger_verify`` and a check that no client purse has more debits than credits; the answers are
   counted from the database as well as from the responses.

Results go to bench/results/authorizations.json and the authorisation section of docs/performance.md.
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import transport_world  # noqa: E402 - after the path is set
from bench.common import pgbench_init, psql_admin  # noqa: E402
from bench.ledger_bench import run_pgbench  # noqa: E402

DATABASE = "kukkaro_bench_authorizations"
PATH = "/api/v1/dispatch/authorizations"
FLOOR_PATH = "/bench-floor/authorizations"  # bench/authorization_floor.py
#: A purse that covers every request of a run, and one that covers about one trip (every tenth client).
AMOUNTS = {"trip_quota": (400, 1), "km_purse": (4_000_000, 14_000), "eur_purse": (2_000_000, 3_500)}


def build_world(clients: int, seed: int) -> tuple[list[tuple[str, str]], str]:
    """Clients with entitlements, funded purses and cards (``bench/transport_world.py``), and a dispatch centre's
    token. The decisions run from a month before today to three months after, so every pickup of the run (at most
    30 days ahead) is inside. Returns (card number, home municipality) per client, and the token."""
    from kukkaro.core import clock
    from kukkaro.core.roles import Role
    from kukkaro.people.services import api_token_create

    today = clock.today()
    start = clock.now() - dt.timedelta(days=31)
    where = transport_world.setting(start)
    made = transport_world.riders(
        where,
        clients=clients,
        seed=seed,
        start=start,
        valid_from=today - dt.timedelta(days=30),
        valid_until=today + dt.timedelta(days=90),
        # One purse in ten covers about one trip, so some run dry during the run.
        amount_for=lambda index, model: AMOUNTS[model][1 if index % 10 == 0 else 0],
        prefix="02",
    )
    dispatcher = transport_world.bench_user("bench.dispatch", Role.DISPATCH, where.organiser)
    _row, token = api_token_create(actor=None, user=dispatcher, name="bench dispatch centre")
    return [(r.card, r.home) for r in made], token


LUA = r"""-- Written by bench/authorization_bench.py: one booking of a random card per request, each with its own key.
local token = "%(token)s"
local prefix = "%(prefix)s"
local seed = %(seed)d
local base = %(base)d  -- the run's "now", epoch seconds
local cards = {
%(cards)s
}
local places = {
%(places)s
}
local kms = {"2.4", "5.1", "7.75", "10.0", "12.345", "18.2", "25.0"}
local vehicles = {"car", "car", "car", "van", "wheelchair"}
local purposes = {"leisure", "leisure", "leisure", "work", "study"}

local threads = {}
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(seed + tid)
  counter = 0
  statuses = {}
  approved = 0
  denied = 0
  reasons = {}
end

function request()
  counter = counter + 1
  local card = cards[math.random(#cards)]
  local around = places[card[2]]
  local pickup = base + math.random(2 * 3600, 30 * 86400)
  local body = string.format(
    '{"client_number":"%%s","pickup_at":"%%s","distance_km":"%%s","duration_min":"%%d","vehicle_class":"%%s",'
    .. '"purpose":"%%s","origin_municipality":"%%s","destination_municipality":"%%s"}',
    card[1], os.date("!%%Y-%%m-%%dT%%H:%%M:%%S+00:00", pickup), kms[math.random(#kms)], math.random(8, 40),
    vehicles[math.random(#vehicles)], purposes[math.random(#purposes)],
    around[math.random(#around)], around[math.random(#around)])
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("%%s-%%d-%%d", prefix, tid, counter),
    ["Content-Type"] = "application/json",
    ["Accept-Language"] = "en",
  }
  return wrk.format("POST", "%(path)s", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    if string.find(body, '"decision": *"approved"') then
      approved = approved + 1
    else
      denied = denied + 1
      local reason = string.match(body, '"reason": *"([%%w_]+)"') or "?"
      reasons[reason] = (reasons[reason] or 0) + 1
    end
  end
end

local function encode(map)
  local parts = {}
  for key, value in pairs(map) do table.insert(parts, string.format('"%%s": %%d', tostring(key), value)) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local statuses_all, reasons_all, approved_all, denied_all = {}, {}, 0, 0
  for _, thread in ipairs(threads) do
    for key, value in pairs(thread:get("statuses")) do statuses_all[key] = (statuses_all[key] or 0) + value end
    for key, value in pairs(thread:get("reasons")) do reasons_all[key] = (reasons_all[key] or 0) + value end
    approved_all = approved_all + thread:get("approved")
    denied_all = denied_all + thread:get("denied")
  end
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, '
    .. '"mean_us": %%.1f, "approved": %%d, "denied": %%d, "statuses": %%s, "reasons": %%s, '
    .. '"errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, approved_all, denied_all, encode(statuses_all), encode(reasons_all),
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
"""


def write_lua(
    path: Path, *, cards: list[tuple[str, str]], token: str, prefix: str, seed: int, url_path: str = PATH
) -> None:
    from kukkaro.mobility.neighbours import allowed_municipalities

    homes = sorted({home for _card, home in cards})
    places = ",\n".join(
        f'  ["{home}"] = {{{", ".join(f'"{code}"' for code in sorted(allowed_municipalities(home)))}}}'
        for home in homes
    )
    path.write_text(
        LUA
        % {
            "token": token,
            "prefix": prefix,
            "seed": seed,
            "base": int(time.time()),
            "cards": ",\n".join(f'  {{"{number}", "{home}"}}' for number, home in cards),
            "places": places,
            "path": url_path,
        }
    )


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing wrk …", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    *, database_url: str, workers: int, threads: int, port: int, log: Path, settings: str = "config.settings"
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "KUKKARO_ENV": "test",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi",
        "--workers",
        str(workers),
        *(["--threads", str(threads)] if threads > 1 else []),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        # Two servers run side by side (bookings and floor); neither needs gunicorn's control socket, whose one
        # default path they would race for.
        "--no-control-socket",
    ]
    with log.open("w") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603


def wait_for_server(port: int, token: str, server: subprocess.Popen, log: Path) -> None:
    """The server answers an authenticated request (an unknown authorisation: 404) before it is loaded."""
    url = f"http://127.0.0.1:{port}{PATH}/{uuid.uuid4()}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped:\n{log.read_text()[-3000:]}")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
        try:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return
            raise SystemExit(f"the server answered {exc.code} to a readiness check:\n{exc.read()[:2000]!r}") from exc
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer in 60 s:\n{log.read_text()[-3000:]}")


def run_wrk(
    wrk: str, *, lua: Path, port: int, connections: int, threads: int, seconds: int, url_path: str = PATH
) -> dict:
    result = subprocess.run(  # noqa: S603
        [
            wrk,
            "--latency",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}{url_path}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(row for row in result.stdout.splitlines() if row.startswith("RESULT "))
    figures = json.loads(line.removeprefix("RESULT "))
    figures["requests_per_second"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["wrk_requests_per_second"] = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))
    figures["statuses"] = {str(k): v for k, v in sorted(figures["statuses"].items())}
    return figures


class Served:
    """One gunicorn serving the application (or the floor's settings) on its own port, and its load."""

    def __init__(self, workdir: Path, name: str, url_path: str, settings: str = "config.settings") -> None:
        self.name, self.url_path, self.settings = name, url_path, settings
        self.log = workdir / f"gunicorn-{name}.log"
        self.lua = workdir / f"{name}.lua"
        self.port = free_port()
        self.server: subprocess.Popen | None = None
        self.warm_up: dict = {}

    def start(self, *, database_url: str, workers: int, threads: int) -> None:
        self.server = start_server(
            database_url=database_url,
            workers=workers,
            threads=threads,
            port=self.port,
            log=self.log,
            settings=self.settings,
        )

    def wait(self, token: str) -> None:
        wait_for_server(self.port, token, self.server, self.log)

    def write_lua(self, **options: object) -> None:
        write_lua(self.lua, url_path=self.url_path, **options)

    def load(self, wrk: str, **options: int) -> dict:
        return run_wrk(wrk, lua=self.lua, port=self.port, url_path=self.url_path, **options)

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()


def database_checks() -> dict:
    """ledger_verify, overdrawn client purses, and the answers as the database has them."""
    from django.db import connection

    from kukkaro.ledger.verification import ledger_verify

    _count, problems = ledger_verify()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ledger_purse WHERE kind = 'client' "
            "AND debits_pending + debits_posted > credits_posted"
        )
        overdrawn = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM ledger_purse WHERE kind = 'client' "
            "AND debits_pending + debits_posted = credits_posted"
        )
        empty = cursor.fetchone()[0]
        cursor.execute("SELECT state, reason, count(*) FROM mobility_tripauthorization GROUP BY 1, 2 ORDER BY 1, 2")
        answers = {f"{state}{'/' + reason if reason else ''}": n for state, reason, n in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM mobility_tripauthorization a JOIN ledger_transfer t ON t.id = a.hold_id "
            "WHERE a.state = 'approved'"
        )
        holds = cursor.fetchone()[0]
    return {
        "ledger_verify_problems": len(problems),
        "overdrawn_purses": overdrawn,
        "purses_used_up": empty,
        "answers_in_database": answers,
        "approved_with_hold": holds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections and pgbench clients")
    parser.add_argument("--clients", type=int, default=3000, help="clients (cards) in the scratch database")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per gunicorn worker (more than 1: gthread, keep-alive)"
    )
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median ratio is reported")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument(
        "--no-report", action="store_true", help="print only; leave docs/performance.md and bench/results alone"
    )
    parser.add_argument("--keep", action="store_true", help=f"keep the scratch database {DATABASE} afterwards")
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the floor's load (bench/authorization_floor.py: the same framework doing one pgbench transaction)",
    )
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    if not base_url.startswith("postgres"):
        raise SystemExit("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
    wrk = ensure_wrk()
    psql_admin(base_url, f"DROP DATABASE IF EXISTS {DATABASE}")
    psql_admin(base_url, f"CREATE DATABASE {DATABASE}")
    bench_url = urlparse(base_url)._replace(path=f"/{DATABASE}").geturl()
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["KUKKARO_ENV"] = "test"
    import django

    django.setup()
    from django.db import connection

    began = time.perf_counter()
    print(f"building {args.clients} clients …", flush=True)
    cards, token = build_world(args.clients, args.seed)
    if not args.no_floor:
        from bench.authorization_floor import FUNCTION_SQL

        pgbench_init(bench_url, DATABASE, scale=args.scale)
        with connection.cursor() as cursor:
            cursor.execute(FUNCTION_SQL)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    connection.close()
    print(f"  {time.perf_counter() - began:.0f} s", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="kukkaro-bench-auth-"))
    booking = Served(workdir, "bookings", PATH)
    floor = None if args.no_floor else Served(workdir, "floor", FLOOR_PATH, "bench.authorization_floor_settings")
    served = [booking] if floor is None else [booking, floor]
    rounds = []
    try:
        for target in served:
            target.start(database_url=bench_url, workers=args.workers, threads=args.threads)
        threads = min(args.connections, 2)
        load_options = {"connections": args.connections, "threads": threads}
        for target in served:
            target.wait(token)
            target.write_lua(cards=cards, token=token, prefix=f"bench-warm-{target.name}", seed=args.seed)
            print(f"warming up the server of the {target.name} (3 s) …", flush=True)
            target.warm_up = target.load(wrk, **load_options, seconds=3)
        for round_index in range(args.rounds):
            print(f"round {round_index + 1}: pgbench tpcb-like, {args.connections} clients, {args.seconds} s …")
            pgbench = run_pgbench(base_url, clients=args.connections, seconds=args.seconds, scale=args.scale)
            print(f"  {pgbench['tps']:.0f} tps", flush=True)
            this_round: dict = {"pgbench": pgbench}
            # Bookings and floor take turns going first, so neither always runs straight after the other's writes.
            for target in served if round_index % 2 == 0 else served[::-1]:
                seed = args.seed + 1000 * round_index
                target.write_lua(cards=cards, token=token, prefix=f"bench-r{round_index}-{target.name}", seed=seed)
                print(
                    f"round {round_index + 1}: wrk on the {target.name}, {args.connections} connections …", flush=True
                )
                load = target.load(wrk, **load_options, seconds=args.seconds)
                print(
                    f"  {load['requests_per_second']:.0f} requests/s, p50 {load['p50_us'] / 1000:.1f} ms, "
                    f"p99 {load['p99_us'] / 1000:.1f} ms, statuses {load['statuses']}",
                    flush=True,
                )
                load_key, ratio_key = ("wrk", "ratio") if target is booking else ("floor", "floor_ratio")
                this_round[load_key] = load
                this_round[ratio_key] = load["requests_per_second"] / pgbench["tps"]
            rounds.append(this_round)
    finally:
        for target in served:
            target.stop()
    warm_up = booking.warm_up
    server_errors = [
        row for target in served for row in target.log.read_text().splitlines() if "Traceback" in row or "ERROR" in row
    ]

    checks = database_checks()
    connection.close()
    middle = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    non_2xx = sum(n for status, n in middle["wrk"]["statuses"].items() if not status.startswith("2"))
    result = {
        "when": dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),  # noqa: TID251 - wall clock of the run
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "postgres": server_version.split()[0],
        "connections": args.connections,
        "seconds": args.seconds,
        "workers": args.workers,
        "clients": args.clients,
        "ratio": middle["ratio"],
        "round_ratios": [round(r["ratio"], 3) for r in rounds],
        "pgbench": middle["pgbench"],
        "wrk": middle["wrk"],
        "non_2xx": non_2xx,
        "p50_ms": middle["wrk"]["p50_us"] / 1000,
        "p99_ms": middle["wrk"]["p99_us"] / 1000,
        "rounds": rounds,
        "warm_up": {"requests": warm_up["requests"], "statuses": warm_up["statuses"]},
        "floor": _floor_summary(rounds),
        "server_error_lines": len(server_errors),
        **checks,
    }
    result["targets_met"] = {
        "ratio >= 0.3": result["ratio"] >= 0.3,
        "p99 < 50 ms": result["p99_ms"] < 50,
        "no overdraft, ledger_verify clean": not checks["overdrawn_purses"] and not checks["ledger_verify_problems"],
    }
    if not args.no_report:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "authorizations.json").write_text(json.dumps(result, indent=2))
        write_report(result, ROOT / "docs" / "performance.md")
    if not args.keep:
        psql_admin(base_url, f"DROP DATABASE IF EXISTS {DATABASE}")
    shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"ratio {result['ratio']:.3f} of pgbench (rounds {result['round_ratios']}), p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, overdrawn {checks['overdrawn_purses']}, "
        f"ledger_verify problems {checks['ledger_verify_problems']}"
        + (f"; floor {result['floor']['ratio']:.3f} of pgbench" if result["floor"] else "")
        + ("" if args.no_report else " — written to docs/performance.md")
    )
    if server_errors:
        print("\n".join(server_errors[:20]))
    if checks["ledger_verify_problems"] or checks["overdrawn_purses"]:
        raise SystemExit("the ledger is not clean after the run")


def _floor_summary(rounds: list[dict]) -> dict | None:
    """The floor's figures: the round with its median ratio to pgbench, and every round's ratios."""
    if not rounds or "floor" not in rounds[0]:
        return None
    middle = sorted(rounds, key=lambda r: r["floor_ratio"])[len(rounds) // 2]
    non_2xx = sum(n for status, n in middle["floor"]["statuses"].items() if not status.startswith("2"))
    return {
        "ratio": middle["floor_ratio"],
        "round_ratios": [round(r["floor_ratio"], 3) for r in rounds],
        "bookings_per_floor_request": [
            round(r["wrk"]["requests_per_second"] / r["floor"]["requests_per_second"], 3) for r in rounds
        ],
        "wrk": middle["floor"],
        "pgbench_tps": middle["pgbench"]["tps"],
        "non_2xx": non_2xx,
    }


def _floor_rows(floor: dict) -> str:
    load = floor["wrk"]
    return f"""| **floor**: the same framework, token, body and answer, with one pgbench `tpcb-like` transaction, in one round trip, instead of the booking (`{FLOOR_PATH}`), requests/s | {load["requests_per_second"]:.0f} (pgbench in its round: {floor["pgbench_tps"]:.0f}) |
| **floor's ratio to pgbench** (median of {len(floor["round_ratios"])} rounds; every round) | **{floor["ratio"]:.3f}** ({", ".join(f"{r:.3f}" for r in floor["round_ratios"])}) |
| floor's latency p50 / p99; not 2xx | {load["p50_us"] / 1000:.1f} / {load["p99_us"] / 1000:.1f} ms; {floor["non_2xx"]} |
| bookings per floor request, each round | {", ".join(f"{r:.2f}" for r in floor["bookings_per_floor_request"])} |
"""


def _thousands(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")


def write_report(result: dict, path: Path) -> None:
    load, base, floor = result["wrk"], result["pgbench"], result.get("floor")
    statuses = ", ".join(f"{status}: {_thousands(n)}" for status, n in load["statuses"].items())
    reasons = ", ".join(f"{reason} {_thousands(n)}" for reason, n in sorted(load["reasons"].items())) or "none"
    answers = ", ".join(f"{key} {_thousands(n)}" for key, n in result["answers_in_database"].items())
    met = "met" if all(result["targets_met"].values()) else "**not met**"
    section = f"""<!-- authorizations-bench:start -->
## Trip authorisations over HTTP against pgbench

Measured {result["when"]} on {result["machine"]} ({result["cpus"]} CPUs), PostgreSQL {result["postgres"]}, by
`./dev bench-authorizations` (`bench/authorization_bench.py`):
`POST {PATH}` served by gunicorn ({result["workers"]} sync workers) on 127.0.0.1, loaded by `wrk` with
{result["connections"]} connections for {result["seconds"]} s; each request books a random one of
{_thousands(result["clients"])} cards (trip quota, kilometre or euro purse in turn; one purse in ten covers about
one trip) with its own `Idempotency-Key`. Rounds alternate `pgbench -b tpcb-like` ({result["connections"]}
clients, same time) and the load; the figures are from the round with the median ratio. Load generator, server
and database share the machine.

| measure | value |
|---|---|
| pgbench `tpcb-like` (scale {base["scale"]}), transactions/s | {base["tps"]:.0f} |
| authorisations/s over HTTP | {load["requests_per_second"]:.0f} |
| **ratio authorisations / pgbench** (median of {len(result["round_ratios"])} rounds) | **{result["ratio"]:.3f}** (target ≥ 0.30) |
| every round's ratio | {", ".join(f"{r:.3f}" for r in result["round_ratios"])} |
| latency p50 / p90 / p99 / max | {load["p50_us"] / 1000:.1f} / {load["p90_us"] / 1000:.1f} / **{load["p99_us"] / 1000:.1f}** / {load["max_us"] / 1000:.1f} ms (target p99 < 50 ms) |
| answers by HTTP status (median round) | {statuses}; not 2xx: {result["non_2xx"]} |
| approved / denied (201s of the median round) | {_thousands(load["approved"])} / {_thousands(load["denied"])} ({reasons}) |
| every authorisation in the database (all rounds and the warm-up) | {answers} |
| client purses used up / overdrawn | {_thousands(result["purses_used_up"])} / **{result["overdrawn_purses"]}** (target 0) |
| `ledger_verify` problems afterwards | {result["ledger_verify_problems"]} |
{_floor_rows(floor) if floor else ""}
pgbench's average latency in the same round: {base["latency_avg_ms"]:.2f} ms. Targets: {met}.
<!-- authorizations-bench:end -->"""
    text = path.read_text()
    if "<!-- authorizations-bench:start -->" in text:
        text = re.sub(
            r"<!-- authorizations-bench:start -->.*<!-- authorizations-bench:end -->", section, text, flags=re.S
        )
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
