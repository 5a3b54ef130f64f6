"""The audit trail: every state change, every read of a client's personal data, every sign-in.

Rows are written in the caller's transaction (a change and its audit row commit or roll back together), are
append-only, and form a keyed chain: ``hash = HMAC-SHA256(key, canonical row including seq and prev_hash)``, with
the key from the environment (``AUDIT_HMAC_KEYS``), never from the database, and its id in the row so keys can
rotate. One more sealed row, ``AuditChainHead``, says where the chain ends, so rows cut off the end show too
(ADR 0020). Appends are serialised — a transaction-scoped advisory lock on PostgreSQL, the IMMEDIATE write lock
on SQLite — so ``seq`` is contiguous and the chain has no forks. ``audit_verify`` recomputes the chain and the
head and reports every break. Rows from before the chain was keyed (empty ``key_id``) are plain SHA-256 and are
accepted only up to the sealed ``unkeyed_until_seq``.
"""

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import uuid
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from kukkaro.core import clock
from kukkaro.core.actors import Actor, SystemActor
from kukkaro.core.db import prepared_cursor
from kukkaro.core.middleware import current_request_id
from kukkaro.core.models import AuditChainHead, AuditEvent
from kukkaro.core.roles import Role

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_LOCK_KEY = 0x4B554B41  # "KUKA": one advisory lock for the audit chain
MIN_KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
# Written when an append finds the head record missing or not sealed by any known key: the append goes on (the
# service keeps working) but the evidence is sealed into the chain, and audit_verify reports it for good.
HEAD_INVALID_ACTION = "audit.head_invalid"

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
    actor: Actor | None = None
    organiser_id: int | None = None
    data_subject_id: uuid.UUID | None = None
    target: Any = None
    target_type: str = ""
    target_id: str = ""
    before: Any = None
    after: Any = None
    purpose: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Keyring:
    """The audit keys from ``AUDIT_HMAC_KEYS``: the first seals new rows, every one verifies."""

    current_id: str
    keys: dict[str, bytes]

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_id]


def parse_keyring(text: str) -> Keyring:
    """``"id:base64key,id:base64key"`` → a Keyring. Raises ImproperlyConfigured, naming the entry, on anything
    malformed: an empty list, a bad or repeated id, a key that is not base64 or shorter than 32 bytes."""
    entries = [part.strip() for part in text.split(",") if part.strip()]
    if not entries:
        raise ImproperlyConfigured("AUDIT_HMAC_KEYS is empty: give at least one key as id:base64key")
    keys: dict[str, bytes] = {}
    for number, entry in enumerate(entries, start=1):
        key_id, colon, encoded = entry.partition(":")
        if not colon or not _KEY_ID.match(key_id):
            raise ImproperlyConfigured(
                f"AUDIT_HMAC_KEYS entry {number}: write it as id:base64key, the id 1–16 letters, digits, - or _"
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"AUDIT_HMAC_KEYS: the key id {key_id!r} is given twice")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(f"AUDIT_HMAC_KEYS: the key {key_id!r} is not valid base64") from exc
        if len(key) < MIN_KEY_BYTES:
            raise ImproperlyConfigured(
                f"AUDIT_HMAC_KEYS: the key {key_id!r} has {len(key)} bytes; use at least {MIN_KEY_BYTES} random bytes"
            )
        keys[key_id] = key
    return Keyring(current_id=next(iter(keys)), keys=keys)


@lru_cache(maxsize=4)
def _keyring_of(text: str) -> Keyring:
    return parse_keyring(text)


def keyring() -> Keyring:
    return _keyring_of(settings.AUDIT_HMAC_KEYS)


class UnknownAuditKey(LookupError):
    """A row or the head names a key id that is not in AUDIT_HMAC_KEYS (retired too early, or forged)."""


@dataclass(frozen=True)
class ChainHead:
    """Where the chain ends, as the head record says. ``mac`` is None when there is no head record (an empty
    chain, or one whose record was removed); ``seq`` and ``hash`` are then those of the last row, if any."""

    seq: int
    hash: str
    key_id: str | None
    mac: str | None
    unkeyed_until_seq: int


GENESIS = ChainHead(seq=0, hash=GENESIS_HASH, key_id=None, mac=None, unkeyed_until_seq=0)


