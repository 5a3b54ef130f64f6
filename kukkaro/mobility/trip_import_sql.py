# ruff: noqa: S608 - the SQL texts are built from this module's own constants; values are always parameters
"""The set-based trip import for PostgreSQL: the same judgement as ``trip_files.import_trips``, as a few SQL
statements over the whole file instead of a loop over its rows (issue 6 asks for at most 3× the time of a plain
``COPY`` of the file).

1. ``stage``: the file is copied into a temporary table with ``COPY … FORMAT csv`` (or, when it is not a clean
   CSV — a row with too many or too few values, a blank line, an unknown column — read by Python's csv module and
   copied row by row, so every row still gets its outcome).
2. ``keys``: one pass over the staged rows collects the distinct operator ids, card numbers, supplement lists and
   pickup years, and the (operator, trip id) pairs that occur more than once. What depends only on those few
   values is worked out once per value: the business ID's check digit and the operator's approval by day, the
   card's Luhn digit, client, entitlement and tariff by day, the parsed supplements and their price per tariff,
   the public holidays.
3. ``judge``: one statement reads every row (the same patterns as the Python path, typed, the rejection reasons
   in the same order), joins it to those small tables by value and day, computes the price in ``numeric``
   (rounded once), the standard self-share and the review reasons, and looks the leg's identity up in earlier
   imports.
4. ``order``: what depends on order, only where it can matter: the rank of a leg among the rows of the file with
   the same identity (only for identities that occur twice), the monthly cap of work and study self-shares (a
   running sum in pickup order, only for client-months whose total could pass the cap) and, with the purses
   locked, the purse's money (each purse takes legs in pickup order while the running sum fits; the first that
   does not fit and every later one are held for review; only for purses whose total does not fit).
5. ``legs`` and ``ledger``: the legs are inserted (first legs, then the rows that repeat one), one transfer per
   purse the file debits (the sum of its accepted legs; each leg names it) inserted and the purses' counters
   moved, all in the one transaction that began with the import (ADR 0016).

Everything that decides an outcome is written twice, here and in ``trip_files``; ``tests/mobility/
test_trip_import_sql.py`` runs both on the same generated files and compares every field of every row.
"""

import csv
import hashlib
import io
import logging
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.middleware import current_request_id
from kukkaro.core.models import Organiser
from kukkaro.core.permissions import Action, authorize
from kukkaro.core.text import allow_long_csv_values, clean_filename
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import PurseKind, TransferCode
from kukkaro.mobility import plausibility, pricing
from kukkaro.mobility.models import TripImport
from kukkaro.mobility.neighbours import NEIGHBOURS
from kukkaro.mobility.trip_files import (
    BLANKS,
    COLUMNS,
    FILE_REF_TYPE,
    MAX_BYTES,
    _Owned,
    _settlement_audit,
    _settlement_lock,
    check_header,
    file_memo,
    file_text,
    file_transfer_id,
    lock_and_settle,
)

logger = logging.getLogger(__name__)

# Memory for the import's sorts and hash tables (one import per organiser at a time), and local buffers for its
# temporary tables, which otherwise go through the operating system's files at 8 MB.
WORK_MEM = "256MB"
TEMP_BUFFERS = "512MB"


class Steps:
    """How long each step of an import took (logged; the benchmark reads it)."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name], self.last = round(now - self.last, 3), now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.seconds.items())


TIMESTAMP = (
    r"^(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-](0\d|1[0-4]):[0-5]\d)$"
)
ID = r"^[A-Za-z0-9._:/-]{1,64}$"
HELSINKI = "'Europe/Helsinki'"


def _t(column: str) -> str:
    """A staged value trimmed as the Python path trims it (spaces, tabs, line ends); NULL becomes ''."""
    return f"btrim(coalesce({column}, ''), E' \\t\\r\\n')"


# PostgreSQL's regular expressions build their automaton anew for every value, so a pattern costs about what its
# states cost: a bounded repeat such as {1,64} is 64 states. The checks below are written as cheap patterns plus
# length and range comparisons that accept exactly the texts the patterns in trip_files accept.


def _id_ok(value: str) -> str:
    """``value ~ ID``."""
    return f"({value} ~ '^[A-Za-z0-9._:/-]+$' AND length({value}) <= 64)"


def _decimal_ok(value: str, whole: int, decimals: int) -> str:
    """``value ~ '^\\d{1,whole}(\\.\\d{1,decimals})?$'``."""
    return (
        f"({value} ~ '^\\d+(?:\\.\\d+)?$' AND CASE strpos({value}, '.') WHEN 0 THEN length({value}) <= {whole} "
        f"ELSE strpos({value}, '.') <= {whole + 1} AND length({value}) - strpos({value}, '.') <= {decimals} END)"
    )


def _timestamp_ok(value: str) -> str:
    """``value ~ TIMESTAMP`` and the day exists in its month. The usual shape (seconds and an offset, as
    ``2026-03-04T10:00:00+02:00``) is checked by position: the shape, only digits and separators, exactly seven
    separators, then each field's range (digit strings of equal length compare as numbers in the C collation);
    any other text goes to the full pattern. A day up to the 28th exists in every month."""
    c = 'COLLATE "C"'
    fast = (
        f"({value} LIKE '____-__-__T__:__:__+__:__' OR {value} LIKE '____-__-__T__:__:__-__:__') "
        f"AND {value} ~ '^[-+:T0-9]+$' "
        f"AND length(replace(replace(replace(replace({value}, '-', ''), ':', ''), '+', ''), 'T', '')) = 18 "
        f"AND substr({value}, 1, 4) {c} <> '0000' AND substr({value}, 6, 2) {c} BETWEEN '01' AND '12' "
        f"AND substr({value}, 9, 2) {c} BETWEEN '01' AND '31' AND substr({value}, 12, 2) {c} <= '23' "
        f"AND substr({value}, 15, 2) {c} <= '59' AND substr({value}, 18, 2) {c} <= '59' "
        f"AND substr({value}, 21, 2) {c} <= '14' AND substr({value}, 24, 2) {c} <= '59'"
    )
    return (
        f"(({fast}) OR {value} ~ %(ts)s) AND (substr({value}, 9, 2) {c} <= '28' OR substr({value}, 9, 2)::int "
        f"<= extract(day FROM make_date(substr({value}, 1, 4)::int, substr({value}, 6, 2)::int, 1) "
        "+ interval '1 month - 1 day'))"
    )


def _stage(cursor: Any, content: bytes) -> None:
    """Copy the file into ``trip_stage``. The fast way is PostgreSQL's own CSV reader; a file it will not take
    whole is read by Python's, row by row, so each row keeps its number and gets its own outcome. Rows copied by
    PostgreSQL keep ``row_number`` empty: it is the ordinal plus one (the header is row 1)."""
    columns = ", ".join(f"{c} text" for c in COLUMNS)
    cursor.execute(
        f"CREATE TEMP TABLE trip_stage (ordinal bigint GENERATED ALWAYS AS IDENTITY, row_number integer, "
        f"columns_ok boolean NOT NULL DEFAULT true, {columns}) ON COMMIT DROP"
    )
    text = file_text(content)
    allow_long_csv_values(len(text))
    # The header as the row-by-row path reads it (a line may end in CR alone; a blank first line is a header
    # without columns), refused with the same message.
    first = next(csv.reader(io.StringIO(text, newline="")), None)
    if first is None:
        raise ValidationError({"file": _("The file is empty.")})
    header = check_header(first)
    raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
    if len(set(header)) == len(header) and set(header) <= set(COLUMNS):
        try:
            with (
                transaction.atomic(),
                raw.copy(f"COPY trip_stage ({', '.join(header)}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            ):
                copy.write(text.encode())
            return
        except Exception:
            cursor.execute("TRUNCATE trip_stage")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    with raw.copy(f"COPY trip_stage (row_number, columns_ok, {', '.join(COLUMNS)}) FROM STDIN") as copy:
        for number, values in enumerate(reader, start=2):  # by record, as trip_files.read_file numbers them
            if not any(v.strip(BLANKS) for v in values):
                continue
            by_name = {name: (values[i] if i < len(values) else "") for i, name in enumerate(header)}
            copy.write_row([number, len(values) == len(header), *(by_name.get(c, "") for c in COLUMNS)])


# One pass over the staged rows. Hashing four small sets and one of (operator, trip) pairs is cheaper than any
# check done per row; only pairs that occur twice are kept (the others are first legs without a ranking).
KEYS_SQL = f"""
CREATE TEMP TABLE trip_keys ON COMMIT DROP AS
SELECT CASE WHEN grouping(op_raw) = 0 THEN 'op' WHEN grouping(card_raw) = 0 THEN 'card'
            WHEN grouping(supp_raw) = 0 THEN 'supp' WHEN grouping(year) = 0 THEN 'year' ELSE 'twice' END AS kind,
    coalesce(op_raw, card_raw, supp_raw, year, op) AS raw, trip
