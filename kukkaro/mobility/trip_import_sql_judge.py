# ruff: noqa: S608 - the SQL texts are built from constants (ours, the judgement's, the owners'); values are parameters
"""The set-based trip import's reading and judgement of every row, in SQL (PostgreSQL): the same patterns as
``trip_rows`` and the same rules as ``judgement``, built from the same constants, so the set-based import gives
every row what the row-wise import (``trip_import_rowwise``) gives it.

1. ``stage``: the file is copied into a temporary table with ``COPY … FORMAT csv`` (or, when it is not a clean
   CSV — a row with too many or too few values, a blank line, an unknown column — read by Python's csv module and
   copied row by row, so every row still gets its outcome).
2. ``keys``: one pass over the staged rows collects the distinct operator ids, card numbers, supplement lists and
   pickup years, and the (operator, trip id) pairs that occur more than once. What depends only on those few
   values is worked out once per value: the business ID's check digit and the operator's approval by day (asked
   of the provider register, ``kukkaro.core.provider_register``), the card's Luhn digit, client, entitlement and
   tariff by day, the parsed supplements and their price per tariff, the public holidays.
3. ``judge``: one statement reads every row (the same patterns as the Python path, typed, the rejection reasons
   in the declared order), joins it to those small tables by value and day, computes the price in ``numeric``
   (rounded once), the standard self-share and the review reasons, and looks the leg's identity up in earlier
   imports. What depends on the order of the legs comes after, in ``trip_import_sql``.
"""

import csv
import io
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kukkaro.core.clock import HELSINKI
from kukkaro.core.identifiers import sql_business_id_valid, sql_hetu_birth_date_parts
from kukkaro.core.provider_register import provider_register
from kukkaro.core.text import allow_long_csv_values
from kukkaro.mobility import judgement as j
from kukkaro.mobility.judgement import sql_reasons, sql_text, sql_texts
from kukkaro.mobility.neighbours import NEIGHBOURS, allowed_municipalities
from kukkaro.mobility.trip_rows import BLANKS, COLUMNS, check_header, file_text

TIMESTAMP = (
    r"^(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-](0\d|1[0-4]):[0-5]\d)$"
)
ZONE = sql_text(HELSINKI.key)
#: What is trimmed around a value, as ``trip_rows.BLANKS``.
BLANKS_SQL = "E'" + BLANKS.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n") + "'"
#: A row's reasons need no array when it has none (``ARRAY[]`` is cheaper than ``array_remove`` of NULLs).
NONE = "ARRAY[]::text[]"


def trim(column: str) -> str:
    """A staged value trimmed as the Python path trims it (spaces, tabs, line ends); NULL becomes ''."""
    return f"btrim(coalesce({column}, ''), {BLANKS_SQL})"


# PostgreSQL's regular expressions build their automaton anew for every value, so a pattern costs about what its
# states cost: a bounded repeat such as {1,64} is 64 states. The checks below are written as cheap patterns plus
# length and range comparisons that accept exactly the texts the patterns in trip_rows accept.


def _id_ok(value: str) -> str:
    """``value ~ '^[ID_CHARACTERS]{1,ID_MAX_LENGTH}$'``."""
    return f"({value} ~ '^[{j.ID_CHARACTERS}]+$' AND length({value}) <= {j.ID_MAX_LENGTH})"


def _decimal_ok(value: str, shape: tuple[int, int]) -> str:
    """``value ~ '^\\d{1,whole}(\\.\\d{1,decimals})?$'``."""
    whole, decimals = shape
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


def stage(cursor: Any, content: bytes) -> None:
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
        for number, values in enumerate(reader, start=2):  # by record, as trip_rows.read_file numbers them
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
             coalesce(supplements, '') AS supp_raw, substr({trim("pickup_at")}, 1, 4) AS year,
             {trim("operator_id")} AS op, {trim("trip_id")} AS trip
      FROM trip_stage) s
