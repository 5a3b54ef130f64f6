"""System actors: the jobs and the demo act as someone the permission table knows, and the audit trail names them
(ADR 0028)."""

import pytest
from django.core.exceptions import PermissionDenied

from kukkaro.core.actors import (
    AUDIT_VERIFY,
    DAILY_JOB,
    STRONG_IDENTIFICATION,
    SystemActor,
    demo_builder,
    person,
    trip_import_command,
)
from kukkaro.core.audit import audit_record, audit_verify
from kukkaro.core.models import AuditEvent
from kukkaro.core.permissions import RULES, Action, OfOrganiser, authorize, can
from kukkaro.core.roles import PERSON_ROLES, Role
from kukkaro.core.tasks import audit_verify_job
from tests.factories import make_user, organiser

pytestmark = pytest.mark.django_db


def test_system_actor__is_the_system_role_and_no_account():
    actor = trip_import_command(organiser())
    assert actor.role == Role.SYSTEM and actor.pk is None and actor.national_id is None
    assert actor.is_authenticated and actor.is_active
    assert actor.organiser_id == organiser().pk
    assert person(actor) is None
    with pytest.raises(AttributeError):
        actor.name = "someone else"  # frozen
    assert Role.SYSTEM not in PERSON_ROLES


def test_audit_record__system_actor__no_actor_id_its_name_and_the_role_system():
    event = audit_record(action="test.event", actor=DAILY_JOB)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_label, stored.actor_role) == (None, "daily job", "system")
    assert audit_verify()[1] == []  # the sealed row holds what was written


def test_audit_verify_job__records_itself_as_the_audit_verification():
    audit_verify_job.call()
    stored = AuditEvent.objects.filter(action="audit.verify").latest("seq")
    assert (stored.actor_id, stored.actor_label, stored.actor_role) == (None, AUDIT_VERIFY.name, "system")
    assert stored.after["problems"] == 0
    assert audit_verify()[1] == []


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_system_actor__is_denied_what_the_table_does_not_grant_it(action):
    own = trip_import_command(organiser())
    granted = Role.SYSTEM in RULES[action].roles
    assert can(own, action) == granted
    if not granted:
        with pytest.raises(PermissionDenied):
            authorize(own, action)


def test_system_actor__of_one_organiser__may_not_act_for_another():
    own, other = organiser(), organiser("paijat-hame")
    command = trip_import_command(own)
    assert can(command, Action.TRIP_IMPORT, OfOrganiser(own.pk))
    assert not can(command, Action.TRIP_IMPORT, OfOrganiser(other.pk))
    assert not can(demo_builder(), Action.TARIFF_MANAGE, OfOrganiser(own.pk))  # of no organiser: none of an organiser's


def test_jobs__only_the_system_runs_them():
    assert can(DAILY_JOB, Action.JOB_RUN) and can(AUDIT_VERIFY, Action.JOB_RUN)
    for role in PERSON_ROLES:
        assert not can(make_user(role), Action.JOB_RUN), role


def test_claims_auto_approve__a_person__is_refused():
    from kukkaro.services.claims import claims_auto_approve

    with pytest.raises(PermissionDenied):
        claims_auto_approve(actor=make_user(Role.SOCIAL_WORKER))
    assert claims_auto_approve() == 0  # the daily job itself: nothing waits


def test_import_trips__no_actor__is_refused():
    from django.core.exceptions import ValidationError

    from kukkaro.mobility import trip_files

    with pytest.raises(PermissionDenied):
        trip_files.import_trips(actor=None, organiser=organiser(), filename="x.csv", content=b"")
    with pytest.raises((ValidationError, PermissionDenied)) as refused:
        trip_files.import_trips(
            actor=trip_import_command(organiser()), organiser=organiser(), filename="x.csv", content=b""
        )
    assert refused.type is ValidationError  # the command is let in; the empty file is what is refused


def test_user_for_identity__the_new_account__is_made_by_strong_identification():
    from types import SimpleNamespace

    from kukkaro.people.services import user_for_identity
    from tests.factories import client_in

    client = client_in("lansi-uusimaa")
    user = user_for_identity(
        claims=SimpleNamespace(national_id=client.national_id, given_names="Aino", last_name="Asiakas")
    )
    assert user is not None
    stored = AuditEvent.objects.filter(action="user.create", target_id=str(user.pk)).get()
    assert (stored.actor_id, stored.actor_label, stored.actor_role) == (None, STRONG_IDENTIFICATION.name, "system")


def test_system_actor__equal_by_name_and_organiser():
    assert SystemActor("daily job") == DAILY_JOB
    assert demo_builder(organiser()) == SystemActor("demo builder", organiser_id=organiser().pk)
