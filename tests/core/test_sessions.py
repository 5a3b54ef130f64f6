"""Session lifetime (kukkaro.core.sessions): an absolute limit from sign-in that no activity extends, the
endpoint behind the idle warning's Continue, and the warning's settings on the page."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

SIGNED_IN = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


def _sign_in(client, settings):
    worker = make_user(Role.SOCIAL_WORKER, username="sari")
    response = client.post(reverse("people:login"), {"username": "sari", "password": PASSWORD})
    assert response.status_code == 302
    return worker


def test_session__absolute_lifetime__defaults_to_twelve_hours(settings):
    assert settings.SESSION_ABSOLUTE_SECONDS == 12 * 3600


def test_session__active_all_day__is_signed_out_at_its_absolute_lifetime_and_audited(client, settings):
    with clock.pinned(SIGNED_IN):
        worker = _sign_in(client, settings)
    for hours in (3, 6, 9, 11):  # activity all day long renews the idle timeout, not the lifetime
        with clock.pinned(SIGNED_IN + dt.timedelta(hours=hours)):
            assert client.get(reverse("core:dashboard")).status_code == 200
    with clock.pinned(SIGNED_IN + dt.timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS - 1)):
        assert client.get(reverse("core:dashboard")).status_code == 200
    with clock.pinned(SIGNED_IN + dt.timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS)):
        response = client.get(reverse("core:dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("people:login"))
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(action="auth.logout", actor=worker).get()
    assert event.after == {"reason": "session_lifetime"}
    page = client.get(response["Location"])
    assert "12 tuntia" in page.content.decode()  # the message says why (Finnish by default)


def test_session__lifetime_setting__is_honoured(client, settings):
    settings.SESSION_ABSOLUTE_SECONDS = 600
    with clock.pinned(SIGNED_IN):
        _sign_in(client, settings)
    with clock.pinned(SIGNED_IN + dt.timedelta(seconds=600)):
        assert client.get(reverse("core:dashboard")).status_code == 302


def test_session__signed_out_by_hand__records_no_reason(client, settings):
    worker = _sign_in(client, settings)
    client.post(reverse("people:logout"))
    assert AuditEvent.objects.get(action="auth.logout", actor=worker).after is None


def test_session_extend__answers_what_is_left_and_does_not_extend_the_lifetime(client, settings):
    with clock.pinned(SIGNED_IN):
        _sign_in(client, settings)
    with clock.pinned(SIGNED_IN + dt.timedelta(hours=2)):
        response = client.post(reverse("core:session_extend"))
    assert response.status_code == 200
    assert response.json() == {
        "idle_seconds": settings.SESSION_COOKIE_AGE,
        "lifetime_seconds": settings.SESSION_ABSOLUTE_SECONDS - 2 * 3600,
    }
    assert "no-store" in response["Cache-Control"]


def test_session_extend__only_by_post_and_only_signed_in(client, settings):
    assert client.post(reverse("core:session_extend")).status_code == 302  # to sign in
    _sign_in(client, settings)
    assert client.get(reverse("core:session_extend")).status_code == 405


def _dialog(content: bytes) -> str:
    match = re.search(r'<dialog id="session-timeout".*?</dialog>', content.decode(), re.S)
    assert match, "no session warning on the page"
    return match.group(0)


def test_session_warning__on_signed_in_pages__timings_from_the_settings(client, settings):
    settings.SESSION_COOKIE_AGE = 900
    settings.SESSION_WARNING_SECONDS = 90
    with clock.pinned(SIGNED_IN):
        _sign_in(client, settings)
    with clock.pinned(SIGNED_IN + dt.timedelta(hours=1)):
        dialog = _dialog(client.get(reverse("core:dashboard")).content)
    assert 'role="alertdialog"' in dialog
    assert 'data-idle-seconds="900"' in dialog and 'data-warning-seconds="90"' in dialog
    assert f'data-lifetime-seconds="{settings.SESSION_ABSOLUTE_SECONDS - 3600}"' in dialog
    assert "noin 2 minuutin kuluttua" in dialog


def test_session_warning__not_on_pages_for_visitors(client):
    assert b'id="session-timeout"' not in client.get(reverse("people:login")).content