GROUP BY GROUPING SETS ((op_raw), (card_raw), (supp_raw), (year), (op, trip))
HAVING grouping(op, trip) <> 0 OR count(*) > 1
"""


@cache
def operator_sql() -> str:
    """Per operator id in the file: is the business ID well formed (core's check digit), which provider of the
    organiser it is, and whether that provider was approved, as day ranges [from_day, until_day) that cover every
    day — asked of the provider register (``services`` answers it), built when first needed (the register is set
    once the apps are loaded)."""
    approvals = provider_register().approval_days_sql(business_ids="SELECT op FROM ops")
    return f"""
CREATE TEMP TABLE trip_operator ON COMMIT DROP AS
WITH ops AS (
    SELECT k.raw, k.op, {sql_business_id_valid("k.op")} AS op_ok
    FROM (SELECT raw, btrim(raw, {BLANKS_SQL}) AS op FROM trip_keys WHERE kind = 'op') k
)
SELECT o.raw, o.op, o.op_ok, r.provider_id, coalesce(r.approved, false) AS approved,
    coalesce(r.from_day, '-infinity') AS from_day, coalesce(r.until_day, 'infinity') AS until_day
FROM ops o LEFT JOIN ({approvals}) r ON r.business_id = o.op
"""


_BIRTH_YEAR, _BIRTH_MONTH, _BIRTH_DAY = sql_hetu_birth_date_parts("pc.national_id")
#: The tariff's columns the judgement reads, per vehicle class its price per km.
_PER_KM = [f"per_km_{code}_cents" for code in j.VEHICLE_CLASSES]
_TARIFF_COLUMNS = [
    "base_day_cents",
    "base_other_cents",
    "per_minute_cents",
    "waiting_per_hour_cents",
    "shared_discount_bp",
    "self_share_adult_cents",
    "self_share_child_cents",
    "work_study_monthly_cap_cents",
    "fare_tolerance_cents",
    "max_speed_kmh",
    "billed_minutes_slack_min",
    *_PER_KM,
]


def _columns(alias: str, names: list[str]) -> str:
    return ", ".join(f"{alias}.{name}" for name in names)


# Per card number in the file: is it well formed (a number on a card of any organiser counts as checked, as in
# the row-wise path's data), whose card it is here, and that client's entitlement and tariff as day ranges
# [from_day, until_day) that cover every day. The ranges are cut at every date where an active entitlement or a
# tariff of its area starts or ends, so within a range the entitlement in force (the latest that started, then
# the latest made) and its tariff do not change.
CARD_SQL = f"""
CREATE TEMP TABLE trip_card ON COMMIT DROP AS
WITH cards AS (
    SELECT k.raw, k.card,
        k.card ~ '^\\d{{{j.CARD_DIGITS[0]},{j.CARD_DIGITS[1]}}}$' AND (tc.id IS NOT NULL OR kukkaro_luhn_valid(k.card))
            AS card_ok,
        pc.id AS client_id, tc.issued_at, tc.closed_at, m.code AS home,
        CASE WHEN pc.national_id IS NOT NULL THEN {j.sql_adult_from(_BIRTH_YEAR, _BIRTH_MONTH, _BIRTH_DAY)} END
            AS adult_from
    FROM (SELECT raw, btrim(raw, {BLANKS_SQL}) AS card FROM trip_keys WHERE kind = 'card') k
    LEFT JOIN mobility_transportcard tc ON tc.number = k.card
    LEFT JOIN people_client pc ON pc.id = tc.client_id AND pc.organiser_id = %(org)s
    LEFT JOIN core_municipality m ON m.id = pc.municipality_id
), entitlements AS (
    SELECT e.* FROM mobility_transportentitlement e
    WHERE e.state = {sql_text(j.EntitlementState.ACTIVE)} AND e.client_id IN (SELECT client_id FROM cards)
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
        wp.purse_id AS work_purse, t.id AS tariff_id, {_columns("t", _TARIFF_COLUMNS)}
    FROM ranges r
    LEFT JOIN LATERAL (
        SELECT e.* FROM mobility_transportentitlement e
        WHERE e.client_id = r.client_id AND {j.sql_entitlement_in_force("e", "r.from_day")}
        ORDER BY {j.ENTITLEMENT_NEWEST_FIRST} LIMIT 1
    ) e ON true
    LEFT JOIN cases_decisionline lp ON lp.id = e.leisure_line_id
    LEFT JOIN cases_decisionline wp ON wp.id = e.work_line_id
    LEFT JOIN LATERAL (
        SELECT t.* FROM mobility_tariff t
        WHERE t.area_id = e.contract_area_id AND {j.sql_tariff_in_force("t", "r.from_day")}
        ORDER BY t.valid_from DESC LIMIT 1
    ) t ON true
)
SELECT c.*, coalesce(r.from_day, '-infinity') AS from_day, coalesce(r.until_day, 'infinity') AS until_day,
    r.entitlement_id, r.model, r.allowed_area, r.leisure_purse, r.work_purse, r.tariff_id,
    {_columns("r", _TARIFF_COLUMNS)}
FROM cards c LEFT JOIN ruled r ON r.client_id = c.client_id
"""

# Per supplement list in the file: its codes, and per tariff (-1: none) whether a code is unknown and their sum.
SUPPLEMENT_SQL = f"""
CREATE TEMP TABLE trip_supplement ON COMMIT DROP AS
SELECT k.raw, t.tariff_key, s.supps, to_jsonb(s.supps) AS supps_json,
    EXISTS (SELECT 1 FROM unnest(s.supps) code WHERE NOT (t.supplements_cents ? code)) AS unknown,
    (SELECT coalesce(sum((t.supplements_cents ->> code)::bigint), 0) FROM unnest(s.supps) code) AS cents
FROM (SELECT raw FROM trip_keys WHERE kind = 'supp') k
CROSS JOIN LATERAL (
    SELECT array(SELECT btrim(code, {BLANKS_SQL}) FROM unnest(string_to_array(btrim(k.raw, {BLANKS_SQL}), ';'))
                 AS code WHERE btrim(code, {BLANKS_SQL}) <> '') AS supps
) s
CROSS JOIN (
    SELECT -1::bigint AS tariff_key, NULL::jsonb AS supplements_cents
    UNION ALL
    SELECT id, supplements_cents FROM mobility_tariff WHERE id IN (SELECT tariff_id FROM trip_card)
) t
"""


def prepare_reference_tables(cursor: Any, organiser_id: int) -> None:
    """Finnish public holidays for the years the file covers, each home municipality's allowed area, and the
    per-value tables the judgement joins to."""
    cursor.execute(KEYS_SQL)
    cursor.execute("SELECT raw FROM trip_keys WHERE kind = 'year'")
    years = {int(y) for (y,) in cursor.fetchall() if len(y) == 4 and y.isascii() and y.isdigit() and y != "0000"}
    cursor.execute("CREATE TEMP TABLE trip_holiday (day date PRIMARY KEY) ON COMMIT DROP")
    # A pickup's Helsinki date may fall in the year before or after the year written in its text.
    around = {near for year in years for near in (year - 1, year, year + 1) if 1 <= near <= 9999}
    if around:
        days = sorted({day for year in around for day in j.finnish_holidays(year)})
        cursor.execute("INSERT INTO trip_holiday SELECT unnest(%s::date[])", [[d.isoformat() for d in days]])
    cursor.execute("CREATE TEMP TABLE trip_allowed (home text, code text, PRIMARY KEY (home, code)) ON COMMIT DROP")
    pairs = [(home, code) for home in NEIGHBOURS for code in allowed_municipalities(home)]
    cursor.execute(
        "INSERT INTO trip_allowed SELECT * FROM unnest(%s::text[], %s::text[])",
        [[p[0] for p in pairs], [p[1] for p in pairs]],
    )
    cursor.execute(operator_sql(), {"org": organiser_id})
    cursor.execute(CARD_SQL, {"org": organiser_id})
    cursor.execute(SUPPLEMENT_SQL)
    cursor.execute("ANALYZE trip_operator, trip_card, trip_supplement, trip_keys")


# The trimmed values, in the file's column order, that make up a leg's content (trip_rows.Row.content_sha256).
CONTENT_VALUES = (
    "v.card_t, v.auth, v.p_txt, v.d_txt, v.orig, v.dest, v.km_txt, v.dur_txt, v.wait_t, v.vclass, v.purp, v.esc, "
    "v.supp_t, v.shared, v.fare_txt, v.ss_t"
)
assert len(CONTENT_VALUES.split(", ")) == len(COLUMNS) - 2
CLIENT_FOUND = (
    "(a.readable AND a.card_client IS NOT NULL AND a.issued_at <= a.pickup "
    "AND (a.closed_at IS NULL OR a.closed_at > a.pickup))"
)

TOO_FAST = j.sql_too_fast("c.km", "c.dur", j.sql_max_speed("c.max_speed_kmh"))
TOO_LONG = j.sql_too_long("c.dur", "c.wait", "c.pickup", "c.dropoff", j.sql_slack("c.billed_minutes_slack_min"))
PRICE = j.sql_price_cents(
    day_rate=j.sql_is_day_rate("c.local", "c.day", "trip_holiday"),
    base_day="c.base_day_cents",
    base_other="c.base_other_cents",
    km="c.km",
    per_km="c.per_km_cents",
    ride="c.dur",
    per_minute="c.per_minute_cents",
    waiting="c.wait",
    waiting_per_hour="c.waiting_per_hour_cents",
    supplements="sp.cents",
    shared="c.shared <> ''",
    shared_discount_bp="c.shared_discount_bp",
)
PER_KM = (
    "CASE a.vclass "
    + " ".join(
        f"WHEN {sql_text(code)} THEN a.{column}" for code, column in zip(j.VEHICLE_CLASSES, _PER_KM, strict=True)
    )
    + " END"
)
# The reasons a row cannot be read, by what the typed values say (NULL: the text did not fit its pattern).
READ_REJECTIONS = sql_reasons(
    {
        j.OPERATOR_ID_INVALID: "NOT a.op_ok",
        j.TRIP_ID_INVALID: "NOT a.trip_ok",
        j.CLIENT_NUMBER_INVALID: "NOT a.card_ok",
        j.AUTHORIZATION_ID_INVALID: "NOT a.auth_ok",
        j.SHARED_RIDE_ID_INVALID: "NOT a.shared_ok",
        j.PICKUP_AT_INVALID: "a.pickup IS NULL",
        j.DROPOFF_AT_INVALID: "a.dropoff IS NULL",
        j.DROPOFF_BEFORE_PICKUP: "a.dropoff < a.pickup",
        j.MUNICIPALITY_INVALID: "NOT a.places_ok",
        j.DISTANCE_INVALID: "a.km IS NULL",
        j.DISTANCE_ABSURD: j.sql_absurd("distance_km", "a.km"),
        j.DURATION_INVALID: "a.dur IS NULL",
        j.DURATION_ABSURD: j.sql_absurd("duration_min", "a.dur"),
        j.WAITING_INVALID: "a.wait IS NULL",
        j.WAITING_ABSURD: j.sql_absurd("waiting_min", "a.wait"),
        j.UNKNOWN_VEHICLE_CLASS: f"a.vclass NOT IN {sql_texts(j.VEHICLE_CLASSES)}",
        j.UNKNOWN_PURPOSE: f"a.purp NOT IN {sql_texts(j.PURPOSES)}",
        j.ESCORT_INVALID: f"a.esc NOT IN {sql_texts(j.ESCORT_VALUES)}",
        j.FARE_INVALID: "a.fare IS NULL",
        j.FARE_ABSURD: j.sql_absurd("fare_cents", "a.fare"),
        j.SELF_SHARE_INVALID: "a.ss_collected IS NULL",
        j.COLUMN_COUNT: "NOT a.columns_ok",
    }
)
# No reason to reject the row was found while reading it (NULL counts as a reason: coalesce).
READABLE = (
    "o.op_ok AND l.trip_ok AND k.card_ok AND l.auth_ok AND l.shared_ok AND l.pickup IS NOT NULL "
    "AND l.dropoff IS NOT NULL AND NOT l.dropoff < l.pickup AND l.places_ok "
    f"AND {j.sql_within_limit('distance_km', 'l.km')} AND {j.sql_within_limit('duration_min', 'l.dur')} "
    f"AND {j.sql_within_limit('waiting_min', 'l.wait')} AND l.vclass IN {sql_texts(j.VEHICLE_CLASSES)} "
    f"AND l.purp IN {sql_texts(j.PURPOSES)} AND l.esc IN {sql_texts(j.ESCORT_VALUES)} "
    f"AND {j.sql_within_limit('fare_cents', 'l.fare')} AND l.ss_collected IS NOT NULL AND l.columns_ok"
)
UNKNOWN_SUPPLEMENT = "j.tariff_id IS NOT NULL AND j.unknown"
TARIFF_REJECTIONS = sql_reasons(
    {j.IMPOSSIBLE_SPEED: "j.too_fast", j.IMPOSSIBLE_DURATION: "j.too_long", j.UNKNOWN_SUPPLEMENT: UNKNOWN_SUPPLEMENT}
)
FARE_MISMATCH = j.sql_fare_mismatch("j.fare", "j.price", "j.fare_tolerance_cents")
LOOKUP_REASONS = sql_reasons(
    {
        j.OPERATOR_NOT_APPROVED: "NOT j.approved",
        j.UNKNOWN_CLIENT: "j.client_id IS NULL",
        j.NO_DECISION: "j.client_id IS NOT NULL AND j.entitlement_id IS NULL",
        j.OUTSIDE_AREA: "NOT j.area_ok",
        j.NO_TARIFF: "j.entitlement_id IS NOT NULL AND j.tariff_id IS NULL",
        j.FARE_MISMATCH: FARE_MISMATCH,
    }
)
STANDARD_SHARE = j.sql_standard_share(
    day="j.day",
    adult_from="j.adult_from",
    child_cents="j.self_share_child_cents",
    adult_cents="j.self_share_adult_cents",
    price="j.price",
)
INSIDE_AREA = j.sql_inside_area(
    entitlement="c.entitlement_id",
    allowed_area="c.allowed_area",
    home="c.home",
    origin="c.orig",
    destination="c.dest",
    allowed_table="trip_allowed",
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
    CASE WHEN p.readable THEN {j.sql_metres("p.km")} END AS distance_m,
    CASE WHEN p.readable THEN p.dur END AS dur, CASE WHEN p.readable THEN p.wait END AS wait,
    left(p.vclass, 16) AS vclass, left(p.purp, 8) AS purp, p.esc = '1' AS escort, p.supps_json,
    left(p.shared, 64) AS shared, CASE WHEN p.readable THEN p.fare END AS fare,
    CASE WHEN p.readable THEN p.ss_collected END AS ss_collected, p.client_id,
    CASE WHEN NOT p.is_rejected THEN p.entitlement_id END AS entitlement_id,
    CASE WHEN NOT p.is_rejected THEN p.provider_id END AS provider_id,
    CASE WHEN NOT p.is_rejected THEN p.price END AS price, p.std_share, p.std_share AS share,
    {j.sql_work_or_study("p.purp")} AS work_study, p.work_study_monthly_cap_cents AS cap_cents,
    {j.sql_debit_unit("p.model")} AS unit,
    {j.sql_debit_fixed_amount("p.model", "p.km")} AS fixed_amount,
    {j.sql_debit_purse("p.model", "p.purp", "p.work_purse", "p.leisure_purse")} AS purse,
    p.reasons, f.id AS first_id, NOT p.is_rejected AND f.id IS NULL AS is_first,
    p.twice AND NOT p.is_rejected AND f.id IS NULL AS ranked, false AS short
FROM (
    -- The outcome's ingredients: rejected (unreadable, or an unknown supplement), the standard self-share, and
    -- the review reasons (none, without building an array, when every lookup succeeded and the fare fits).
    SELECT j.*,
        NOT j.readable OR ({UNKNOWN_SUPPLEMENT}) OR j.too_fast OR j.too_long AS is_rejected,
        CASE WHEN NOT j.readable THEN j.rejected
             WHEN j.too_fast OR j.too_long OR ({UNKNOWN_SUPPLEMENT}) THEN {TARIFF_REJECTIONS}
             ELSE {NONE} END AS rejection,
        CASE WHEN j.price IS NOT NULL THEN {STANDARD_SHARE} END AS std_share,
        CASE WHEN NOT j.readable OR j.approved AND j.client_id IS NOT NULL AND j.entitlement_id IS NOT NULL
                  AND j.area_ok AND j.tariff_id IS NOT NULL AND NOT ({FARE_MISMATCH})
             THEN {NONE}
             ELSE {LOOKUP_REASONS} END AS reasons
    FROM (
        -- Supplements and price (numeric, rounded once); the allowed area; an identity the file holds twice; what
        -- cannot have happened as billed, by the tariff's limits or the defaults (judgement).
        SELECT c.*, sp.supps_json, sp.unknown,
            coalesce(c.readable AND {TOO_FAST}, false) AS too_fast,
            coalesce(c.readable AND {TOO_LONG}, false) AS too_long,
            CASE WHEN c.tariff_id IS NOT NULL THEN {PRICE} END AS price,
            {INSIDE_AREA} AS area_ok,
            (c.op, c.trip) IN (SELECT raw, trip FROM trip_keys WHERE kind = 'twice') AS twice
        FROM (
            -- The client (a readable row whose card was valid at pickup), its entitlement and tariff that day,
            -- and the reasons a row cannot be read, in the declared order.
            SELECT a.row_number, a.readable, a.op, a.trip, a.content, a.card, a.auth, a.pickup, a.dropoff, a.local,
                a.day, a.orig, a.dest, a.km, a.dur, a.wait, a.vclass, a.purp, a.esc, a.supp_raw, a.shared, a.fare,
                a.ss_collected, a.approved, a.home, a.adult_from, a.model, a.allowed_area, a.leisure_purse,
                a.work_purse, a.base_day_cents, a.base_other_cents, a.per_minute_cents, a.waiting_per_hour_cents,
                a.shared_discount_bp, a.self_share_adult_cents, a.self_share_child_cents,
                a.work_study_monthly_cap_cents, a.fare_tolerance_cents, {PER_KM} AS per_km_cents,
                CASE WHEN a.readable THEN a.provider_id END AS provider_id,
                CASE WHEN {CLIENT_FOUND} THEN a.card_client END AS client_id,
                CASE WHEN {CLIENT_FOUND} THEN a.entitlement_id END AS entitlement_id,
                CASE WHEN {CLIENT_FOUND} AND a.entitlement_id IS NOT NULL THEN a.tariff_id END AS tariff_id,
                CASE WHEN {CLIENT_FOUND} AND a.entitlement_id IS NOT NULL THEN a.max_speed_kmh END AS max_speed_kmh,
                CASE WHEN {CLIENT_FOUND} AND a.entitlement_id IS NOT NULL THEN a.billed_minutes_slack_min END
                    AS billed_minutes_slack_min,
                CASE WHEN NOT a.readable THEN {READ_REJECTIONS} END AS rejected
            FROM (
                -- The operator's and the card's tables, by value and the pickup's Helsinki date; readable means
                -- that no reason to reject the row was found while reading it.
                SELECT l.*, o.op, o.op_ok, o.provider_id, o.approved, k.card, k.card_ok,
                    k.client_id AS card_client, k.issued_at, k.closed_at, k.home, k.adult_from, k.entitlement_id,
                    k.model, k.allowed_area, k.leisure_purse, k.work_purse, k.tariff_id,
                    {_columns("k", _TARIFF_COLUMNS)},
                    coalesce({READABLE}, false) AS readable
                FROM (
                    SELECT t.*, t.pickup AT TIME ZONE {ZONE} AS local,
                        -- A row without a pickup still meets its value's first day range.
                        coalesce((t.pickup AT TIME ZONE {ZONE})::date, '-infinity'::date) AS day
                    FROM (
                        -- Typed values (NULL where the text does not match its pattern), and the hash of what
                        -- the operator says of the leg.
                        SELECT v.*,
                            encode(sha256(convert_to(concat_ws(E'\\x1f', {CONTENT_VALUES}), 'UTF8')), 'hex')
                                AS content,
                            CASE WHEN {_timestamp_ok("v.p_txt")} THEN v.p_txt::timestamptz END AS pickup,
                            CASE WHEN {_timestamp_ok("v.d_txt")} THEN v.d_txt::timestamptz END AS dropoff,
                            CASE WHEN {_decimal_ok("v.km_txt", j.DISTANCE_SHAPE)} THEN v.km_txt::numeric END AS km,
                            CASE WHEN {_decimal_ok("v.dur_txt", j.MINUTES_SHAPE)} THEN v.dur_txt::numeric END AS dur,
                            CASE WHEN {_decimal_ok("v.wait_txt", j.MINUTES_SHAPE)} THEN v.wait_txt::numeric END
                                AS wait,
                            CASE WHEN {_decimal_ok("v.fare_txt", j.EUROS_SHAPE)}
                                 THEN (v.fare_txt::numeric * 100)::bigint END AS fare,
                            CASE WHEN {_decimal_ok("v.ss_txt", j.EUROS_SHAPE)}
                                 THEN (v.ss_txt::numeric * 100)::bigint END AS ss_collected,
                            {_id_ok("v.trip")} AS trip_ok,
                            v.auth = '' OR {_id_ok("v.auth")} AS auth_ok,
                            v.shared = '' OR {_id_ok("v.shared")} AS shared_ok,
                            v.orig ~ '^\\d{{{j.MUNICIPALITY_DIGITS}}}$' AND v.dest ~ '^\\d{{{j.MUNICIPALITY_DIGITS}}}$'
                                AS places_ok
                        FROM (
                            -- Trimmed texts.
                            SELECT coalesce(s.row_number, s.ordinal + 1)::int AS row_number, s.columns_ok,
                                coalesce(s.operator_id, '') AS op_raw, coalesce(s.client_number, '') AS card_raw,
                                coalesce(s.supplements, '') AS supp_raw, {trim("s.client_number")} AS card_t,
                                {trim("s.supplements")} AS supp_t, {trim("s.waiting_min")} AS wait_t,
                                {trim("s.self_share_eur")} AS ss_t,
                                {trim("s.trip_id")} AS trip, {trim("s.authorization_id")} AS auth,
                                {trim("s.pickup_at")} AS p_txt, {trim("s.dropoff_at")} AS d_txt,
                                {trim("s.origin_municipality")} AS orig, {trim("s.destination_municipality")} AS dest,
                                {trim("s.distance_km")} AS km_txt, {trim("s.duration_min")} AS dur_txt,
                                coalesce(nullif({trim("s.waiting_min")}, ''), '0') AS wait_txt,
                                {trim("s.vehicle_class")} AS vclass, {trim("s.purpose")} AS purp,
                                {trim("s.escort")} AS esc, {trim("s.shared_ride_id")} AS shared,
                                {trim("s.fare_eur")} AS fare_txt,
                                coalesce(nullif({trim("s.self_share_eur")}, ''), '0') AS ss_txt
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
LEFT JOIN mobility_tripleg f ON p.readable AND f.operator_id = p.op AND f.trip_id = p.trip AND {j.sql_is_first_leg("f")}
"""
