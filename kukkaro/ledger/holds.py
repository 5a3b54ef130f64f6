"""Holds: reserving part of a client purse for a payable, then posting it (in full or in part), voiding it,
voiding many at once (a trip file) or letting it expire."""

import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from kukkaro.core import clock
from kukkaro.core.actors import DAILY_JOB, Actor
from kukkaro.core.middleware import current_request_id
from kukkaro.ledger.errors import HoldNotOpen, LedgerError
from kukkaro.ledger.models import (
    SYSTEM_KINDS,
    Purse,
    PurseKind,
    Transfer,
    TransferCode,
    TransferFlag,
)
from kukkaro.ledger.purses import _lock_in_order, shard_of, system_purse_id
from kukkaro.ledger.transfers import (
    _execute,
    _on_postgresql,
    _Request,
    _transfer_of,
    _uuid_param,
    derived_id,
)

logger = logging.getLogger(__name__)


def hold_create(
    *,
    transfer_id: uuid.UUID,
    purse: Purse,
    amount: int,
    expires_at: dt.datetime,
    actor: Actor | None = None,
    ref_type: str = "",
    ref_id: str = "",
    memo: str = "",
    savepoint: bool = True,
) -> Transfer:
    """Reserve ``amount`` of a client purse for a payable until ``expires_at``. Refused (InsufficientFunds)
    when more than what is available now is asked. ``savepoint=False`` inside a transaction on PostgreSQL: no
    savepoint, and a refusal is the database's error, which leaves the transaction to be rolled back."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be aware")
    # A retry after the hold's time still gets its original answer (or a conflict): _execute finds it by id.
    if expires_at <= clock.now() and not Transfer.objects.filter(pk=transfer_id).exists():
        raise LedgerError("a hold must expire in the future", reason="expiry")
    payables_id = system_purse_id(
        organiser_id=purse.organiser_id, unit=purse.unit, kind=PurseKind.PAYABLES, shard=shard_of(purse.pk)
    )
    return _execute(
        _Request(
            id=transfer_id,
            debit_purse_id=purse.pk,
            credit_purse_id=payables_id,
            amount=amount,
            code=TransferCode.HOLD,
            flag=TransferFlag.PENDING,
            expires_at=expires_at,
            ref_type=ref_type,
            ref_id=ref_id,
            memo=memo,
        ),
        actor=actor,
        savepoint=savepoint,
    )


def _resolution(
    *, transfer_id: uuid.UUID, hold: "Transfer | _HeldValues", amount: int, flag: str, code: str, memo: str
) -> _Request:
    """The request that posts or voids ``hold``."""
    return _Request(
        id=transfer_id,
        debit_purse_id=hold.debit_purse_id,
        credit_purse_id=hold.credit_purse_id,
        amount=amount,
        code=code,
        flag=flag,
        pending_id=hold.pk,
        ref_type=hold.ref_type,
        ref_id=hold.ref_id,
        memo=memo,
    )


def _resolve(
    *, transfer_id: uuid.UUID, hold: Transfer, amount: int, flag: str, code: str, actor: Actor | None, memo: str
) -> Transfer:
    return _execute(
        _resolution(transfer_id=transfer_id, hold=hold, amount=amount, flag=flag, code=code, memo=memo), actor=actor
    )


def hold_post(
    *, transfer_id: uuid.UUID, hold: Transfer, amount: int | None = None, actor: Actor | None = None, memo: str = ""
) -> Transfer:
    """Post a hold in full (``amount`` None) or in part; the rest goes back to the purse. Every check that
    matters is made by the database against the hold as stored (amount, purses, expiry), never against the
    object passed in."""
    amount = hold.amount if amount is None else amount
    if amount <= 0:
        raise LedgerError("a post is for a positive amount", reason="amount")
    return _resolve(
        transfer_id=transfer_id,
        hold=hold,
        amount=amount,
        flag=TransferFlag.POST_PENDING,
        code=TransferCode.POST,
        actor=actor,
        memo=memo,
    )


def hold_void(*, transfer_id: uuid.UUID, hold: Transfer, actor: Actor | None = None, memo: str = "") -> Transfer:
    """Release a hold in full (the database checks the amount against the stored hold)."""
    return _resolve(
        transfer_id=transfer_id,
        hold=hold,
        amount=hold.amount,
        flag=TransferFlag.VOID_PENDING,
        code=TransferCode.VOID,
        actor=actor,
        memo=memo,
    )


def holds_void_many(
    *, voids: list[tuple[uuid.UUID, uuid.UUID]], actor: Actor | None = None, memo: str = ""
) -> set[uuid.UUID]:
    """Release many holds in full at once (the bookings a trip file settles): ``voids`` are (transfer id, hold id)
    pairs. Each void is the transfer ``hold_void`` would write, fingerprint included. The purses involved are
    locked first, all of them, client purses first and in id order (the order every transfer locks them in);
    then, 5 000 holds at a time, the voids are inserted together and each purse's counters move once (on
    PostgreSQL in one statement, from the holds' values rather than model instances: a trip file can settle
    a booking per leg). A hold that is not open (posted, voided or expired meanwhile) is left alone; so is a chunk
    in which one was resolved by another transaction after it was read: that chunk is voided one hold at a time
    instead. (A hold on a closed purse is released too: nothing can be spent from a closed purse either way.)
    Runs in the caller's transaction; returns the ids of the holds it released."""
    if not voids:
        return set()
    transfer_ids = {hold_id: transfer_id for transfer_id, hold_id in voids}
    ids = sorted(transfer_ids)
    chunks = [ids[start : start + 5_000] for start in range(0, len(ids), 5_000)]
    released: set[uuid.UUID] = set()
    with transaction.atomic(savepoint=False):
        purses: set[uuid.UUID] = set()
        for chunk in chunks:
            for debit, credit in Transfer.objects.filter(pk__in=chunk, flag=TransferFlag.PENDING).values_list(
                "debit_purse_id", "credit_purse_id"
            ):
                purses.update((debit, credit))
        _lock_in_order(purses)
        for chunk in chunks:
            holds = list(
                Transfer.objects.filter(pk__in=chunk, flag=TransferFlag.PENDING, resolutions__isnull=True)
                .order_by("pk")
                .values_list(*_HOLD_VALUES)
            )
            requests = [(_void_request(_HeldValues(*hold), transfer_ids[hold[0]], memo), hold[4]) for hold in holds]
            try:
                with transaction.atomic():
                    _write_voids(requests, actor=actor)
                released.update(hold[0] for hold in holds)
            except IntegrityError:
                # Another transaction (the expiry job) resolved one of these holds after they were read: the
                # savepoint undid the chunk, and each hold is now released, or found resolved, on its own.
                for hold in Transfer.objects.filter(pk__in=[h[0] for h in holds]).order_by("pk"):
                    with contextlib.suppress(HoldNotOpen):
                        hold_void(transfer_id=transfer_ids[hold.pk], hold=hold, actor=actor, memo=memo)
                        released.add(hold.pk)
    return released


