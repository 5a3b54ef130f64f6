import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from kukkaro.core.models import Municipality
from kukkaro.core.roles import Role
from kukkaro.people import services
from tests.factories import client_in, make_user, organiser, synthetic_hetu

pytestmark = pytest.mark.django_db


def test_client_create__invalid_identity_code__is_refused_with_field_error():
    with pytest.raises(ValidationError) as excinfo:
        services.client_create(
            actor=None,
            organiser=organiser(),
            municipality=Municipality.objects.get(code="049"),
            national_id="131052-308U",
            first_names="A",
            last_name="B",
        )
    assert "national_id" in excinfo.value.message_dict


def test_client_create__municipality_of_other_organiser__is_refused():
    with pytest.raises(ValidationError) as excinfo:
        services.client_create(
            actor=None,
            organiser=organiser("lansi-uusimaa"),
            municipality=Municipality.objects.get(code="398"),
            national_id=synthetic_hetu(),
            first_names="A",
            last_name="B",
        )
    assert "municipality" in excinfo.value.message_dict


def test_client_create__same_person_twice_in_one_organiser__is_refused():
    first = client_in("lansi-uusimaa")
    with pytest.raises(ValidationError):
        client_in("lansi-uusimaa", national_id=first.national_id)


def test_client_create__same_person_in_two_organisers__is_allowed():
    first = client_in("lansi-uusimaa")
    second = client_in("paijat-hame", national_id=first.national_id)
    assert first.national_id == second.national_id


def test_user__staff_without_organiser__refused_by_database_too():
    user = make_user(Role.SOCIAL_WORKER)
    with pytest.raises(IntegrityError), transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(organiser=None)


def test_user_create__clients_never_get_a_usable_password():
    client_user = make_user(Role.CLIENT, password="a-long-password-for-nobody")
    assert not client_user.has_usable_password()


def test_api_token__stored_as_digest_and_revocable():
    dispatch = make_user(Role.DISPATCH)
    row, token = services.api_token_create(actor=None, user=dispatch, name="kulkukeskus")
    assert token not in (row.digest, row.prefix)
    assert services.api_token_user(token=token) == dispatch
    services.api_token_revoke(actor=dispatch, token=row)
    assert services.api_token_user(token=token) is None
    assert services.api_token_user(token="kk_nonsense_nonsense") is None
