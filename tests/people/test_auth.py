"""Signing in: staff passwords with lockout, identification of clients and supporters, sessions."""

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.people.identification import TestIdentityProvider
from kukkaro.people.models import User
from tests.factories import PASSWORD, client_in, make_user, synthetic_hetu

pytestmark = pytest.mark.django_db


def _login(client, username, password, address="127.0.0.1", **headers):
    return client.post(
        reverse("people:login"), {"username": username, "password": password}, REMOTE_ADDR=address, headers=headers
    )


def test_staff_login__right_password__signs_in_and_audits(client):
    worker = make_user(Role.SOCIAL_WORKER, username="sari")
    response = _login(client, "sari", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(worker.pk)
    assert AuditEvent.objects.filter(action="auth.login", actor=worker).exists()


def test_staff_login__wrong_password__shows_error_and_audits(client):
    make_user(Role.SOCIAL_WORKER, username="sari")
    response = _login(client, "sari", "wrong-password")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.login_failed", target_id="sari").exists()


def test_staff_login__five_failures__lock_the_account_even_with_right_password(client):
    make_user(Role.SOCIAL_WORKER, username="sari")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "sari", "wrong-password")
    response = _login(client, "sari", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.locked_out", target_id="sari").exists()


def test_staff_login__lockout__is_per_account(client):
    make_user(Role.SOCIAL_WORKER, username="sari")
    make_user(Role.SOCIAL_WORKER, username="paula")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "sari", "wrong-password")
    assert _login(client, "paula", PASSWORD).status_code == 302


def test_staff_login__failures_from_another_address__do_not_lock_the_account(client):
    """Someone who knows a username cannot lock its owner out: the lock is on the username from that address."""
    make_user(Role.SOCIAL_WORKER, username="sari")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "sari", "wrong-password", address="198.51.100.7")
    assert _login(client, "sari", PASSWORD, address="198.51.100.7").status_code == 429
    assert _login(client, "sari", PASSWORD, address="203.0.113.20").status_code == 302


def test_staff_login__address_trying_many_usernames__is_locked_for_every_username(client, settings):
    """Below each username's limit, but over the address's: the address is locked, for every account, and only
    there."""
    settings.AXES_ADDRESS_FAILURE_LIMIT = 6
    make_user(Role.SOCIAL_WORKER, username="sari")
    for number in range(3):
        for _ in range(2):
            _login(client, f"guess{number}", "Summer2026!", address="198.51.100.7")
    response = _login(client, "sari", PASSWORD, address="198.51.100.7")
    assert response.status_code == 429
    assert "Verkko-osoitteestasi" in response.content.decode()  # the address, not the account, is locked
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(action="auth.locked_out").latest("seq")
    assert event.after == {"scope": "address", "address": "198.51.100.7"}
    assert _login(client, "sari", PASSWORD, address="203.0.113.20").status_code == 302


def test_staff_login__address_below_its_limit__is_not_locked(client, settings):
    settings.AXES_ADDRESS_FAILURE_LIMIT = 6
    make_user(Role.SOCIAL_WORKER, username="sari")
    for number in range(5):
        _login(client, f"guess{number}", "Summer2026!", address="198.51.100.7")
    assert _login(client, "sari", PASSWORD, address="198.51.100.7").status_code == 302


