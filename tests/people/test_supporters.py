import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.people import selectors, services
from kukkaro.people.models import Client, ConsentMethod
from tests.factories import client_in, make_user

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(TODAY):
        yield


def _grant(client, supporter, **kwargs):
    return services.supporter_grant_create(
        actor=make_user(Role.SOCIAL_WORKER),
        client=client,
        supporter=supporter,
        consent_given_on=dt.date(2026, 3, 1),
        consent_method=ConsentMethod.IN_PERSON,
        valid_from=dt.date(2026, 3, 1),
        **kwargs,
    )


def test_supporter_grant__gives_only_what_the_client_allowed():
    client = client_in("lansi-uusimaa")
    other = client_in("lansi-uusimaa")
    supporter = make_user(Role.SUPPORTER)
    _grant(client, supporter, can_view=True, can_approve_claims=False)
    assert [g.client for g in selectors.supporter_grants_active(supporter=supporter)] == [client]
    assert not selectors.supporter_grants_active(supporter=supporter, capability="can_approve_claims").exists()
    assert selectors.client_for_supporter(supporter=supporter, client_id=client.pk) == client
    with pytest.raises(Client.DoesNotExist):
        selectors.client_for_supporter(supporter=supporter, client_id=other.pk)
    read = AuditEvent.objects.get(action="client.read", actor=supporter)
    assert (read.data_subject_id, read.purpose) == (client.pk, "support")


def test_supporter_grant__revoked_or_expired__gives_nothing():
    client = client_in("lansi-uusimaa")
    supporter = make_user(Role.SUPPORTER)
    grant = _grant(client, supporter, valid_until=dt.date(2026, 3, 31))
    with clock.pinned(dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)):
        assert not selectors.supporter_grants_active(supporter=supporter).exists()
    with pytest.raises(ValidationError):
        services.supporter_grant_revoke(actor=make_user(Role.SOCIAL_WORKER), grant=grant, reason=" ")
    services.supporter_grant_revoke(
        actor=make_user(Role.SOCIAL_WORKER), grant=grant, reason="Asiakas perui suostumuksen"
    )
    assert not selectors.supporter_grants_active(supporter=supporter).exists()
    assert AuditEvent.objects.filter(action="supporter.revoke", data_subject_id=client.pk).exists()


def test_supporter_grant__only_supporter_accounts_and_never_oneself():
    client = client_in("lansi-uusimaa")
    with pytest.raises(ValidationError):
        _grant(client, make_user(Role.SOCIAL_WORKER))
    with pytest.raises(ValidationError):
        _grant(client, make_user(Role.SUPPORTER, national_id=client.national_id))


def test_supporter_grant__consent_cannot_be_in_the_future():
    client = client_in("lansi-uusimaa")
    with pytest.raises(ValidationError):
        services.supporter_grant_create(
            actor=make_user(Role.SOCIAL_WORKER),
            client=client,
            supporter=make_user(Role.SUPPORTER),
            consent_given_on=dt.date(2026, 4, 1),
            consent_method=ConsentMethod.WRITTEN,
            valid_from=dt.date(2026, 4, 1),
        )


def test_guardian__recorded_apart_from_supporters_and_audited():
    client = client_in("lansi-uusimaa")
    guardian = services.guardian_add(
        actor=make_user(Role.SOCIAL_WORKER),
        client=client,
        name="Oikeusaputoimisto, yleinen edunvalvonta",
        scope="taloudelliset asiat",
        valid_from=dt.date(2025, 1, 1),
    )
    assert list(selectors.client_guardians(client=client)) == [guardian]
    assert not selectors.client_supporter_grants(client=client).exists()
    assert AuditEvent.objects.filter(action="guardian.add", data_subject_id=client.pk).exists()
    with pytest.raises(ValidationError):
        services.guardian_add(
            actor=make_user(Role.SOCIAL_WORKER),
            client=client,
            name="X",
            scope="y",
            valid_from=dt.date(2025, 1, 1),
            valid_until=dt.date(2024, 1, 1),
        )


def test_portal__supporter_sees_who_named_them_and_the_read_is_logged(client):
    from django.urls import reverse

    person = client_in("lansi-uusimaa", first_names="Nimetty")
    supporter = make_user(Role.SUPPORTER)
    _grant(person, supporter, can_help_choose=True)
    client.force_login(supporter)
    response = client.get(reverse("portal:home"))
    assert "Nimetty" in response.content.decode()
    assert AuditEvent.objects.filter(actor=supporter, data_subject_id=person.pk, purpose="support").exists()


def test_supporter_page__names_a_new_supporter_with_consent(client):
    from django.urls import reverse

    person = client_in("lansi-uusimaa")
    worker = make_user(Role.SOCIAL_WORKER)
    client.force_login(worker)
    response = client.post(
        reverse("people:supporter_new", kwargs={"client_id": person.pk}),
        {
            "national_id": "020566-962C",
            "first_name": "Aada",
            "last_name": "Koskinen",
            "can_view": "on",
            "can_help_choose": "on",
            "valid_from": "2026-03-01",
            "consent_given_on": "2026-03-01",
            "consent_method": "in_person",
        },
    )
    assert response.status_code == 302
    grant = person.supporter_grants.get()
    assert grant.supporter.role == Role.SUPPORTER
    assert grant.can_help_choose
    assert not grant.can_approve_claims


def test_supporter_page__staff_account_cannot_be_named(client):
    from django.urls import reverse

    person = client_in("lansi-uusimaa")
    worker = make_user(Role.SOCIAL_WORKER, national_id="020566-962C")
    client.force_login(worker)
    response = client.post(
        reverse("people:supporter_new", kwargs={"client_id": person.pk}),
        {
            "national_id": "020566-962C",
            "first_name": "A",
            "last_name": "B",
            "valid_from": "2026-03-01",
            "consent_given_on": "2026-03-01",
            "consent_method": "in_person",
        },
    )
    assert response.status_code == 200
    assert "national_id" in response.context["form"].errors
    assert not person.supporter_grants.exists()