def _head_mac(key: bytes, *, seq: int, hash_: str, unkeyed_until_seq: int) -> str:
    # A prefix no canonical row has (they start with "["), so a row's seal never passes as a head's or back.
    message = f"kukkaro-audit-head:{seq}:{hash_}:{unkeyed_until_seq}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def head_seal(*, seq: int, hash_: str, unkeyed_until_seq: int) -> ChainHead:
    """The head record for a chain ending at ``seq``/``hash_``, sealed with the current key."""
    ring = keyring()
    mac = _head_mac(ring.current_key, seq=seq, hash_=hash_, unkeyed_until_seq=unkeyed_until_seq)
    return ChainHead(seq=seq, hash=hash_, key_id=ring.current_id, mac=mac, unkeyed_until_seq=unkeyed_until_seq)


def head_problem(head: ChainHead) -> str | None:
    """Why a head record cannot be trusted (``missing``, ``unknown_key``, ``seal``), or None. An empty chain
    without a record is fine."""
    if head.mac is None or head.key_id is None:
        return "missing" if head.seq > 0 else None
    key = keyring().keys.get(head.key_id)
    if key is None:
        return "unknown_key"
    expected = _head_mac(key, seq=head.seq, hash_=head.hash, unkeyed_until_seq=head.unkeyed_until_seq)
    return None if hmac.compare_digest(expected, head.mac) else "seal"


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


def event_hash(event: AuditEvent) -> str:
    """What ``event.hash`` must be: the HMAC under the row's key, or the plain SHA-256 of an unkeyed row.
    Raises UnknownAuditKey for a key id that is not configured."""
    if not event.key_id:
        return hashlib.sha256(_canonical(event)).hexdigest()
    key = keyring().keys.get(event.key_id)
    if key is None:
        raise UnknownAuditKey(event.key_id)
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


def _seal(events: list[AuditEvent], base: ChainHead) -> ChainHead:
    """Number, link and seal ``events`` after ``base`` with the current key; return the new head record."""
    ring = keyring()
    seq, prev_hash = base.seq, base.hash
    for event in events:
        seq += 1
        event.seq, event.prev_hash, event.key_id = seq, prev_hash, ring.current_id
        event.hash = prev_hash = hmac.new(ring.current_key, _canonical(event), hashlib.sha256).hexdigest()
    return head_seal(seq=seq, hash_=prev_hash, unkeyed_until_seq=base.unkeyed_until_seq)


def lock_audit_chain() -> None:
    """Take the chain's append lock now (held until commit). A transaction that both audits and touches ledger
    rows calls this first, so it never holds ledger row locks while queueing for the chain."""
    _lock_chain()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    # SQLite: transaction_mode=IMMEDIATE already holds the database write lock for the whole transaction.


def _actor_fields(actor: Actor | None) -> tuple[int | None, str, str]:
    """(actor id, label, role) of the row: a person's account; a system actor's name and the role "system" with
    no account (ADR 0028); nobody (a failed sign-in has no actor) empty."""
    if isinstance(actor, SystemActor):
        return None, actor.name, str(Role.SYSTEM)
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, "", ""
    return actor.pk, actor.get_full_name() or actor.get_username(), str(getattr(actor, "role", ""))


