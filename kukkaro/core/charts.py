"""Charts as server-side SVG (pygal, no JavaScript). A chart is never the only way to the figures: every page that
shows one shows the same figures in a table, and the SVG is hidden from screen readers, which read the table.

The page's Content Security Policy allows styles only from our own stylesheet (``style-src 'self'``), so pygal's
inline ``<style>`` element and ``style=""`` attributes are removed here and the chart is styled by the "Charts"
section of ``static/css/kukkaro.css``: an SVG inline in HTML takes the page's CSS. Without that, a browser
paints every bar and label in its default black.
"""

import re
from collections.abc import Callable, Sequence

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
_STYLE_ELEMENT = re.compile(r"<style\b.*?</style>", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r"""\sstyle=("[^"]*"|'[^']*')""")

# Dark text on white and two colours that keep a 3:1 contrast against white and against each other's shape.
# pygal only uses the colours to name its series classes here; kukkaro.css paints ``.color-N`` with these same
# values (tests/core/test_charts.py keeps the two equal).
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#595959",
    opacity="1",
    opacity_hover="1",
    colors=("#1f5a96", "#a14a00", "#2e6b30", "#6b2e8a"),
    font_family="system-ui, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    value_font_size=12,
)


def horizontal_bars(
    *, title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], formatter: Callable[[int], str]
) -> SafeString:
    """A horizontal bar chart, one group of bars per label, as an SVG element sized by its container."""
    chart = pygal.HorizontalBar(
        style=STYLE,
        js=(),
        disable_xml_declaration=True,
        explicit_size=False,
        width=720,
        height=120 + 70 * len(labels),
        legend_at_bottom=True,
        legend_at_bottom_columns=len(series),
        print_values=False,
        show_y_guides=False,
        # Few round euro amounts on the value axis, so that "12 000,00 €" never runs into its neighbour.
        max_scale=5,
        min_scale=3,
        truncate_label=-1,
        value_formatter=formatter,
    )
    chart.title = title
    chart.x_labels = list(labels)
    for name, values in series:
        chart.add(name, list(values))
    # pygal always writes its configuration as an inline script and its look as an inline style; nothing here uses
    # the script, the look comes from kukkaro.css, and the CSP forbids both.
    svg = chart.render(is_unicode=True)
    for inline in (_SCRIPT, _STYLE_ELEMENT, _STYLE_ATTRIBUTE):
        svg = inline.sub("", svg)
    return mark_safe(svg)  # noqa: S308 - pygal's own SVG; labels are escaped by it
