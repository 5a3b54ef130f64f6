"""Charts render under the site's own Content Security Policy: no inline style is refused, the bars are painted in
the series colours (a refused pygal style leaves them black) and the axis labels do not run into each other — in
Finnish, Swedish and English."""

import pytest
from django.conf import settings
from django.urls import reverse

from tests.browser.conftest import LANGUAGES, Browsing, World

pytestmark = pytest.mark.browser

#: Collects every CSP violation the page reports, from before its first byte is parsed.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""

BAR_FILLS = """() => Array.from(document.querySelectorAll("svg.pygal-chart .series rect"))
  .map((rect) => getComputedStyle(rect).fill)"""

AXIS_LABEL_BOXES = """() => Array.from(document.querySelectorAll("svg.pygal-chart .axis text"))
  .filter((text) => text.textContent.trim() && getComputedStyle(text).visibility !== "hidden")
  .map((text) => { const b = text.getBoundingClientRect();
    return {text: text.textContent.trim(), left: b.left, right: b.right, top: b.top, bottom: b.bottom}; })"""


def _overlapping(boxes: list[dict]) -> list[str]:
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]:
                pairs.append(f"{a['text']!r} and {b['text']!r}")
    return pairs


@pytest.mark.parametrize("language", LANGUAGES)
def test_transport_comparison_chart__renders_under_the_csp_with_legible_labels(
    browsing: Browsing, world: World, language: str
):
    assert "'unsafe-inline'" not in str(settings.SECURE_CSP), "the test must run under the production policy"
    trips = world.trips()
    browsing.sign_in(world.caseworker)
    browsing.use_language(language)
    browsing.page.add_init_script(RECORD_VIOLATIONS)
    url = reverse("mobility:client_comparison", kwargs={"client_id": trips.rider.client.pk})
    response = browsing.goto(url + "?trips_per_month=44&work_trips_per_month=40&km_per_trip=15&can_drive=yes")
    assert "style-src 'self'" in response.headers["content-security-policy"]
    assert browsing.html_lang() == language
    browsing.assert_styles_loaded()

    assert browsing.page.evaluate("window.__violations") == []
    fills = browsing.page.evaluate(BAR_FILLS)
    assert fills, "the chart has no bars"
    assert "rgb(0, 0, 0)" not in fills, f"bars painted black (their style was refused): {fills}"
    boxes = browsing.page.evaluate(AXIS_LABEL_BOXES)
    assert len(boxes) >= 4, boxes
    assert _overlapping(boxes) == [], "axis labels overlap"
    # The figures are in the table next to the chart, too.
    assert browsing.page.locator("table#comparison tbody tr").count() == len(
        browsing.page.locator("svg.pygal-chart .axis.x text").all_text_contents()
    )
