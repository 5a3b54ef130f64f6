"""How a decision's lines fund purses, line by line: the plan the decision maker sees before approving, the one
``services.decision_approve`` carries out, and the one the decision document words. One function makes it
(``decision_funding_plan``), from the ledger's own plan of each purse (``ledger.schedules``), so the three cannot
disagree.

A replacing decision takes over from its own start date (``valid_from``): a line it keeps continues in the same
purse with the new amount from that date, a line it drops ends the day before, a line it adds gets a new purse.
A line whose purse unit or period changes ends and starts again in a new purse (it cannot continue in the old
one). See docs/decisions/0017-replacement-from-its-own-start-date.md.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from kukkaro.cases.models import Decision, DecisionLine
from kukkaro.ledger import schedules
from kukkaro.ledger import services as ledger_services


class LineChange(models.TextChoices):
    CONTINUES = "continues", _("continues unchanged")
    CHANGES = "changes", _("changes")
    ENDS = "ends", _("ends")
    NEW = "new", _("new")


@dataclass(frozen=True)
class LinePlan:
    """What one line does at approval: its change, from which date, and its purse's periods before and after."""

    code: str
    names: dict[str, str]
    unit: str
    period_kind: str
    change: str  # LineChange
    effective_from: dt.date  # the change applies from this day (an ending line's last day is the day before)
    before: int | None  # the amount per period before (None: not granted)
    after: int | None  # after (None: no longer granted)
    old_line: DecisionLine | None
    new_line: DecisionLine | None
    purse: schedules.PurseChange

    def name_in(self, language: str) -> str:
        return self.names.get(language) or self.names["fi"]

    @property
    def ends_on(self) -> dt.date | None:
        return self.effective_from - dt.timedelta(days=1) if self.change == LineChange.ENDS else None

    @property
    def first_period(self) -> schedules.PeriodChange | None:
        """The first period the change touches: the one its start date falls in (possibly shared by days)."""
        return next((p for p in self.purse.periods if p.end >= self.effective_from), None)

    @property
    def periods_from_start(self) -> tuple[schedules.PeriodChange, ...]:
        return tuple(p for p in self.purse.periods if p.end >= self.effective_from)


def _names(line: DecisionLine) -> dict[str, str]:
    return {"fi": line.name_fi, "sv": line.name_sv, "en": line.name_en}


def _carries_on(old: DecisionLine | None, new: DecisionLine) -> bool:
    """The new line continues in the old line's purse: same unit and period, and the old purse exists."""
    return (
        old is not None
        and old.purse_id is not None
        and (old.purse_unit, old.period_kind)
        == (
            new.purse_unit,
            new.period_kind,
        )
    )


def decision_funding_plan(decision: Decision) -> list[LinePlan]:
    """The plan of every line of ``decision`` (and, for a replacement, of every line of the decision it replaces)
    as it would be carried out now. Reads only."""
    replaced = decision.replaces
    start = decision.valid_from
    previous = (
        {line.category_code: line for line in replaced.lines.select_related("purse")} if replaced is not None else {}
    )
    plans: list[LinePlan] = []
    for line in decision.lines.order_by("category_code"):
        old = previous.pop(line.category_code, None)
        if _carries_on(old, line):
            plan = ledger_services.purse_change_preview(
                purse=old.purse, effective_from=start, period_amount=line.amount_per_period, until=line.valid_until
            )
            same = old.amount_per_period == line.amount_per_period
            plans.append(
                LinePlan(
                    code=line.category_code,
                    names=_names(line),
                    unit=line.purse_unit,
                    period_kind=line.period_kind,
                    change=LineChange.CONTINUES if same else LineChange.CHANGES,
                    effective_from=start,
                    before=old.amount_per_period,
                    after=line.amount_per_period,
                    old_line=old,
                    new_line=line,
                    purse=plan,
                )
            )
            continue
        if old is not None:  # unit or period changed: the old purse ends, the line starts again in a new one
            plans.append(_ending(old, start))
        plans.append(
            LinePlan(
                code=line.category_code,
                names=_names(line),
                unit=line.purse_unit,
                period_kind=line.period_kind,
                change=LineChange.NEW,
                effective_from=line.valid_from,
                before=None,
                after=line.amount_per_period,
                old_line=None,
                new_line=line,
                purse=schedules.purse_open_plan(
                    kind=line.period_kind,
                    valid_from=line.valid_from,
                    valid_until=line.valid_until,
                    period_amount=line.amount_per_period,
                    schedule_from=replaced.valid_from if replaced is not None else None,
                ),
            )
        )
    plans += [_ending(old, start) for old in previous.values() if old.purse_id is not None]
    return sorted(plans, key=lambda p: (p.code, p.change != LineChange.ENDS))


def _ending(old: DecisionLine, start: dt.date) -> LinePlan:
    return LinePlan(
        code=old.category_code,
        names=_names(old),
        unit=old.purse_unit,
        period_kind=old.period_kind,
        change=LineChange.ENDS,
        effective_from=start,
        before=old.amount_per_period,
        after=None,
        old_line=old,
        new_line=None,
        purse=ledger_services.purse_change_preview(purse=old.purse, effective_from=start, period_amount=0),
    )


def transition_snapshot(plans: list[LinePlan]) -> list[dict[str, Any]]:
    """What the decision document says about the change of each line (frozen with the decision at approval):
    the change, from when, and the period its start shares by days, with the amount that period gets."""
    result = []
    for plan in plans:
        first = plan.first_period
        shared = first if first is not None and first.shared else None
        result.append(
            {
                "code": plan.code,
                "name": plan.names,
                "unit": plan.unit,
                "change": plan.change,
                "period_kind": plan.period_kind,
                "before": plan.before,
                "after": plan.after,
                "effective_from": plan.effective_from.isoformat(),
                "ends_on": plan.ends_on.isoformat() if plan.ends_on else None,
                "shared_period": None
                if shared is None
                else {
                    "start": shared.start.isoformat(),
                    "end": shared.end.isoformat(),
                    "amount": shared.after,
                    "shares": [
                        {"start": s.start.isoformat(), "end": s.end.isoformat(), "period_amount": s.period_amount}
                        for s in shared.shares
                    ],
                },
                "corrected": plan.purse.corrections,
                "not_taken_back": plan.purse.uncollected,
            }
        )
    return result
