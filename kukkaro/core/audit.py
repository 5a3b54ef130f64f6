"""The audit trail: every state change, every read of a client's personal data, every sign-in.

Rows are written in the caller's transaction (a change and its audit row commit or roll back together), are
append-only, and form a hash chain: ``hash = sha256(prev_hash || canonical row)``. Appends are serialised — a
transaction-scoped advisory lock on PostgreSQL, the IMMEDIATE write lock on SQLite — so ``seq`` is contiguous
and the chain has no forks. ``audit_verify`` recomputes the chain and reports the first broken row.
"""

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from kukkaro.core import clock
from kukkaro.core.db import prepared_cursor
from kukkaro.core.middleware import current_request_id
from kukkaro.core.models import AuditEvent

GENESIS_HASH = "0" * 64
_LOCK_KEY = 0x4B554B41  # "KUKA": one advisory lock for the audit chain

# Why a client's data was read; shown to the client in plain language (see portal templates).
PURPOSE_CASEWORK = "casework"
PURPOSE_SEARCH = "search"
PURPOSE_ACCESS_LOG_REVIEW = "access_log_review"
PURPOSE_SELF_SERVICE = "self_service"
PURPOSE_SUPPORT = "support"
PURPOSE_CLAIMS = "claims"
PURPOSE_TRIPS = "trips"


@dataclass
class AuditEntry:
    """What a caller says about one event; the chain fields are filled in when it is appended."""

    action: str
    kind: str = AuditEvent.Kind.CHANGE
    actor: Any = None
    organiser_id: int | None = None
    data_subject_id: uuid.UUID | None = None
    target: Any = None
    target_type: str = ""
    target_id: str = ""
    before: Any = None
    after: Any = None
    purpose: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        # PostgreSQL's jsonb may give a float back in another form (1e16 → 10000000000000000) and break the hash.
        raise TypeError("audit values are never floats: use integers (cents, metres) or strings")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_floats(item)


def _normalise(value: Any) -> Any:
    """JSON round-trip, so that what is hashed is exactly what the JSONField will give back."""
    if value is None:
        return None
    normalised = json.loads(json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True))
    _refuse_floats(normalised)
    return normalised


def _canonical_row(event: AuditEvent) -> list[Any]:
    occurred = event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return [
        event.seq,
        occurred,
        event.kind,
        event.action,
        event.actor_id,
        event.actor_label,
        event.actor_role,
        event.organiser_id,
        str(event.data_subject_id) if event.data_subject_id else None,
        event.target_type,
        event.target_id,
        event.before,
        event.after,
        event.purpose,
        event.request_id,
        event.prev_hash,
    ]


