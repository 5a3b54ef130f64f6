"""axe-core finds no WCAG 2.1 A/AA violations on any page, in Finnish, Swedish or English.

The pages come from the URL configuration (see ``tests/browser/pages.py``): a new page is checked as soon as it
has a URL, for every role that may see it. States that a plain visit does not reach (error pages, forms with
errors, a locked account, an empty search) are listed in ``SCENARIOS`` below.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from kukkaro.core.roles import Role
from kukkaro.people.models import User
from tests.browser.conftest import LANGUAGES, Browsing, World, assert_axe_clean, axe_violations, format_violations
from tests.browser.pages import SitePage, site_pages, url_kwargs
from tests.cases.world import INDICATIVE_PAGES
from tests.factories import make_user, synthetic_hetu

pytestmark = pytest.mark.browser

SITE_PAGES = site_pages()


def url_parameter_values(world: World, user: User | None, page_name: str = "") -> dict[str, Callable[[], Any]]:
    """How to fill each URL parameter name used anywhere in the URL configuration, for ``user``."""

    def case():
        return world.case_for(user)

    return {
        "client_id": lambda: (case(), world.client_for(user).pk)[1],  # the case brings a rate table too
        "calculation_id": lambda: (case().indicative if page_name in INDICATIVE_PAGES else case().final).pk,
        "decision_id": lambda: case().decision.pk,
        "provider_id": lambda: world.spending()[0].provider.pk,
        "change_id": lambda: world.spending()[1].bank_change.pk,
        "line_id": lambda: world.spending()[0].line.pk,
        "agreement_id": lambda: world.spending()[0].agreement.pk,
        "claim_id": lambda: world.spending()[1].disputed.pk,
        "batch_id": lambda: world.spending()[1].batch.pk,
        "upload_id": lambda: world.spending()[1].upload.pk,
        "service_code": lambda: world.spending()[0].day_activity.code,
        "import_id": lambda: world.trips().trip_import.pk,
        "leg_id": lambda: world.trips().review_leg.pk,
        "lease_id": lambda: world.lease().pk,
    }


def test_the_url_walk_finds_the_pages() -> None:
    """A sanity check on the walk itself, so that a broken walk cannot pass by finding nothing."""
    names = {p.name for p in SITE_PAGES}
    assert {"core:home", "core:dashboard", "people:login", "people:client_list", "people:client_detail"} <= names
    assert {"portal:home", "portal:access_log"} <= names
    assert not names & {"set_language", "people:logout", "core:health"}
    assert not any(n.startswith("api:") for n in names)
    detail = next(p for p in SITE_PAGES if p.name == "people:client_detail")
    assert detail.params == ("client_id",)
    assert next(p for p in SITE_PAGES if p.name == "core:home").role is None


def test_axe_reports_what_it_finds(browsing: Browsing) -> None:
    """Guard against a silently broken axe set-up: a page with known defects must fail."""
    browsing.page.set_content("<!doctype html><html><body><img src='data:,'><a href='#x'></a></body></html>")
    found = {v["id"] for v in axe_violations(browsing.page)}
    assert {"html-has-lang", "document-title", "image-alt", "link-name"} <= found, found


@pytest.mark.parametrize("site_page", SITE_PAGES, ids=lambda p: p.id)
def test_every_page_is_axe_clean_in_every_language(browsing: Browsing, world: World, site_page: SitePage) -> None:
    if site_page.problem:
        pytest.fail(site_page.problem)
    user = world.user_in(site_page.role) if site_page.role else None
    try:
        kwargs = url_kwargs(site_page, url_parameter_values(world, user, site_page.name))
    except LookupError as exc:
        pytest.fail(str(exc))
    path = reverse(site_page.name, kwargs=kwargs)
    if user is not None:
        browsing.sign_in(user)

    # Ask first, outside the page: navigating to a download (a CSV export, say) would fail rather than show it.
    content_type = browsing.context.request.get(path).headers.get("content-type", "")
    if not content_type.startswith("text/html"):
        pytest.skip(f"{path} answers {content_type}, not a page")

    failures = []
    for language in LANGUAGES:
        browsing.use_language(language)
        response = browsing.goto(path)
        if user is not None:
            assert response.status == 200, f"{site_page.id} {path}: HTTP {response.status}"
            assert browsing.page.url == f"{browsing.base_url}{path}", (
                f"{site_page.id} {path} redirected to {browsing.page.url}: the session or permission set-up is wrong"
            )
        else:
            assert response.status < 500, f"{site_page.id} {path}: HTTP {response.status}"
        browsing.assert_styles_loaded()
        if browsing.html_lang() != language:
            failures.append(f"[{language}] <html lang> is {browsing.html_lang()!r}, expected {language!r}")
        violations = axe_violations(browsing.page)
        if violations:
            failures.append(f"[{language}] {browsing.page.url}\n{format_violations(violations)}")
    assert not failures, f"{site_page.id}:\n" + "\n\n".join(failures)


# --- States a plain visit does not reach ------------------------------------------------------------------


def _not_found_anonymous(browsing: Browsing, world: World) -> int:
    return browsing.goto("/this-page-does-not-exist/").status


def _not_found_signed_in(browsing: Browsing, world: World) -> int:
    browsing.sign_in(world.user_in(Role.SOCIAL_WORKER))
    return browsing.goto(
        reverse("people:client_detail", kwargs={"client_id": "00000000-0000-4000-8000-000000000000"})
    ).status


def _forbidden(browsing: Browsing, world: World) -> int:
    # A client has no business in the client register.
    browsing.sign_in(world.client_user())
    return browsing.goto(reverse("people:client_list")).status


def _submit(browsing: Browsing, form_selector: str) -> int:
    page = browsing.page
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator(f"{form_selector} button[type=submit]").click()
    page.wait_for_load_state("load")
    return answer.value.status


def _login_with_errors(browsing: Browsing, world: World) -> int:
    browsing.goto(reverse("people:login"))
    status = _submit(browsing, "main form")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _login_wrong_password(browsing: Browsing, world: World) -> int:
    user = world.user_in(Role.SOCIAL_WORKER)
    browsing.goto(reverse("people:login"))
    browsing.page.fill("#id_username", user.username)
    browsing.page.fill("#id_password", "not-the-password")
    status = _submit(browsing, "main form")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _locked_out(browsing: Browsing, world: World) -> int:
    user = world.user_in(Role.SOCIAL_WORKER)
    browsing.goto(reverse("people:login"))
    for _attempt in range(10):
        browsing.page.fill("#id_username", user.username)
        browsing.page.fill("#id_password", "not-the-password")
        status = _submit(browsing, "main form")
        if status != 200:
            return status
    raise AssertionError("ten wrong passwords did not lock the account")


def _test_idp_with_errors(browsing: Browsing, world: World) -> int:
    browsing.goto(reverse("people:identify"))
    assert reverse("people:test_idp") in browsing.page.url
    status = _submit(browsing, "main form")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _test_idp_invalid_code(browsing: Browsing, world: World) -> int:
    browsing.goto(reverse("people:identify"))
    browsing.page.fill("#id_national_id", "010180-123A")  # not a valid identity code
    browsing.page.fill("#id_given_names", "Testi")
    browsing.page.fill("#id_last_name", "Henkilö")
    status = _submit(browsing, "main form")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _identified_but_not_a_client(browsing: Browsing, world: World) -> int:
    browsing.goto(reverse("people:identify"))
    browsing.page.fill("#id_national_id", synthetic_hetu())
    browsing.page.fill("#id_given_names", "Testi")
    browsing.page.fill("#id_last_name", "Tuntematon")
    with browsing.page.expect_navigation(url=f"**{reverse('people:identify_return')}") as navigation:
        browsing.page.locator("main form button[type=submit]").click()
    return navigation.value.status


def _empty_search(browsing: Browsing, world: World) -> int:
    browsing.sign_in(world.user_in(Role.SOCIAL_WORKER))
    return browsing.goto(f"{reverse('people:client_list')}?q=Olematon").status


def _supporter_portal(browsing: Browsing, world: World) -> int:
    browsing.sign_in(make_user(Role.SUPPORTER))
    return browsing.goto(reverse("portal:home")).status


def _client_without_record(browsing: Browsing, world: World) -> int:
    # A client account whose identity code is not (or no longer) in the register.
    browsing.sign_in(make_user(Role.CLIENT))
    return browsing.goto(reverse("portal:home")).status


def _provider_application(browsing: Browsing, world: World) -> int:
    # A provider user who has not applied yet: the application form itself.
    browsing.sign_in(make_user(Role.PROVIDER, organiser_code=None))
    return browsing.goto(reverse("provider:apply")).status


def _provider_application_with_errors(browsing: Browsing, world: World) -> int:
    browsing.sign_in(make_user(Role.PROVIDER, organiser_code=None))
    browsing.goto(reverse("provider:apply"))
    status = _submit(browsing, "main form")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _claim_form_with_errors(browsing: Browsing, world: World) -> int:
    browsing.sign_in(world.user_in(Role.PROVIDER))
    browsing.goto(reverse("provider:claim_new"))
    browsing.page.fill("#id_invoice_number", "")
    status = _submit(browsing, "main form")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _choice_without_a_provider_chosen(browsing: Browsing, world: World) -> int:
    browsing.sign_in(world.user_in(Role.SOCIAL_WORKER))
    browsing.goto(reverse("services:choice", kwargs={"line_id": world.spending()[0].line.pk}))
    browsing.page.fill("#id_quantity", "")
    return _submit(browsing, "main form[method=post]")


def _prepared_batch(world: World) -> Any:
    """A batch prepared by the spending world's first finance person, paying a claim the client approved (the
    world's waiting change of bank account is approved first by the same person, so the second may release)."""
    from kukkaro.core import clock
    from kukkaro.services import claims, payments, providers

    spending, activity = world.spending()
    providers.bank_account_change_decide(actor=spending.finance, change=activity.bank_change, approve=True)
    client_user = User.objects.filter(role=Role.CLIENT, national_id=spending.client.national_id).first()
    claims.claim_client_decide(actor=client_user, claim=activity.waiting, approve=True)
    return payments.payment_batch_prepare(
        actor=spending.finance,
        organiser=spending.client.organiser,
        approved_until=clock.today(),
        execution_date=clock.today(),
    )


