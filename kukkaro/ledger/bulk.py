# ruff: noqa: S608 - table names from the models, values always parameters
"""Work that moves many purses at once, as the ledger's own set-based statements (issue 17): a trip file debits
thousands of purses in one transaction, and no app but the ledger writes the ledger's tables.

``transfers_post_many`` posts many transfers together with the checks ``transfer_post`` makes of each: amounts
are positive integers; debit and credit purse exist, share a unit and an organiser, and are open; a purse that may
not be overdrawn has the funds for all its debits of the batch (credits of the same batch not counted). The
purses are locked first in the ledger's lock order (client purses in id order, then system purses;
docs/ledger.md); then, on PostgreSQL in one statement, the transfers are inserted and each purse's counters move
once by its sums. A refusal raises the error ``transfer_post`` would raise (``InsufficientFunds``, or
``LedgerError`` with its reason) and leaves nothing behind: the batch runs in a savepoint. Each transfer carries
its fingerprint, actor, request id and time, like any other, so a batch is audited as every transfer is: by the
transfers themselves (docs/decisions/0007).

For set-based reads in other apps' SQL (the booking's one-query judgement), ``PURSE_TABLE`` and ``sql_available``
say where a purse's money is and how it is counted: the same rule as ``Purse.available_now``.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from kukkaro.core import clock
from kukkaro.core.actors import Actor
from kukkaro.core.middleware import current_request_id
from kukkaro.ledger.errors import InsufficientFunds, LedgerError
from kukkaro.ledger.models import SYSTEM_KINDS, Purse, PurseKind, Transfer, TransferFlag
from kukkaro.ledger.purses import purses_lock, shard_of, system_purse_id
from kukkaro.ledger.transfers import transfer_fingerprint

PURSE_TABLE = Purse._meta.db_table
TRANSFER_TABLE = Transfer._meta.db_table
_CHUNK = 5_000


def sql_available(purse: str) -> str:
    """``Purse.available_now`` of a row of ``PURSE_TABLE`` (alias ``purse``): released, not spent, not held."""
    return f"({purse}.credits_posted - {purse}.debits_posted - {purse}.debits_pending)"


def purses_spendable(*, purse_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """What each purse can pay now: its available amount (``available_now``), 0 for a closed purse. The caller
    that decides on it holds the purses locked (``purses_lock``)."""
    ids = sorted(set(purse_ids))
    spendable: dict[uuid.UUID, int] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = Purse.objects.filter(pk__in=ids[start : start + _CHUNK]).values_list(
            "pk", "credits_posted", "debits_posted", "debits_pending", "closed_at"
        )
        for pk, credits_posted, debits_posted, debits_pending, closed_at in rows:
            spendable[pk] = 0 if closed_at is not None else credits_posted - debits_posted - debits_pending
    return spendable


@dataclass(frozen=True)
class Posting:
    """One transfer of a batch: posted at once, like ``transfer_post``."""

    transfer_id: uuid.UUID
    debit_purse_id: uuid.UUID
    credit_purse_id: uuid.UUID
    amount: int
    memo: str = ""


@dataclass(frozen=True)
class Spending:
    """One debit of a client purse, credited to the payables shard it pays into (``payables_of``)."""

    transfer_id: uuid.UUID
    purse_id: uuid.UUID
    amount: int
    memo: str = ""


@dataclass(frozen=True)
class _Facts:
    unit: str
    organiser_id: int
    kind: str
    guarded: bool
    closed: bool


def _facts(purse_ids: set[uuid.UUID]) -> dict[uuid.UUID, _Facts]:
    ids = sorted(purse_ids)
    facts: dict[uuid.UUID, _Facts] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = Purse.objects.filter(pk__in=ids[start : start + _CHUNK]).values_list(
            "pk", "unit", "organiser_id", "kind", "debits_must_not_exceed_credits", "closed_at"
        )
        for pk, unit, organiser_id, kind, guarded, closed_at in rows:
            facts[pk] = _Facts(unit, organiser_id, kind, guarded, closed_at is not None)
    missing = set(purse_ids) - set(facts)
    if missing:
        raise LedgerError(f"no such purse: {sorted(missing)[0]}", reason="no_purse")
    return facts


def spendings_post_many(
    *, spendings: Sequence[Spending], code: str, ref_type: str = "", ref_id: str = "", actor: Actor | None = None
) -> list[uuid.UUID]:
    """Post many debits of client purses, each credited to its purse's payables shard (a trip file's debits: one
    per purse). Returns the ids of the transfers, in the order given."""
    facts = _facts({spending.purse_id for spending in spendings})
    shards: dict[tuple[int, str, int], uuid.UUID] = {}
    postings = []
    for spending in spendings:
        fact = facts[spending.purse_id]
        key = (fact.organiser_id, fact.unit, shard_of(spending.purse_id))
        if key not in shards:  # a few payables shards serve all the purses: each is looked up once
            shards[key] = system_purse_id(organiser_id=key[0], unit=key[1], kind=PurseKind.PAYABLES, shard=key[2])
        postings.append(
            Posting(
                transfer_id=spending.transfer_id,
                debit_purse_id=spending.purse_id,
                credit_purse_id=shards[key],
                amount=spending.amount,
                memo=spending.memo,
            )
        )
    return _post_many(postings, facts=facts, code=code, ref_type=ref_type, ref_id=ref_id, actor=actor)


def _check(postings: Sequence[Posting], facts: dict[uuid.UUID, _Facts]) -> None:
    if len({posting.transfer_id for posting in postings}) != len(postings):
        raise LedgerError("a transfer id is used twice in the batch", reason="id_conflict")
    for posting in postings:
        if not isinstance(posting.amount, int) or isinstance(posting.amount, bool):
            raise TypeError("ledger amounts are integers (cents, metres or trips)")
        if posting.amount <= 0:
            raise LedgerError("amounts are positive integers", reason="amount")
        debit, credit = facts[posting.debit_purse_id], facts[posting.credit_purse_id]
        if debit.unit != credit.unit:
            raise LedgerError(f"units differ: {debit.unit} and {credit.unit}", reason="unit_mismatch")
        if debit.organiser_id != credit.organiser_id:
            raise LedgerError("purses belong to different organisers", reason="organiser_mismatch")


def _sums(postings: Sequence[Posting]) -> dict[uuid.UUID, list[int]]:
    """Per purse: [debits, credits] of the batch."""
    sums: dict[uuid.UUID, list[int]] = {}
    for posting in postings:
        sums.setdefault(posting.debit_purse_id, [0, 0])[0] += posting.amount
        sums.setdefault(posting.credit_purse_id, [0, 0])[1] += posting.amount
    return sums


def _refusal(sums: dict[uuid.UUID, list[int]]) -> LedgerError:
    """Why the counters' UPDATE did not match every purse (read only after a refusal)."""
    purses = {p.pk: p for p in Purse.objects.filter(pk__in=list(sums))}
    for pk in sorted(sums):
        purse = purses[pk]
        if purse.closed_at is not None:
            return LedgerError(f"purse {pk} is closed", reason="purse_closed")
    for pk in sorted(sums):
        purse = purses[pk]
        if purse.debits_must_not_exceed_credits and sums[pk][0] > purse.available_now:
            return InsufficientFunds(
                f"{sums[pk][0]} requested but only {purse.available_now} available in purse {pk} ({purse.unit})"
            )
    return LedgerError("the batch was refused", reason="constraint")  # pragma: no cover - not reachable


