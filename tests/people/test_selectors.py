import pytest
from django.core.exceptions import PermissionDenied

from kukkaro.core.audit import PURPOSE_CASEWORK
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.people import selectors
from kukkaro.people.models import Client
from tests.factories import client_in, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_regions():
    return {
        "lu": [client_in("lansi-uusimaa", first_names="Aino", last_name="Lindholm") for _ in range(2)],
        "ph": [client_in("paijat-hame", first_names="Aino", last_name="Lahtinen")],
    }


def test_client_search__staff_see_only_their_organiser(two_regions):
    ph_worker = make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame")
    found = list(selectors.client_search(actor=ph_worker, query="Aino"))
    assert found == two_regions["ph"]


def test_client_search__by_identity_code__only_within_organiser(two_regions):
    lu_worker = make_user(Role.SOCIAL_WORKER)
    lu_code = two_regions["lu"][0].national_id
    ph_code = two_regions["ph"][0].national_id
    assert list(selectors.client_search(actor=lu_worker, query=lu_code.lower())) == [two_regions["lu"][0]]
    assert list(selectors.client_search(actor=lu_worker, query=ph_code)) == []


def test_client_search__logs_the_search_with_its_query(two_regions):
    lu_worker = make_user(Role.DECISION_MAKER)
    list(selectors.client_search(actor=lu_worker, query="Lindholm"))
    event = AuditEvent.objects.get(action="client.search")
    assert event.actor_id == lu_worker.pk
    assert event.after == {"query": "Lindholm"}
    assert event.kind == "read"


@pytest.mark.parametrize("role", [Role.FINANCE, Role.ANALYST, Role.PROVIDER, Role.DISPATCH, Role.CLIENT])
def test_client_search__roles_without_casework__are_refused(two_regions, role):
    with pytest.raises(PermissionDenied):
        selectors.client_search(actor=make_user(role), query="")


def test_clients_visible_to__non_staff__see_nobody(two_regions):
    for role in (Role.FINANCE, Role.ANALYST, Role.PROVIDER, Role.CLIENT, Role.SUPPORTER):
        assert not selectors.clients_visible_to(make_user(role)).exists()


def test_client_get__other_organiser__does_not_exist_and_is_not_logged(two_regions):
    lu_worker = make_user(Role.SOCIAL_WORKER)
    ph_client = two_regions["ph"][0]
    with pytest.raises(Client.DoesNotExist):
        selectors.client_get(actor=lu_worker, client_id=ph_client.pk)
    assert not AuditEvent.objects.filter(data_subject_id=ph_client.pk, kind="read").exists()


def test_client_get__logs_who_whose_and_why(two_regions):
    lu_worker = make_user(Role.SOCIAL_WORKER)
    lu_client = two_regions["lu"][0]
    selectors.client_get(actor=lu_worker, client_id=lu_client.pk)
    event = AuditEvent.objects.get(action="client.read")
    assert (event.actor_id, event.data_subject_id, event.purpose) == (lu_worker.pk, lu_client.pk, PURPOSE_CASEWORK)
    assert event.organiser_id == lu_client.organiser_id


def test_client_access_log__lists_events_about_that_client_only(two_regions):
    lu_worker = make_user(Role.SOCIAL_WORKER)
    first, second = two_regions["lu"]
    selectors.client_get(actor=lu_worker, client_id=first.pk)
    actions = list(selectors.client_access_log(client=first).values_list("action", flat=True))
    assert actions == ["client.read", "client.create"]
    assert not selectors.client_access_log(client=second).filter(action="client.read").exists()


def test_users_of_organiser__admin_sees_own_organisation_only():
    lu_admin = make_user(Role.ADMIN)
    ph_worker = make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame")
    visible = set(selectors.users_of_organiser(actor=lu_admin))
    assert lu_admin in visible
    assert ph_worker not in visible


def test_client_access_log__every_organiser__covers_all_records_of_the_person(two_regions):
    lu_client = two_regions["lu"][0]
    ph_record = client_in("paijat-hame", national_id=lu_client.national_id)
    selectors.client_get(actor=make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame"), client_id=ph_record.pk)
    own = selectors.client_access_log(client=lu_client)
    everything = selectors.client_access_log(client=lu_client, every_organiser=True)
    assert not own.filter(action="client.read").exists()
    assert everything.filter(action="client.read", data_subject_id=ph_record.pk).exists()
