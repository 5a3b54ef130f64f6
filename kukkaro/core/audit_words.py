"""What each audit action code means, in words people read — the one place presenters get them from.

An audit row stores a short code (``claim.submit``, ``ledger.purse_open``); nobody should ever read one. Each app
says what its own codes mean in ``kukkaro/<app>/audit_actions.py``::

    from kukkaro.core.audit_words import AuditWords

    ACTIONS = {
        "claim.submit": AuditWords(_("submitted a claim")),
        "client.read": AuditWords(_("viewed a client's data"), for_subject=_("viewed your data")),
    }

``text`` is what the organisation's audit log shows ("who did what"); ``for_subject`` is how the same event reads
in the access log of the person it concerns (staff see that log as the client does), and defaults to ``text``.
Every installed app's ``audit_actions`` module is read on first use (as Django's admin finds ``admin.py``), so
``core`` names no app, and an app adds a code by adding one line to its own module.

An app may also say who an actor is when the role alone would mislead: ``AFFILIATIONS`` in the same module is
a function from a list of user ids to ``{user_id: "words"}`` (a provider's employee reads as their provider,
not as the county's staff).

``check_translations`` (run by ``./dev lint``) fails when a code written anywhere in ``kukkaro/`` has no entry
here, naming the code and the file and line that writes it (``kukkaro.core.translation_checks``).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule
from django.utils.translation import gettext_lazy as _

from kukkaro.core import audit
from kukkaro.core.roles import Role


@dataclass(frozen=True)
class AuditWords:
    text: Any  # a lazy translation
    for_subject: Any = None

    @property
    def subject_text(self) -> Any:
        return self.for_subject if self.for_subject is not None else self.text


#: The audit trail's own events (``core``).
ACTIONS: dict[str, AuditWords] = {
    "audit.verify": AuditWords(_("checked that the audit trail is intact")),
    "audit.head_invalid": AuditWords(_("found the audit trail's end record missing or altered")),
}

#: Why a client's data was read (``kukkaro.core.audit.PURPOSE_*``), as the client reads it.
PURPOSES: dict[str, Any] = {
    audit.PURPOSE_CASEWORK: _("handling your matter"),
    audit.PURPOSE_SEARCH: _("search in the client register"),
    audit.PURPOSE_ACCESS_LOG_REVIEW: _("checking who has viewed your data"),
    audit.PURPOSE_SELF_SERVICE: _("you used the service yourself"),
    audit.PURPOSE_SUPPORT: _("supporting you"),
    audit.PURPOSE_CLAIMS: _("checking and paying for your services"),
    audit.PURPOSE_TRIPS: _("checking your transport trips"),
}

#: Shown for a code that has no words (an old row of a code since removed); never the code itself.
UNKNOWN_ACTION = _("another event")

MODULE = "audit_actions"

UNKNOWN_TARGET = _("a record")

_registry: dict[str, AuditWords] = {}
_affiliations: list[Callable[[list[int]], dict[int, str]]] = []


def _load() -> dict[str, AuditWords]:
    if not _registry:
        registry = dict(ACTIONS)
        affiliations: list[Callable[[list[int]], dict[int, str]]] = []
        for config in apps.get_app_configs():
            if not module_has_submodule(config.module, MODULE):
                continue
            module = import_module(f"{config.name}.{MODULE}")
            for code, words in getattr(module, "ACTIONS", {}).items():
                if code in registry:
                    raise ValueError(f"audit action {code!r} is described twice (again in {module.__name__})")
                registry[code] = words
            if hasattr(module, "AFFILIATIONS"):
                affiliations.append(module.AFFILIATIONS)
        _affiliations[:] = affiliations
        _registry.update(registry)
    return _registry


def described_actions() -> dict[str, AuditWords]:
    """Every described code and its words."""
    return dict(_load())


def action_text(code: str, *, for_subject: bool = False) -> str:
    words = _load().get(code)
    if words is None:
        return str(UNKNOWN_ACTION)
    return str(words.subject_text if for_subject else words.text)


def purpose_text(purpose: str) -> str:
    if not purpose:
        return "–"
    return str(PURPOSES.get(purpose, UNKNOWN_ACTION))


def actor_text(event: Any, affiliations: dict[int, str]) -> str:
    """Who did it, as a log's reader needs to know them: the name with the role and organisation — or, for
    someone who works for a provider, the provider (``actor_affiliations``)."""
    who = event.actor_label or str(_("the system"))
    if event.actor_id in affiliations:
        return f"{who}, {affiliations[event.actor_id]}"
    role = str(Role(event.actor_role).label) if event.actor_role in Role.values else ""
    if role:
        who = f"{who} ({role}{', ' + event.organiser.name if event.organiser_id else ''})"
    return who


def target_text(target_type: str) -> str:
    """What kind of thing an event was about ("decision"), from the model's own translated name."""
    if not target_type:
        return "–"
    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return str(UNKNOWN_TARGET)
    if "verbose_name" not in model._meta.original_attrs:
        return str(UNKNOWN_TARGET)  # Django's made-up English name would show untranslated
    return str(model._meta.verbose_name)


def actor_affiliations(user_ids: Iterable[int | None]) -> dict[int, str]:
    """Words that say whom each actor works for, where an app knows better than the role (see module doc)."""
    _load()
    ids = sorted({pk for pk in user_ids if pk is not None})
    found: dict[int, str] = {}
    if ids:
        for affiliation in _affiliations:
            found.update(affiliation(ids))
    return found
