"""Transfers: the one way a transfer is applied, and posting and correcting one. Each function is one database
transaction.

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

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, fields

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from kukkaro.core import clock
from kukkaro.core.actors import Actor
from kukkaro.core.db import prepared_cursor
from kukkaro.core.middleware import current_request_id
from kukkaro.ledger.errors import HoldNotOpen, InsufficientFunds, LedgerError, TransferConflict
from kukkaro.ledger.models import (
    SYSTEM_KINDS,
    Purse,
    PurseKind,
    Transfer,
    TransferCode,
    TransferFlag,
)
from kukkaro.ledger.purses import _Meta, _meta

_NAMESPACE = uuid.UUID("6b1d3c8e-6a52-4b8e-9f0e-4b554b4b4152")


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


# --- the one way a transfer is applied -----------------------------------------------------------------


def _same_or_conflict(existing: Transfer, request: _Request) -> Transfer:
    if existing.fingerprint != request.fingerprint():
        raise TransferConflict(f"transfer {request.id} exists with different content")
    return existing


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


def _transfer_of(request: _Request, *, unit: str, actor: Actor | None) -> Transfer:
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


def _apply(request: _Request, *, actor: Actor | None) -> Transfer:
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


def _execute(request: _Request, *, actor: Actor | None, savepoint: bool = True) -> Transfer:
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


def transfer_post(
    *,
    transfer_id: uuid.UUID,
    debit: Purse,
    credit: Purse,
    amount: int,
    code: str,
    actor: Actor | None = None,
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


def transfer_correct(
    *, transfer_id: uuid.UUID, original: Transfer, actor: Actor | None, memo: str, amount: int | None = None
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


def _post_correction(
    *, transfer_id: uuid.UUID, original: Transfer, amount: int, actor: Actor | None, memo: str
) -> Transfer:
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
