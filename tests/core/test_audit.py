import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from kukkaro.core import clock
from kukkaro.core.audit import GENESIS_HASH, audit_record, audit_verify, chain_head
from kukkaro.core.models import AuditEvent
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
            cursor.execute("DROP TRIGGER core_auditevent_no_update")
            cursor.execute(sql, params)


def test_audit_record__chains_rows_from_genesis():
    first, second, third = _events(3)
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert audit_verify() == (3, [], third.hash)


def test_audit_record_many__one_call_chains_every_row_as_python_hashes_it():
    """On PostgreSQL the database hashes the rows (``kukkaro_audit_append``); the canonical form it hashes must be
    byte for byte Python's, with any text, nested values, the actor and the data subject."""
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
    from kukkaro.core.audit import event_hash

    _tamper("UPDATE core_auditevent SET action = %s, hash = %s WHERE seq = %s", ["forged", event_hash(row), row.seq])
    _count, breaks, _head = audit_verify()
    assert [b.seq for b in breaks] == [events[2].seq]


def test_audit_verify__deleted_row__is_detected():
    events = _events(4)
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [events[1].seq])
    _count, breaks, _head = audit_verify()
    assert any("missing" in b.reason for b in breaks)


def test_audit_verify__rows_removed_at_the_end__caught_with_expected_head():
    events = _events(3)
    head = chain_head()
    assert audit_verify(expected_head=head)[1] == []
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [events[-1].seq])
    assert audit_verify()[1] == []  # invisible without a head kept elsewhere …
    assert audit_verify(expected_head=head)[1]  # … and caught with it


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