def _batch_page(batch: Any) -> str:
    return reverse("services:payment_batch_detail", kwargs={"batch_id": batch.pk})


def _batch_waiting_for_release(browsing: Browsing, world: World) -> int:
    batch = _prepared_batch(world)
    browsing.sign_in(world.spending()[0].finance2)
    status = browsing.goto(_batch_page(batch)).status
    assert browsing.page.locator("form[action$='/release/']").is_visible()
    return status


def _batch_the_preparer_cannot_release(browsing: Browsing, world: World) -> int:
    batch = _prepared_batch(world)
    browsing.sign_in(world.spending()[0].finance)
    return browsing.goto(_batch_page(batch)).status


def _batch_cancel_without_a_reason(browsing: Browsing, world: World) -> int:
    batch = _prepared_batch(world)
    browsing.sign_in(world.spending()[0].finance)
    browsing.goto(_batch_page(batch))
    status = _submit(browsing, "form[action$='/cancel/']")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _batch_cancelled(browsing: Browsing, world: World) -> int:
    from kukkaro.services import payments

    batch = _prepared_batch(world)
    spending = world.spending()[0]
    payments.payment_batch_cancel(actor=spending.finance, batch=batch, reason="Väärä maksupäivä")
    browsing.sign_in(spending.finance2)
    return browsing.goto(_batch_page(batch)).status


