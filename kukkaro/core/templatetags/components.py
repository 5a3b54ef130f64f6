"""Reusable, accessible page components, loaded everywhere (a template builtin).

- ``{% field form.name %}``: label, hint, error, and the aria wiring between them.
- ``{% error_summary form %}``: a summary of all errors at the top of a form, each linking to its field.
- ``{% data_table table %}``: a captioned table from ``kukkaro.core.tables.Table``.
- ``{% pagination page_obj %}``: page links that keep the current query string.
- ``{% notice "info" text %}``: a status message (info, success, warning, error).
- ``{{ cents|money }}``: integer cents as "1 234,56 €" in the current language.
- ``{% allowed_url "app:name" key=value as href %}``: the URL, or "" when the signed-in user may not open it
  (``kukkaro.core.permissions.allowed_url``); wrap the link in ``{% if href %}``.
- ``{% session_timeout %}``: the warning before a signed-in session ends (``base.html`` puts it on every page).
"""

from typing import Any

from django import template
from django.conf import settings
from django.http import QueryDict

from kukkaro.core import permissions
from kukkaro.core.money import format_cents

register = template.Library()


@register.simple_tag(takes_context=True, name="allowed_url")
def allowed_url_tag(context: Any, url_name: str, *, obj: Any = None, query: str = "", **kwargs: Any) -> str:
    return permissions.allowed_url(context["request"].user, url_name, obj=obj, query=query, **kwargs)


@register.inclusion_tag("components/field.html")
def field(bound_field: Any, *, hint: str = "", autocomplete: str = "") -> dict[str, Any]:
    widget = bound_field.field.widget
    described_by = []
    if hint or bound_field.help_text:
        described_by.append(f"{bound_field.auto_id}-hint")
    if bound_field.errors:
        described_by.append(f"{bound_field.auto_id}-error")
    attrs = {}
    if described_by:
        attrs["aria-describedby"] = " ".join(described_by)
    if bound_field.errors:
        attrs["aria-invalid"] = "true"
    if autocomplete:
        attrs["autocomplete"] = autocomplete
    widget_html = bound_field.as_widget(attrs={**widget.attrs, **attrs})
    is_group = getattr(widget, "input_type", "") in {"checkbox", "radio"} and hasattr(widget, "option_template_name")
    return {
        "field": bound_field,
        "hint": hint or bound_field.help_text,
        "widget_html": widget_html,
        # Several checkboxes or radio buttons: a fieldset whose legend names the group.
        "is_group": is_group,
        "is_checkbox": not is_group and getattr(widget, "input_type", "") == "checkbox",
    }


@register.inclusion_tag("components/error_summary.html")
def error_summary(form: Any) -> dict[str, Any]:
    items = []
    if form is not None and form.errors:
        for error in form.non_field_errors():
            items.append({"href": "", "text": error})
        for bound_field in form:
            for error in bound_field.errors:
                items.append({"href": f"#{bound_field.auto_id}", "text": f"{bound_field.label}: {error}"})
    return {"items": items}


@register.inclusion_tag("components/session_timeout.html", takes_context=True)
def session_timeout(context: Any) -> dict[str, Any]:
    """The hidden dialog that ``static/js/kukkaro.js`` opens before the session ends. Its timings come from the
    settings through data attributes, its texts in the page's language from here."""
    from kukkaro.core.sessions import session_absolute_remaining

    request = context["request"]
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "idle_seconds": settings.SESSION_COOKIE_AGE,
        "lifetime_seconds": session_absolute_remaining(request),
        "warning_seconds": settings.SESSION_WARNING_SECONDS,
        "warning_minutes": max(1, -(-settings.SESSION_WARNING_SECONDS // 60)),
        "lifetime_hours": max(1, settings.SESSION_ABSOLUTE_SECONDS // 3600),
    }


@register.inclusion_tag("components/data_table.html")
def data_table(table: Any) -> dict[str, Any]:
    return {"table": table}


@register.inclusion_tag("components/pagination.html", takes_context=True)
def pagination(context: Any, page_obj: Any) -> dict[str, Any]:
    request = context["request"]

    def link(number: int) -> str:
        query: QueryDict = request.GET.copy()
        query["page"] = str(number)
        return f"?{query.urlencode()}"

    pages = []
    if page_obj is not None and page_obj.paginator.num_pages > 1:
        for number in page_obj.paginator.get_elided_page_range(page_obj.number, on_each_side=2, on_ends=1):
            if isinstance(number, int):
                pages.append({"number": number, "href": link(number), "current": number == page_obj.number})
            else:
                pages.append({"ellipsis": True})
    return {
        "page_obj": page_obj,
        "pages": pages,
        "previous_href": link(page_obj.previous_page_number()) if page_obj and page_obj.has_previous() else "",
        "next_href": link(page_obj.next_page_number()) if page_obj and page_obj.has_next() else "",
    }


@register.inclusion_tag("components/notice.html")
def notice(level: str, text: str) -> dict[str, Any]:
    if level not in {"info", "success", "warning", "error"}:
        level = "info"
    return {"level": level, "text": text}


@register.filter
def money(cents: Any) -> str:
    if cents is None or cents == "":
        return ""
    return format_cents(int(cents))
