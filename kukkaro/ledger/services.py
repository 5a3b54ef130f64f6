"""Writes to the ledger. Each function is one database transaction.

How a transfer is applied (``_apply``):
1. If a transfer with the caller's id exists, compare fingerprints: the same request returns the stored
   transfer, another request with that id is a ``TransferConflict``.
2. Read both purses' static data and check unit, organiser, validity and (for holds) expiry.
3. INSERT the transfer. Unique constraints make a hold resolvable once and a period releasable once.
4. UPDATE the counters. A purse that may not be overdrawn is updated with a conditional UPDATE that only
   matches while the funds are there — no read-modify-write window — and the CHECK constraint stands behind
   it. Client purses are updated first in id order, system purses last, so concurrent transfers always take
   row locks in the same order and cannot deadlock; the hot system rows are locked for the shortest time.

Transfers are the ledger's own audit record: immutable at the database level, with actor, time, request id,
references and memo. They are not copied into the audit hash chain (see docs/decisions/0007).
"""

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.middleware import current_request_id
from kukkaro.core.models import Organiser
from kukkaro.ledger.models import (
    SYSTEM_KINDS,
    PeriodKind,
    Purse,
    PurseKind,
    RolloverRule,
    Transfer,
    TransferCode,
    TransferFlag,
    Unit,
)
from kukkaro.ledger.periods import period_after, period_containing, periods

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
        data = {k: (str(v) if v is not None else None) for k, v in asdict(self).items() if k != "id"}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# --- system purses --------------------------------------------------------------------------------------