def _batch_confirmed_by_hand_without_a_reason(browsing: Browsing, world: World) -> int:
    spending, activity = world.spending()
    browsing.sign_in(spending.finance2)
    browsing.goto(_batch_page(activity.batch))
    status = _submit(browsing, "form[action$='/confirm/']")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _batch_answered_with_a_rejection(browsing: Browsing, world: World) -> int:
    from kukkaro.core import clock
    from kukkaro.demo.bank import status_report
    from kukkaro.services import payments

    spending, activity = world.spending()
    batch = activity.batch
    line = batch.lines.get()
    payments.payment_status_import(
        actor=spending.finance2,
        organiser=spending.client.organiser,
        filename="status.xml",
        content=status_report(
            bytes(batch.pain001),
            message_id="STS-1",
            created_at=clock.now(),
            rejected={line.end_to_end_id: ("AC04", "Tili on lopetettu")},
        ),
    )
    browsing.sign_in(spending.finance)
    return browsing.goto(_batch_page(batch)).status


def _claim_whose_payment_was_rejected(browsing: Browsing, world: World) -> int:
    _spending, activity = world.spending()
    _batch_answered_with_a_rejection(browsing, world)
    browsing.sign_in(world.user_in(Role.SOCIAL_WORKER))
    return browsing.goto(reverse("services:claim_detail", kwargs={"claim_id": activity.approved.pk})).status


