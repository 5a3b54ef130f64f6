"""Writes to the ledger. Each function is one database transaction.

How a transfer is applied (``_apply``), with no read before the write:
1. Static purse data (unit, organiser, kind) comes from a per-process cache; unit and organiser must match.
2. The counters move by conditional UPDATEs that only match while the purse is open, (for a new hold) valid
   today and, if it may not be overdrawn, has the funds — no read-modify-write window; the CHECK constraint
   stands behind them. A post or void is checked against the hold as stored, and moves the stored held amount.
   Client purses are updated first in id order, system purses last, so concurrent transfers take row locks in
   one order and cannot deadlock; the hot system rows are locked for the shortest time.
3. The transfer row is INSERTed. Unique constraints make an id usable once, a hold resolvable once and a
   period releasable once.
4. On PostgreSQL steps 2–3 are one statement (data-modifying WITH), which outside a caller's transaction runs
   in autocommit: one round trip, all or nothing (see docs/decisions/0009). SQLite runs them in BEGIN…COMMIT.
5. Only after a refusal is anything read: an existing transfer with the same id is the original result of a
   retry (same fingerprint) or a ``TransferConflict``; otherwise the purses and the hold say why.

Transfers are the ledger's own audit record: immutable at the database level, with actor, time, request id,
references and memo. They are not copied into the audit hash chain (see docs/decisions/0007).
"""

import contextlib
import datetime as dt
import hashlib
import json
import logging
import uuid
import zlib
from dataclasses import dataclass, fields

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum

from kukkaro.core import clock
from kukkaro.core.actors import DAILY_JOB
from kukkaro.core.audit import audit_record, lock_audit_chain
from kukkaro.core.db import prepared_cursor
from kukkaro.core.middleware import current_request_id
from kukkaro.core.models import Organiser
from kukkaro.ledger import schedules
from kukkaro.ledger.models import (
    SYSTEM_KINDS,
    SYSTEM_SHARDS,
    PeriodKind,
    Purse,
    PurseAmountStep,
    PurseKind,
    RolloverRule,
    Transfer,
    TransferCode,
    TransferFlag,
    Unit,
)
from kukkaro.ledger.periods import PeriodAmount, period_after, period_containing
from kukkaro.people.models import Client

logger = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("6b1d3c8e-6a52-4b8e-9f0e-4b554b4b4152")


class LedgerError(Exception):
    """A transfer the ledger refuses. ``reason`` is a stable code; the message says it in words."""

    reason = "invalid"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class InsufficientFunds(LedgerError):
    reason = "insufficient_funds"


class TransferConflict(LedgerError):
    reason = "id_conflict"


class HoldNotOpen(LedgerError):
    reason = "hold_not_open"


def derived_id(*parts: object) -> uuid.UUID:
    """A stable transfer id for work the system repeats (releases, lapses, expiries): a retry is harmless."""
    return uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts))


@dataclass(frozen=True)
class _Request:
    id: uuid.UUID
    debit_purse_id: uuid.UUID
    credit_purse_id: uuid.UUID
    amount: int
    code: str
    flag: str
    pending_id: uuid.UUID | None = None
    expires_at: dt.datetime | None = None
    period_start: dt.date | None = None
    ref_type: str = ""
    ref_id: str = ""
    memo: str = ""

    def fingerprint(self) -> str:
        # Field by field (not dataclasses.asdict, which deep-copies): this runs for every transfer.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}
        data = {k: (str(v) if v is not None else None) for k, v in data.items()}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def transfer_fingerprint(
    *,
    debit_purse_id: uuid.UUID,
    credit_purse_id: uuid.UUID,
    amount: int,
    code: str,
    flag: str = TransferFlag.POSTED,
    ref_type: str = "",
    ref_id: str = "",
    memo: str = "",
) -> str:
    """The fingerprint the ledger stores with a transfer (a later request with the same id and fingerprint is a
    retry of it), for code that writes many transfers in one statement."""
    return _Request(
        id=uuid.UUID(int=0),
        debit_purse_id=debit_purse_id,
        credit_purse_id=credit_purse_id,
        amount=amount,
        code=code,
        flag=flag,
        ref_type=ref_type,
        ref_id=ref_id,
        memo=memo,
    ).fingerprint()


# --- system purses ---------------------------------------------------------------------------------------


def shard_of(key: object) -> int:
    """Which system-purse shard a client purse (or any key) uses: stable across processes."""
    return zlib.crc32(str(key).encode()) % SYSTEM_SHARDS


def payables_of(purse: Purse) -> Purse:
    """The payables purse a client purse's spending is credited to: its organiser's, in its unit, on its shard."""
    return system_purse(
        organiser=Organiser(pk=purse.organiser_id), unit=purse.unit, kind=PurseKind.PAYABLES, shard=shard_of(purse.pk)
    )


_system_purse_ids: dict[tuple, uuid.UUID] = {}