FROM (SELECT coalesce(operator_id, '') AS op_raw, coalesce(client_number, '') AS card_raw,
             coalesce(supplements, '') AS supp_raw, substr({_t("pickup_at")}, 1, 4) AS year,
             {_t("operator_id")} AS op, {_t("trip_id")} AS trip
      FROM trip_stage) s
GROUP BY GROUPING SETS ((op_raw), (card_raw), (supp_raw), (year), (op, trip))
HAVING grouping(op, trip) <> 0 OR count(*) > 1
"""

# Per operator id in the file: is the business ID well formed, which provider of the organiser it is, and whether
# that provider was approved, as day ranges [from_day, until_day) that cover every day. A provider's state on a
# day is its last change before the end of that day in Helsinki, i.e. the last change whose Helsinki date is on
# or before the day: each change rules from its own date to the next change's date (empty when both fall on one
# date, where the later one rules).
OPERATOR_SQL = """
CREATE TEMP TABLE trip_operator ON COMMIT DROP AS
WITH ops AS (
    SELECT k.raw, k.op,
        k.op ~ '^\\d{7}-\\d$' AND (
            CASE ((substr(k.op,1,1)::int*7 + substr(k.op,2,1)::int*9 + substr(k.op,3,1)::int*10
                 + substr(k.op,4,1)::int*5 + substr(k.op,5,1)::int*8 + substr(k.op,6,1)::int*4
                 + substr(k.op,7,1)::int*2) %% 11)
                WHEN 0 THEN 0 WHEN 1 THEN -1
                ELSE 11 - ((substr(k.op,1,1)::int*7 + substr(k.op,2,1)::int*9 + substr(k.op,3,1)::int*10
                 + substr(k.op,4,1)::int*5 + substr(k.op,5,1)::int*8 + substr(k.op,6,1)::int*4
                 + substr(k.op,7,1)::int*2) %% 11)
            END) = substr(k.op, 9, 1)::int AS op_ok,
        pv.id AS provider_id
    FROM (SELECT raw, btrim(raw, E' \\t\\r\\n') AS op FROM trip_keys WHERE kind = 'op') k
    LEFT JOIN services_provider pv ON pv.organiser_id = %(org)s AND pv.business_id = k.op
), changes AS (
    SELECT sc.provider_id, sc.state = 'approved' AS approved,
        (sc.effective_at AT TIME ZONE 'Europe/Helsinki')::date AS from_day,
        lead((sc.effective_at AT TIME ZONE 'Europe/Helsinki')::date)
            OVER (PARTITION BY sc.provider_id ORDER BY sc.effective_at, sc.id) AS until_day
    FROM services_providerstatechange sc WHERE sc.provider_id IN (SELECT provider_id FROM ops)
), ranges AS (
    SELECT provider_id, '-infinity'::date AS from_day, min(from_day) AS until_day, false AS approved
    FROM changes GROUP BY provider_id
    UNION ALL
    SELECT provider_id, from_day, coalesce(until_day, 'infinity'), approved FROM changes
)
SELECT o.raw, o.op, o.op_ok, o.provider_id, coalesce(r.approved, false) AS approved,
    coalesce(r.from_day, '-infinity') AS from_day, coalesce(r.until_day, 'infinity') AS until_day