def system_purse(*, organiser: Organiser, unit: str, kind: str) -> Purse:
    """The organiser's system purse of a unit and kind, created on first use."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"{kind} is not a system purse kind")
    purse = Purse.objects.filter(organiser=organiser, unit=unit, kind=kind).first()
    if purse is not None:
        return purse
    try:
        with transaction.atomic():
            return Purse.objects.create(
                organiser=organiser, unit=unit, kind=kind, label=f"{kind} {unit}", created_at=clock.now()
            )
    except IntegrityError:  # created concurrently
        return Purse.objects.get(organiser=organiser, unit=unit, kind=kind)


# --- the one way a transfer is applied -----------------------------------------------------------------


def _same_or_conflict(existing: Transfer, request: _Request) -> Transfer:
    if existing.fingerprint != request.fingerprint():
        raise TransferConflict(f"transfer {request.id} exists with different content")
    return existing


def _check_purses(request: _Request, debit: Purse, credit: Purse, today: dt.date) -> None:
    if debit.unit != credit.unit:
        raise LedgerError(f"units differ: {debit.unit} and {credit.unit}", reason="unit_mismatch")
    if debit.organiser_id != credit.organiser_id:
        raise LedgerError("purses belong to different organisers", reason="organiser_mismatch")
    for purse in (debit, credit):
        if purse.closed_at is not None:
            raise LedgerError(f"purse {purse.pk} is closed", reason="purse_closed")
    outside = (debit.valid_from and today < debit.valid_from) or (debit.valid_until and today > debit.valid_until)
    if request.code == TransferCode.HOLD and debit.kind == PurseKind.CLIENT and outside:
        raise LedgerError(
            f"the purse is valid {debit.valid_from}–{debit.valid_until}, not on {today}", reason="not_valid_now"
        )


def _debit_update(purse: Purse, request: _Request, hold: Transfer | None) -> int:
    amount = request.amount
    if request.flag == TransferFlag.POSTED:
        changes = {"debits_posted": F("debits_posted") + amount}
        grows = True
    elif request.flag == TransferFlag.PENDING:
        changes = {"debits_pending": F("debits_pending") + amount}
        grows = True
    elif request.flag == TransferFlag.POST_PENDING:
        changes = {"debits_pending": F("debits_pending") - hold.amount, "debits_posted": F("debits_posted") + amount}
        grows = False
    else:  # VOID_PENDING
        changes = {"debits_pending": F("debits_pending") - hold.amount}
        grows = False
    rows = Purse.objects.filter(pk=purse.pk)
    if grows and purse.debits_must_not_exceed_credits:
        rows = rows.filter(credits_posted__gte=F("debits_posted") + F("debits_pending") + amount)
    return rows.update(**changes)


def _credit_update(purse: Purse, request: _Request, hold: Transfer | None) -> int:
    amount = request.amount
    if request.flag == TransferFlag.POSTED:
        changes = {"credits_posted": F("credits_posted") + amount}
    elif request.flag == TransferFlag.PENDING:
        changes = {"credits_pending": F("credits_pending") + amount}
    elif request.flag == TransferFlag.POST_PENDING:
        changes = {
            "credits_pending": F("credits_pending") - hold.amount,
            "credits_posted": F("credits_posted") + amount,
        }
    else:
        changes = {"credits_pending": F("credits_pending") - hold.amount}
    return Purse.objects.filter(pk=purse.pk).update(**changes)


def _insufficient(purse: Purse, amount: int) -> InsufficientFunds:
    fresh = Purse.objects.get(pk=purse.pk)
    return InsufficientFunds(
        f"{amount} requested but only {fresh.available_now} available in purse {purse.pk} ({fresh.unit})"
    )


def _apply(request: _Request, *, actor: object | None) -> Transfer:
    existing = Transfer.objects.filter(pk=request.id).first()
    if existing is not None:
        return _same_or_conflict(existing, request)
    hold = None
    if request.pending_id is not None:
        hold = Transfer.objects.filter(pk=request.pending_id).first()
        if hold is None or hold.flag != TransferFlag.PENDING:
            raise HoldNotOpen(f"{request.pending_id} is not a hold")
    purses = Purse.objects.in_bulk([request.debit_purse_id, request.credit_purse_id])
    try:
        debit, credit = purses[request.debit_purse_id], purses[request.credit_purse_id]
    except KeyError as exc:
        raise LedgerError("no such purse", reason="no_purse") from exc
    _check_purses(request, debit, credit, clock.today())
    transfer = Transfer.objects.create(
        id=request.id,
        debit_purse=debit,
        credit_purse=credit,
        amount=request.amount,
        unit=debit.unit,
        code=request.code,
        flag=request.flag,
        pending_id=request.pending_id,
        expires_at=request.expires_at,
        period_start=request.period_start,
        ref_type=request.ref_type,
        ref_id=request.ref_id,
        memo=request.memo,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        request_id=current_request_id(),
        fingerprint=request.fingerprint(),
        created_at=clock.now(),
    )
    updates = sorted(
        [(debit, _debit_update), (credit, _credit_update)],
        key=lambda item: (item[0].kind in SYSTEM_KINDS, str(item[0].pk)),
    )
    for purse, update in updates:
        if update(purse, request, hold) != 1:
            raise _insufficient(purse, request.amount)
    return transfer


def _execute(request: _Request, *, actor: object | None) -> Transfer:
    if request.amount <= 0:
        raise LedgerError("amounts are positive integers", reason="amount")
    if not isinstance(request.amount, int):
        raise TypeError("ledger amounts are integers (cents, metres or trips)")
    try:
        # Outermost: one BEGIN…COMMIT. Inside a caller's transaction: a savepoint, so a refusal leaves the
        # caller's transaction usable.
        with transaction.atomic():
            return _apply(request, actor=actor)
    except IntegrityError as exc:
        existing = Transfer.objects.filter(pk=request.id).first()
        if existing is not None:  # the same id committed concurrently
            return _same_or_conflict(existing, request)
        if request.pending_id is not None and Transfer.objects.filter(pending_id=request.pending_id).exists():
            raise HoldNotOpen(f"hold {request.pending_id} is already posted, voided or expired") from exc
        if "no_overdraft" in str(exc):
            raise _insufficient(Purse(pk=request.debit_purse_id), request.amount) from exc
        if "once_per_period" in str(exc):
            raise LedgerError("that period is already released or closed", reason="period_done") from exc
        raise LedgerError(f"refused by the database: {exc}", reason="constraint") from exc


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
) -> Transfer:
    """Reserve ``amount`` of a client purse for a payable until ``expires_at``. Refused (InsufficientFunds)
    when more than what is available now is asked."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be aware")
    if expires_at <= clock.now():
        raise LedgerError("a hold must expire in the future", reason="expiry")
    payables = system_purse(organiser=purse.organiser, unit=purse.unit, kind=PurseKind.PAYABLES)
    return _execute(
        _Request(
            id=transfer_id,
            debit_purse_id=purse.pk,
            credit_purse_id=payables.pk,
            amount=amount,
            code=TransferCode.HOLD,
            flag=TransferFlag.PENDING,
            expires_at=expires_at,
            ref_type=ref_type,
            ref_id=ref_id,
            memo=memo,
        ),
        actor=actor,
    )


def _resolve(
    *, transfer_id: uuid.UUID, hold: Transfer, amount: int, flag: str, code: str, actor: object | None, memo: str
) -> Transfer:
    return _execute(
        _Request(
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
        ),
        actor=actor,
    )


def hold_post(
    *, transfer_id: uuid.UUID, hold: Transfer, amount: int | None = None, actor: object | None = None, memo: str = ""
) -> Transfer:
    """Post a hold in full (``amount`` None) or in part; the rest goes back to the purse."""
    amount = hold.amount if amount is None else amount
    if not 0 < amount <= hold.amount:
        raise LedgerError(f"a hold of {hold.amount} can be posted for 1–{hold.amount}", reason="amount")
    if hold.expires_at is not None and hold.expires_at <= clock.now():
        existing = Transfer.objects.filter(pk=transfer_id).first()
        if existing is None:
            raise HoldNotOpen(f"hold {hold.pk} expired at {hold.expires_at.isoformat()}")
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
    """Release a hold in full."""
    return _resolve(
        transfer_id=transfer_id,
        hold=hold,
        amount=hold.amount,
        flag=TransferFlag.VOID_PENDING,
        code=TransferCode.VOID,
        actor=actor,
        memo=memo,
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
                actor=None,
                memo="hold expired",
            )
            count += 1
        except HoldNotOpen:
            continue  # posted or voided meanwhile
    return count