def _event_of(entry: AuditEntry, *, occurred_at: dt.datetime, request_id: str) -> AuditEvent:
    actor_id, actor_label, actor_role = _actor_fields(entry.actor)
    target_type, target_id = entry.target_type, entry.target_id
    if entry.target is not None:
        target_type = target_type or entry.target._meta.label_lower
        target_id = target_id or str(entry.target.pk)
    after = entry.after
    if entry.extra:
        after = {**(after or {}), **entry.extra}
    return AuditEvent(
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


def audit_record_many(entries: Iterable[AuditEntry]) -> list[AuditEvent]:
    """Append events to the chain in the current transaction (opening one if needed)."""
    entries = list(entries)
    if not entries:
        return []
    occurred_at = clock.now()
    request_id = current_request_id()
    events = [_event_of(entry, occurred_at=occurred_at, request_id=request_id) for entry in entries]
    # No savepoint of its own: an append that fails fails the caller's transaction, which is what it describes.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _append_in_database(events)
        else:
            _append(events)
    return events


def _after_checking(found: ChainHead, events: list[AuditEvent]) -> list[AuditEvent]:
    """The rows to append after the head the database gave: ``events``, preceded by a sealed evidence row when
    that head cannot be trusted. The append chains on where the head record says the chain ends, never on the
    last row it happens to find, so rows cut off the end leave a gap the next append cannot paper over; and a
    head nobody could seal is recorded, not silently replaced by a good one."""
    problem = head_problem(found)
    if problem is None:
        return events
    logger.error("audit chain head record is %s (seq %s): recording it in the chain", problem, found.seq)
    evidence = _event_of(
        AuditEntry(action=HEAD_INVALID_ACTION, after={"problem": problem, "head_seq": found.seq}),
        occurred_at=events[0].occurred_at,
        request_id=events[0].request_id,
    )
    return [evidence, *events]


def _head_record() -> AuditChainHead | None:
    return AuditChainHead.objects.order_by("-seq").first()


def _head_in_table() -> ChainHead:
    record = _head_record()
    if record is not None:
        return ChainHead(record.seq, record.hash, record.key_id, record.mac, record.unkeyed_until_seq)
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return ChainHead(last[0], last[1], None, None, 0) if last else GENESIS


def _append(events: list[AuditEvent]) -> None:
    """SQLite: the transaction's write lock serialises appends; Python reads the head, seals the rows and the
    new head, and writes both."""
    _lock_chain()
    found = _head_in_table()
    rows = _after_checking(found, events)
    head = _seal(rows, found)
    assert head.key_id is not None  # a sealed head always has its key id …
    assert head.mac is not None  # … and its seal
    AuditEvent.objects.bulk_create(rows)
    AuditChainHead.objects.filter(seq=found.seq).delete()
    AuditChainHead.objects.create(
        seq=head.seq, hash=head.hash, key_id=head.key_id, mac=head.mac, unkeyed_until_seq=head.unkeyed_until_seq
    )


# PostgreSQL: the head this process last wrote or checked, per connection, with the key ring it was checked
# under. An append sends rows already sealed on it; the database writes them only if the chain still ends there
# (one round trip), otherwise it answers with the real head without keeping the chain's lock, and the rows are
# sealed again on that (two, or more under contention).
_known_heads: "weakref.WeakKeyDictionary[Any, tuple[str, ChainHead]]" = weakref.WeakKeyDictionary()
_APPEND_SQL = "SELECT * FROM kukkaro_audit_append(%s::bigint, %s::text, %s::text, %s::jsonb, %s::jsonb)"
_OPTIMISTIC_TRIES = 3


def _payload(events: list[AuditEvent]) -> str:
    return json.dumps(
        [
            {
                "seq": event.seq,
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
                "prev_hash": event.prev_hash,
                "hash": event.hash,
                "key_id": event.key_id,
            }
            for event in events
        ],
        ensure_ascii=False,
    )


def _call_append(expected: ChainHead | None, events: list[AuditEvent], head: ChainHead | None) -> ChainHead | None:
    """One call of ``kukkaro_audit_append`` (migration core 0008). Returns None when the rows were written, or
    the chain's real head when it does not end at ``expected`` (nothing written, and the lock the call took is
    released again)."""
    new_head = None
    if head is not None:
        new_head = {
            "seq": head.seq,
            "hash": head.hash,
            "key_id": head.key_id,
            "mac": head.mac,
            "unkeyed_until_seq": head.unkeyed_until_seq,
        }
    parameters = [
        expected.seq if expected else -1,
        expected.hash if expected else "",
        expected.mac if expected else "",
        _payload(events),
        json.dumps(new_head),
    ]
    with connection.wrap_database_errors:
        cursor = prepared_cursor()
        cursor.execute(_APPEND_SQL, parameters, prepare=True)
        rows = cursor.fetchall()
    if rows and rows[0][0] is None:
        _id, _seq, seq, hash_, key_id, mac, unkeyed_until_seq = rows[0]
        return ChainHead(seq, hash_, key_id, mac, unkeyed_until_seq)
    ids = {seq: pk for pk, seq, *_head in rows}
    for event in events:
        event.pk = ids[event.seq]
        event._state.adding = False
    return None


def _append_in_database(events: list[AuditEvent]) -> None:
    """PostgreSQL: the function takes the chain's lock, compares the head and inserts the rows and the new head
    in one statement, so the lock is held only for it and the commit. When another connection appended since,
    it answers with the real head and lets the lock go at once; the rows are sealed again on that head and sent
    again. After a few such misses (heavy contention) the lock is taken for the rest of the transaction, so the
    next try cannot miss. The key never reaches the database: only sealed values do."""
    connection.ensure_connection()
    raw = connection.connection
    ring_text, known = _known_heads.get(raw, ("", None))
    if known is None or ring_text != settings.AUDIT_HMAC_KEYS:
        known = _call_append(None, [], None)  # only reads the head
    for attempt in range(_OPTIMISTIC_TRIES + 1):
        if attempt == _OPTIMISTIC_TRIES:
            _lock_chain()  # held until commit: the head cannot move any more
            known = _call_append(None, [], None)
        assert known is not None  # the read above always answers with the head
        rows = _after_checking(known, events)
        head = _seal(rows, known)
        known = _call_append(known, rows, head)
        if known is None:
            _known_heads[raw] = (settings.AUDIT_HMAC_KEYS, head)
            return
    raise RuntimeError("the audit chain's head moved while this transaction held its lock")


def audit_record(
    *,
    action: str,
    actor: Actor | None,
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


def _row_problem(event: AuditEvent, unkeyed_until_seq: int) -> str | None:
    if not event.key_id and event.seq > unkeyed_until_seq:
        return "row is not sealed with a key, but the chain was keyed before it (downgraded)"
    try:
        expected = event_hash(event)
    except UnknownAuditKey:
        return f"row is sealed with the key {event.key_id!r}, which is not in AUDIT_HMAC_KEYS"
    if not hmac.compare_digest(expected, event.hash):
        return "row content does not match its seal (edited)"
    if event.action == HEAD_INVALID_ACTION:
        problem = (event.after or {}).get("problem", "")
        return f"when this row was written the chain's head record was {problem}: rows before it may have been cut"
    return None


def _tail_problems(head: ChainHead | None, last_seq: int, last_hash: str) -> list[ChainBreak]:
    """The chain must end where its sealed head record says."""
    if head is None:
        if last_seq == 0:
            return []
        return [ChainBreak(last_seq, "the chain's head record is missing: rows may have been cut off the end")]
    breaks = []
    problem = head_problem(head)
    if problem == "unknown_key":
        breaks.append(ChainBreak(head.seq, f"the head record is sealed with the unknown key {head.key_id!r}"))
    elif problem is not None:
        breaks.append(ChainBreak(head.seq, "the head record does not match its seal (edited)"))
    if head.seq > last_seq:
        breaks.append(ChainBreak(last_seq + 1, f"rows {last_seq + 1}–{head.seq} are missing at the end (cut off)"))
    elif head.seq < last_seq:
        breaks.append(ChainBreak(head.seq + 1, f"rows {head.seq + 1}–{last_seq} are after the sealed end (added)"))
    elif head.hash != last_hash:
        breaks.append(ChainBreak(head.seq, "the last row is not the one the head record sealed (replaced)"))
    return breaks


def audit_verify(*, expected_head: str | None = None) -> tuple[int, list[ChainBreak], str]:
    """Recompute the chain and check its sealed head. Returns (rows checked, breaks, head hash). Finds an edited,
    inserted, deleted or reordered row, rows cut off the end, and rows whose seals were recomputed by someone
    without the key. ``expected_head`` is a hash kept elsewhere (e.g. printed by an earlier run); if it is not
    in the chain any more, rows were removed — the one thing the head record cannot show is the whole table and
    head put back as they were at an earlier moment, which a head kept outside the database can."""
    record = _head_record()
    head = None
    if record is not None:
        head = ChainHead(record.seq, record.hash, record.key_id, record.mac, record.unkeyed_until_seq)
    unkeyed_until_seq = head.unkeyed_until_seq if head else 0
    breaks: list[ChainBreak] = []
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for event in _iter_chain():
        count += 1
        if event.seq != expected_seq:
            breaks.append(ChainBreak(expected_seq, f"rows {expected_seq}–{event.seq - 1} are missing"))
        if event.prev_hash != prev_hash:
            breaks.append(ChainBreak(event.seq, "previous-hash link does not match the row before"))
        problem = _row_problem(event, unkeyed_until_seq)
        if problem:
            breaks.append(ChainBreak(event.seq, problem))
        expected_seq, prev_hash = event.seq + 1, event.hash
    breaks.extend(_tail_problems(head, expected_seq - 1, prev_hash))
    if expected_head is not None and not AuditEvent.objects.filter(hash=expected_head).exists():
        breaks.append(ChainBreak(expected_seq - 1, "the expected head is no longer in the chain (rows removed)"))
    return count, breaks, prev_hash


def chain_head() -> str:
    return AuditEvent.objects.order_by("-seq").values_list("hash", flat=True).first() or GENESIS_HASH
