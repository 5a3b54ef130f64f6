"""Retrying a whole transaction that PostgreSQL aborted for a lock conflict (issue 16, item 17)."""

import psycopg.errors
import pytest
from django.db import OperationalError, transaction

from kukkaro.core.db import LockConflict, is_lock_conflict, retry_on_lock_conflict


def _aborted(error: Exception) -> OperationalError:
    """What Django raises when PostgreSQL aborts a statement: its own error, caused by psycopg's."""
    try:
        raise OperationalError(str(error)) from error
    except OperationalError as wrapped:
        return wrapped


def _flaky(failures: list[Exception]):
    calls = []

    def work():
        calls.append(1)
        if failures:
            raise _aborted(failures.pop(0))
        return "done"

    return work, calls


def test_is_lock_conflict__knows_deadlocks_and_serialisation_failures_only():
    assert is_lock_conflict(_aborted(psycopg.errors.DeadlockDetected("deadlock detected")))
    assert is_lock_conflict(_aborted(psycopg.errors.SerializationFailure("could not serialize")))
    assert not is_lock_conflict(_aborted(psycopg.errors.UniqueViolation("duplicate key")))
    assert not is_lock_conflict(OperationalError("connection lost"))


def test_retry_on_lock_conflict__runs_a_deadlocked_transaction_again(caplog):
    work, calls = _flaky([psycopg.errors.DeadlockDetected("deadlock detected")] * 2)
    assert retry_on_lock_conflict("test work", work) == "done"
    assert len(calls) == 3
    assert sum("lock conflict" in record.message for record in caplog.records) == 2


def test_retry_on_lock_conflict__gives_up_after_its_attempts_with_lock_conflict():
    work, calls = _flaky([psycopg.errors.SerializationFailure("could not serialize")] * 10)
    with pytest.raises(LockConflict):
        retry_on_lock_conflict("test work", work, attempts=3)
    assert len(calls) == 3


def test_retry_on_lock_conflict__other_errors_are_not_retried():
    work, calls = _flaky([psycopg.errors.UniqueViolation("duplicate key")])
    with pytest.raises(OperationalError):
        retry_on_lock_conflict("test work", work)
    assert len(calls) == 1


@pytest.mark.django_db
def test_retry_on_lock_conflict__inside_a_callers_transaction_leaves_the_retry_to_the_caller():
    work, calls = _flaky([psycopg.errors.DeadlockDetected("deadlock detected")])
    with transaction.atomic(), pytest.raises(OperationalError):
        retry_on_lock_conflict("test work", work)
    assert len(calls) == 1


def test_every_lock_of_an_organiser_row__is_for_no_key_update():
    """An organiser row is locked only to take turns (one import, batch or number series at a time). Every audit
    row, claim and booking refers to it, and their foreign-key checks take FOR KEY SHARE at commit, which FOR
    UPDATE blocks: a deadlock with whoever holds the audit chain (ADR 0023). So no code locks it FOR UPDATE."""
    import re
    from pathlib import Path

    import kukkaro

    root = Path(kukkaro.__file__).parent
    locks = re.compile(r"Organiser\.objects\.select_for_update\(([^)]*)\)")
    found = {
        f"{path.relative_to(root)}:{text[: match.start()].count(chr(10)) + 1}": match.group(1)
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        for text in [path.read_text()]
        for match in locks.finditer(text)
    }
    assert found, "the scan found no organiser lock at all"
    assert {where: arguments for where, arguments in found.items() if "no_key=True" not in arguments} == {}