FROM ops o LEFT JOIN ranges r ON r.provider_id = o.provider_id
"""

# Per card number in the file: is it well formed (a number on a card of any organiser counts as checked, as in
# the row-wise path's data), whose card it is here, and that client's entitlement and tariff as day ranges
# [from_day, until_day) that cover every day. The ranges are cut at every date where an active entitlement or a
# tariff of its area starts or ends, so within a range the entitlement in force (the latest that started, then
# the latest made) and its tariff do not change.
CARD_SQL = """
CREATE TEMP TABLE trip_card ON COMMIT DROP AS
WITH cards AS (
    SELECT k.raw, k.card, k.card ~ '^\\d{6,20}$' AND (tc.id IS NOT NULL OR kukkaro_luhn_valid(k.card)) AS card_ok,
        pc.id AS client_id, tc.issued_at, tc.closed_at, m.code AS home,
        -- The first day the client is 18: the birthday, or 1 March for one born on 29 February in a common year.
        make_date(b.year + 18, CASE WHEN b.month = 2 AND b.day = 29 AND NOT (
            (b.year + 18) %% 4 = 0 AND ((b.year + 18) %% 100 <> 0 OR (b.year + 18) %% 400 = 0)) THEN 3 ELSE b.month END,
            CASE WHEN b.month = 2 AND b.day = 29 AND NOT (
            (b.year + 18) %% 4 = 0 AND ((b.year + 18) %% 100 <> 0 OR (b.year + 18) %% 400 = 0)) THEN 1 ELSE b.day END)
            AS adult_from
    FROM (SELECT raw, btrim(raw, E' \\t\\r\\n') AS card FROM trip_keys WHERE kind = 'card') k
    LEFT JOIN mobility_transportcard tc ON tc.number = k.card
    LEFT JOIN people_client pc ON pc.id = tc.client_id AND pc.organiser_id = %(org)s
    LEFT JOIN core_municipality m ON m.id = pc.municipality_id
    LEFT JOIN LATERAL (SELECT
        CASE WHEN substr(pc.national_id, 7, 1) = '+' THEN 1800
             WHEN substr(pc.national_id, 7, 1) IN ('A', 'B', 'C', 'D', 'E', 'F') THEN 2000 ELSE 1900 END
            + substr(pc.national_id, 5, 2)::int AS year,
        substr(pc.national_id, 3, 2)::int AS month, substr(pc.national_id, 1, 2)::int AS day) b
        ON pc.national_id IS NOT NULL
), entitlements AS (
    SELECT e.* FROM mobility_transportentitlement e
    WHERE e.state = 'active' AND e.client_id IN (SELECT client_id FROM cards)
), cuts AS (
    SELECT client_id, '-infinity'::date AS day FROM cards WHERE client_id IS NOT NULL
    UNION SELECT client_id, valid_from FROM entitlements
    UNION SELECT client_id, valid_until + 1 FROM entitlements
    UNION SELECT e.client_id, t.valid_from FROM entitlements e JOIN mobility_tariff t ON t.area_id = e.contract_area_id
    UNION SELECT e.client_id, t.valid_until + 1 FROM entitlements e
        JOIN mobility_tariff t ON t.area_id = e.contract_area_id WHERE t.valid_until IS NOT NULL
), ranges AS (
    SELECT client_id, day AS from_day,
        coalesce(lead(day) OVER (PARTITION BY client_id ORDER BY day), 'infinity') AS until_day
    FROM cuts
), ruled AS (
    SELECT r.*, e.id AS entitlement_id, e.model, e.allowed_area, lp.purse_id AS leisure_purse,
        wp.purse_id AS work_purse, t.id AS tariff_id, t.base_day_cents, t.base_other_cents, t.per_minute_cents,
        t.waiting_per_hour_cents, t.shared_discount_bp, t.self_share_adult_cents, t.self_share_child_cents,
        t.work_study_monthly_cap_cents, t.fare_tolerance_cents, t.max_speed_kmh, t.billed_minutes_slack_min,
        t.per_km_car_cents, t.per_km_van_cents,
        t.per_km_wheelchair_cents, t.per_km_stretcher_cents
    FROM ranges r
    LEFT JOIN LATERAL (
        SELECT e.* FROM mobility_transportentitlement e
        WHERE e.client_id = r.client_id AND e.state = 'active' AND r.from_day BETWEEN e.valid_from AND e.valid_until
        ORDER BY e.valid_from DESC, e.created_at DESC LIMIT 1
    ) e ON true
    LEFT JOIN cases_decisionline lp ON lp.id = e.leisure_line_id
    LEFT JOIN cases_decisionline wp ON wp.id = e.work_line_id
    LEFT JOIN LATERAL (
        SELECT t.* FROM mobility_tariff t
        WHERE t.area_id = e.contract_area_id AND t.valid_from <= r.from_day
          AND (t.valid_until IS NULL OR t.valid_until >= r.from_day)
        ORDER BY t.valid_from DESC LIMIT 1
    ) t ON true
)
SELECT c.*, coalesce(r.from_day, '-infinity') AS from_day, coalesce(r.until_day, 'infinity') AS until_day,
    r.entitlement_id, r.model, r.allowed_area, r.leisure_purse, r.work_purse, r.tariff_id, r.base_day_cents,
    r.base_other_cents, r.per_minute_cents, r.waiting_per_hour_cents, r.shared_discount_bp,
    r.self_share_adult_cents, r.self_share_child_cents, r.work_study_monthly_cap_cents, r.fare_tolerance_cents,
    r.max_speed_kmh, r.billed_minutes_slack_min,
    r.per_km_car_cents, r.per_km_van_cents, r.per_km_wheelchair_cents, r.per_km_stretcher_cents
FROM cards c LEFT JOIN ruled r ON r.client_id = c.client_id
"""

# Per supplement list in the file: its codes, and per tariff (-1: none) whether a code is unknown and their sum.
SUPPLEMENT_SQL = """
CREATE TEMP TABLE trip_supplement ON COMMIT DROP AS
SELECT k.raw, t.tariff_key, s.supps, to_jsonb(s.supps) AS supps_json,
    EXISTS (SELECT 1 FROM unnest(s.supps) code WHERE NOT (t.supplements_cents ? code)) AS unknown,
    (SELECT coalesce(sum((t.supplements_cents ->> code)::bigint), 0) FROM unnest(s.supps) code) AS cents
FROM (SELECT raw FROM trip_keys WHERE kind = 'supp') k
CROSS JOIN LATERAL (
    SELECT array(SELECT btrim(code, E' \\t\\r\\n') FROM unnest(string_to_array(btrim(k.raw, E' \\t\\r\\n'), ';'))
                 AS code WHERE btrim(code, E' \\t\\r\\n') <> '') AS supps
) s
CROSS JOIN (
    SELECT -1::bigint AS tariff_key, NULL::jsonb AS supplements_cents
    UNION ALL
    SELECT id, supplements_cents FROM mobility_tariff WHERE id IN (SELECT tariff_id FROM trip_card)
) t
"""


def _prepare_reference_tables(cursor: Any, organiser_id: int) -> None:
    """Finnish public holidays for the years the file covers, each home municipality's allowed area, and the
    per-value tables the judgement joins to."""
    cursor.execute(KEYS_SQL)
    cursor.execute("SELECT raw FROM trip_keys WHERE kind = 'year'")
    years = {int(y) for (y,) in cursor.fetchall() if len(y) == 4 and y.isascii() and y.isdigit() and y != "0000"}
    cursor.execute("CREATE TEMP TABLE trip_holiday (day date PRIMARY KEY) ON COMMIT DROP")
    # A pickup's Helsinki date may fall in the year before or after the year written in its text.
    around = {near for year in years for near in (year - 1, year, year + 1) if 1 <= near <= 9999}
    if around:
        days = sorted({day for year in around for day in pricing.finnish_holidays(year)})
        cursor.execute("INSERT INTO trip_holiday SELECT unnest(%s::date[])", [[d.isoformat() for d in days]])
    cursor.execute("CREATE TEMP TABLE trip_allowed (home text, code text, PRIMARY KEY (home, code)) ON COMMIT DROP")
    pairs = [(home, code) for home, codes in NEIGHBOURS.items() for code in {*codes, home}]
    cursor.execute(
        "INSERT INTO trip_allowed SELECT * FROM unnest(%s::text[], %s::text[])",
        [[p[0] for p in pairs], [p[1] for p in pairs]],
    )
    cursor.execute(OPERATOR_SQL, {"org": organiser_id})
    cursor.execute(CARD_SQL, {"org": organiser_id})
    cursor.execute(SUPPLEMENT_SQL)
    cursor.execute("ANALYZE trip_operator, trip_card, trip_supplement, trip_keys")


# The trimmed values, in the file's column order, that make up a leg's content (trip_files.Row.content_sha256).
CONTENT_VALUES = (
    "v.card_t, v.auth, v.p_txt, v.d_txt, v.orig, v.dest, v.km_txt, v.dur_txt, v.wait_t, v.vclass, v.purp, v.esc, "
    "v.supp_t, v.shared, v.fare_txt, v.ss_t"
)
assert len(CONTENT_VALUES.split(", ")) == len(COLUMNS) - 2
CLIENT_FOUND = (
    "(a.readable AND a.card_client IS NOT NULL AND a.issued_at <= a.pickup "
    "AND (a.closed_at IS NULL OR a.closed_at > a.pickup))"
)

TOO_FAST = plausibility.sql_too_fast("c.km", "c.dur", plausibility.sql_max_speed("c.max_speed_kmh"))
TOO_LONG = plausibility.sql_too_long(
    "c.dur", "c.wait", "c.pickup", "c.dropoff", plausibility.sql_slack("c.billed_minutes_slack_min")
)

# The judgement of every row in one statement. Each level is a subquery with OFFSET 0, which PostgreSQL does not
# flatten: a value is computed once and passed up (an inlined subquery computes it again wherever it is used; a
# MATERIALIZED CTE writes every row to a tuple store). Read from the innermost level out.
JUDGE_SQL = f"""
CREATE TEMP TABLE trip_judged ON COMMIT DROP AS
SELECT p.row_number, p.is_rejected, p.rejection, left(p.op, 20) AS op, left(p.trip, 64) AS trip, p.content,
    left(p.card, 20) AS card, left(p.auth, 64) AS auth,
    CASE WHEN p.readable THEN p.pickup END AS pickup, CASE WHEN p.readable THEN p.dropoff END AS dropoff,
    CASE WHEN p.readable THEN p.local END AS local, left(p.orig, 3) AS orig, left(p.dest, 3) AS dest,
    CASE WHEN p.readable THEN round(p.km * 1000)::bigint END AS distance_m,
    CASE WHEN p.readable THEN p.dur END AS dur, CASE WHEN p.readable THEN p.wait END AS wait,
    left(p.vclass, 16) AS vclass, left(p.purp, 8) AS purp, p.esc = '1' AS escort, p.supps_json,
    left(p.shared, 64) AS shared, CASE WHEN p.readable THEN p.fare END AS fare,
    CASE WHEN p.readable THEN p.ss_collected END AS ss_collected, p.client_id,
    CASE WHEN NOT p.is_rejected THEN p.entitlement_id END AS entitlement_id,
    CASE WHEN NOT p.is_rejected THEN p.provider_id END AS provider_id,
    CASE WHEN NOT p.is_rejected THEN p.price END AS price, p.std_share, p.std_share AS share,
    p.purp IN ('work', 'study') AS work_study, p.work_study_monthly_cap_cents AS cap_cents,
    CASE p.model WHEN 'trip_quota' THEN 'TRIP' WHEN 'km_purse' THEN 'KM' ELSE 'EUR' END AS unit,
    CASE p.model WHEN 'trip_quota' THEN 1 WHEN 'km_purse' THEN round(p.km * 1000)::bigint END AS fixed_amount,
    CASE WHEN p.model = 'trip_quota' AND p.purp IN ('work', 'study') AND p.work_purse IS NOT NULL
         THEN p.work_purse ELSE p.leisure_purse END AS purse,
    p.reasons, f.id AS first_id, NOT p.is_rejected AND f.id IS NULL AS is_first,
    p.twice AND NOT p.is_rejected AND f.id IS NULL AS ranked, false AS short
