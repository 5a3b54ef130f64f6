"""Keyboard use, visible focus, reflow at 320 px and at 200 % zoom, and the language switcher (WCAG 2.1.1, 2.4.1,
2.4.7, 1.4.10, 3.1.1)."""

from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from kukkaro.core.roles import Role
from tests.browser.conftest import ARTIFACTS, LANGUAGES, Browsing, World

pytestmark = pytest.mark.browser

# Everything a keyboard user can reach or operate. Elements that are not rendered (display: none, hidden) are
# left out: they cannot receive focus at all.
INTERACTIVE = (
    "a[href], area[href], button, input:not([type=hidden]), select, textarea, summary, iframe, "
    "[contenteditable=''], [contenteditable=true], [tabindex]:not([tabindex='-1'])"
)

MARK_INTERACTIVE_JS = """(selector) => {
  const all = Array.from(document.querySelectorAll(selector)).filter((el) => {
    if (el.disabled || el.closest('[inert]')) return false;
    const style = getComputedStyle(el);
    return el.getClientRects().length > 0 && style.visibility !== 'hidden';
  });
  const groups = [];
  all.forEach((el) => {
    // A radio group is one tab stop: any one of its buttons stands for the whole group.
    const key = el.type === 'radio' && el.name ? `radio:${el.form ? el.form.id : ''}:${el.name}` : null;
    let index = key ? groups.findIndex((g) => g.key === key) : -1;
    if (index === -1) {
      index = groups.length;
      groups.push({key, html: el.outerHTML.slice(0, 160)});
    }
    el.dataset.kbStop = String(index);
  });
  return groups.map((g) => g.html);
}"""

FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    stop: el.dataset.kbStop ?? null,
    html: el.outerHTML.slice(0, 160),
    focusVisible: el.matches(':focus-visible'),
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth) || 0,
    boxShadow: style.boxShadow,
    inViewport: box.bottom > 0 && box.right > 0 && box.top < innerHeight && box.left < innerWidth,
  };
}"""


def _has_focus_indicator(focused: dict[str, Any]) -> bool:
    outline = focused["outlineStyle"] != "none" and focused["outlineWidth"] > 0
    shadow = focused["boxShadow"] not in ("", "none")
    return outline or shadow


def _tab_through(browsing: Browsing) -> tuple[list[str], list[dict[str, Any]]]:
    """Press Tab from the top of the page until focus comes round again; return the page's tab stops and what
    focus landed on, in order."""
    page = browsing.page
    stops = page.evaluate(MARK_INTERACTIVE_JS, INTERACTIVE)
    assert stops, "the page has nothing to tab to"
    visited: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _press in range(len(stops) * 4 + 5):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS)
        if focused is None:  # past the last element, focus leaves the document
            if visited:
                break
            continue
        if focused["stop"] is not None and visited and visited[-1]["stop"] == focused["stop"]:
            continue  # Tab moves between the parts of one field (day, month and year of a date input)
        if focused["stop"] in seen:
            break
        if focused["stop"] is not None:
            seen.add(focused["stop"])
        visited.append(focused)
    return stops, visited


def _front_page(browsing: Browsing, world: World) -> str:
    return reverse("core:home")


def _dashboard(browsing: Browsing, world: World) -> str:
    browsing.sign_in(world.user_in(Role.ADMIN))  # the administrator's front page has the most tasks
    return reverse("core:dashboard")


def _client_list(browsing: Browsing, world: World) -> str:
    browsing.sign_in(world.caseworker)
    return reverse("people:client_list")


def _choice(browsing: Browsing, world: World) -> str:
    # The comparison of providers: a wide table, a radio group and a form.
    browsing.sign_in(world.caseworker)
    return reverse("services:choice", kwargs={"line_id": world.spending()[0].line.pk})


def _claim_queue(browsing: Browsing, world: World) -> str:
    world.spending()
    browsing.sign_in(world.caseworker)
    return reverse("services:claim_queue") + "?status=disputed"


def _upload_results(browsing: Browsing, world: World) -> str:
    _spending, activity = world.spending()
    browsing.sign_in(world.user_in(Role.PROVIDER))
    return reverse("provider:upload_detail", kwargs={"upload_id": activity.upload.pk})


def _trip_leg(browsing: Browsing, world: World) -> str:
    # A leg held for review: a long list of facts and the resolution form with a radio group.
    leg = world.trips().review_leg
    browsing.sign_in(world.caseworker)
    return reverse("mobility:leg_detail", kwargs={"leg_id": leg.pk})


def _transport_month(browsing: Browsing, world: World) -> str:
    # Two wide tables of figures (purses, the month's trips).
    trips = world.trips()
    browsing.sign_in(world.caseworker)
    pickup = trips.review_leg.pickup_at
    return reverse("mobility:client_month", kwargs={"client_id": trips.rider.client.pk}) + f"?month={pickup:%Y-%m}"


def _transport_models(browsing: Browsing, world: World) -> str:
    # The comparison of transport models: a form with a fieldset, the chart (SVG) and its table.
    trips = world.trips()
    browsing.sign_in(world.caseworker)
    url = reverse("mobility:client_comparison", kwargs={"client_id": trips.rider.client.pk})
    return url + "?trips_per_month=44&work_trips_per_month=40&km_per_trip=15&can_drive=yes"


PAGES = {
    "front-page": _front_page,
    "dashboard": _dashboard,
    "client-list": _client_list,
    "choice": _choice,
    "claim-queue": _claim_queue,
    "upload-results": _upload_results,
    "trip-leg": _trip_leg,
    "transport-month": _transport_month,
    "transport-models": _transport_models,
}


@pytest.mark.parametrize("page_name", ["front-page", "dashboard", "client-list"])
def test_first_tab_focuses_the_skip_link_which_moves_focus_to_main(
    browsing: Browsing, world: World, page_name: str
) -> None:
    browsing.use_language("fi")
    browsing.goto(PAGES[page_name](browsing, world))
    page = browsing.page

    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED_JS)
    assert focused is not None, "the first Tab press focused nothing"
    assert page.evaluate("document.activeElement.classList.contains('skip-link')"), (
        f"the first Tab press focused {focused['html']}, not the skip link"
    )
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    assert focused["inViewport"], "the skip link stays off screen when focused"
    assert _has_focus_indicator(focused), "the focused skip link has no visible focus indicator"

    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'main'", timeout=5_000)

    # The next Tab continues from the main content, not from the header.
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)"), (
        f"after the skip link, Tab went to {page.evaluate(FOCUSED_JS)}"
    )


@pytest.mark.parametrize(
    "page_name", ["dashboard", "client-list", "choice", "claim-queue", "trip-leg", "transport-models"]
)
def test_every_interactive_element_is_reachable_by_tab_with_visible_focus(
    browsing: Browsing, world: World, page_name: str
) -> None:
    browsing.use_language("fi")
    browsing.goto(PAGES[page_name](browsing, world))
    browsing.assert_styles_loaded()
    stops, visited = _tab_through(browsing)

    reached = {v["stop"] for v in visited}
    unreachable = [html for index, html in enumerate(stops) if str(index) not in reached]
    assert not unreachable, "not reachable with Tab:\n" + "\n".join(unreachable)

    strays = [v["html"] for v in visited if v["stop"] is None]
    assert not strays, "Tab reached elements that do not look interactive:\n" + "\n".join(strays)

    invisible = [
        f"{v['html']} (outline {v['outlineStyle']} {v['outlineWidth']}px, box-shadow {v['boxShadow']})"
        for v in visited
        if not _has_focus_indicator(v)
    ]
    assert not invisible, "no visible focus indicator when focused:\n" + "\n".join(invisible)
    off_screen = [v["html"] for v in visited if not v["inViewport"]]
    assert not off_screen, "focused but not scrolled into view:\n" + "\n".join(off_screen)


# --- Reflow ----------------------------------------------------------------------------------------------

NO_PAGE_SCROLL_JS = """() => ({
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
  // Elements sticking out past the right edge, for the failure message (table regions scroll on their own).
  overflowing: Array.from(document.querySelectorAll('body *'))
    .filter((el) => !el.closest('.table-wrap'))
    .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .slice(0, 10)
    .map((el) => el.outerHTML.slice(0, 120)),
  tableRegions: Array.from(document.querySelectorAll('.table-wrap')).map((el) => ({
    right: el.getBoundingClientRect().right,
    scrolls: el.scrollWidth > el.clientWidth,
    overflowX: getComputedStyle(el).overflowX,
  })),
})"""


def _assert_no_horizontal_scrolling(browsing: Browsing, width: int, where: str) -> None:
    layout = browsing.page.evaluate(NO_PAGE_SCROLL_JS)
    assert layout["scrollWidth"] <= width + 1, (
        f"{where} scrolls sideways at {width} px: document is {layout['scrollWidth']} px wide. "
        f"Sticking out: {layout['overflowing']}"
    )
    for region in layout["tableRegions"]:
        assert region["right"] <= width + 1, f"{where}: a table region is wider than the screen: {region}"
        if region["scrolls"]:
            assert region["overflowX"] in {"auto", "scroll"}, f"{where}: a table is cut off: {region}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "page_name",
    ["front-page", "client-list", "choice", "upload-results", "trip-leg", "transport-month", "transport-models"],
)
def test_no_horizontal_scrolling_at_320_px(browsing: Browsing, world: World, page_name: str, language: str) -> None:
    browsing.use_language(language)
    browsing.set_width(320, 640)
    browsing.goto(PAGES[page_name](browsing, world))
    browsing.assert_styles_loaded()
    _assert_no_horizontal_scrolling(browsing, 320, f"{page_name} [{language}]")
    if language == "fi":  # for a person to look at; nothing is asserted on pixels
        ARTIFACTS.mkdir(exist_ok=True)
        browsing.page.screenshot(path=str(ARTIFACTS / f"{page_name}-320px.png"), full_page=True)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "page_name",
    ["front-page", "client-list", "choice", "upload-results", "trip-leg", "transport-month", "transport-models"],
)
def test_no_horizontal_scrolling_at_200_percent_zoom(
    browsing: Browsing, world: World, page_name: str, language: str
) -> None:
    # A 1280 px wide window zoomed to 200 % lays the page out in 640 CSS pixels. (device_scale_factor only
    # sharpens the pixels; it does not change the layout, so it is not zoom.)
    browsing.use_language(language)
    browsing.set_width(640, 400)
    browsing.goto(PAGES[page_name](browsing, world))
    browsing.assert_styles_loaded()
    assert browsing.page.evaluate("window.innerWidth") == 640
    _assert_no_horizontal_scrolling(browsing, 640, f"{page_name} [{language}] at 200 %")


# --- Language switcher -----------------------------------------------------------------------------------


def _switch_language(browsing: Browsing, language: str, *, keyboard: bool) -> None:
    page = browsing.page
    button = page.locator(f".language-switcher button[value='{language}']")
    with page.expect_navigation():
        if keyboard:
            button.focus()
            page.keyboard.press("Enter")
        else:
            button.click()


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_language_switcher_changes_the_language_and_stays_on_the_page(
    browsing: Browsing, world: World, signed_in: bool
) -> None:
    if signed_in:
        browsing.sign_in(world.caseworker)
        path = f"{reverse('people:client_list')}?q=Asiakas"
    else:
        path = reverse("core:accessibility")
    browsing.use_language("fi")
    browsing.goto(path)
    assert browsing.html_lang() == "fi"
    title_fi = browsing.page.title()

    for language, keyboard in (("sv", False), ("en", True), ("fi", False)):
        _switch_language(browsing, language, keyboard=keyboard)
        assert browsing.page.url == f"{browsing.base_url}{path}", f"switching to {language} left the page"
        assert browsing.html_lang() == language
        current = browsing.page.locator(".language-switcher button[aria-current='true']")
        assert current.count() == 1
        assert current.get_attribute("value") == language
        cookie = {c["name"]: c["value"] for c in browsing.context.cookies()}
        assert cookie.get(settings.LANGUAGE_COOKIE_NAME) == language

    assert browsing.page.title() == title_fi
