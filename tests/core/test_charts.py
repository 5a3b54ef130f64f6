"""The chart's SVG carries nothing the CSP refuses, and the stylesheet paints its series in the chart's colours."""

import re

from django.conf import settings

from kukkaro.core.charts import STYLE, horizontal_bars


def _svg() -> str:
    return str(
        horizontal_bars(
            title="Kuukausikustannus",
            labels=["Taksi", "Kilometrikukkaro", "Leasing-auto"],
            series=[("maakunta", [1200, 900, 700]), ("asiakas", [40, 30, 120])],
            formatter=lambda euros: f"{euros} €",
        )
    )


def test_horizontal_bars__has_no_inline_script_or_style():
    svg = _svg()
    assert "<script" not in svg
    assert "<style" not in svg
    assert not re.search(r"\sstyle=", svg)
    assert 'class="pygal-chart"' in svg


def test_stylesheet__paints_each_series_in_the_charts_colour():
    css = (settings.BASE_DIR / "static" / "css" / "kukkaro.css").read_text()
    for n, colour in enumerate(STYLE.colors):
        assert re.search(rf"\.pygal-chart \.color-{n} \{{ fill: {colour}; stroke: {colour}; \}}", css), colour