# The counters of a purse move only while it is open and, if it may not be overdrawn, has the funds for the
# batch's debits: the same conditions as transfer_post's UPDATE, for the batch's sums.
_COUNTER_CONDITIONS = (
    "p.closed_at IS NULL AND (NOT p.debits_must_not_exceed_credits OR m.debits = 0 "
    "OR p.credits_posted >= p.debits_posted + p.debits_pending + m.debits)"
)

_POST_SQL = f"""
WITH moved AS (
    INSERT INTO {TRANSFER_TABLE} (id, debit_purse_id, credit_purse_id, amount, unit, code, flag, pending_id,
        expires_at, period_start, ref_type, ref_id, memo, actor_id, request_id, fingerprint, created_at)
    SELECT t.id, t.debit, t.credit, t.amount, t.unit, %(code)s, %(flag)s, NULL, NULL, NULL, %(ref_type)s,
        %(ref_id)s, t.memo, %(actor)s, %(request)s, t.fingerprint, %(now)s
    FROM unnest(%(ids)s::uuid[], %(debits)s::uuid[], %(credits)s::uuid[], %(amounts)s::bigint[], %(units)s::text[],
                %(memos)s::text[], %(fingerprints)s::text[]) AS t(id, debit, credit, amount, unit, memo, fingerprint)
    RETURNING debit_purse_id, credit_purse_id, amount
), sums AS (
    SELECT debit_purse_id AS id, sum(amount) AS debits, 0 AS credits FROM moved GROUP BY debit_purse_id
    UNION ALL
    SELECT credit_purse_id, 0, sum(amount) FROM moved GROUP BY credit_purse_id
)
UPDATE {PURSE_TABLE} p SET debits_posted = p.debits_posted + m.debits, credits_posted = p.credits_posted + m.credits
FROM (SELECT id, sum(debits) AS debits, sum(credits) AS credits FROM sums GROUP BY id) m
WHERE p.id = m.id AND {_COUNTER_CONDITIONS}
"""

_COUNTERS_SQL = f"""
UPDATE {PURSE_TABLE} SET debits_posted = debits_posted + %s, credits_posted = credits_posted + %s
WHERE id = %s AND closed_at IS NULL
  AND (NOT debits_must_not_exceed_credits OR %s = 0 OR credits_posted >= debits_posted + debits_pending + %s)
"""