def system_purse(*, organiser: Organiser, unit: str, kind: str, shard: int = 0) -> Purse:
    """One shard of the organiser's system purse of a unit and kind, created on first use."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"{kind} is not a system purse kind")
    key = (organiser.pk, unit, kind, shard)
    purse = Purse.objects.filter(organiser=organiser, unit=unit, kind=kind, shard=shard).first()
    if purse is None:
        try:
            with transaction.atomic():
                purse = Purse.objects.create(
                    organiser=organiser,
                    unit=unit,
                    kind=kind,
                    shard=shard,
                    label=f"{kind} {unit} #{shard}",
                    created_at=clock.now(),
                )
        except IntegrityError:  # created concurrently
            purse = Purse.objects.get(organiser=organiser, unit=unit, kind=kind, shard=shard)
    # Remember the id only once it is surely committed (a rolled-back creation must not stay cached).
    transaction.on_commit(lambda: _system_purse_ids.__setitem__(key, purse.pk))
    return purse


def purse_caches_clear() -> None:
    """Forget the per-process purse caches. Purses are never deleted in use; a test database that is flushed
    between tests deletes them, and then the cached ids would point at nothing."""
    _system_purse_ids.clear()
    _meta_cache.clear()


def system_purse_id(*, organiser_id: int, unit: str, kind: str, shard: int) -> uuid.UUID:
    """The id of a system purse shard; system purses are never deleted, so the id is cached per process."""
    cached = _system_purse_ids.get((organiser_id, unit, kind, shard))
    if cached is not None:
        return cached
    return system_purse(organiser=Organiser(pk=organiser_id), unit=unit, kind=kind, shard=shard).pk


# --- the one way a transfer is applied -----------------------------------------------------------------


def _same_or_conflict(existing: Transfer, request: _Request) -> Transfer:
    if existing.fingerprint != request.fingerprint():
        raise TransferConflict(f"transfer {request.id} exists with different content")
    return existing


@dataclass(frozen=True)
class _Meta:
    """What never changes about a purse; cached per process so the hot path does not read it."""

    unit: str
    organiser_id: int
    kind: str
    guarded: bool  # debits may not exceed credits


_meta_cache: dict[uuid.UUID, _Meta] = {}


def _meta(purse_ids: list[uuid.UUID]) -> dict[uuid.UUID, _Meta]:
    missing = [pk for pk in purse_ids if pk not in _meta_cache]
    if missing:
        rows = Purse.objects.filter(pk__in=missing).values_list(
            "pk", "unit", "organiser_id", "kind", "debits_must_not_exceed_credits"
        )
        for pk, unit, organiser_id, kind, guarded in rows:
            _meta_cache[pk] = _Meta(unit, organiser_id, kind, guarded)
        if len(_meta_cache) > 100_000:
            _meta_cache.clear()
    try:
        return {pk: _meta_cache[pk] for pk in purse_ids}
    except KeyError as exc:
        raise LedgerError("no such purse", reason="no_purse") from exc


def purse_facts_remember(pk: uuid.UUID, *, unit: str, organiser_id: int, kind: str, guarded: bool) -> None:
    """A caller that has just read a purse's row tells the ledger what never changes about it (unit, organiser,
    kind, whether it may be overdrawn), so a transfer on it does not read them again."""
    if pk not in _meta_cache:
        _meta_cache[pk] = _Meta(unit, organiser_id, kind, guarded)


# The hot path speaks SQL directly: the ORM's query building cost more than the database work (measured in
# docs/performance.md). Statement texts are fixed, so they stay simple to read and to index.


HELD = object()  # "the stored amount of the hold": read by the UPDATE itself, never taken from the caller


def _debit_changes(request: _Request) -> tuple[list[tuple[str, object]], bool]:
    """(column, delta) pairs for the debit purse, and whether its debits grow (then funds are checked)."""
    amount = request.amount
    if request.flag == TransferFlag.POSTED:
        return [("debits_posted", amount)], True
    if request.flag == TransferFlag.PENDING:
        return [("debits_pending", amount)], True
    if request.flag == TransferFlag.POST_PENDING:
        return [("debits_pending", HELD), ("debits_posted", amount)], False
    return [("debits_pending", HELD)], False


def _credit_changes(request: _Request) -> tuple[list[tuple[str, object]], bool]:
    amount = request.amount
    if request.flag == TransferFlag.POSTED:
        return [("credits_posted", amount)], False
    if request.flag == TransferFlag.PENDING:
        return [("credits_pending", amount)], False
    if request.flag == TransferFlag.POST_PENDING:
        return [("credits_pending", HELD), ("credits_posted", amount)], False
    return [("credits_pending", HELD)], False


def _update_sql(
    *,
    purse_id: uuid.UUID,
    meta: _Meta,
    changes: list,
    grows_debits: bool,
    request: _Request,
    today,
    extra_where: tuple[str, list] | None = None,
) -> tuple[str, list]:
    """One conditional UPDATE: it matches only while the purse is open, (for a new hold) valid today, and
    (when it may not be overdrawn) has the funds. No match means refusal; then we read why."""
    assignments: list[str] = []
    params: list = []
    for column, delta in changes:
        if delta is HELD:
            assignments.append(f"{column} = {column} - (SELECT h.amount FROM ledger_transfer h WHERE h.id = %s)")  # noqa: S608
            params.append(_uuid_param(request.pending_id))
        else:
            assignments.append(f"{column} = {column} + %s")
            params.append(delta)
    where = ["id = %s", "closed_at IS NULL"]
    params.append(_uuid_param(purse_id))
    if request.code == TransferCode.HOLD and meta.kind == PurseKind.CLIENT:
        where.append("(valid_from IS NULL OR valid_from <= %s) AND (valid_until IS NULL OR valid_until >= %s)")
        params += [_date_param(today), _date_param(today)]
    if grows_debits and meta.guarded:
        where.append("credits_posted >= debits_posted + debits_pending + %s")
        params.append(request.amount)
    if extra_where is not None:
        where.append(extra_where[0])
        params += extra_where[1]
    return f"UPDATE ledger_purse SET {', '.join(assignments)} WHERE {' AND '.join(where)}", params  # noqa: S608


def _update(cursor, *, purse_id: uuid.UUID, request: _Request, today, **kwargs) -> None:
    sql, params = _update_sql(purse_id=purse_id, request=request, today=today, **kwargs)
    cursor.execute(sql, params)
    if cursor.rowcount != 1:
        raise _refusal(purse_id, request, today)


def _apply_in_one_statement(transfer: Transfer, request: _Request, updates: list, today) -> None:
    """PostgreSQL: the whole transfer as one statement, so outside a caller's transaction it needs no BEGIN and
    no COMMIT (one round trip instead of four). Each purse UPDATE is a data-modifying WITH that only runs after
    the one before it matched (row locks keep their order); the transfer row takes its purse ids from what the
    UPDATEs returned, so if any of them did not match, a NOT NULL violation undoes the whole statement."""
    ctes: list[str] = []
    params: list = []
    for index, (purse_id, meta, changes, grows_debits) in enumerate(updates):
        if index == 0:
            extra = _hold_conditions(request, transfer.created_at) if request.pending_id is not None else None
        else:
            extra = (f"EXISTS (SELECT 1 FROM u{index - 1})", [])  # noqa: S608 - our own CTE names
        sql, update_params = _update_sql(
            purse_id=purse_id,
            meta=meta,
            changes=changes,
            grows_debits=grows_debits,
            request=request,
            today=today,
            extra_where=extra,
        )
        ctes.append(f"u{index} AS ({sql} RETURNING id)")
        params += update_params
    from_update = {
        str(purse_id): f"(SELECT id FROM u{index})"  # noqa: S608 - our own CTE names
        for index, (purse_id, *_rest) in enumerate(updates)
    }
    fields, columns, _placeholders = _insert_statement()
    values: list[str] = []
    for field in fields:
        if field.attname in ("debit_purse_id", "credit_purse_id"):
            values.append(from_update[str(getattr(transfer, field.attname))])
        else:
            values.append("%s")
            params.append(getattr(transfer, field.attname))  # psycopg adapts the Python values itself
    sql = f"WITH {', '.join(ctes)} INSERT INTO ledger_transfer {columns} VALUES ({', '.join(values)})"  # noqa: S608
    with connection.wrap_database_errors:
        prepared_cursor().execute(sql, params, prepare=True)


_VENDOR: list[str] = []


def _on_postgresql() -> bool:
    """The database's vendor, read once per process (it cannot change while the process runs). The hot path asks
    often, and every ``connection.x`` goes through Django's per-thread connection lookup."""
    if not _VENDOR:
        _VENDOR.append(connection.vendor)
    return _VENDOR[0] == "postgresql"