FROM (
    -- The outcome's ingredients: rejected (unreadable, or an unknown supplement), the standard self-share, and
    -- the review reasons (none, without building an array, when every lookup succeeded and the fare fits).
    SELECT j.*,
        NOT j.readable OR (j.tariff_id IS NOT NULL AND j.unknown) OR j.too_fast OR j.too_long AS is_rejected,
        CASE WHEN NOT j.readable THEN j.rejected
             WHEN j.too_fast OR j.too_long OR (j.tariff_id IS NOT NULL AND j.unknown) THEN array_remove(ARRAY[
                CASE WHEN j.too_fast THEN '{plausibility.IMPOSSIBLE_SPEED}' END,
                CASE WHEN j.too_long THEN '{plausibility.IMPOSSIBLE_DURATION}' END,
                CASE WHEN j.tariff_id IS NOT NULL AND j.unknown THEN 'unknown_supplement' END], NULL)
             ELSE ARRAY[]::text[] END AS rejection,
        CASE WHEN j.price IS NOT NULL THEN least(CASE WHEN j.day < j.adult_from
            THEN j.self_share_child_cents ELSE j.self_share_adult_cents END, j.price) END AS std_share,
        CASE WHEN NOT j.readable OR j.approved AND j.client_id IS NOT NULL AND j.entitlement_id IS NOT NULL
                  AND j.area_ok AND j.tariff_id IS NOT NULL AND abs(j.fare - j.price) <= j.fare_tolerance_cents
             THEN ARRAY[]::text[]
             ELSE array_remove(ARRAY[
                CASE WHEN NOT j.approved THEN 'operator_not_approved' END,
                CASE WHEN j.client_id IS NULL THEN 'unknown_client'
                     WHEN j.entitlement_id IS NULL THEN 'no_decision' END,
                CASE WHEN NOT j.area_ok THEN 'outside_area' END,
                CASE WHEN j.entitlement_id IS NOT NULL AND j.tariff_id IS NULL THEN 'no_tariff' END,
                CASE WHEN abs(j.fare - j.price) > j.fare_tolerance_cents THEN 'fare_mismatch' END
             ], NULL) END AS reasons
    FROM (
        -- Supplements and price (numeric, rounded once); the allowed area; an identity the file holds twice; what
        -- cannot have happened as billed, by the tariff's limits or the defaults (plausibility).
        SELECT c.*, sp.supps_json, sp.unknown,
            coalesce(c.readable AND {TOO_FAST}, false) AS too_fast,
            coalesce(c.readable AND {TOO_LONG}, false) AS too_long,
            CASE WHEN c.tariff_id IS NOT NULL THEN round((
                (CASE WHEN extract(isodow FROM c.local) <= 5 AND c.local::time >= '06:00' AND c.local::time < '20:00'
                      AND NOT EXISTS (SELECT 1 FROM trip_holiday h WHERE h.day = c.day)
                      THEN c.base_day_cents ELSE c.base_other_cents END)
                + c.km * c.per_km_cents + c.dur * c.per_minute_cents + c.wait * c.waiting_per_hour_cents / 60
                + sp.cents) * (CASE WHEN c.shared <> '' THEN 10000 - c.shared_discount_bp ELSE 10000 END) / 10000
            )::bigint END AS price,
            c.entitlement_id IS NULL OR c.allowed_area <> 'neighbours' OR (
                EXISTS (SELECT 1 FROM trip_allowed a WHERE a.home = c.home AND a.code = c.orig)
                AND EXISTS (SELECT 1 FROM trip_allowed a WHERE a.home = c.home AND a.code = c.dest)) AS area_ok,
            (c.op, c.trip) IN (SELECT raw, trip FROM trip_keys WHERE kind = 'twice') AS twice
        FROM (
            -- The client (a readable row whose card was valid at pickup), its entitlement and tariff that day,
            -- and the reasons a row cannot be read, in the row-wise path's order.
            SELECT a.row_number, a.readable, a.op, a.trip, a.content, a.card, a.auth, a.pickup, a.dropoff, a.local,
                a.day, a.orig, a.dest, a.km, a.dur, a.wait, a.vclass, a.purp, a.esc, a.supp_raw, a.shared, a.fare,
                a.ss_collected, a.approved, a.home, a.adult_from, a.model, a.allowed_area, a.leisure_purse,
                a.work_purse, a.base_day_cents, a.base_other_cents, a.per_minute_cents, a.waiting_per_hour_cents,
                a.shared_discount_bp, a.self_share_adult_cents, a.self_share_child_cents,
                a.work_study_monthly_cap_cents, a.fare_tolerance_cents,
                CASE a.vclass WHEN 'car' THEN a.per_km_car_cents WHEN 'van' THEN a.per_km_van_cents
                    WHEN 'wheelchair' THEN a.per_km_wheelchair_cents ELSE a.per_km_stretcher_cents END AS per_km_cents,
                CASE WHEN a.readable THEN a.provider_id END AS provider_id,
                CASE WHEN {CLIENT_FOUND} THEN a.card_client END AS client_id,
                CASE WHEN {CLIENT_FOUND} THEN a.entitlement_id END AS entitlement_id,
                CASE WHEN {CLIENT_FOUND} AND a.entitlement_id IS NOT NULL THEN a.tariff_id END AS tariff_id,
                CASE WHEN {CLIENT_FOUND} AND a.entitlement_id IS NOT NULL THEN a.max_speed_kmh END AS max_speed_kmh,
                CASE WHEN {CLIENT_FOUND} AND a.entitlement_id IS NOT NULL THEN a.billed_minutes_slack_min END
                    AS billed_minutes_slack_min,
                CASE WHEN NOT a.readable THEN array_remove(ARRAY[
                    CASE WHEN NOT a.op_ok THEN 'operator_id_invalid' END,
                    CASE WHEN NOT a.trip_ok THEN 'trip_id_invalid' END,
                    CASE WHEN NOT a.card_ok THEN 'client_number_invalid' END,
                    CASE WHEN NOT a.auth_ok THEN 'authorization_id_invalid' END,
                    CASE WHEN NOT a.shared_ok THEN 'shared_ride_id_invalid' END,
                    CASE WHEN a.pickup IS NULL THEN 'pickup_at_invalid' END,
                    CASE WHEN a.dropoff IS NULL THEN 'dropoff_at_invalid' END,
                    CASE WHEN a.dropoff < a.pickup THEN 'dropoff_before_pickup' END,
                    CASE WHEN NOT a.places_ok THEN 'municipality_invalid' END,
                    CASE WHEN a.km IS NULL THEN 'distance_invalid' WHEN a.km > 1000 THEN 'distance_absurd' END,
                    CASE WHEN a.dur IS NULL THEN 'duration_invalid' WHEN a.dur > 1440 THEN 'duration_absurd' END,
                    CASE WHEN a.wait IS NULL THEN 'waiting_invalid' WHEN a.wait > 600 THEN 'waiting_absurd' END,
                    CASE WHEN a.vclass NOT IN ('car', 'van', 'wheelchair', 'stretcher')
                         THEN 'unknown_vehicle_class' END,
                    CASE WHEN a.purp NOT IN ('work', 'study', 'leisure') THEN 'unknown_purpose' END,
                    CASE WHEN a.esc NOT IN ('0', '1') THEN 'escort_invalid' END,
                    CASE WHEN a.fare IS NULL THEN 'fare_invalid' WHEN a.fare > 200000 THEN 'fare_absurd' END,
                    CASE WHEN a.ss_collected IS NULL THEN 'self_share_invalid' END,
                    CASE WHEN NOT a.columns_ok THEN 'columns' END
                ], NULL) END AS rejected
            FROM (
                -- The operator's and the card's tables, by value and the pickup's Helsinki date; readable means
                -- that no reason to reject the row was found while reading it.
                SELECT l.*, o.op, o.op_ok, o.provider_id, o.approved, k.card, k.card_ok,
                    k.client_id AS card_client, k.issued_at, k.closed_at, k.home, k.adult_from, k.entitlement_id,
                    k.model, k.allowed_area, k.leisure_purse, k.work_purse, k.tariff_id, k.base_day_cents,
                    k.base_other_cents, k.per_minute_cents, k.waiting_per_hour_cents, k.shared_discount_bp,
                    k.self_share_adult_cents, k.self_share_child_cents, k.work_study_monthly_cap_cents,
                    k.fare_tolerance_cents, k.max_speed_kmh, k.billed_minutes_slack_min, k.per_km_car_cents,
                    k.per_km_van_cents, k.per_km_wheelchair_cents,
                    k.per_km_stretcher_cents,
                    coalesce(o.op_ok AND l.trip_ok AND k.card_ok AND l.auth_ok AND l.shared_ok
                        AND l.pickup IS NOT NULL AND l.dropoff IS NOT NULL AND NOT l.dropoff < l.pickup
                        AND l.places_ok AND l.km <= 1000 AND l.dur <= 1440 AND l.wait <= 600
                        AND l.vclass IN ('car', 'van', 'wheelchair', 'stretcher')
                        AND l.purp IN ('work', 'study', 'leisure') AND l.esc IN ('0', '1')
                        AND l.fare <= 200000 AND l.ss_collected IS NOT NULL AND l.columns_ok, false) AS readable
                FROM (
                    SELECT t.*, t.pickup AT TIME ZONE {HELSINKI} AS local,
                        -- A row without a pickup still meets its value's first day range.
                        coalesce((t.pickup AT TIME ZONE {HELSINKI})::date, '-infinity'::date) AS day
                    FROM (
                        -- Typed values (NULL where the text does not match its pattern), and the hash of what
                        -- the operator says of the leg.
                        SELECT v.*,
                            encode(sha256(convert_to(concat_ws(E'\\x1f', {CONTENT_VALUES}), 'UTF8')), 'hex')
                                AS content,
                            CASE WHEN {_timestamp_ok("v.p_txt")} THEN v.p_txt::timestamptz END AS pickup,
                            CASE WHEN {_timestamp_ok("v.d_txt")} THEN v.d_txt::timestamptz END AS dropoff,
                            CASE WHEN {_decimal_ok("v.km_txt", 7, 6)} THEN v.km_txt::numeric END AS km,
                            CASE WHEN {_decimal_ok("v.dur_txt", 5, 2)} THEN v.dur_txt::numeric END AS dur,
                            CASE WHEN {_decimal_ok("v.wait_txt", 5, 2)} THEN v.wait_txt::numeric END AS wait,
                            CASE WHEN {_decimal_ok("v.fare_txt", 7, 2)}
                                 THEN (v.fare_txt::numeric * 100)::bigint END AS fare,
                            CASE WHEN {_decimal_ok("v.ss_txt", 7, 2)}
                                 THEN (v.ss_txt::numeric * 100)::bigint END AS ss_collected,
                            {_id_ok("v.trip")} AS trip_ok,
                            v.auth = '' OR {_id_ok("v.auth")} AS auth_ok,
                            v.shared = '' OR {_id_ok("v.shared")} AS shared_ok,
                            v.orig ~ '^\\d{{3}}$' AND v.dest ~ '^\\d{{3}}$' AS places_ok
                        FROM (
                            -- Trimmed texts.
                            SELECT coalesce(s.row_number, s.ordinal + 1)::int AS row_number, s.columns_ok,
                                coalesce(s.operator_id, '') AS op_raw, coalesce(s.client_number, '') AS card_raw,
                                coalesce(s.supplements, '') AS supp_raw, {_t("s.client_number")} AS card_t,
                                {_t("s.supplements")} AS supp_t, {_t("s.waiting_min")} AS wait_t,
                                {_t("s.self_share_eur")} AS ss_t,
                                {_t("s.trip_id")} AS trip, {_t("s.authorization_id")} AS auth,
                                {_t("s.pickup_at")} AS p_txt, {_t("s.dropoff_at")} AS d_txt,
                                {_t("s.origin_municipality")} AS orig, {_t("s.destination_municipality")} AS dest,
                                {_t("s.distance_km")} AS km_txt, {_t("s.duration_min")} AS dur_txt,
                                coalesce(nullif({_t("s.waiting_min")}, ''), '0') AS wait_txt,
                                {_t("s.vehicle_class")} AS vclass, {_t("s.purpose")} AS purp,
                                {_t("s.escort")} AS esc, {_t("s.shared_ride_id")} AS shared,
                                {_t("s.fare_eur")} AS fare_txt,
                                coalesce(nullif({_t("s.self_share_eur")}, ''), '0') AS ss_txt
                            FROM trip_stage s OFFSET 0
                        ) v OFFSET 0
                    ) t OFFSET 0
                ) l
                LEFT JOIN trip_operator o ON o.raw = l.op_raw AND o.from_day <= l.day AND l.day < o.until_day
                LEFT JOIN trip_card k ON k.raw = l.card_raw AND k.from_day <= l.day AND l.day < k.until_day
                OFFSET 0
            ) a OFFSET 0
        ) c
        LEFT JOIN trip_supplement sp ON sp.raw = c.supp_raw AND sp.tariff_key = coalesce(c.tariff_id, -1)
        OFFSET 0
    ) j OFFSET 0
) p
LEFT JOIN mobility_tripleg f ON p.readable AND f.operator_id = p.op AND f.trip_id = p.trip
    AND f.same_as_id IS NULL AND f.outcome <> 'rejected' AND f.resolved_outcome <> 'rejected'