def transfer_correct(
    *, transfer_id: uuid.UUID, original: Transfer, actor: object, memo: str, amount: int | None = None
) -> Transfer:
    """Reverse a posted transfer (in full or in part) with a new transfer the other way."""
    if original.flag not in {TransferFlag.POSTED, TransferFlag.POST_PENDING}:
        raise LedgerError("only posted transfers are corrected; void a hold instead", reason="not_posted")
    if not memo:
        raise LedgerError("a correction says why", reason="memo")
    return transfer_post(
        transfer_id=transfer_id,
        debit=original.credit_purse,
        credit=original.debit_purse,
        amount=original.amount if amount is None else amount,
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
    client: object,
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
) -> Purse:
    """Open a client purse for a budget line or entitlement: allocate the whole validity from the organiser's
    funding source into the not-yet-released purse, then release the periods that have begun."""
    if period_amount <= 0:
        raise LedgerError("the amount per period is positive", reason="amount")
    if rollover_rule == RolloverRule.ROLL_CAPPED and rollover_cap < 0:
        raise LedgerError("the rollover cap is zero or more", reason="rollover_cap")
    all_periods = periods(kind=period_kind, valid_from=valid_from, valid_until=valid_until)
    now = clock.now()
    scheduled = Purse.objects.create(
        organiser=organiser,
        unit=unit,
        kind=PurseKind.SCHEDULED,
        client=client,
        funding_ref=funding_ref,
        label=f"{label} (not yet released)".strip(),
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
    funding = system_purse(organiser=organiser, unit=unit, kind=PurseKind.FUNDING)
    transfer_post(
        transfer_id=derived_id(purse.pk, "allocation"),
        debit=funding,
        credit=scheduled,
        amount=period_amount * len(all_periods),
        code=TransferCode.ALLOCATION,
        actor=actor,
        ref_type="funding",
        ref_id=funding_ref[:64],
        memo=f"{len(all_periods)} × {period_amount} {unit}",
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
            "periods": len(all_periods),
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


def _lapse(*, purse: Purse, amount: int, transfer_id: uuid.UUID, period_start: dt.date | None, memo: str) -> None:
    if amount <= 0:
        return
    lapsed = system_purse(organiser=purse.organiser, unit=purse.unit, kind=PurseKind.LAPSED)
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
    """Apply the rollover rule to what is left of a period before the next one is released."""
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
    purse = Purse.objects.select_for_update(of=("self",)).select_related("scheduled", "organiser").get(pk=purse.pk)
    if purse.kind != PurseKind.CLIENT:
        raise LedgerError("only client purses have funding periods", reason="not_client_purse")
    all_periods = periods(kind=purse.period_kind, valid_from=purse.valid_from, valid_until=purse.valid_until)
    released = 0
    for period in all_periods:
        if period.start > today:
            break
        if purse.current_period_start is not None and period.start <= purse.current_period_start:
            continue
        if purse.current_period_start is not None:
            _close_period(purse, purse.current_period_start)
        amount = purse.period_amount - purse.borrowed_ahead
        if amount > 0:
            transfer_post(
                transfer_id=derived_id(purse.pk, "release", period.start),
                debit=purse.scheduled,
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
    if today > purse.valid_until:
        purse.refresh_from_db()
        scheduled = Purse.objects.get(pk=purse.scheduled_id)
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
        count += purse_release_due(purse=Purse(pk=purse_id), today=today)
    return count


@transaction.atomic
def purse_borrow(*, transfer_id: uuid.UUID, purse: Purse, amount: int, actor: object | None = None) -> Transfer:
    """Take ``amount`` from the next period now, up to the purse's borrowing limit; the next release is
    smaller by as much."""
    existing = Transfer.objects.filter(pk=transfer_id).first()
    purse = Purse.objects.select_for_update().get(pk=purse.pk)
    all_periods = periods(kind=purse.period_kind, valid_from=purse.valid_from, valid_until=purse.valid_until)
    current = period_containing(all_periods, clock.today())
    if existing is None:
        if current is None or purse.current_period_start != current.start:
            raise LedgerError("the current period has not been released", reason="not_released")
        following = period_after(all_periods, current.start)
        if following is None:
            raise LedgerError("there is no next period to borrow from", reason="no_next_period")
        if purse.borrowed_ahead + amount > min(purse.borrow_limit, purse.period_amount):
            raise LedgerError(
                f"at most {purse.borrow_limit - purse.borrowed_ahead} more can be borrowed", reason="borrow_limit"
            )
        period_start = following.start
    else:
        period_start = existing.period_start
    transfer = transfer_post(
        transfer_id=transfer_id,
        debit=purse.scheduled,
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