#: What a void needs of its hold, read as values.
_HOLD_VALUES = ("pk", "debit_purse_id", "credit_purse_id", "amount", "unit", "ref_type", "ref_id")


@dataclass(frozen=True)
class _HeldValues:
    pk: uuid.UUID
    debit_purse_id: uuid.UUID
    credit_purse_id: uuid.UUID
    amount: int
    unit: str
    ref_type: str
    ref_id: str


def _void_request(hold: "Transfer | _HeldValues", transfer_id: uuid.UUID, memo: str) -> _Request:
    """The request ``hold_void`` makes for ``hold`` (a Transfer or its values)."""
    return _resolution(
        transfer_id=transfer_id,
        hold=hold,
        amount=hold.amount,
        flag=TransferFlag.VOID_PENDING,
        code=TransferCode.VOID,
        memo=memo,
    )


_VOIDS_SQL = """
WITH moved AS (
    INSERT INTO ledger_transfer (id, debit_purse_id, credit_purse_id, amount, unit, code, flag, pending_id,
        expires_at, period_start, ref_type, ref_id, memo, actor_id, request_id, fingerprint, created_at)
    SELECT t.id, t.debit, t.credit, t.amount, t.unit, %(code)s, %(flag)s, t.pending, NULL, NULL, t.ref_type, t.ref_id,
        %(memo)s, %(actor)s, %(request)s, t.fingerprint, %(now)s
    FROM unnest(%(ids)s::uuid[], %(debits)s::uuid[], %(credits)s::uuid[], %(amounts)s::bigint[], %(units)s::text[],
                %(pendings)s::uuid[], %(ref_types)s::text[], %(ref_ids)s::text[], %(fingerprints)s::text[])
        AS t(id, debit, credit, amount, unit, pending, ref_type, ref_id, fingerprint)
    RETURNING debit_purse_id, credit_purse_id, amount
), sums AS (
    SELECT debit_purse_id AS id, sum(amount) AS debits, 0 AS credits FROM moved GROUP BY debit_purse_id
    UNION ALL
    SELECT credit_purse_id, 0, sum(amount) FROM moved GROUP BY credit_purse_id
)
UPDATE ledger_purse p SET debits_pending = p.debits_pending - m.debits,
    credits_pending = p.credits_pending - m.credits
FROM (SELECT id, sum(debits) AS debits, sum(credits) AS credits FROM sums GROUP BY id) m
WHERE p.id = m.id
"""