@dataclass(frozen=True)
class _Batch:
    postings: Sequence[Posting]
    facts: dict[uuid.UUID, _Facts]
    sums: dict[uuid.UUID, list[int]]  # per purse: [debits, credits]
    fingerprints: list[str]
    code: str
    ref_type: str
    ref_id: str
    actor_id: int | None
    request_id: str
    now: dt.datetime


def transfers_post_many(
    *, postings: Sequence[Posting], code: str, ref_type: str = "", ref_id: str = "", actor: Actor | None = None
) -> list[uuid.UUID]:
    """Post many transfers at once, all with one code and reference (each with its own memo), with the checks of
    ``transfer_post``. All or nothing; runs in the caller's transaction. Returns the transfer ids."""
    if not postings:
        return []
    purse_ids = {posting.debit_purse_id for posting in postings} | {posting.credit_purse_id for posting in postings}
    return _post_many(postings, facts=_facts(purse_ids), code=code, ref_type=ref_type, ref_id=ref_id, actor=actor)


def _post_many(
    postings: Sequence[Posting],
    *,
    facts: dict[uuid.UUID, _Facts],
    code: str,
    ref_type: str,
    ref_id: str,
    actor: Actor | None,
) -> list[uuid.UUID]:
    if not postings:
        return []
    purse_ids = {posting.debit_purse_id for posting in postings} | {posting.credit_purse_id for posting in postings}
    missing = purse_ids - set(facts)
    if missing:  # the payables shards a spending credits, created after the debit purses were read
        facts = {**facts, **_facts(missing)}
    _check(postings, facts)
    batch = _Batch(
        postings=postings,
        facts=facts,
        sums=_sums(postings),
        fingerprints=[
            transfer_fingerprint(
                debit_purse_id=posting.debit_purse_id,
                credit_purse_id=posting.credit_purse_id,
                amount=posting.amount,
                code=code,
                flag=TransferFlag.POSTED,
                ref_type=ref_type,
                ref_id=ref_id,
                memo=posting.memo,
            )
            for posting in postings
        ],
        code=code,
        ref_type=ref_type,
        ref_id=ref_id,
        actor_id=getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None,
        request_id=current_request_id(),
        now=clock.now(),
    )
    try:
        with transaction.atomic():
            purses_lock(purse_ids=purse_ids)
            matched = _post_in_one_statement(batch) if connection.vendor == "postgresql" else _post_row_by_row(batch)
            if matched != len(batch.sums):
                raise _refusal(batch.sums)
    except IntegrityError as exc:
        raise LedgerError(f"refused by the database: {exc}", reason="constraint") from exc
    return [posting.transfer_id for posting in postings]


def _post_in_one_statement(batch: _Batch) -> int:
    """PostgreSQL: the transfers inserted and every purse's counters moved in one statement. Returns how many
    purses' counters moved."""
    postings = batch.postings
    with connection.cursor() as cursor:
        cursor.execute(
            _POST_SQL,
            {
                "ids": [p.transfer_id for p in postings],
                "debits": [p.debit_purse_id for p in postings],
                "credits": [p.credit_purse_id for p in postings],
                "amounts": [p.amount for p in postings],
                "units": [batch.facts[p.debit_purse_id].unit for p in postings],
                "memos": [p.memo for p in postings],
                "fingerprints": batch.fingerprints,
                "code": batch.code,
                "flag": TransferFlag.POSTED.value,
                "ref_type": batch.ref_type,
                "ref_id": batch.ref_id,
                "actor": batch.actor_id,
                "request": batch.request_id,
                "now": batch.now,
            },
        )
        return cursor.rowcount


def _post_row_by_row(batch: _Batch) -> int:
    """SQLite: the transfer rows, then the counters one purse at a time, client purses first in id order."""
    Transfer.objects.bulk_create(
        Transfer(
            id=posting.transfer_id,
            debit_purse_id=posting.debit_purse_id,
            credit_purse_id=posting.credit_purse_id,
            amount=posting.amount,
            unit=batch.facts[posting.debit_purse_id].unit,
            code=batch.code,
            flag=TransferFlag.POSTED,
            ref_type=batch.ref_type,
            ref_id=batch.ref_id,
            memo=posting.memo,
            actor_id=batch.actor_id,
            request_id=batch.request_id,
            fingerprint=fingerprint,
            created_at=batch.now,
        )
        for posting, fingerprint in zip(batch.postings, batch.fingerprints, strict=True)
    )
    ordered = sorted(batch.sums, key=lambda pk: (batch.facts[pk].kind in SYSTEM_KINDS, str(pk)))
    matched = 0
    with connection.cursor() as cursor:
        for pk in ordered:
            debits, credits = batch.sums[pk]
            purse_id = Purse._meta.pk.get_db_prep_value(pk, connection)
            cursor.execute(_COUNTERS_SQL, [debits, credits, purse_id, debits, debits])
            matched += cursor.rowcount
    return matched