def _dumps(row: list[Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(event: AuditEvent) -> bytes:
    return _dumps(_canonical_row(event)).encode()


def _canonical_middle(event: AuditEvent) -> str:
    """The canonical form without its first element (``seq``) and its last (``prev_hash``): what PostgreSQL's
    ``kukkaro_audit_append`` puts them around (``[seq,middle,"prev_hash"]``) under the chain's lock."""
    return _dumps(_canonical_row(event)[1:-1])[1:-1]


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def lock_audit_chain() -> None:
    """Take the chain's append lock now (held until commit). A transaction that both audits and touches ledger
    rows calls this first, so it never holds ledger row locks while queueing for the chain."""
    _lock_chain()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    # SQLite: transaction_mode=IMMEDIATE already holds the database write lock for the whole transaction.


def _actor_fields(actor: Any) -> tuple[int | None, str, str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, "", ""
    return actor.pk, actor.get_full_name() or actor.get_username(), str(getattr(actor, "role", ""))


def audit_record_many(entries: Iterable[AuditEntry]) -> list[AuditEvent]:
    """Append events to the chain in the current transaction (opening one if needed)."""
    entries = list(entries)
    if not entries:
        return []
    occurred_at = clock.now()
    request_id = current_request_id()
    events = []
    for entry in entries:
        actor_id, actor_label, actor_role = _actor_fields(entry.actor)
        target_type, target_id = entry.target_type, entry.target_id
        if entry.target is not None:
            target_type = target_type or entry.target._meta.label_lower
            target_id = target_id or str(entry.target.pk)
        after = entry.after
        if entry.extra:
            after = {**(after or {}), **entry.extra}
        events.append(
            AuditEvent(
                occurred_at=occurred_at,
                kind=str(entry.kind),
                action=entry.action,
                actor_id=actor_id,
                actor_label=actor_label,
                actor_role=actor_role,
                organiser_id=entry.organiser_id,
                data_subject_id=uuid.UUID(str(entry.data_subject_id)) if entry.data_subject_id else None,
                target_type=target_type,
                target_id=str(target_id),
                before=_normalise(entry.before),
                after=_normalise(after),
                purpose=entry.purpose,
                request_id=request_id,
            )
        )
    # No savepoint of its own: an append that fails fails the caller's transaction, which is what it describes.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _append_in_database(events)
        else:
            _append(events)
    return events


def _append(events: list[AuditEvent]) -> None:
    """SQLite: the transaction's write lock serialises appends; the head is read and the rows chained here."""
    _lock_chain()
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = last if last else (0, GENESIS_HASH)
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, prev_hash
        event.hash = prev_hash = event_hash(event)
    AuditEvent.objects.bulk_create(events)


def _append_in_database(events: list[AuditEvent]) -> None:
    """PostgreSQL: one call of ``kukkaro_audit_append`` (migration core 0007) takes the lock, reads the head and
    inserts the rows, hashing each one's canonical form as ``_canonical`` does. The chain's lock is then held
    only for that statement and the commit."""
    payload = [
        {
            "middle": _canonical_middle(event),
            "occurred_at": event.occurred_at.isoformat(),
            "kind": event.kind,
            "action": event.action,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "actor_role": event.actor_role,
            "organiser_id": event.organiser_id,
            "data_subject_id": str(event.data_subject_id) if event.data_subject_id else None,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "before": event.before,
            "after": event.after,
            "purpose": event.purpose,
            "request_id": event.request_id,
        }
        for event in events
    ]
    with connection.wrap_database_errors:
        cursor = prepared_cursor()
        cursor.execute(
            "SELECT * FROM kukkaro_audit_append(%s::jsonb)", [json.dumps(payload, ensure_ascii=False)], prepare=True
        )
        rows = cursor.fetchall()
    for event, (pk, seq, prev_hash, hash_) in zip(events, rows, strict=True):
        event.pk, event.seq, event.prev_hash, event.hash = pk, seq, prev_hash, hash_
        event._state.adding = False


def audit_record(
    *,
    action: str,
    actor: Any,
    kind: str = AuditEvent.Kind.CHANGE,
    target: Any = None,
    organiser_id: int | None = None,
    data_subject_id: uuid.UUID | None = None,
    before: Any = None,
    after: Any = None,
    purpose: str = "",
    target_type: str = "",
    target_id: str = "",
) -> AuditEvent:
    """Append one event. Call it inside the transaction that makes the change it describes."""
    (event,) = audit_record_many(
        [
            AuditEntry(
                action=action,
                kind=kind,
                actor=actor,
                target=target,
                organiser_id=organiser_id,
                data_subject_id=data_subject_id,
                before=before,
                after=after,
                purpose=purpose,
                target_type=target_type,
                target_id=target_id,
            )
        ]
    )
    return event


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def _iter_chain(batch_size: int = 5000) -> Iterator[AuditEvent]:
    last_seq = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last_seq = batch[-1].seq


def audit_verify(*, expected_head: str | None = None) -> tuple[int, list[ChainBreak], str]:
    """Recompute the chain. Returns (rows checked, breaks, head hash). ``expected_head`` is a hash kept
    elsewhere (e.g. printed by an earlier run); if it is not in the chain any more, rows were removed."""
    breaks: list[ChainBreak] = []
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for event in _iter_chain():
        count += 1
        if event.seq != expected_seq:
            breaks.append(ChainBreak(expected_seq, f"rows {expected_seq}–{event.seq - 1} are missing"))
        if event.prev_hash != prev_hash:
            breaks.append(ChainBreak(event.seq, "previous-hash link does not match the row before"))
        if event_hash(event) != event.hash:
            breaks.append(ChainBreak(event.seq, "row content does not match its hash (edited)"))
        expected_seq, prev_hash = event.seq + 1, event.hash
    if expected_head is not None and not AuditEvent.objects.filter(hash=expected_head).exists():
        breaks.append(ChainBreak(expected_seq - 1, "the expected head is no longer in the chain (rows removed)"))
    return count, breaks, prev_hash


def chain_head() -> str:
    return AuditEvent.objects.order_by("-seq").values_list("hash", flat=True).first() or GENESIS_HASH