# psycopg adapts UUIDs, dates and aware datetimes itself; SQLite needs Django's text forms.


def _uuid_param(value: uuid.UUID | None):
    return value if _on_postgresql() else Transfer._meta.pk.get_db_prep_value(value, connection)


def _date_param(value: dt.date):
    return value if _on_postgresql() else connection.ops.adapt_datefield_value(value)


def _datetime_param(value: dt.datetime):
    return value if _on_postgresql() else connection.ops.adapt_datetimefield_value(value)


_INSERT_FIELDS = None


def _insert_statement() -> tuple[list, str, str]:
    """(fields, column list, placeholders) of a transfer INSERT, built once per process from the model."""
    global _INSERT_FIELDS  # noqa: PLW0603
    if _INSERT_FIELDS is None:
        fields = list(Transfer._meta.concrete_fields)
        columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
        _INSERT_FIELDS = (fields, f"({columns})", ", ".join(["%s"] * len(fields)))
    return _INSERT_FIELDS


def _insert(cursor, transfer: Transfer) -> None:
    fields, columns, placeholders = _insert_statement()
    cursor.execute(
        f"INSERT INTO ledger_transfer {columns} VALUES ({placeholders})",  # noqa: S608 - fixed text
        [f.get_db_prep_save(getattr(transfer, f.attname), connection) for f in fields],
    )


def _hold_conditions(request: _Request, now: dt.datetime) -> tuple[str, list]:
    """The stored hold allows this post or void: a hold on the same purses, big enough (a void: exactly the held
    amount) and, for a post, not expired. The caller's hold object is never trusted."""
    conditions = [
        "h.id = %s",
        "h.flag = 'pending'",
        "h.debit_purse_id = %s",
        "h.credit_purse_id = %s",
        "h.amount = %s" if request.flag == TransferFlag.VOID_PENDING else "h.amount >= %s",
    ]
    params = [
        _uuid_param(request.pending_id),
        _uuid_param(request.debit_purse_id),
        _uuid_param(request.credit_purse_id),
        request.amount,
    ]
    if request.flag == TransferFlag.POST_PENDING:
        conditions.append("(h.expires_at IS NULL OR h.expires_at > %s)")
        params.append(_datetime_param(now))
    return f"EXISTS (SELECT 1 FROM ledger_transfer h WHERE {' AND '.join(conditions)})", params  # noqa: S608


def _insert_resolution(cursor, transfer: Transfer, request: _Request, now: dt.datetime) -> bool:
    """SQLite: INSERT the post or void only if the stored hold allows it."""
    fields, columns, placeholders = _insert_statement()
    condition, condition_params = _hold_conditions(request, now)
    cursor.execute(
        f"INSERT INTO ledger_transfer {columns} SELECT {placeholders} WHERE {condition}",
        [f.get_db_prep_save(getattr(transfer, f.attname), connection) for f in fields] + condition_params,
    )
    return cursor.rowcount == 1


def _hold_refusal(request: _Request, *, allowed_is_none: bool = False) -> LedgerError | None:
    """Why the stored hold does not allow this post or void (read only after a refusal). With
    ``allowed_is_none``: None if the hold does allow it (the refusal came from elsewhere)."""
    hold = Transfer.objects.filter(pk=request.pending_id).first() if request.pending_id else None
    if hold is None or hold.flag != TransferFlag.PENDING:
        return HoldNotOpen(f"{request.pending_id} is not a hold")
    if (hold.debit_purse_id, hold.credit_purse_id) != (request.debit_purse_id, request.credit_purse_id):
        return HoldNotOpen(f"{hold.pk} is not a hold on these purses")
    if request.flag == TransferFlag.VOID_PENDING and request.amount != hold.amount:
        return LedgerError("a void releases the whole hold", reason="amount")
    if request.amount > hold.amount:
        return LedgerError(f"a hold of {hold.amount} can be posted for 1–{hold.amount}", reason="amount")
    if request.flag == TransferFlag.VOID_PENDING or hold.expires_at is None or hold.expires_at > clock.now():
        return None if allowed_is_none else HoldNotOpen(f"{hold.pk} cannot be resolved now")
    return HoldNotOpen(f"hold {hold.pk} expired at {hold.expires_at.isoformat() if hold.expires_at else '-'}")


def _refusal(purse_id: uuid.UUID, request: _Request, today) -> LedgerError:
    purse = Purse.objects.filter(pk=purse_id).first()
    if purse is None:
        return LedgerError("no such purse", reason="no_purse")
    if purse.closed_at is not None:
        return LedgerError(f"purse {purse.pk} is closed", reason="purse_closed")
    if (purse.valid_from and today < purse.valid_from) or (purse.valid_until and today > purse.valid_until):
        return LedgerError(
            f"the purse is valid {purse.valid_from}–{purse.valid_until}, not on {today}", reason="not_valid_now"
        )
    return InsufficientFunds(
        f"{request.amount} requested but only {purse.available_now} available in purse {purse.pk} ({purse.unit})"
    )


