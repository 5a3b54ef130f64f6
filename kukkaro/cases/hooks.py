"""What other apps do when a decision is replaced or annulled, in the same transaction.

Apps to the right of ``cases`` in the dependency order (``mobility``) keep rows that point at decision lines — a
transport entitlement names the lines whose purses pay for trips. ``cases`` must not import them, so each
registers a function here from its ``AppConfig.ready()``, and ``services.decision_approve`` and
``services.decision_annul`` call every registered function inside their transaction, after the purses have moved.
A function that raises rolls the whole approval or annulment back, so the rows can never point at a line whose
purse has gone. See docs/architecture.md ("Dependency direction").
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from kukkaro.cases.models import Decision, DecisionLine
from kukkaro.people.models import User


@dataclass(frozen=True)
class Succession:
    """A line of the replaced decision and what became of it: ``new`` keeps its purse from ``starts_on`` on; None
    means the line ended the day before (dropped, or its unit or period changed and it got a new purse)."""

    old: DecisionLine
    new: DecisionLine | None


@dataclass(frozen=True)
class Replacement:
    replaced: Decision
    decision: Decision
    starts_on: dt.date
    lines: tuple[Succession, ...]

    def successor_of(self, line_id: int | None) -> DecisionLine | None:
        return next((s.new for s in self.lines if s.old.pk == line_id), None)


ReplacedHook = Callable[..., None]  # (*, actor, replacement: Replacement) -> None
AnnulledHook = Callable[..., None]  # (*, actor, decision: Decision) -> None

_replaced: list[ReplacedHook] = []
_annulled: list[AnnulledHook] = []


def on_decision_replaced(hook: ReplacedHook) -> ReplacedHook:
    """Register ``hook(actor=…, replacement=…)``, called when a replacing decision is approved."""
    if hook not in _replaced:
        _replaced.append(hook)
    return hook


def on_decision_annulled(hook: AnnulledHook) -> AnnulledHook:
    """Register ``hook(actor=…, decision=…)``, called when a decision is annulled."""
    if hook not in _annulled:
        _annulled.append(hook)
    return hook


def decision_replaced(*, actor: User, replacement: Replacement) -> None:
    for hook in _replaced:
        hook(actor=actor, replacement=replacement)


def decision_annulled(*, actor: User, decision: Decision) -> None:
    for hook in _annulled:
        hook(actor=actor, decision=decision)
