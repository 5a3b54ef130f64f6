"""Database helpers: the few hot paths that bypass the ORM's query building (PostgreSQL only), and retrying a whole
transaction that PostgreSQL aborted for a lock conflict."""

import logging
import random
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import DatabaseError, connection
from psycopg.types.numeric import Int8Dumper

_prepared: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()  # psycopg connection → cursor


def prepared_cursor() -> Any:
    """A psycopg cursor with server-side binding on Django's own connection (so it shares its transaction), whose
    statements are prepared once per connection when executed with ``prepare=True``: parsing and planning was
    about 40 % of the server's work per ledger transfer (ADR 0012), and 1.6 ms of a trip authorisation's lookups
    (ADR 0015). Django's cursors bind on the client and are not affected. Integers are sent as int8, so a prepared
    statement never meets a value wider than the type it was prepared with. Errors are Django's (wrap the call in
    ``connection.wrap_database_errors``)."""
    connection.ensure_connection()
    raw = connection.connection  # this thread's connection
    cursor = _prepared.get(raw)
    if cursor is None or cursor.closed:
        if raw.prepare_threshold is None:
            raw.prepare_threshold = 2**31  # nothing is prepared unless it asks (prepare=True)
        cursor = psycopg.Cursor(raw)
        cursor.adapters.register_dumper(int, Int8Dumper)
        _prepared[raw] = cursor
    return cursor


# --- lock conflicts ------------------------------------------------------------------------------------------

logger = logging.getLogger(__name__)

#: PostgreSQL's answers when it aborted a transaction to break a lock conflict: a deadlock (the lock order
#: documented in docs/mobility.md makes these rare) and a serialisation failure.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
#: How many times a whole transaction is tried before the conflict is given up (and said, e.g. HTTP 503).
LOCK_ATTEMPTS = 4


class LockConflict(Exception):
    """The database kept aborting the transaction for a lock conflict; it changed nothing and may be asked again."""


def is_lock_conflict(exc: BaseException) -> bool:
    """Did PostgreSQL abort the transaction to break a deadlock or a serialisation conflict?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return True
        current = current.__cause__ or current.__context__
    return False


def retry_on_lock_conflict[T](what: str, work: Callable[[], T], *, attempts: int = LOCK_ATTEMPTS) -> T:
    """Run ``work`` — a whole transaction that is safe to run again, because it is idempotent by its ids (a
    ledger transfer, an Idempotency-Key, a file's SHA-256) — again when PostgreSQL aborts it for a deadlock or a
    serialisation failure: up to ``attempts`` times, a short random pause between, each retry logged. Raises
    ``LockConflict`` when the last attempt fails too. Inside a caller's transaction nothing can be retried (the
    caller's transaction is spoilt): the error goes up as it was, for the outermost caller to retry."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DatabaseError as exc:
            if not is_lock_conflict(exc) or connection.in_atomic_block:
                raise
            if attempt == attempts:
                logger.error("%s: gave up after %s lock conflicts: %s", what, attempts, exc)
                raise LockConflict(what) from exc
            logger.warning("%s: lock conflict (attempt %s of %s), trying again: %s", what, attempt, attempts, exc)
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - a jitter, not a secret
    raise AssertionError("unreachable")  # pragma: no cover