def test_lockout_limits__default_to_five_per_account_and_fifty_per_address():
    assert (settings.AXES_FAILURE_LIMIT, settings.AXES_ADDRESS_FAILURE_LIMIT) == (5, 50)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "10.0.0.2"),  # no proxy configured: the header is the client's own claim
        (1, "192.0.2.1", "192.0.2.1"),
        (1, "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # the left entry was sent by the client
        (2, "6.6.6.6, 192.0.2.1, 10.0.0.9", "192.0.2.1"),
        (2, "10.0.0.9", "10.0.0.2"),  # too short to have passed both proxies
        (1, "not-an-address", "10.0.0.2"),
        (1, "", "10.0.0.2"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address__trusts_only_the_configured_proxies(rf, settings, proxies, forwarded, expected):
    from kukkaro.people.lockout import client_address

    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_staff_login__behind_a_proxy__locks_the_client_address_not_the_proxys(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user(Role.SOCIAL_WORKER, username="sari")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "sari", "wrong-password", address="10.0.0.2", x_forwarded_for="198.51.100.7")
    assert _login(client, "sari", PASSWORD, address="10.0.0.2", x_forwarded_for="198.51.100.7").status_code == 429
    assert _login(client, "sari", PASSWORD, address="10.0.0.2", x_forwarded_for="203.0.113.20").status_code == 302


def test_staff_login__client_account__cannot_use_a_password(client):
    user = make_user(Role.CLIENT)
    user.set_password(PASSWORD)  # even if someone set one by hand
    user.save()
    response = _login(client, user.username, PASSWORD)
    assert "_auth_user_id" not in client.session
    assert response.status_code == 200


def test_session__cookie_is_http_only_and_expires_when_idle(client):
    make_user(Role.SOCIAL_WORKER, username="sari")
    _login(client, "sari", PASSWORD)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert settings.SESSION_COOKIE_AGE <= 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST


def test_logout__post_only_and_audited(client):
    worker = make_user(Role.SOCIAL_WORKER)
    client.force_login(worker)
    assert client.get(reverse("people:logout")).status_code == 405
    client.post(reverse("people:logout"))
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.logout", actor=worker).exists()


def _identify(client, *, national_id, given="Aino", last="Asiakas", next_url=""):
    start = client.get(reverse("people:identify") + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302
    idp_url = start["Location"]
    answer = client.post(idp_url, {"national_id": national_id, "given_names": given, "last_name": last})
    if answer.status_code != 302:
        return answer
    return client.get(answer["Location"])


def test_identification__client_in_register__gets_a_client_account(client):
    register_entry = client_in("lansi-uusimaa")
    response = _identify(client, national_id=register_entry.national_id)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    user = User.objects.get(national_id=register_entry.national_id)
    assert user.role == Role.CLIENT
    assert not user.has_usable_password()
    login = AuditEvent.objects.get(action="auth.login", actor=user)
    assert login.after == {"method": "identification:test"}


def test_identification__supporter__signs_in_to_the_portal(client):
    supporter = make_user(Role.SUPPORTER)
    response = _identify(client, national_id=supporter.national_id)
    assert response["Location"] == reverse("portal:home")
    assert client.session["_auth_user_id"] == str(supporter.pk)


def test_identification__unknown_person__is_told_so_and_not_signed_in(client):
    response = _identify(client, national_id=synthetic_hetu())
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(role=Role.CLIENT).exists()


def test_identification__real_identity_code__refused_by_test_provider(client):
    response = _identify(client, national_id="131052-308T")
    assert response.status_code == 200  # the form again, with the error
    assert "_auth_user_id" not in client.session
    assert "national_id" in response.context["form"].errors


def test_identification__staff_identity_code__does_not_sign_in_as_staff(client):
    worker = make_user(Role.SOCIAL_WORKER)
    worker.national_id = synthetic_hetu()
    worker.save()
    response = _identify(client, national_id=worker.national_id)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_identification__return_without_state__fails(client):
    response = client.get(reverse("people:identify_return"))
    assert response.status_code == 403


def test_identification__next_url_to_other_host__is_ignored(client):
    register_entry = client_in("lansi-uusimaa")
    response = _identify(client, national_id=register_entry.national_id, next_url="https://evil.example/")
    assert response["Location"] == reverse("portal:home")


def test_test_identity_provider__refuses_to_exist_in_production(settings):
    settings.KUKKARO_ENV = "production"
    with pytest.raises(ImproperlyConfigured):
        TestIdentityProvider()


def test_test_identity_provider__page_is_gone_when_not_configured(client, settings):
    settings.IDENTIFICATION_ADAPTER = ""
    assert client.get(reverse("people:test_idp")).status_code == 404
    assert client.get(reverse("people:identify")).status_code == 503


def test_staff_login__lockout_page__names_the_lock_time(client):
    make_user(Role.SOCIAL_WORKER, username="sari")
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = _login(client, "sari", "wrong-password")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert response.status_code == 429
    assert f"{minutes}" in response.content.decode()


def test_failed_login__of_known_account__lands_in_its_organisers_audit_log(client):
    worker = make_user(Role.SOCIAL_WORKER, username="sari", organiser_code="paijat-hame")
    _login(client, "sari", "wrong-password")
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.organiser_id == worker.organiser_id


def test_user_create__weak_staff_password__is_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        make_user(Role.SOCIAL_WORKER, password="short")
    with pytest.raises(ValidationError):
        make_user(Role.SOCIAL_WORKER, password="123456789012345")


def test_request_id__is_echoed_and_written_into_audit_rows(client):
    worker = make_user(Role.SOCIAL_WORKER, username="sari")
    response = client.post(
        reverse("people:login"), {"username": "sari", "password": PASSWORD}, headers={"X-Request-ID": "req-12345678"}
    )
    assert response["X-Request-ID"] == "req-12345678"
    assert AuditEvent.objects.get(action="auth.login", actor=worker).request_id == "req-12345678"


def test_request_id__unsafe_header__is_replaced(client):
    response = client.get(reverse("core:home"), headers={"X-Request-ID": "<script>"})
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


def test_identification__swedish_speaking_client__gets_swedish_pages(client):
    register_entry = client_in("lansi-uusimaa", language="sv")
    _identify(client, national_id=register_entry.national_id)
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "sv"
    page = client.get(reverse("portal:home"))
    assert '<html lang="sv">' in page.content.decode()


def test_identification__chosen_language__is_kept(client):
    register_entry = client_in("lansi-uusimaa", language="sv")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    _identify(client, national_id=register_entry.national_id)
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