def _write_voids(requests: list[tuple[_Request, str]], *, actor: Actor | None) -> None:
    """Insert the voids (request, unit) and take their amounts off the purses' pending counters. The purses are
    locked already."""
    if not requests:
        return
    if not _on_postgresql():
        voided = [_transfer_of(request, unit=unit, actor=actor) for request, unit in requests]
        _counters_release(voided)
        Transfer.objects.bulk_create(voided)
        return
    first = requests[0][0]
    assert all((r.code, r.flag, r.memo) == (first.code, first.flag, first.memo) for r, _unit in requests)
    with connection.cursor() as cursor:
        cursor.execute(
            _VOIDS_SQL,
            {
                "ids": [r.id for r, _unit in requests],
                "debits": [r.debit_purse_id for r, _unit in requests],
                "credits": [r.credit_purse_id for r, _unit in requests],
                "amounts": [r.amount for r, _unit in requests],
                "units": [unit for _r, unit in requests],
                "pendings": [r.pending_id for r, _unit in requests],
                "ref_types": [r.ref_type for r, _unit in requests],
                "ref_ids": [r.ref_id for r, _unit in requests],
                "fingerprints": [r.fingerprint() for r, _unit in requests],
                "code": first.code,
                "flag": first.flag,
                "memo": first.memo,
                "actor": getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None,
                "request": current_request_id(),
                "now": clock.now(),
            },
        )


def _counters_release(voids: list[Transfer]) -> None:
    """Take the voided amounts off the purses' pending counters: one UPDATE per purse, client purses first."""
    changes: dict[uuid.UUID, list[int]] = {}
    for void in voids:
        changes.setdefault(void.debit_purse_id, [0, 0])[0] += void.amount
        changes.setdefault(void.credit_purse_id, [0, 0])[1] += void.amount
    kinds = dict(Purse.objects.filter(pk__in=changes).values_list("pk", "kind"))
    ordered = sorted(changes, key=lambda pk: (kinds[pk] in SYSTEM_KINDS, str(pk)))
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE ledger_purse SET debits_pending = debits_pending - %s, credits_pending = credits_pending - %s "
            "WHERE id = %s",
            [(changes[pk][0], changes[pk][1], _uuid_param(pk)) for pk in ordered],
        )


def holds_expire(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Release holds whose time is up (the expiry job). Returns how many were released."""
    now = now or clock.now()
    stale = Transfer.objects.filter(flag=TransferFlag.PENDING, expires_at__lte=now, resolutions__isnull=True).order_by(
        "expires_at"
    )[:limit]
    count = 0
    for hold in stale:
        try:
            _resolve(
                transfer_id=derived_id(hold.pk, "expire"),
                hold=hold,
                amount=hold.amount,
                flag=TransferFlag.VOID_PENDING,
                code=TransferCode.EXPIRE,
                actor=DAILY_JOB,
                memo="hold expired",
            )
            count += 1
        except HoldNotOpen:
            continue  # posted or voided meanwhile
        except Exception:
            logger.exception("expiring hold %s failed", hold.pk)
    return count