def _status_report_that_cannot_be_read(browsing: Browsing, world: World) -> int:
    spending, activity = world.spending()
    browsing.sign_in(spending.finance)
    browsing.goto(_batch_page(activity.batch))
    browsing.page.set_input_files(
        "form[action$='/status-report/'] input[type=file]",
        files=[{"name": "status.xml", "mimeType": "application/xml", "buffer": b"<Document>not a report"}],
    )
    status = _submit(browsing, "form[action$='/status-report/']")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


def _bank_change_rejected_without_a_reason(browsing: Browsing, world: World) -> int:
    spending, activity = world.spending()
    browsing.sign_in(spending.finance)
    browsing.goto(reverse("services:bank_change_detail", kwargs={"change_id": activity.bank_change.pk}))
    status = _submit(browsing, "form[action$='/decide/']:has(textarea)")
    assert browsing.page.locator(".error-summary").is_visible()
    return status


#: States reached without changing the shared world (see tests/browser/conftest.py).
SCENARIOS: dict[str, tuple[Callable[[Browsing, World], int], int]] = {
    # name: (how to get there, expected HTTP status of the page checked)
    "404-anonymous": (_not_found_anonymous, 404),
    "404-signed-in": (_not_found_signed_in, 404),
    "403-client-in-client-register": (_forbidden, 403),
    "login-empty-form": (_login_with_errors, 200),
    "login-wrong-password": (_login_wrong_password, 200),
    "locked-out": (_locked_out, 429),
    "test-idp-empty-form": (_test_idp_with_errors, 200),
    "test-idp-invalid-code": (_test_idp_invalid_code, 200),
    "identified-but-not-a-client": (_identified_but_not_a_client, 403),
    "client-search-no-matches": (_empty_search, 200),
    "portal-supporter": (_supporter_portal, 200),
    "portal-client-without-record": (_client_without_record, 200),
    "provider-application-form": (_provider_application, 200),
    "provider-application-with-errors": (_provider_application_with_errors, 200),
    "provider-claim-form-with-errors": (_claim_form_with_errors, 200),
    "choice-without-a-provider-chosen": (_choice_without_a_provider_chosen, 200),
}

#: States that change the world (a payment batch prepared, cancelled or answered, a bank change decided): each test
#: has a world of its own.
CHANGING_SCENARIOS: dict[str, tuple[Callable[[Browsing, World], int], int]] = {
    "payment-batch-waiting-for-release": (_batch_waiting_for_release, 200),
    "payment-batch-the-preparer-cannot-release": (_batch_the_preparer_cannot_release, 200),
    "payment-batch-cancel-without-a-reason": (_batch_cancel_without_a_reason, 200),
    "payment-batch-cancelled": (_batch_cancelled, 200),
    "payment-batch-confirmed-by-hand-without-a-reason": (_batch_confirmed_by_hand_without_a_reason, 200),
    "payment-batch-answered-with-a-rejection": (_batch_answered_with_a_rejection, 200),
    "payment-claim-whose-payment-was-rejected": (_claim_whose_payment_was_rejected, 200),
    "payment-status-report-that-cannot-be-read": (_status_report_that_cannot_be_read, 200),
    "payment-bank-change-rejected-without-a-reason": (_bank_change_rejected_without_a_reason, 200),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_error_and_edge_states_are_axe_clean(browsing: Browsing, world: World, scenario: str, language: str) -> None:
    reach, expected_status = SCENARIOS[scenario]
    _assert_state_axe_clean(
        browsing, world, scenario=scenario, language=language, reach=reach, expected=expected_status
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("scenario", CHANGING_SCENARIOS)
def test_states_that_change_the_world_are_axe_clean(
    isolated_browsing: Browsing, isolated_world: World, scenario: str, language: str
) -> None:
    reach, expected_status = CHANGING_SCENARIOS[scenario]
    _assert_state_axe_clean(
        isolated_browsing, isolated_world, scenario=scenario, language=language, reach=reach, expected=expected_status
    )


def _assert_state_axe_clean(
    browsing: Browsing,
    world: World,
    *,
    scenario: str,
    language: str,
    reach: Callable[[Browsing, World], int],
    expected: int,
) -> None:
    browsing.use_language(language)
    status = reach(browsing, world)
    assert status == expected, f"{scenario}: HTTP {status}, expected {expected}"
    browsing.assert_styles_loaded()
    assert browsing.html_lang() == language
    assert_axe_clean(browsing.page, f"{scenario} [{language}] {browsing.page.url}")