"""

# --- what depends on order: only where it can change a figure ---------------------------------------------------

# Among the rows of the file with one identity (and none in earlier imports), the first in pickup order is the
# leg; the others repeat it. Only identities the file holds twice are ranked.
RANK_SQL = """
UPDATE trip_judged j SET is_first = false
FROM (SELECT row_number, row_number() OVER (PARTITION BY op, trip ORDER BY pickup, row_number) AS rank
      FROM trip_judged WHERE ranked) r
WHERE j.ranked AND j.row_number = r.row_number AND r.rank > 1
"""

AMOUNT = "coalesce(f.fixed_amount, f.price - f.share)"
CANDIDATE = f"f.is_first AND f.share IS NOT NULL AND cardinality(f.reasons) = 0 AND {AMOUNT} > 0"

# One pass for two sums: per client-month, the standard work and study self-shares and the lowest cap; per purse
# (that a first leg with a self-share names), what the file's debit candidates would take from it.
SUMS_SQL = f"""
CREATE TEMP TABLE trip_sums ON COMMIT DROP AS
SELECT grouping(f.purse) = 0 AS per_purse, f.purse AS purse_id, f.client_id, date_trunc('month', f.local) AS month,
    sum(f.std_share) FILTER (WHERE f.work_study) AS total_share,
    min(f.cap_cents) FILTER (WHERE f.work_study AND f.cap_cents > 0) AS cap,
    coalesce(sum({AMOUNT}) FILTER (WHERE {CANDIDATE}), 0) AS total
