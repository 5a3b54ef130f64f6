import base64
import datetime as dt
import hashlib
import hmac
import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from kukkaro.core import audit, clock
from kukkaro.core.audit import GENESIS_HASH, audit_record, audit_verify, chain_head
from kukkaro.core.models import AuditChainHead, AuditEvent
from kukkaro.core.roles import Role
from kukkaro.people import services
from tests.factories import client_in, make_user

pytestmark = pytest.mark.django_db


def _events(n: int) -> list[AuditEvent]:
    return [audit_record(action="test.event", actor=None, after={"n": i, "name": "Äänekoski"}) for i in range(n)]


def _tamper(sql: str, params: list) -> None:
    """Bypass the append-only trigger, as an attacker with table-owner rights could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A superuser can switch user triggers off for the session; the chain must still tell.
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql, params)
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS core_auditevent_no_update")
            cursor.execute(sql, params)


def test_audit_record__chains_rows_from_genesis():
    first, second, third = _events(3)
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert audit_verify() == (3, [], third.hash)


def test_audit_record_many__one_call_chains_every_row_as_python_hashes_it():
    """On PostgreSQL the rows go through ``kukkaro_audit_append`` as JSON; what the database stores must give back
    byte for byte the canonical form Python sealed, with any text, nested values, the actor and the data subject."""
    from kukkaro.core.audit import AuditEntry, audit_record_many, event_hash

    actor = make_user(Role.SOCIAL_WORKER)
    subject = client_in("lansi-uusimaa")
    first = _events(1)[0]
    entries = [
        AuditEntry(action="test.many", actor=actor, organiser_id=actor.organiser_id, after={"i": i, "text": text})
        for i, text in enumerate(["Åbo – Turku", 'quote " and \\ backslash', "emoji 🚕", "\u2028 line"])
    ]
    entries.append(
        AuditEntry(
            action="test.many",
            kind=AuditEvent.Kind.READ,
            actor=actor,
            data_subject_id=subject.pk,
            target=subject,
            before={"nested": {"b": [1, 2, {"c": None}], "a": True}},
            purpose="casework",
        )
    )
    events = audit_record_many(entries)
    assert [e.seq for e in events] == [first.seq + n for n in range(1, 6)]
    assert events[0].prev_hash == first.hash
    stored = list(AuditEvent.objects.filter(seq__gt=first.seq).order_by("seq"))
    assert [(e.pk, e.hash) for e in stored] == [(e.pk, e.hash) for e in events]
    assert all(event_hash(row) == row.hash for row in stored)
    assert stored[-1].data_subject_id == subject.pk and stored[-1].before == {
        "nested": {"a": True, "b": [1, 2, {"c": None}]}
    }
    assert audit_verify() == (events[-1].seq, [], events[-1].hash)


def test_audit_record__stores_actor_request_and_time():
    actor = make_user(Role.SOCIAL_WORKER)
    at = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    with clock.pinned(at):
        event = audit_record(action="x.y", actor=actor, before={"a": 1}, after={"a": 2})
    event.refresh_from_db()
    assert (event.actor_id, event.actor_role, event.occurred_at) == (actor.pk, "social_worker", at)
    assert event.actor_label == actor.get_full_name()
    assert (event.before, event.after) == ({"a": 1}, {"a": 2})


def test_state_change__and_audit_row__roll_back_together():
    actor = make_user(Role.ADMIN)
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.user_set_active(actor=actor, user=actor, active=False)
        raise RuntimeError("abort")
    actor.refresh_from_db()
    assert actor.is_active and AuditEvent.objects.count() == before


def test_audit_verify__edited_row__is_detected():
    events = _events(5)
    _tamper("UPDATE core_auditevent SET after = %s WHERE seq = %s", ['{"n": 99}', events[2].seq])
    count, breaks, _head = audit_verify()
    assert count == 5
    assert [(b.seq, "edited" in b.reason) for b in breaks] == [(events[2].seq, True)]


def test_audit_verify__edited_row_with_recomputed_hash__breaks_the_next_link():
    events = _events(4)
    row = AuditEvent.objects.get(seq=events[1].seq)
    row.action = "forged"
    forged = hmac.new(b"a guess at the key" * 2, audit._canonical(row), hashlib.sha256).hexdigest()
    _tamper("UPDATE core_auditevent SET action = %s, hash = %s WHERE seq = %s", ["forged", forged, row.seq])
    _count, breaks, _head = audit_verify()
    assert [b.seq for b in breaks] == [events[1].seq, events[2].seq]


def test_audit_verify__deleted_row__is_detected():
    events = _events(4)
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [events[1].seq])
    _count, breaks, _head = audit_verify()
    assert any("missing" in b.reason for b in breaks)


def test_audit_verify__head_record_replayed_from_earlier__caught_only_with_expected_head():
    """The one thing the sealed head cannot show: the table and its head record put back exactly as they were
    at an earlier moment (by someone who kept a copy of the head record then). A head kept outside the database
    — printed by the nightly ``audit_verify`` — shows it, so ``--expect-head`` stays."""
    events = _events(3)
    earlier = AuditChainHead.objects.values().get()
    audit_record(action="test.event", actor=None)
    outside = chain_head()
    _tamper("DELETE FROM core_auditevent WHERE seq > %s", [events[-1].seq])
    AuditChainHead.objects.all().delete()
    AuditChainHead.objects.create(**earlier)
    assert audit_verify()[1] == []
    assert audit_verify(expected_head=outside)[1]


def test_audit_verify__expected_head_kept_elsewhere__catches_its_removal():
    events = _events(3)
    outside = chain_head()
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [events[-1].seq])
    assert audit_verify(expected_head=outside)[1]


def test_audit_verify_command__exits_non_zero_on_edit(capsys):
    events = _events(2)
    call_command("audit_verify")
    assert "intact: 2 rows" in capsys.readouterr().out
    _tamper("UPDATE core_auditevent SET actor_label = %s WHERE seq = %s", ["Mallory", events[0].seq])
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify")


def test_database__refuses_update_of_audit_rows():
    (event,) = _events(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="changed")


def test_database__delete_of_audit_rows__refused_on_postgresql_caught_on_sqlite(on_postgres):
    first, _second = _events(2)
    if on_postgres:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=first.pk).delete()
    else:
        # SQLite keeps DELETE possible for the test runner's flush (see migration 0003); the chain catches it.
        AuditEvent.objects.filter(pk=first.pk).delete()
        assert audit_verify()[1]


def test_client_create__writes_change_event_about_the_client():
    client = client_in("lansi-uusimaa", first_names="Helmi")
    event = AuditEvent.objects.get(action="client.create", data_subject_id=client.pk)
    assert event.kind == "change" and event.after["first_names"] == "Helmi"


def test_client_update__records_only_changed_fields_before_and_after():
    actor = make_user(Role.SOCIAL_WORKER)
    client = client_in("lansi-uusimaa", first_names="Helmi")
    services.client_update(actor=actor, client=client, phone="+358 40 123 4567", first_names="Helmi")
    event = AuditEvent.objects.get(action="client.update", data_subject_id=client.pk)
    assert event.before == {"phone": ""} and event.after == {"phone": "+358 40 123 4567"}


def test_audit_verify_job__records_its_result():
    from kukkaro.core.tasks import audit_verify_job

    _events(2)
    result = audit_verify_job.enqueue()
    assert result.return_value["problems"] == 0
    assert AuditEvent.objects.filter(action="audit.verify").count() == 1


def test_audit_record__uuid_given_as_text__still_verifies():
    client = client_in("lansi-uusimaa")
    audit_record(action="test.event", actor=None, data_subject_id=str(client.pk).upper())
    assert audit_verify()[1] == []


def test_audit_record__floats__are_refused():
    with pytest.raises(TypeError, match="floats"):
        audit_record(action="test.event", actor=None, after={"amount": 12.5})


# --- The keyed chain (ADR 0020): what someone with write access to the database but without the key can do. ---

GUESSED_KEY = b"not the key, but the attacker's best guess at it"


def _forge(row: AuditEvent, *, key_id: str = "dev") -> str:
    """The seal an attacker computes: the right algorithm and key id, the wrong key (or plain SHA-256)."""
    if not key_id:
        return hashlib.sha256(audit._canonical(row)).hexdigest()
    return hmac.new(GUESSED_KEY, audit._canonical(row), hashlib.sha256).hexdigest()


def _forge_head(*, seq: int, hash_: str) -> None:
    mac = hmac.new(GUESSED_KEY, f"kukkaro-audit-head:{seq}:{hash_}:0".encode(), hashlib.sha256).hexdigest()
    AuditChainHead.objects.all().delete()
    AuditChainHead.objects.create(seq=seq, hash=hash_, key_id="dev", mac=mac)


def _rewrite_from(seq: int, *, key_id: str = "dev", change=None) -> None:
    """Change the row at ``seq`` (if ``change``), then re-seal it, every later row and the head record as an
    attacker without the key would: a chain that links up again."""
    rows = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
    prev_hash = AuditEvent.objects.filter(seq=seq - 1).values_list("hash", flat=True).first() or GENESIS_HASH
    if change:
        change(rows[0])
    for row in rows:
        row.prev_hash, row.key_id = prev_hash, key_id
        row.hash = prev_hash = _forge(row, key_id=key_id)
        after = audit._dumps(row.after) if row.after is not None else None
        _tamper(
            "UPDATE core_auditevent SET action = %s, after = %s, prev_hash = %s, hash = %s, key_id = %s WHERE seq = %s",
            [row.action, after, row.prev_hash, row.hash, key_id, row.seq],
        )
    _forge_head(seq=rows[-1].seq, hash_=prev_hash)


def _swap(a: int, b: int) -> None:
    _tamper("UPDATE core_auditevent SET seq = %s WHERE seq = %s", [1_000_000, a])
    _tamper("UPDATE core_auditevent SET seq = %s WHERE seq = %s", [a, b])
    _tamper("UPDATE core_auditevent SET seq = %s WHERE seq = %s", [b, 1_000_000])


def _reasons(breaks) -> str:
    return " | ".join(b.reason for b in breaks)


def test_audit_record__seals_each_row_and_the_head_with_the_current_key():
    _first, second = _events(2)
    stored = AuditEvent.objects.get(pk=second.pk)
    assert (stored.key_id, stored.hash) == ("dev", second.hash)
    key = audit.keyring().current_key
    assert stored.hash == hmac.new(key, audit._canonical(stored), hashlib.sha256).hexdigest()
    assert stored.hash != hashlib.sha256(audit._canonical(stored)).hexdigest()
    head = AuditChainHead.objects.get()
    assert (head.seq, head.hash, head.key_id) == (second.seq, second.hash, "dev")
    assert audit.head_problem(audit.ChainHead(head.seq, head.hash, head.key_id, head.mac, 0)) is None


def test_audit_verify__edited_row_with_every_later_seal_recomputed__is_detected():
    events = _events(5)

    def edit(row):
        row.after = {"n": 99, "name": "Mallory"}

    _rewrite_from(events[2].seq, change=edit)
    breaks = audit_verify()[1]
    assert {b.seq for b in breaks} >= {events[2].seq, events[3].seq, events[4].seq}
    assert "edited" in _reasons(breaks)


def test_audit_verify__edited_row_rehashed_as_unkeyed_rows__is_detected():
    """Re-hashing the rows as unkeyed ones (as rows were before ADR 0020) does not pass either."""
    events = _events(4)
    _rewrite_from(events[1].seq, key_id="", change=lambda row: setattr(row, "action", "forged"))
    reasons = _reasons(audit_verify()[1])
    assert "downgraded" in reasons and "head record does not match its seal" in reasons


def test_audit_verify__deleted_row_with_later_rows_renumbered_and_resealed__is_detected():
    events = _events(5)
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [events[2].seq])
    for row in AuditEvent.objects.filter(seq__gt=events[2].seq).order_by("seq"):
        _tamper("UPDATE core_auditevent SET seq = %s WHERE seq = %s", [row.seq - 1, row.seq])
    _rewrite_from(events[2].seq)
    assert "edited" in _reasons(audit_verify()[1])


def test_audit_verify__reordered_rows__are_detected():
    events = _events(4)
    a, b = events[1].seq, events[2].seq
    _swap(a, b)
    assert {x.seq for x in audit_verify()[1]} >= {a, b}


def test_audit_verify__reordered_rows_relinked_and_resealed__are_detected():
    events = _events(4)
    a, b = events[1].seq, events[2].seq
    _swap(a, b)
    _rewrite_from(a)
    breaks = audit_verify()[1]
    assert {x.seq for x in breaks} >= {a, b} and "edited" in _reasons(breaks)


@pytest.mark.parametrize("cut", [1, 3])
def test_audit_verify__cut_tail__is_detected_without_an_outside_head(cut):
    events = _events(6)
    _tamper("DELETE FROM core_auditevent WHERE seq > %s", [events[-1 - cut].seq])
    breaks = audit_verify()[1]
    assert [b.reason for b in breaks] == [f"rows {events[-cut].seq}–{events[-1].seq} are missing at the end (cut off)"]


def test_audit_verify_command__cut_tail__exits_non_zero(capsys):
    events = _events(3)
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [events[-1].seq])
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify")
    assert "cut off" in capsys.readouterr().err


def test_audit_verify__cut_tail_with_the_head_record_rewritten__is_detected():
    events = _events(6)
    _tamper("DELETE FROM core_auditevent WHERE seq > %s", [events[2].seq])
    _forge_head(seq=events[2].seq, hash_=events[2].hash)
    assert "head record does not match its seal" in _reasons(audit_verify()[1])


def test_audit_verify__cut_tail_with_the_head_record_removed__is_detected():
    events = _events(6)
    _tamper("DELETE FROM core_auditevent WHERE seq > %s", [events[2].seq])
    AuditChainHead.objects.all().delete()
    assert "head record is missing" in _reasons(audit_verify()[1])


def test_audit_verify__every_row_removed_but_the_head__is_detected():
    _events(2)
    _tamper("DELETE FROM core_auditevent", [])
    assert "missing at the end" in _reasons(audit_verify()[1])


def test_audit_record__after_a_cut_tail__chains_on_the_sealed_end_so_the_gap_stays():
    """The next append continues where the head record says, not where the rows now end, so ordinary use
    cannot paper over a cut."""
    events = _events(5)
    _tamper("DELETE FROM core_auditevent WHERE seq > %s", [events[2].seq])
    after = audit_record(action="test.event", actor=None)
    assert (after.seq, after.prev_hash) == (events[-1].seq + 1, events[-1].hash)
    assert "missing" in _reasons(audit_verify()[1])


def test_audit_record__after_a_forged_head__seals_the_evidence_into_the_chain():
    """A head record nobody with the key wrote: the append goes on (the service keeps working), the evidence is
    sealed into the chain, and audit_verify reports it from then on."""
    events = _events(5)
    _tamper("DELETE FROM core_auditevent WHERE seq > %s", [events[2].seq])
    _forge_head(seq=events[2].seq, hash_=events[2].hash)
    after = audit_record(action="test.event", actor=None)
    evidence = AuditEvent.objects.get(seq=after.seq - 1)
    assert (evidence.action, evidence.after) == ("audit.head_invalid", {"problem": "seal", "head_seq": events[2].seq})
    breaks = audit_verify()[1]
    assert [b.seq for b in breaks] == [evidence.seq]
    assert "rows before it may have been cut" in breaks[0].reason


def test_audit_record__head_record_removed__seals_the_evidence_into_the_chain():
    events = _events(3)
    AuditChainHead.objects.all().delete()
    audit_record(action="test.event", actor=None)
    evidence = AuditEvent.objects.get(seq=events[-1].seq + 1)
    assert evidence.after == {"problem": "missing", "head_seq": events[-1].seq}


def test_audit_record__known_head_out_of_date__chains_on_the_real_head(settings):
    """PostgreSQL keeps the head this connection last wrote; when another connection has appended since, the
    database answers with the real head and the rows are sealed again on it."""
    first, second = _events(2)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        stale = audit.head_seal(seq=first.seq, hash_=first.hash, unkeyed_until_seq=0)
        audit._known_heads[connection.connection] = (settings.AUDIT_HMAC_KEYS, stale)
    third = audit_record(action="test.event", actor=None)
    assert (third.seq, third.prev_hash) == (second.seq + 1, second.hash)
    assert audit_verify() == (3, [], third.hash)


ROTATED = "new:" + base64.b64encode(b"the next audit key, 32 bytes or more").decode()


def test_audit_keys__rotated__old_rows_verify_with_the_old_key_new_rows_use_the_new(settings):
    old = _events(2)
    settings.AUDIT_HMAC_KEYS = f"{ROTATED},{settings.AUDIT_HMAC_KEYS}"
    new = _events(2)
    assert [e.key_id for e in old + new] == ["dev", "dev", "new", "new"]
    assert AuditChainHead.objects.get().key_id == "new"
    assert audit_verify() == (4, [], new[-1].hash)


def test_audit_keys__retired_too_early__rows_under_it_are_reported(settings):
    """A key must stay in AUDIT_HMAC_KEYS as long as rows sealed with it are kept. Without it, those rows and
    the head cannot be checked; the next append records that in the chain."""
    _events(2)
    settings.AUDIT_HMAC_KEYS = ROTATED
    _events(1)
    breaks = audit_verify()[1]
    assert [b.seq for b in breaks] == [1, 2, 3]
    assert "'dev', which is not in AUDIT_HMAC_KEYS" in _reasons(breaks)
    assert AuditEvent.objects.get(seq=3).after == {"problem": "unknown_key", "head_seq": 2}


KEY_32 = base64.b64encode(b"x" * 32).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("nokey", "id:base64key"),
        (f"bad id!:{KEY_32}", "id:base64key"),
        ("a:not base64", "not valid base64"),
        ("a:" + base64.b64encode(b"short").decode(), "at least 32"),
        (f"a:{KEY_32},a:{KEY_32}", "twice"),
    ],
)
def test_parse_keyring__malformed__is_refused(text, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        audit.parse_keyring(text)


def test_parse_keyring__first_key_is_current():
    ring = audit.parse_keyring(f"{ROTATED}, dev:{KEY_32}")
    assert ring.current_id == "new" and set(ring.keys) == {"new", "dev"}


def _unkeyed_rows(n: int) -> list[AuditEvent]:
    """Rows as they were written before ADR 0020: plain SHA-256, no key id."""
    rows, prev_hash = [], GENESIS_HASH
    for i in range(1, n + 1):
        row = AuditEvent(
            seq=i, occurred_at=clock.now(), kind="change", action="old.event", after={"i": i}, prev_hash=prev_hash
        )
        row.hash = prev_hash = hashlib.sha256(audit._canonical(row)).hexdigest()
        rows.append(row)
    return AuditEvent.objects.bulk_create(rows)


def _run_migration_seal() -> None:
    migration = importlib.import_module("kukkaro.core.migrations.0008_keyed_audit_chain")

    class SchemaEditor:
        pass

    editor = SchemaEditor()
    editor.connection = connection
    migration.seal_unkeyed_rows(django_apps, editor)


def test_upgrade__unkeyed_rows__verify_the_old_way_up_to_the_sealed_mark():
    unkeyed = _unkeyed_rows(3)
    _run_migration_seal()
    assert AuditChainHead.objects.get().unkeyed_until_seq == 3
    assert audit_verify() == (3, [], unkeyed[-1].hash)
    keyed = _events(2)
    assert (keyed[0].prev_hash, keyed[0].key_id) == (unkeyed[-1].hash, "dev")
    assert AuditChainHead.objects.get().unkeyed_until_seq == 3
    assert audit_verify() == (5, [], keyed[-1].hash)


def test_upgrade__rows_after_the_mark_rehashed_unkeyed__are_detected():
    _unkeyed_rows(3)
    _run_migration_seal()
    _events(2)
    _rewrite_from(2, key_id="", change=lambda row: setattr(row, "action", "forged"))
    assert "downgraded" in _reasons(audit_verify()[1])


def test_upgrade__unkeyed_rows_edited_and_rehashed__no_longer_match_the_sealed_head():
    _unkeyed_rows(3)
    _run_migration_seal()
    _rewrite_from(2, key_id="", change=lambda row: setattr(row, "action", "forged"))
    AuditChainHead.objects.update(unkeyed_until_seq=3)  # as sealed; only hash and mac were forged
    assert "head record does not match its seal" in _reasons(audit_verify()[1])


def test_audit_record__head_known_to_the_connection__is_one_call_on_postgresql(monkeypatch, on_postgres):
    """ADR 0015's one round trip survives keying: with the head this connection wrote last, an append is one
    call of ``kukkaro_audit_append``; SQLite appends in Python."""
    _events(1)
    calls = []
    original = audit._call_append
    monkeypatch.setattr(audit, "_call_append", lambda *args: calls.append(args) or original(*args))
    _events(1)
    assert len(calls) == (1 if on_postgres else 0)


def _chain_lock_held() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND pid = pg_backend_pid()",
            [audit._LOCK_KEY],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)  # each append commits, as in use: no test transaction holds the lock
def test_audit_append__stale_head__lets_the_chain_lock_go_at_once(on_postgres):
    """A call that finds the chain moved on writes nothing and does not keep the lock, so other appends are not
    held up while this one seals its rows again (PostgreSQL; SQLite's lock is the whole transaction)."""
    if not on_postgres:
        assert audit_record(action="test.event", actor=None).seq == 1
        return
    _events(1)
    with transaction.atomic():
        assert audit._call_append(None, [], None) is not None
        assert not _chain_lock_held()
        audit_record(action="test.event", actor=None)
        assert _chain_lock_held()  # a write keeps it until commit, as before
    assert audit_verify()[1] == []


def test_audit_append__contended_past_the_tries__takes_the_lock_and_succeeds(monkeypatch, settings, on_postgres):
    first, _second = _events(2)
    monkeypatch.setattr(audit, "_OPTIMISTIC_TRIES", 0)
    if on_postgres:
        stale = audit.head_seal(seq=first.seq, hash_=first.hash, unkeyed_until_seq=0)
        audit._known_heads[connection.connection] = (settings.AUDIT_HMAC_KEYS, stale)
    third = audit_record(action="test.event", actor=None)
    assert third.seq == 3
    assert audit_verify() == (3, [], third.hash)
