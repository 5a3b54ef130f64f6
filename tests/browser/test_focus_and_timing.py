"""Focus after a failed submit (WCAG 2.4.3, 3.3.1) and the warning before a session ends (WCAG 2.2.1), in a real
browser: static/js/kukkaro.js with the page's own markup and the settings' timings."""

from typing import Any

import pytest
from django.urls import reverse

from kukkaro.core.roles import Role
from tests.browser.conftest import Browsing, assert_axe_clean
from tests.factories import make_user

pytestmark = pytest.mark.browser

FOCUS_IN_DIALOG_JS = "() => document.getElementById('session-timeout').contains(document.activeElement)"


def test_failed_submit__focus_moves_to_the_error_summary(browsing: Browsing) -> None:
    make_user(Role.SOCIAL_WORKER, username="sari")
    browsing.goto(reverse("people:login"))
    browsing.page.fill("#id_username", "sari")
    browsing.page.fill("#id_password", "wrong-password")
    browsing.page.press("#id_password", "Enter")
    browsing.page.wait_for_selector(".error-summary")
    focused = browsing.page.evaluate("() => document.activeElement.className")
    assert focused == "error-summary"
    # From the summary, the keyboard goes on to the fields it lists.
    assert browsing.page.evaluate("() => document.activeElement.getAttribute('tabindex')") == "-1"


@pytest.mark.parametrize(
    ("language", "title", "continue_label"),
    [
        ("fi", "Istuntosi on päättymässä", "Jatka"),
        ("sv", "Din session håller på att ta slut", "Fortsätt"),
        ("en", "Your session is about to end", "Continue"),
    ],
)
def test_idle_warning__opens_before_the_timeout_and_continue_extends_the_session(
    browsing: Browsing, settings: Any, language: str, title: str, continue_label: str
) -> None:
    settings.SESSION_COOKIE_AGE = 8
    settings.SESSION_WARNING_SECONDS = 6
    worker = make_user(Role.SOCIAL_WORKER)
    browsing.use_language(language)
    browsing.sign_in(worker)
    browsing.goto(reverse("core:dashboard"))
    page = browsing.page
    dialog = page.get_by_role("alertdialog")
    assert not dialog.is_visible()
    dialog.wait_for(state="visible", timeout=6_000)  # 8 − 6 = 2 s after the page loaded
    assert page.locator("#session-timeout-title").inner_text() == title
    assert page.evaluate(FOCUS_IN_DIALOG_JS), "focus did not move into the dialog"
    assert page.evaluate("() => document.activeElement.textContent.trim()") == continue_label
    assert_axe_clean(page, f"the session warning ({language})")
    with page.expect_response(lambda r: r.url.endswith(reverse("core:session_extend")) and r.ok):
        page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    assert page.url.endswith(reverse("core:dashboard"))
    # The session really was renewed on the server: 8 s after the page loaded it would have lapsed without.
    page.wait_for_timeout(3_000)
    assert browsing.goto(reverse("core:dashboard")).url.endswith(reverse("core:dashboard"))


def test_idle_warning__ignored__signs_out_at_the_timeout(browsing: Browsing, settings: Any) -> None:
    settings.SESSION_COOKIE_AGE = 5
    settings.SESSION_WARNING_SECONDS = 3
    browsing.sign_in(make_user(Role.SOCIAL_WORKER))
    browsing.goto(reverse("core:dashboard"))
    browsing.page.get_by_role("alertdialog").wait_for(state="visible", timeout=5_000)
    browsing.page.wait_for_url(lambda url: f"{reverse('people:login')}?next=" in url, timeout=8_000)
    # The server agrees: the session has lapsed, so the dashboard asks to sign in.
    assert reverse("people:login") in browsing.goto(reverse("core:dashboard")).url


def test_idle_warning__escape_continues_and_sign_out_signs_out(browsing: Browsing, settings: Any) -> None:
    settings.SESSION_COOKIE_AGE = 8
    settings.SESSION_WARNING_SECONDS = 6
    browsing.use_language("fi")
    browsing.sign_in(make_user(Role.SOCIAL_WORKER))
    browsing.goto(reverse("core:dashboard"))
    page = browsing.page
    dialog = page.get_by_role("alertdialog")
    dialog.wait_for(state="visible", timeout=6_000)
    with page.expect_response(lambda r: r.url.endswith(reverse("core:session_extend"))):
        page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    dialog.wait_for(state="visible", timeout=6_000)  # warned again before the renewed end
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUS_IN_DIALOG_JS), "Tab left the dialog"
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Kirjaudu ulos"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("alertdialog").count() == 0


def test_lifetime_warning__offers_no_continue(browsing: Browsing, settings: Any) -> None:
    """Near the absolute lifetime, Continue could not help: the dialog says so and only closes."""
    settings.SESSION_ABSOLUTE_SECONDS = 6
    settings.SESSION_WARNING_SECONDS = 5
    browsing.use_language("fi")
    browsing.sign_in(make_user(Role.SOCIAL_WORKER))
    browsing.goto(reverse("core:dashboard"))
    page = browsing.page
    page.get_by_role("alertdialog").wait_for(state="visible", timeout=6_000)
    assert page.locator("#session-timeout-lifetime").is_visible()
    assert not page.locator("[data-session-extend]").is_visible()
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Sulje"
    page.wait_for_url(lambda url: f"{reverse('people:login')}?next=" in url, timeout=8_000)