FROM trip_judged f WHERE f.is_first AND f.std_share IS NOT NULL
GROUP BY GROUPING SETS ((f.purse), (f.client_id, date_trunc('month', f.local)))
"""

# The monthly cap of work and study self-shares. A client-month whose standard self-shares, with what earlier
# files took, stay within its lowest cap needs no running sum: every leg keeps its standard self-share.
CAP_SQL = """
CREATE TEMP TABLE trip_cap ON COMMIT DROP AS
WITH paid AS (
    -- What each client paid for work and study trips in earlier files, per month this file touches.
    SELECT m.client_id, m.month, m.total_share, m.cap, coalesce(sum(l.self_share_cents), 0) AS paid
    FROM trip_sums m
    LEFT JOIN mobility_tripleg l ON l.client_id = m.client_id AND l.purpose IN ('work', 'study')
        AND l.same_as_id IS NULL AND l.outcome <> 'rejected' AND l.resolved_outcome <> 'rejected'
        AND l.self_share_cents IS NOT NULL
        AND l.pickup_at >= (m.month AT TIME ZONE 'Europe/Helsinki')
        AND l.pickup_at < ((m.month + interval '1 month') AT TIME ZONE 'Europe/Helsinki')
    WHERE NOT m.per_purse AND m.total_share IS NOT NULL
    GROUP BY m.client_id, m.month, m.total_share, m.cap
)
SELECT client_id, month, paid FROM paid WHERE paid + total_share > cap
"""


def _contribution(share: str) -> str:
    """What a first leg adds to its purse's total, with a given self-share."""
    amount = f"coalesce(fixed_amount, price - {share})"
    candidate = f"is_first AND {share} IS NOT NULL AND cardinality(reasons) = 0 AND {amount} > 0"
    return f"CASE WHEN {candidate} THEN {amount} ELSE 0 END"


# The capped self-shares of the client-months that need them, and the purses' totals moved by what that changed
# (a euro purse's debit is the price less the self-share).
CAPPED_SQL = f"""
WITH capped AS (
    UPDATE trip_judged j SET share = greatest(0, least(q.std_share, q.cap_cents - q.paid - q.before))
    FROM (
        SELECT j.row_number, j.std_share, j.cap_cents, c.paid,
            coalesce(sum(j.std_share) OVER (PARTITION BY j.client_id, date_trunc('month', j.local)
                ORDER BY j.pickup, j.row_number ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
        FROM trip_judged j JOIN trip_cap c ON c.client_id = j.client_id AND c.month = date_trunc('month', j.local)
        WHERE j.is_first AND j.std_share IS NOT NULL AND j.work_study
    ) q
    WHERE j.row_number = q.row_number AND q.cap_cents > 0
    RETURNING j.purse, j.is_first, j.reasons, j.fixed_amount, j.price, j.std_share, j.share
)
UPDATE trip_purse t SET total = t.total + d.change
FROM (SELECT purse, sum({_contribution("share")} - {_contribution("std_share")}) AS change
      FROM capped GROUP BY purse) d
WHERE t.purse_id = d.purse
"""

# Every purse a first leg with a self-share names (locked before its money is read), and what the file's debit
# candidates would take from it.
PURSES_SQL = """
CREATE TEMP TABLE trip_purse ON COMMIT DROP AS
SELECT purse_id, total FROM trip_sums WHERE per_purse AND purse_id IS NOT NULL
"""

# A purse whose money covers all the file takes from it needs no running sum either.
SHORT_SQL = f"""
UPDATE trip_judged j SET short = true
FROM (
    SELECT f.row_number, a.money,
        sum({AMOUNT}) OVER (PARTITION BY f.purse ORDER BY f.pickup, f.row_number) AS running
    FROM trip_judged f
    JOIN (SELECT t.purse_id, CASE WHEN p.closed_at IS NULL THEN p.credits_posted - p.debits_posted - p.debits_pending
                                  ELSE -1 END AS money
          FROM trip_purse t JOIN ledger_purse p ON p.id = t.purse_id) a ON a.purse_id = f.purse
    WHERE {CANDIDATE} AND f.purse IN (%(purses)s)
) c
WHERE j.row_number = c.row_number AND c.running > c.money
"""

SHORT_PURSES_SQL = """
SELECT t.purse_id FROM trip_purse t JOIN ledger_purse p ON p.id = t.purse_id
WHERE t.total > CASE WHEN p.closed_at IS NULL THEN p.credits_posted - p.debits_posted - p.debits_pending ELSE -1 END
"""


def _order(cursor: Any, lock_and_settle: Any) -> None:
    """Rank repeated identities, cap work and study self-shares, and hold what a purse cannot take. Before the
    purses' money is read, ``lock_and_settle`` locks them (with the settled bookings' purses, in the lock order)
    and releases the settled bookings' holds."""
    cursor.execute("SELECT EXISTS (SELECT 1 FROM trip_keys WHERE kind = 'twice')")
    if cursor.fetchone()[0]:
        cursor.execute(RANK_SQL)
    cursor.execute(SUMS_SQL)
    cursor.execute(CAP_SQL)
    cursor.execute(PURSES_SQL)
    cursor.execute("SELECT EXISTS (SELECT 1 FROM trip_cap)")
    if cursor.fetchone()[0]:
        cursor.execute(CAPPED_SQL)
    cursor.execute("SELECT purse_id FROM trip_purse")
    lock_and_settle({row[0] for row in cursor.fetchall()})
    cursor.execute(SHORT_PURSES_SQL)
    short = [row[0] for row in cursor.fetchall()]
    if short:
        cursor.execute(SHORT_SQL.replace("%(purses)s", ", ".join(["%s"] * len(short))), short)


