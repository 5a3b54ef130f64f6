# ruff: noqa: S608 - the SQL texts are built from constants (ours and the judgement's); values are always parameters
"""The set-based trip import for PostgreSQL: the same judgement as ``trip_import_rowwise``, as a few SQL statements
over the whole file instead of a loop over its rows (issue 6 asks for at most 3× the time of a plain ``COPY`` of the
file).

1. ``stage``, ``keys``, ``judge``: the file is staged and every row read and judged in SQL
   (``trip_import_sql_judge``).
2. ``order``: what depends on order, only where it can matter: the rank of a leg among the rows of the file with
   the same identity (only for identities that occur twice), the monthly cap of work and study self-shares (a
   running sum in pickup order, only for client-months whose total could pass the cap) and, with the purses
   locked, the purse's money (each purse takes legs in pickup order while the running sum fits; the first that
   does not fit and every later one are held for review; only for purses whose total does not fit).
3. ``legs`` and ``ledger``: the legs are inserted (first legs, then the rows that repeat one), and the ledger posts
   one transfer per purse the file debits (the sum of its accepted legs; each leg names it) with its own bulk
   service (``kukkaro.ledger.bulk``), all in the one transaction that began with the import (ADR 0016).

Everything that decides an outcome is declared once, in ``judgement``, and written here in SQL from it;
``tests/mobility/test_trip_import_sql.py`` runs both paths on the same generated files and compares every field of
every row, for every reason code.
"""

import hashlib
import json
import logging
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.actors import Actor, person
from kukkaro.core.models import Organiser
from kukkaro.core.text import clean_filename
from kukkaro.ledger import bulk
from kukkaro.ledger.models import TransferCode
from kukkaro.mobility import judgement as j
from kukkaro.mobility.judgement import sql_text
from kukkaro.mobility.models import TripImport
from kukkaro.mobility.trip_import import FILE_REF_TYPE, file_memo, file_transfer_id, import_authorize, import_finish
from kukkaro.mobility.trip_import_sql_judge import JUDGE_SQL, TIMESTAMP, ZONE, prepare_reference_tables, stage, trim
from kukkaro.mobility.trip_rows import MAX_BYTES
from kukkaro.mobility.trip_settlement import lock_and_settle, settlement_lock

logger = logging.getLogger(__name__)

