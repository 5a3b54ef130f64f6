"""Every page of Kukkaro, read from the URL configuration, so that a new page is checked without anyone having to
remember to add it here.

``site_pages()`` walks ``django.urls.get_resolver()`` and returns one ``SitePage`` per named URL that renders a
page for a person, and per role that may see it (from ``kukkaro.core.permissions.RULES`` through the view's
``kukkaro_action``); public views are visited anonymously. ``SitePage.problem`` is set, and the page's test fails
with that text, when the suite cannot tell how to visit a URL (unnamed, undeclared permission, unknown URL
parameter).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from kukkaro.core.permissions import RULES, Action
from kukkaro.core.roles import PERSON_ROLES, Role

#: URL names that are not pages: they only redirect, act on POST, or answer machines.
NOT_PAGES = frozenset(
    {
        "set_language",  # POST-only language switch, redirects back
        "people:logout",  # POST-only sign-out, redirects
        "core:health",  # JSON for load balancers
    }
)


@dataclass(frozen=True)
class SitePage:
    name: str  # "namespace:name"
    params: tuple[str, ...]  # URL parameter names, outermost first
    role: Role | None  # None: visit anonymously (a public view)
    action: Action | None
    problem: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}[{self.role.value if self.role else 'anonymous'}]"


def _walk(patterns: list[Any], namespace: str, params: tuple[str, ...]) -> Iterator[tuple[str, Any, tuple]]:
    for entry in patterns:
        own_params = tuple(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, inner, params + own_params)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            yield name, entry, params + own_params


def site_pages() -> list[SitePage]:
    pages: list[SitePage] = []
    seen: set[str] = set()
    for name, pattern, params in _walk(get_resolver().url_patterns, "", ()):
        view = pattern.callback
        if (
            getattr(view, "kukkaro_api", False)
            or getattr(view, "kukkaro_post_only", False)
            or getattr(view, "kukkaro_not_html", False)
            or name in NOT_PAGES
        ):
            continue
        if not pattern.name:
            pages.append(
                SitePage(
                    name=f"<unnamed {pattern.pattern}>",
                    params=params,
                    role=None,
                    action=None,
                    problem=f"URL pattern {pattern.pattern!r} has no name; name it so the browser tests can visit it",
                )
            )
            continue
        if name in seen:  # the same name twice: reverse() only reaches one of them
            continue
        seen.add(name)
        action = getattr(view, "kukkaro_action", None)
        if getattr(view, "kukkaro_public", False):
            pages.append(SitePage(name=name, params=params, role=None, action=None))
        elif action is None:
            pages.append(
                SitePage(
                    name=name,
                    params=params,
                    role=None,
                    action=None,
                    problem=f"view of {name} declares neither @requires(Action…) nor @public",
                )
            )
        else:
            pages.extend(
                SitePage(name=name, params=params, role=role, action=action)
                for role in Role  # every role that may see the page, in a stable order
                if role in RULES[action].roles and role in PERSON_ROLES  # a system actor never opens a page
            )
    return pages


def url_kwargs(page: SitePage, value_for: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Values for the page's URL parameters. An unknown parameter stops the test with instructions."""
    unknown = [p for p in page.params if p not in value_for]
    if unknown:
        raise LookupError(
            f"{page.name} takes URL parameter(s) {unknown} that the browser tests do not know how to fill. "
            "Add a builder for each to url_parameter_values() in tests/browser/test_accessibility.py."
        )
    return {p: value_for[p]() for p in page.params}