# --- the legs and the ledger --------------------------------------------------------------------------------

LEG_COLUMNS = (
    "trip_import_id, row_number, outcome, reasons, operator_id, trip_id, content_sha256, same_as_id, client_id, "
    "entitlement_id, provider_id, client_number, authorization_id, pickup_at, dropoff_at, origin_municipality, "
    "destination_municipality, distance_m, duration_min, waiting_min, vehicle_class, purpose, escort, supplements, "
    "shared_ride_id, fare_cents, self_share_collected_cents, price_cents, self_share_cents, county_cost_cents, "
    "debit_unit, debit_amount, purse_id, transfer_id, resolved_outcome, resolution_note"
)


def _leg_values(outcome: str, reasons: str, same_as: str, figures: str) -> str:
    """The SELECT list that turns a ``trip_judged`` row into a ``mobility_tripleg`` row (the typed values were
    emptied in ``trip_judged`` where the row could not be read)."""
    return f"""
    %(import)s, f.row_number, {outcome}, {reasons}, f.op, f.trip, f.content, {same_as}, f.client_id,
    f.entitlement_id, f.provider_id, f.card, f.auth, f.pickup, f.dropoff, f.orig, f.dest, f.distance_m, f.dur, f.wait,
    f.vclass, f.purp, f.escort, f.supps_json, f.shared, f.fare, f.ss_collected, {figures}, '', ''
    """


FIRST_FIGURES = """
    f.price, CASE WHEN NOT f.is_rejected THEN f.share END, CASE WHEN NOT f.is_rejected THEN f.price - f.share END,
    CASE WHEN f.outcome = 'accepted' THEN f.unit ELSE '' END, CASE WHEN f.outcome = 'accepted' THEN f.amount END,
    CASE WHEN f.is_first AND f.share IS NOT NULL THEN f.purse END,
    CASE WHEN f.outcome = 'accepted' AND f.amount > 0 THEN tt.transfer_id END
"""

# The rows that are legs of their own: the rejected ones and the first of each identity. The reasons of an
# accepted leg are the constant empty list (to_jsonb per row costs more than the rest of the row's values).
INSERT_FIRSTS_SQL = f"""
WITH legs AS (
    INSERT INTO mobility_tripleg ({LEG_COLUMNS})
    SELECT {
    _leg_values(
        "f.outcome",
        "CASE WHEN f.outcome = 'accepted' THEN '[]'::jsonb WHEN f.outcome = 'rejected' THEN to_jsonb(f.rejection) "
        "WHEN cardinality(f.reasons) > 0 THEN to_jsonb(f.reasons) ELSE '[\"insufficient_funds\"]'::jsonb END",
        "NULL",
        FIRST_FIGURES,
    )
}
    FROM (
        SELECT f.*, {AMOUNT} AS amount,
            CASE WHEN f.is_rejected THEN 'rejected' WHEN cardinality(f.reasons) > 0 OR f.short THEN 'review'
                 ELSE 'accepted' END AS outcome
        FROM trip_judged f WHERE f.is_rejected OR f.is_first OFFSET 0
    ) f
    LEFT JOIN trip_transfer tt ON tt.purse_id = f.purse
    RETURNING outcome, purse_id, debit_amount, transfer_id
), debits AS (
    -- What the file takes from each purse: the legs that name its transfer.
    INSERT INTO trip_debit SELECT purse_id, sum(debit_amount), count(*) FROM legs WHERE transfer_id IS NOT NULL
    GROUP BY purse_id
)
SELECT outcome, count(*) FROM legs GROUP BY outcome
"""

# A row that repeats a leg: the same content takes the first leg's outcome and figures (no second debit); other
# content is held for review as "resent_changed", priced but with nothing to debit. The first leg is in an
# earlier import (first_id) or in this one (x).
SAME = "(e.id IS NOT NULL AND e.content_sha256 = f.content)"
SAME_IN_FILE = "(x.id IS NOT NULL AND x.content_sha256 = f.content)"
REPEAT_OUTCOME = f"CASE WHEN {SAME} THEN e.outcome WHEN {SAME_IN_FILE} THEN x.outcome ELSE 'review' END"
REPEAT_REASONS = (
    f"CASE WHEN {SAME} THEN e.reasons WHEN {SAME_IN_FILE} THEN x.reasons ELSE '[\"resent_changed\"]'::jsonb END"
)
REPEAT_FIGURES = f"""
    CASE WHEN {SAME} THEN e.price_cents WHEN {SAME_IN_FILE} THEN x.price_cents ELSE f.price END,
    CASE WHEN {SAME} THEN e.self_share_cents WHEN {SAME_IN_FILE} THEN x.self_share_cents END,
    CASE WHEN {SAME} THEN e.county_cost_cents WHEN {SAME_IN_FILE} THEN x.county_cost_cents END,
    CASE WHEN {SAME} THEN e.debit_unit WHEN {SAME_IN_FILE} THEN x.debit_unit ELSE '' END,
    CASE WHEN {SAME} THEN e.debit_amount WHEN {SAME_IN_FILE} THEN x.debit_amount END,
    CASE WHEN {SAME} THEN e.purse_id WHEN {SAME_IN_FILE} THEN x.purse_id END,
    NULL
"""

INSERT_REPEATS_SQL = f"""
WITH legs AS (
    INSERT INTO mobility_tripleg ({LEG_COLUMNS})
    SELECT {_leg_values(REPEAT_OUTCOME, REPEAT_REASONS, "coalesce(f.first_id, x.id)", REPEAT_FIGURES)}
    FROM trip_judged f
    LEFT JOIN mobility_tripleg e ON e.id = f.first_id
    LEFT JOIN mobility_tripleg x ON f.first_id IS NULL AND x.trip_import_id = %(import)s
        AND x.operator_id = f.op AND x.trip_id = f.trip AND x.same_as_id IS NULL AND x.outcome <> 'rejected'
    WHERE NOT f.is_rejected AND NOT f.is_first
    RETURNING outcome
)
SELECT outcome, count(*) FROM legs GROUP BY outcome
"""

TRANSFERS_SQL = """
WITH moved AS (
    INSERT INTO ledger_transfer (id, debit_purse_id, credit_purse_id, amount, unit, code, flag, pending_id,
        expires_at, period_start, ref_type, ref_id, memo, actor_id, request_id, fingerprint, created_at)
    SELECT t.id, t.debit, t.credit, t.amount, t.unit, %(code)s, 'posted', NULL, NULL, NULL, %(ref_type)s, %(ref_id)s,
        t.memo, %(actor)s, %(request)s, t.fingerprint, %(now)s
    FROM unnest(%(ids)s::uuid[], %(debits)s::uuid[], %(credits)s::uuid[], %(amounts)s::bigint[], %(units)s::text[],
                %(memos)s::text[], %(fingerprints)s::text[]) AS t(id, debit, credit, amount, unit, memo, fingerprint)
    RETURNING debit_purse_id, credit_purse_id, amount
), sums AS (
    SELECT debit_purse_id AS id, sum(amount) AS debits, 0 AS credits FROM moved GROUP BY debit_purse_id
    UNION ALL
    SELECT credit_purse_id, 0, sum(amount) FROM moved GROUP BY credit_purse_id
)
UPDATE ledger_purse p SET debits_posted = p.debits_posted + m.debits, credits_posted = p.credits_posted + m.credits
FROM (SELECT id, sum(debits) AS debits, sum(credits) AS credits FROM sums GROUP BY id) m
WHERE p.id = m.id
"""