ACCEPTED, REJECTED, REVIEW = (
    sql_text(j.LegOutcome.ACCEPTED),
    sql_text(j.LegOutcome.REJECTED),
    sql_text(j.LegOutcome.REVIEW),
)

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
CAP_SQL = f"""
CREATE TEMP TABLE trip_cap ON COMMIT DROP AS
WITH paid AS (
    -- What each client paid for work and study trips in earlier files, per month this file touches.
    SELECT m.client_id, m.month, m.total_share, m.cap, coalesce(sum(l.self_share_cents), 0) AS paid
    FROM trip_sums m
    LEFT JOIN mobility_tripleg l ON l.client_id = m.client_id AND {j.sql_counts_toward_cap("l")}
        AND l.pickup_at >= (m.month AT TIME ZONE {ZONE})
        AND l.pickup_at < ((m.month + interval '1 month') AT TIME ZONE {ZONE})
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


CAPPED_SHARE = j.sql_capped_share(standard="q.std_share", cap="q.cap_cents", paid_before="q.paid + q.before")

# The capped self-shares of the client-months that need them, and the purses' totals moved by what that changed
# (a euro purse's debit is the price less the self-share).
CAPPED_SQL = f"""
WITH capped AS (
    UPDATE trip_judged j SET share = {CAPPED_SHARE}
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

# A purse whose money covers all the file takes from it needs no running sum either. What each purse can pay is
# the ledger's to say (``bulk.purses_spendable``), read once the purses are locked, into ``trip_money``.
SHORT_SQL = f"""
UPDATE trip_judged j SET short = true
FROM (
    SELECT f.row_number, a.money,
        sum({AMOUNT}) OVER (PARTITION BY f.purse ORDER BY f.pickup, f.row_number) AS running
    FROM trip_judged f
    JOIN trip_money a ON a.purse_id = f.purse
    WHERE {CANDIDATE} AND f.purse IN (%(purses)s)
) c
WHERE j.row_number = c.row_number AND c.running > c.money
"""

SHORT_PURSES_SQL = """
SELECT t.purse_id FROM trip_purse t JOIN trip_money m ON m.purse_id = t.purse_id WHERE t.total > m.money
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
    purses = {row[0] for row in cursor.fetchall()}
    lock_and_settle(purses)
    money = bulk.purses_spendable(purse_ids=purses)
    cursor.execute("CREATE TEMP TABLE trip_money (purse_id uuid PRIMARY KEY, money bigint) ON COMMIT DROP")
    cursor.execute(
        "INSERT INTO trip_money SELECT * FROM unnest(%s::uuid[], %s::bigint[])", [list(money), list(money.values())]
    )
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


FIRST_FIGURES = f"""
    f.price, CASE WHEN NOT f.is_rejected THEN f.share END, CASE WHEN NOT f.is_rejected THEN f.price - f.share END,
    CASE WHEN f.outcome = {ACCEPTED} THEN f.unit ELSE '' END, CASE WHEN f.outcome = {ACCEPTED} THEN f.amount END,
    CASE WHEN f.is_first AND f.share IS NOT NULL THEN f.purse END,
    CASE WHEN f.outcome = {ACCEPTED} AND f.amount > 0 THEN tt.transfer_id END
"""


def _jsonb(codes: list[str]) -> str:
    """A constant list of reason codes as ``jsonb``."""
    return f"{sql_text(json.dumps(codes))}::jsonb"


FIRST_REASONS = (
    f"CASE WHEN f.outcome = {ACCEPTED} THEN {_jsonb([])} WHEN f.outcome = {REJECTED} THEN to_jsonb(f.rejection) "
    f"WHEN cardinality(f.reasons) > 0 THEN to_jsonb(f.reasons) ELSE {_jsonb([j.INSUFFICIENT_FUNDS])} END"
)

# The rows that are legs of their own: the rejected ones and the first of each identity. The reasons of an
# accepted leg are the constant empty list (to_jsonb per row costs more than the rest of the row's values).
INSERT_FIRSTS_SQL = f"""
WITH legs AS (
    INSERT INTO mobility_tripleg ({LEG_COLUMNS})
    SELECT {
    _leg_values(
        "f.outcome",
        FIRST_REASONS,
        "NULL",
        FIRST_FIGURES,
    )
}
    FROM (
        SELECT f.*, {AMOUNT} AS amount,
            CASE WHEN f.is_rejected THEN {REJECTED} WHEN cardinality(f.reasons) > 0 OR f.short THEN {REVIEW}
                 ELSE {ACCEPTED} END AS outcome
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
REPEAT_OUTCOME = f"CASE WHEN {SAME} THEN e.outcome WHEN {SAME_IN_FILE} THEN x.outcome ELSE {REVIEW} END"
REPEAT_REASONS = (
    f"CASE WHEN {SAME} THEN e.reasons WHEN {SAME_IN_FILE} THEN x.reasons ELSE {_jsonb([j.RESENT_CHANGED])} END"
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
        AND x.operator_id = f.op AND x.trip_id = f.trip AND x.same_as_id IS NULL AND x.outcome <> {REJECTED}
    WHERE NOT f.is_rejected AND NOT f.is_first
    RETURNING outcome
)
SELECT outcome, count(*) FROM legs GROUP BY outcome
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


def _post_transfers(cursor: Any, trip_import: TripImport, actor: Actor) -> None:
    """Debit each purse once with what the file took from it (``trip_debit``), crediting the purse's payables
    shard: the ledger's bulk service writes the transfers and moves the counters."""
    cursor.execute("SELECT purse_id, amount, legs FROM trip_debit ORDER BY purse_id")
    bulk.spendings_post_many(
        spendings=[
            bulk.Spending(
                transfer_id=file_transfer_id(trip_import.organiser_id, trip_import.sha256, purse_id),
                purse_id=purse_id,
                amount=amount,
                memo=file_memo(trip_import.filename, legs),
            )
            for purse_id, amount, legs in cursor.fetchall()
        ],
        code=TransferCode.USAGE,
        ref_type=FILE_REF_TYPE,
        ref_id=trip_import.sha256,
        actor=actor,
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


def import_trips_sql(*, actor: Actor, organiser: Organiser, filename: str, content: bytes) -> TripImport:
    """Import a trip file on PostgreSQL, set-based. The same bytes again return the earlier import unchanged; a
    file that cannot be read at all is refused whole and stores nothing."""
    import_authorize(actor, organiser)
    if len(content) > MAX_BYTES:
        raise ValidationError({"file": _("The file is larger than 512 MB.")})
    steps = Steps()
    sha256 = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        # One import of an organiser at a time, without making others' foreign-key checks wait (trip_import_rowwise).
        Organiser.objects.select_for_update(no_key=True).get(pk=organiser.pk)
        existing = TripImport.objects.filter(organiser=organiser, sha256=sha256).first()
        if existing is not None:
            return existing
        with connection.cursor() as cursor:
            _settings(cursor)
            stage(cursor, content)
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
                imported_by=person(actor),
                started_at=started,
                finished_at=started,
            )
            # Bookings the dispatch centre authorised, locked now (the lock order, docs/mobility.md "Locks"); their
            # holds go back to the purses once the purses are locked, before their money is read.
            cursor.execute(
                f"SELECT DISTINCT {trim('authorization_id')}, {trim('client_number')} FROM trip_stage "
                f"WHERE {trim('authorization_id')} <> ''"
            )
            settlement = settlement_lock(organiser_id=organiser.pk, references=cursor.fetchall())
            steps.done("stage")
            prepare_reference_tables(cursor, organiser.pk)
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
                "trip_supplement, trip_judged, trip_sums, trip_cap, trip_purse, trip_money, trip_transfer, trip_debit"
            )
        import_finish(trip_import, counts=counts, rows=rows, settlement=settlement, actor=actor)
    # The commit waits for the log to be written.
    steps.done("commit")
    logger.info("trip import %s: %s rows, %s", trip_import.pk, rows, steps)
    return trip_import