def _transfer_of(request: _Request, *, unit: str, actor: object | None) -> Transfer:
    """The row a request writes (not yet saved)."""
    return Transfer(
        id=request.id,
        debit_purse_id=request.debit_purse_id,
        credit_purse_id=request.credit_purse_id,
        amount=request.amount,
        unit=unit,
        code=request.code,
        flag=request.flag,
        pending_id=request.pending_id,
        expires_at=request.expires_at,
        period_start=request.period_start,
        ref_type=request.ref_type,
        ref_id=request.ref_id,
        memo=request.memo,
        actor_id=getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None,
        request_id=current_request_id(),
        fingerprint=request.fingerprint(),
        created_at=clock.now(),
    )


def _apply(request: _Request, *, actor: object | None) -> Transfer:
    """The hot path: no reads but the cached static data; one INSERT and two conditional UPDATEs. A post or void
    is checked against the stored hold inside its INSERT, and the counters move by the stored held amount."""
    metas = _meta([request.debit_purse_id, request.credit_purse_id])
    debit, credit = metas[request.debit_purse_id], metas[request.credit_purse_id]
    if debit.unit != credit.unit:
        raise LedgerError(f"units differ: {debit.unit} and {credit.unit}", reason="unit_mismatch")
    if debit.organiser_id != credit.organiser_id:
        raise LedgerError("purses belong to different organisers", reason="organiser_mismatch")
    if request.code == TransferCode.HOLD and debit.kind != PurseKind.CLIENT:
        raise LedgerError("holds are placed on client purses only", reason="not_client_purse")
    transfer = _transfer_of(request, unit=debit.unit, actor=actor)
    today = clock.today()
    updates = [
        (request.debit_purse_id, debit, *_debit_changes(request)),
        (request.credit_purse_id, credit, *_credit_changes(request)),
    ]
    # Client purses first, in id order, then system purses: every transaction takes row locks in one order.
    updates.sort(key=lambda item: (item[1].kind in SYSTEM_KINDS, str(item[0])))
    if _on_postgresql():
        _apply_in_one_statement(transfer, request, updates, today)
    else:
        with connection.cursor() as cursor:
            if request.pending_id is None:
                _insert(cursor, transfer)
            elif not _insert_resolution(cursor, transfer, request, transfer.created_at):
                raise _hold_refusal(request) or HoldNotOpen(f"{request.pending_id} cannot be resolved now")
            for purse_id, meta, changes, grows_debits in updates:
                _update(
                    cursor,
                    purse_id=purse_id,
                    meta=meta,
                    changes=changes,
                    grows_debits=grows_debits,
                    request=request,
                    today=today,
                )
    transfer._state.adding = False
    return transfer


def _execute(request: _Request, *, actor: object | None, savepoint: bool = True) -> Transfer:
    if not isinstance(request.amount, int):
        raise TypeError("ledger amounts are integers (cents, metres or trips)")
    if request.amount <= 0:
        raise LedgerError("amounts are positive integers", reason="amount")
    if not savepoint and _on_postgresql() and connection.in_atomic_block:
        # The caller's transaction has no savepoint to spare (two round trips): a refusal spoils it, the error
        # comes out as the database gave it, and the caller rolls back and asks again with a savepoint to learn
        # why (a retry of the same id, too little money, a closed purse).
        return _apply(request, actor=actor)
    try:
        if _on_postgresql() and not connection.in_atomic_block:
            # One statement in autocommit mode is its own transaction: all of it or nothing.
            return _apply(request, actor=actor)
        # Inside a caller's transaction: a savepoint, so a refusal leaves the caller's transaction usable.
        # (SQLite: one BEGIN…COMMIT around the INSERT and the UPDATEs.)
        with transaction.atomic():
            return _apply(request, actor=actor)
    except (IntegrityError, LedgerError) as exc:
        # A retry is recognised only on the way out: the id may exist (same request: its original result;
        # other content: a conflict), whatever the purse holds now.
        existing = Transfer.objects.filter(pk=request.id).first()
        if existing is not None:
            return _same_or_conflict(existing, request)
        if isinstance(exc, LedgerError):
            raise
        if request.pending_id is not None and Transfer.objects.filter(pending_id=request.pending_id).exists():
            raise HoldNotOpen(f"hold {request.pending_id} is already posted, voided or expired") from exc
        if _unmatched_update(exc):
            raise _why_unmatched(request) from exc
        if "no_overdraft" in str(exc):
            raise _refusal(request.debit_purse_id, request, clock.today()) from exc
        if "once_per_period" in str(exc):
            raise LedgerError("that period is already released or closed", reason="period_done") from exc
        raise LedgerError(f"refused by the database: {exc}", reason="constraint") from exc


def _unmatched_update(exc: IntegrityError) -> bool:
    """PostgreSQL's one-statement transfer: an UPDATE did not match, so a purse id of the INSERT was NULL."""
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "23502" and getattr(
        getattr(cause, "diag", None), "column_name", None
    ) in ("debit_purse_id", "credit_purse_id")


def _why_unmatched(request: _Request) -> LedgerError:
    """Read why a one-statement transfer was refused (only ever after a refusal)."""
    if request.pending_id is not None:
        refusal = _hold_refusal(request, allowed_is_none=True)
        if refusal is not None:
            return refusal
    today = clock.today()
    for purse_id in (request.debit_purse_id, request.credit_purse_id):
        if not Purse.objects.filter(pk=purse_id, closed_at__isnull=True).exists():
            return _refusal(purse_id, request, today)
    return _refusal(request.debit_purse_id, request, today)


# --- public services -----------------------------------------------------------------------------------


def transfer_post(
    *,
    transfer_id: uuid.UUID,
    debit: Purse,
    credit: Purse,
    amount: int,
    code: str,
    actor: object | None = None,
    period_start: dt.date | None = None,
    ref_type: str = "",
    ref_id: str = "",
    memo: str = "",
) -> Transfer:
    """Move ``amount`` at once (allocation, release, lapse, correction, rollover, payment…)."""
    return _execute(
        _Request(
            id=transfer_id,
            debit_purse_id=debit.pk,
            credit_purse_id=credit.pk,
            amount=amount,
            code=code,
            flag=TransferFlag.POSTED,
            period_start=period_start,
            ref_type=ref_type,
            ref_id=ref_id,
            memo=memo,
        ),
        actor=actor,
    )