def _plan_transfers(cursor: Any, trip_import: TripImport) -> None:
    """The id of the one debit the file may make from each purse its legs name (ADR 0016), in ``trip_transfer``
    for the legs to name; the legs' insert sums what each purse takes into ``trip_debit``."""
    cursor.execute("SELECT purse_id FROM trip_purse ORDER BY purse_id")
    purses = [row[0] for row in cursor.fetchall()]
    cursor.execute("CREATE TEMP TABLE trip_transfer (purse_id uuid PRIMARY KEY, transfer_id uuid) ON COMMIT DROP")
    cursor.execute("CREATE TEMP TABLE trip_debit (purse_id uuid, amount bigint, legs bigint) ON COMMIT DROP")
    cursor.execute(
        "INSERT INTO trip_transfer SELECT * FROM unnest(%s::uuid[], %s::uuid[])",
        [purses, [file_transfer_id(trip_import.organiser_id, trip_import.sha256, purse) for purse in purses]],
    )


def _post_transfers(cursor: Any, trip_import: TripImport, actor: Any) -> None:
    """Debit each purse once with what the file took from it, crediting the purse's payables shard; the counters
    move in the same statement."""
    cursor.execute(
        "SELECT d.purse_id, p.unit, d.amount, d.legs FROM trip_debit d JOIN ledger_purse p ON p.id = d.purse_id "
        "ORDER BY d.purse_id"
    )
    sums = cursor.fetchall()
    if not sums:
        return
    # A few payables shards serve all the purses: look each one up once.
    shards = {(unit, ledger.shard_of(purse_id)) for purse_id, unit, _amount, _legs in sums}
    payables = {
        (unit, shard): ledger.system_purse(
            organiser=trip_import.organiser, unit=unit, kind=PurseKind.PAYABLES, shard=shard
        ).pk
        for unit, shard in sorted(shards)
    }
    planned = []
    for purse_id, unit, amount, legs in sums:
        credit = payables[(unit, ledger.shard_of(purse_id))]
        memo = file_memo(trip_import.filename, legs)
        fingerprint = ledger.transfer_fingerprint(
            debit_purse_id=purse_id,
            credit_purse_id=credit,
            amount=amount,
            code=TransferCode.USAGE,
            ref_type=FILE_REF_TYPE,
            ref_id=trip_import.sha256,
            memo=memo,
        )
        transfer_id = file_transfer_id(trip_import.organiser_id, trip_import.sha256, purse_id)
        planned.append((transfer_id, purse_id, credit, amount, unit, memo, fingerprint))
    columns = list(zip(*planned, strict=True))
    cursor.execute(
        TRANSFERS_SQL,
        {
            "ids": list(columns[0]),
            "debits": list(columns[1]),
            "credits": list(columns[2]),
            "amounts": list(columns[3]),
            "units": list(columns[4]),
            "memos": list(columns[5]),
            "fingerprints": list(columns[6]),
            "code": TransferCode.USAGE.value,
            "ref_type": FILE_REF_TYPE,
            "ref_id": trip_import.sha256,
            "actor": getattr(actor, "pk", None),
            "request": current_request_id(),
            "now": clock.now(),
        },
    )


def _settings(cursor: Any) -> None:
    # Compiling these wide statements cost more than it saved (seconds of JIT for 50 000 rows).
    cursor.execute("SET LOCAL jit = off")
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    try:
        with transaction.atomic():
            cursor.execute(f"SET LOCAL temp_buffers = '{TEMP_BUFFERS}'")
    except DatabaseError:
        pass  # this session has used temporary tables before: they keep the buffers they have


def import_trips_sql(*, actor: Any, organiser: Organiser, filename: str, content: bytes) -> TripImport:
    """Import a trip file on PostgreSQL, set-based. The same bytes again return the earlier import unchanged; a
    file that cannot be read at all is refused whole and stores nothing."""
    if actor is not None:
        authorize(actor, Action.TRIP_IMPORT, _Owned(organiser.pk))
    if len(content) > MAX_BYTES:
        raise ValidationError({"file": _("The file is larger than 512 MB.")})
    steps = Steps()
    sha256 = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        # One import of an organiser at a time, without making others' foreign-key checks wait (trip_files).
        Organiser.objects.select_for_update(no_key=True).get(pk=organiser.pk)
        existing = TripImport.objects.filter(organiser=organiser, sha256=sha256).first()
        if existing is not None:
            return existing
        with connection.cursor() as cursor:
            _settings(cursor)
            _stage(cursor, content)
            cursor.execute("SELECT count(*) FROM trip_stage")
            rows = cursor.fetchone()[0]
            if rows == 0:
                raise ValidationError({"file": _("The file has no rows.")})
            started = clock.now()
            trip_import = TripImport.objects.create(
                organiser=organiser,
                filename=clean_filename(filename, default="trips.csv"),
                sha256=sha256,
                rows=rows,
                imported_by=actor,
                started_at=started,
                finished_at=started,
            )
            # Bookings the dispatch centre authorised, locked now (the lock order, docs/mobility.md "Locks"); their
            # holds go back to the purses once the purses are locked, before their money is read.
            cursor.execute(
                f"SELECT DISTINCT {_t('authorization_id')}, {_t('client_number')} FROM trip_stage "
                f"WHERE {_t('authorization_id')} <> ''"
            )
            settlement = _settlement_lock(organiser, cursor.fetchall())
            steps.done("stage")
            _prepare_reference_tables(cursor, organiser.pk)
            steps.done("keys")
            cursor.execute(JUDGE_SQL, {"ts": TIMESTAMP})
            steps.done("judge")
            _order(cursor, lambda purses: lock_and_settle(settlement, purses, actor))
            _plan_transfers(cursor, trip_import)
            steps.done("order")
            counts: dict[str, int] = {}
            for statement in (INSERT_FIRSTS_SQL, INSERT_REPEATS_SQL):
                cursor.execute(statement, {"import": trip_import.pk})
                for outcome, count in cursor.fetchall():
                    counts[outcome] = counts.get(outcome, 0) + count
            steps.done("legs")
            _post_transfers(cursor, trip_import, actor)
            steps.done("ledger")
            # Gone at commit anyway; dropped now so a second import in the same transaction (a test) starts clean.
            cursor.execute(
                "DROP TABLE IF EXISTS trip_stage, trip_keys, trip_holiday, trip_allowed, trip_operator, trip_card, "
                "trip_supplement, trip_judged, trip_sums, trip_cap, trip_purse, trip_transfer, trip_debit"
            )
        trip_import.counts, trip_import.finished_at = counts, clock.now()
        trip_import.save(update_fields=["counts", "finished_at"])
        _settlement_audit(settlement, actor)
        audit_record(
            action="trips.import",
            actor=actor,
            target=trip_import,
            organiser_id=organiser.pk,
            after={"filename": trip_import.filename, "sha256": sha256, "rows": rows, "outcomes": counts},
        )
    # The commit waits for the log to be written.
    steps.done("commit")
    logger.info("trip import %s: %s rows, %s", trip_import.pk, rows, steps)
    return trip_import
