"""Charts as server-side SVG (pygal, no JavaScript). A chart is never the only way to the figures: every page that
shows one shows the same figures in a table, and the SVG is hidden from screen readers, which read the table."""

import re
from collections.abc import Callable, Sequence

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)

# Dark text on white and two colours that keep a 3:1 contrast against white and against each other's shape.
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
        truncate_label=-1,
        value_formatter=formatter,
    )
    chart.title = title
    chart.x_labels = list(labels)
    for name, values in series:
        chart.add(name, list(values))
    # pygal always writes its configuration as an inline script; nothing here uses it, and the CSP forbids it.
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    return mark_safe(svg)  # noqa: S308 - pygal's own SVG; labels are escaped by it