def hold_create(
    *,
    transfer_id: uuid.UUID,
    purse: Purse,
    amount: int,
    expires_at: dt.datetime,
    actor: object | None = None,
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
    *, transfer_id: uuid.UUID, hold: Transfer, amount: int, flag: str, code: str, actor: object | None, memo: str
) -> Transfer:
    return _execute(
        _resolution(transfer_id=transfer_id, hold=hold, amount=amount, flag=flag, code=code, memo=memo), actor=actor
    )


def hold_post(
    *, transfer_id: uuid.UUID, hold: Transfer, amount: int | None = None, actor: object | None = None, memo: str = ""
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


def hold_void(*, transfer_id: uuid.UUID, hold: Transfer, actor: object | None = None, memo: str = "") -> Transfer:
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
    *, voids: list[tuple[uuid.UUID, uuid.UUID]], actor: object | None = None, memo: str = ""
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


def _write_voids(requests: list[tuple[_Request, str]], *, actor: object | None) -> None:
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


def _lock_in_order(purse_ids: set[uuid.UUID]) -> None:
    """Lock purses' rows, client purses first and each group in id order: the order every transfer takes them.
    (``ORDER BY id … FOR NO KEY UPDATE`` locks the rows in the order it returns them.) ``FOR NO KEY UPDATE`` is
    the lock the counters' own UPDATE takes: it keeps other writers of the row out, but not another transaction's
    foreign-key check of a row that references the purse (``FOR KEY SHARE``, at its commit), which ``FOR UPDATE``
    would make wait for this whole transaction."""
    kinds = dict(Purse.objects.filter(pk__in=purse_ids).values_list("pk", "kind"))
    for system in (False, True):
        group = sorted(pk for pk in purse_ids if pk in kinds and (kinds[pk] in SYSTEM_KINDS) == system)
        for start in range(0, len(group), 5_000):
            list(
                Purse.objects.select_for_update(no_key=True)
                .filter(pk__in=group[start : start + 5_000])
                .order_by("pk")
                .values_list("pk", flat=True)
            )


def purses_lock(*, purse_ids: set[uuid.UUID], with_payables: bool = False) -> None:
    """Lock purses up front, in the ledger's lock order (client purses in id order, then system purses in id
    order; docs/ledger.md), for work that moves many purses in one transaction (a trip file): it then never waits
    for a client purse while it holds a system purse. With ``with_payables`` the payables shard each client purse
    pays into is locked too (created if it does not exist yet), with the system purses. Runs in the caller's
    transaction; the locks are held until it ends."""
    ids = set(purse_ids)
    if with_payables:
        # A few shards serve all the purses: each is looked up once.
        shards = {
            (organiser_id, unit, shard_of(pk))
            for pk, organiser_id, unit, kind in Purse.objects.filter(pk__in=purse_ids).values_list(
                "pk", "organiser_id", "unit", "kind"
            )
            if kind not in SYSTEM_KINDS
        }
        ids.update(
            system_purse_id(organiser_id=organiser_id, unit=unit, kind=PurseKind.PAYABLES, shard=shard)
            for organiser_id, unit, shard in sorted(shards)
        )
    _lock_in_order(ids)


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


def transfer_correct(
    *, transfer_id: uuid.UUID, original: Transfer, actor: object, memo: str, amount: int | None = None
) -> Transfer:
    """Reverse a posted transfer (in full or in part) with a new transfer the other way."""
    if original.flag not in {TransferFlag.POSTED, TransferFlag.POST_PENDING}:
        raise LedgerError("only posted transfers are corrected; void a hold instead", reason="not_posted")
    if not memo:
        raise LedgerError("a correction says why", reason="memo")
    amount = original.amount if amount is None else amount
    with transaction.atomic():
        # Corrections of one transfer queue here, so together they never undo more than it moved.
        Transfer.objects.select_for_update().filter(pk=original.pk).values_list("pk", flat=True).get()
        if Transfer.objects.filter(pk=transfer_id).exists():  # a retry: its original answer (or a conflict)
            return _post_correction(transfer_id=transfer_id, original=original, amount=amount, actor=actor, memo=memo)
        corrected = (
            Transfer.objects.filter(
                code=TransferCode.CORRECTION, ref_type="transfer", ref_id=str(original.pk)
            ).aggregate(total=Sum("amount"))["total"]
            or 0
        )
        if corrected + amount > original.amount:
            raise LedgerError(
                f"{original.amount - corrected} of transfer {original.pk} is left to correct, not {amount}",
                reason="over_correction",
            )
        return _post_correction(transfer_id=transfer_id, original=original, amount=amount, actor=actor, memo=memo)


def _post_correction(*, transfer_id: uuid.UUID, original: Transfer, amount: int, actor: object, memo: str) -> Transfer:
    return transfer_post(
        transfer_id=transfer_id,
        debit=original.credit_purse,
        credit=original.debit_purse,
        amount=amount,
        code=TransferCode.CORRECTION,
        actor=actor,
        ref_type="transfer",
        ref_id=str(original.pk),
        memo=memo,
    )


# --- client purses and funding periods ----------------------------------------------------------------


@transaction.atomic
def client_purse_open(
    *,
    organiser: Organiser,
    client: Client,
    unit: Unit,
    valid_from: dt.date,
    valid_until: dt.date,
    period_amount: int,
    period_kind: PeriodKind = PeriodKind.ONCE,
    rollover_rule: RolloverRule = RolloverRule.ROLL,
    rollover_cap: int = 0,
    borrow_limit: int = 0,
    funding_ref: str = "",
    label: str = "",
    actor: object | None = None,
    schedule_from: dt.date | None = None,
) -> Purse:
    """Open a client purse for a budget line or entitlement: allocate the whole validity from the organiser's
    funding source into the not-yet-released purse, then release the periods that have begun. A purse for a line
    that a replacing decision adds gives ``schedule_from`` (the replaced decision's start): its first period is
    then shared by days like the other lines' (``schedules.opening_steps``)."""
    lock_audit_chain()
    if period_amount <= 0:
        raise LedgerError("the amount per period is positive", reason="amount")
    if client.organiser_id != organiser.pk:
        raise LedgerError("the client is in another organiser's register", reason="organiser_mismatch")
    if rollover_rule == RolloverRule.ROLL_CAPPED and rollover_cap < 0:
        raise LedgerError("the rollover cap is zero or more", reason="rollover_cap")
    plan = schedules.purse_open_plan(
        kind=period_kind,
        valid_from=valid_from,
        valid_until=valid_until,
        period_amount=period_amount,
        schedule_from=schedule_from,
    )
    now = clock.now()
    scheduled = Purse.objects.create(
        organiser=organiser,
        unit=unit,
        kind=PurseKind.SCHEDULED,
        client=client,
        funding_ref=funding_ref,
        label=label,  # shown with "not yet released" in the reader's language (Purse.__str__)
        valid_from=valid_from,
        valid_until=valid_until,
        debits_must_not_exceed_credits=True,
        created_at=now,
    )
    purse = Purse.objects.create(
        organiser=organiser,
        unit=unit,
        kind=PurseKind.CLIENT,
        client=client,
        funding_ref=funding_ref,
        label=label,
        scheduled=scheduled,
        valid_from=valid_from,
        valid_until=valid_until,
        period_kind=period_kind,
        period_amount=period_amount,
        rollover_rule=rollover_rule,
        rollover_cap=rollover_cap,
        borrow_limit=borrow_limit,
        debits_must_not_exceed_credits=True,
        created_at=now,
    )
    PurseAmountStep.objects.bulk_create(
        PurseAmountStep(
            purse=purse,
            seq=seq,
            effective_from=step.effective_from,
            period_amount=step.period_amount,
            until=step.until,
            ref=funding_ref[:100],
            created_at=now,
        )
        for seq, step in enumerate(plan.steps, start=1)
    )
    funding = system_purse(organiser=organiser, unit=unit, kind=PurseKind.FUNDING, shard=shard_of(purse.pk))
    count = len(plan.periods)
    if plan.allocation > 0:  # (a line added for its last few days can round to nothing)
        transfer_post(
            transfer_id=derived_id(purse.pk, "allocation"),
            debit=funding,
            credit=scheduled,
            amount=plan.allocation,
            code=TransferCode.ALLOCATION,
            actor=actor,
            ref_type="funding",
            ref_id=funding_ref[:64],
            memo=f"{count} × {period_amount} {unit}"
            if plan.allocation == count * period_amount
            else f"{count} periods, {plan.allocation} {unit} (the first shared by days)",
        )
    audit_record(
        action="ledger.purse_open",
        actor=actor,
        target=purse,
        organiser_id=organiser.pk,
        data_subject_id=getattr(client, "pk", None),
        after={
            "unit": unit,
            "period_kind": period_kind,
            "period_amount": period_amount,
            "periods": len(plan.periods),
            "allocation": plan.allocation,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "rollover_rule": rollover_rule,
            "rollover_cap": rollover_cap,
            "borrow_limit": borrow_limit,
        },
    )
    purse_release_due(purse=purse, today=clock.today())
    purse.refresh_from_db()
    return purse


def _schedule(purse: Purse) -> list[PeriodAmount]:
    """The periods the purse releases, each with its amount (``schedules.purse_schedule``)."""
    if purse.valid_from is None or purse.valid_until is None:
        raise LedgerError("a client purse has a validity", reason="no_validity")
    return schedules.purse_schedule(purse)


def _lock_twins(purse: Purse) -> Purse:
    """Lock a client purse and its not-yet-released twin, in id order like every transfer does, and return the
    client purse fresh. Maintenance work (releases, borrowing, rescheduling) takes both up front, so it never
    waits for one twin while holding the other in the opposite order to a transfer."""
    twin_id = Purse.objects.filter(pk=purse.pk).values_list("scheduled_id", flat=True).get()
    ids = sorted(str(pk) for pk in (purse.pk, twin_id) if pk is not None)
    list(Purse.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    return Purse.objects.select_related("scheduled", "organiser").get(pk=purse.pk)


def _scheduled(purse: Purse) -> Purse:
    if purse.scheduled is None:
        raise LedgerError("a client purse has a not-yet-released twin", reason="no_scheduled")
    return purse.scheduled


def _lapse(*, purse: Purse, amount: int, transfer_id: uuid.UUID, period_start: dt.date | None, memo: str) -> None:
    if amount <= 0:
        return
    lapsed = system_purse(organiser=purse.organiser, unit=purse.unit, kind=PurseKind.LAPSED, shard=shard_of(purse.pk))
    transfer_post(
        transfer_id=transfer_id,
        debit=purse,
        credit=lapsed,
        amount=amount,
        code=TransferCode.LAPSE,
        period_start=period_start,
        memo=memo,
    )


def _close_period(purse: Purse, period_start: dt.date) -> None:
    """Apply the rollover rule to what is left of a period before the next one is released. Borrowed units the
    client did not use go back to the next period first, so borrowing never costs anything."""
    purse.refresh_from_db()
    unused_borrowing = min(purse.borrowed_ahead, purse.available_now)
    if unused_borrowing > 0:
        transfer_post(
            transfer_id=derived_id(purse.pk, "unborrow", period_start),
            debit=purse,
            credit=_scheduled(purse),
            amount=unused_borrowing,
            code=TransferCode.CORRECTION,
            period_start=period_start,
            memo="borrowed but not used: back to the next period",
        )
        Purse.objects.filter(pk=purse.pk).update(borrowed_ahead=F("borrowed_ahead") - unused_borrowing)
        purse.refresh_from_db()
    if purse.rollover_rule == RolloverRule.LAPSE:
        excess = purse.available_now
    elif purse.rollover_rule == RolloverRule.ROLL_CAPPED:
        excess = purse.available_now - purse.rollover_cap
    else:
        return
    _lapse(
        purse=purse,
        amount=excess,
        transfer_id=derived_id(purse.pk, "lapse", period_start),
        period_start=period_start,
        memo=f"period from {period_start} closed ({purse.rollover_rule})",
    )


@transaction.atomic
def purse_release_due(*, purse: Purse, today: dt.date | None = None) -> int:
    """Bring a client purse up to date: close each finished period by its rollover rule, release each period
    that has begun, and at the end of the validity lapse what is left. Safe to run any number of times, also
    concurrently. Returns the number of periods released."""
    today = today or clock.today()
    if Purse.objects.filter(pk=purse.pk).values_list("kind", flat=True).get() != PurseKind.CLIENT:
        raise LedgerError("only client purses have funding periods", reason="not_client_purse")
    purse = _lock_twins(purse)
    released = 0
    for entry in _schedule(purse):
        period = entry.period
        if period.start > today:
            break
        if purse.current_period_start is not None and period.start <= purse.current_period_start:
            continue
        if purse.current_period_start is not None:
            _close_period(purse, purse.current_period_start)
        amount = entry.amount - purse.borrowed_ahead
        if amount > 0:
            transfer_post(
                transfer_id=derived_id(purse.pk, "release", period.start),
                debit=_scheduled(purse),
                credit=purse,
                amount=amount,
                code=TransferCode.RELEASE,
                period_start=period.start,
                memo=f"period {period.start}–{period.end}"
                + (f", {purse.borrowed_ahead} borrowed ahead" if purse.borrowed_ahead else ""),
            )
        Purse.objects.filter(pk=purse.pk).update(current_period_start=period.start, borrowed_ahead=0)
        purse.refresh_from_db()
        released += 1
    if purse.valid_until is not None and today > purse.valid_until:
        purse.refresh_from_db()
        scheduled = Purse.objects.get(pk=_scheduled(purse).pk)
        # Derived from the counters: a concurrent run computes the same id, a later run (after a hold is
        # voided and money comes back) a new one.
        _lapse(
            purse=purse,
            amount=purse.available_now,
            transfer_id=derived_id(purse.pk, "expired", purse.debits_posted, purse.credits_posted),
            period_start=None,
            memo=f"validity ended {purse.valid_until}",
        )
        _lapse(
            purse=scheduled,
            amount=scheduled.available_now,
            transfer_id=derived_id(scheduled.pk, "expired", scheduled.debits_posted, scheduled.credits_posted),
            period_start=None,
            memo=f"validity ended {purse.valid_until}; never released",
        )
    return released


def purses_release_due(*, today: dt.date | None = None) -> int:
    """The daily job: every client purse whose validity has begun, brought up to date."""
    today = today or clock.today()
    count = 0
    candidates = Purse.objects.filter(kind=PurseKind.CLIENT, closed_at__isnull=True, valid_from__lte=today)
    for purse_id in candidates.values_list("pk", flat=True).iterator():
        try:  # one purse that fails must not stop the others; each purse is its own transaction
            count += purse_release_due(purse=Purse(pk=purse_id), today=today)
        except Exception:
            logger.exception("releasing periods of purse %s failed", purse_id)
    return count


@transaction.atomic
def purse_borrow(*, transfer_id: uuid.UUID, purse: Purse, amount: int, actor: object | None = None) -> Transfer:
    """Take ``amount`` from the next period now, up to the purse's borrowing limit; the next release is
    smaller by as much."""
    purse = _lock_twins(purse)
    # Looked up under the lock: a concurrent identical request waits above and then finds the first one here.
    existing = Transfer.objects.filter(pk=transfer_id).first()
    schedule = _schedule(purse)
    all_periods = [entry.period for entry in schedule]
    current = period_containing(all_periods, clock.today())
    if existing is None:
        if current is None or purse.current_period_start != current.start:
            raise LedgerError("the current period has not been released", reason="not_released")
        following = period_after(all_periods, current.start)
        if following is None:
            raise LedgerError("there is no next period to borrow from", reason="no_next_period")
        next_amount = next(entry.amount for entry in schedule if entry.period.start == following.start)
        if purse.borrowed_ahead + amount > min(purse.borrow_limit, next_amount):
            raise LedgerError(
                f"at most {purse.borrow_limit - purse.borrowed_ahead} more can be borrowed", reason="borrow_limit"
            )
        period_start: dt.date | None = following.start
    else:
        period_start = existing.period_start
    transfer = transfer_post(
        transfer_id=transfer_id,
        debit=_scheduled(purse),
        credit=purse,
        amount=amount,
        code=TransferCode.BORROW,
        actor=actor,
        period_start=period_start,
        memo=f"borrowed from the period starting {period_start}",
    )
    if existing is None:
        Purse.objects.filter(pk=purse.pk).update(borrowed_ahead=F("borrowed_ahead") + amount)
    return transfer


def purse_change_preview(
    *, purse: Purse, effective_from: dt.date, period_amount: int, until: dt.date | None = None
) -> schedules.PurseChange:
    """What ``purse_reschedule`` (or, with ``period_amount`` 0, ``purse_end(ends_on=…)``) would do now, period by
    period, without changing anything: the same plan they carry out."""
    purse = Purse.objects.select_related("scheduled").get(pk=purse.pk)
    return schedules.purse_change_plan(
        purse=purse,
        scheduled_available=_scheduled(purse).available_now,
        effective_from=effective_from,
        period_amount=period_amount,
        until=until,
    )


def _change(
    *,
    purse: Purse,
    effective_from: dt.date,
    period_amount: int,
    until: dt.date | None,
    actor: object | None,
    ref: str,
    settings: dict,
    action: str,
) -> Purse:
    """Carry out ``schedules.purse_change_plan``: the allocation first, so the raises can be released from it,
    then each released period's correction (ids from purse, change and period, so a retry moves nothing twice),
    then the step and the purse's new terms; then the periods due are released at their new amounts."""
    lock_audit_chain()
    purse = _lock_twins(purse)
    if PurseAmountStep.objects.filter(purse=purse, ref=ref[:100]).exists():
        return purse  # a retry of the same change
    if purse.valid_from is None or purse.valid_until is None:
        raise LedgerError("a client purse has a validity", reason="no_validity")
    steps = schedules.steps_in_force(schedules.purse_steps(purse))
    if steps and effective_from < steps[-1].effective_from:
        raise LedgerError("a change cannot begin before the one in force began", reason="validity")
    if until is not None and until < effective_from:
        raise LedgerError("the new validity ends before the change begins", reason="validity")
    scheduled = Purse.objects.get(pk=_scheduled(purse).pk)
    plan = schedules.purse_change_plan(
        purse=purse,
        scheduled_available=scheduled.available_now,
        effective_from=effective_from,
        period_amount=period_amount,
        until=until,
    )
    funding = system_purse(organiser=purse.organiser, unit=purse.unit, kind=PurseKind.FUNDING, shard=shard_of(purse.pk))
    words = (
        f"{period_amount} {purse.unit} a period from {effective_from}" if period_amount else f"ends {plan.valid_until}"
    )
    if plan.allocation > 0:
        transfer_post(
            transfer_id=derived_id(purse.pk, "reschedule", ref),
            debit=funding,
            credit=scheduled,
            amount=plan.allocation,
            code=TransferCode.ALLOCATION,
            actor=actor,
            ref_type="funding",
            ref_id=ref[:64],
            memo=f"allocation raised: {words}",
        )
    for row in plan.periods:
        if row.correction == 0:
            continue
        raise_ = row.correction > 0
        transfer_post(
            transfer_id=derived_id(purse.pk, "period", ref, row.start),
            debit=scheduled if raise_ else purse,
            credit=purse if raise_ else funding,
            amount=abs(row.correction),
            code=TransferCode.CORRECTION,
            actor=actor,
            period_start=row.start,
            ref_type=schedules.SCHEDULE_REF,
            ref_id=ref[:64],
            memo=f"period {row.start}–{row.end} {'raised' if raise_ else 'lowered'} to {row.after}: {words}",
        )
    if plan.allocation < 0:
        transfer_post(
            transfer_id=derived_id(purse.pk, "reschedule", ref),
            debit=scheduled,
            credit=funding,
            amount=-plan.allocation,
            code=TransferCode.CORRECTION,
            actor=actor,
            ref_type="funding",
            ref_id=ref[:64],
            memo=f"allocation lowered: {words}",
        )
    last = PurseAmountStep.objects.filter(purse=purse).order_by("-seq").values_list("seq", flat=True).first()
    if last is None:  # a purse opened before steps were kept: its first step, as it was
        PurseAmountStep.objects.create(
            purse=purse,
            seq=1,
            effective_from=purse.valid_from,
            period_amount=purse.period_amount,
            until=purse.valid_until,
            ref=purse.funding_ref[:100],
            created_at=clock.now(),
        )
        last = 1
    new_step = plan.steps[-1]
    PurseAmountStep.objects.create(
        purse=purse,
        seq=last + 1,
        effective_from=new_step.effective_from,
        period_amount=new_step.period_amount,
        until=new_step.until,
        ref=ref[:100],
        created_at=clock.now(),
    )
    before = {
        "period_amount": purse.period_amount,
        "valid_until": purse.valid_until,
        "rollover_rule": purse.rollover_rule,
        "rollover_cap": purse.rollover_cap,
        "borrow_limit": purse.borrow_limit,
    }
    changes = {**settings, "valid_until": plan.valid_until}
    if period_amount > 0:
        changes["period_amount"] = period_amount
    if "borrow_limit" in changes:
        changes["borrow_limit"] = max(changes["borrow_limit"], purse.borrowed_ahead)
    Purse.objects.filter(pk=purse.pk).update(**changes)
    Purse.objects.filter(pk=scheduled.pk).update(valid_until=plan.valid_until)
    audit_record(
        action=action,
        actor=actor,
        target=purse,
        organiser_id=purse.organiser_id,
        data_subject_id=purse.client_id,
        before=before,
        after={
            **changes,
            "effective_from": effective_from,
            "moved": plan.allocation,
            "corrected": {str(r.start): r.correction for r in plan.periods if r.correction},
            "not_taken_back": {str(r.start): r.uncollected for r in plan.periods if r.uncollected},
            "ref": ref,
        },
    )
    purse_release_due(purse=purse, today=clock.today())
    purse.refresh_from_db()
    return purse


@transaction.atomic
def purse_reschedule(
    *,
    purse: Purse,
    effective_from: dt.date,
    period_amount: int,
    valid_until: dt.date,
    rollover_rule: str,
    rollover_cap: int,
    borrow_limit: int,
    actor: object | None,
    ref: str,
) -> Purse:
    """Change a running purse's amount per period from ``effective_from`` on (a replacing decision's start,
    which may be in the past, today or later) and its validity to ``valid_until``. Every period before it keeps
    what it had, a period that date cuts is shared by days, released periods are corrected at once and the
    difference in the not-yet-released allocation moves to or from the funding source; spending is never
    undone (``schedules.purse_change_plan``). Idempotent for the same ``ref``."""
    if period_amount <= 0:
        raise LedgerError("the amount per period is positive; end the purse instead", reason="amount")
    return _change(
        purse=purse,
        effective_from=effective_from,
        period_amount=period_amount,
        until=valid_until,
        actor=actor,
        ref=ref,
        settings={"rollover_rule": rollover_rule, "rollover_cap": rollover_cap, "borrow_limit": borrow_limit},
        action="ledger.purse_reschedule",
    )


@transaction.atomic
def purse_end(*, purse: Purse, actor: object | None, ref: str, ends_on: dt.date | None = None) -> Purse:
    """End a purse. With ``ends_on`` (its line is dropped by a decision replacing it from the next day): the purse
    keeps what it has up to that day and stays usable until then; a period that day cuts gets its share of days,
    the allocation beyond it goes back to the funding source, periods released beyond it are corrected at once
    (only what is still available is taken back), and what is left at the end lapses as at any end of validity.
    Without (its decision was annulled): it ends today — no new holds from now on, what is available and what
    was never released lapse. Open holds stay and can still be posted or voided; what comes back later lapses
    on the next daily run. Idempotent for the same ``ref``."""
    if ends_on is not None:
        return _change(
            purse=purse,
            effective_from=ends_on + dt.timedelta(days=1),
            period_amount=0,
            until=None,
            actor=actor,
            ref=ref,
            settings={},
            action="ledger.purse_end",
        )
    lock_audit_chain()
    purse = _lock_twins(purse)
    yesterday = clock.today() - dt.timedelta(days=1)
    before = {"valid_until": purse.valid_until}
    if purse.valid_until is None or purse.valid_until > yesterday:
        Purse.objects.filter(pk__in=[purse.pk, _scheduled(purse).pk]).update(valid_until=yesterday)
    purse_release_due(purse=purse, today=clock.today())
    audit_record(
        action="ledger.purse_end",
        actor=actor,
        target=purse,
        organiser_id=purse.organiser_id,
        data_subject_id=purse.client_id,
        before=before,
        after={"valid_until": yesterday, "ref": ref},
    )
    purse.refresh_from_db()
    return purse
