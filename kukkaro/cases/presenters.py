"""Decisions' purses for people: the preview of what approval does to each line's purse (from the same plan the
approval carries out, ``funding.decision_funding_plan``), and after approval each purse's periods as the ledger
has them."""

import datetime as dt
from dataclasses import dataclass, field

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kukkaro.cases.funding import LineChange, LinePlan
from kukkaro.cases.models import Decision, DecisionLine
from kukkaro.cases.selectors import format_amount
from kukkaro.core.tables import Cell, Table
from kukkaro.ledger.models import PeriodKind
from kukkaro.ledger.selectors import purse_periods


def _date(day: dt.date) -> str:
    return date_format(day, "SHORT_DATE_FORMAT")


def _period(start: dt.date, end: dt.date) -> str:
    return f"{_date(start)}\u2013{_date(end)}"


def _per_period(kind: str) -> str:
    words = {
        PeriodKind.MONTHLY: _("a month"),
        PeriodKind.QUARTERLY: _("a quarter"),
        PeriodKind.YEARLY: _("a year"),
        PeriodKind.ONCE: _("for the whole validity"),
    }
    return str(words.get(kind, kind))


@dataclass
class LineView:
    heading: str
    summary: str
    table: Table
    notes: list[str] = field(default_factory=list)


def _heading(plan: LinePlan, language: str) -> str:
    values = {"name": plan.name_in(language), "date": _date(plan.effective_from)}
    if plan.change == LineChange.ENDS and plan.ends_on is not None:
        return _("%(name)s: ends, last day %(date)s") % {**values, "date": _date(plan.ends_on)}
    if plan.change == LineChange.CHANGES:
        return _("%(name)s: changes from %(date)s") % values
    if plan.change == LineChange.CONTINUES:
        return _("%(name)s: continues unchanged from %(date)s") % values
    return _("%(name)s: new from %(date)s") % values


def _summary(plan: LinePlan) -> str:
    per = _per_period(plan.period_kind)
    values = {
        "before": format_amount(plan.before or 0, plan.unit),
        "after": format_amount(plan.after or 0, plan.unit),
        "period": per,
        "date": _date(plan.effective_from),
        "last": _date(plan.effective_from - dt.timedelta(days=1)),
    }
    if plan.change == LineChange.CHANGES:
        return (
            _(
                "%(before)s %(period)s until %(last)s and %(after)s %(period)s from %(date)s, in the same purse: "
                "what has been used stays used."
            )
            % values
        )
    if plan.change == LineChange.CONTINUES:
        return _("%(after)s %(period)s as before, in the same purse.") % values
    if plan.change == LineChange.ENDS:
        return (
            _(
                "%(before)s %(period)s until %(last)s. The purse can be used until then; what is left at the end "
                "lapses, and what was not yet released goes back to the county."
            )
            % values
        )
    return _("%(after)s %(period)s from %(date)s, in a new purse.") % values


def _shares_text(plan: LinePlan) -> str:
    first = plan.first_period
    if first is None or not first.shared:
        return ""
    parts = [
        ngettext("%(amount)s for %(days)s day", "%(amount)s for %(days)s days", share.days)
        % {"amount": format_amount(share.period_amount, plan.unit), "days": share.days}
        for share in first.shares
        if share.period_amount  # the days of a line that ended give nothing
    ]
    return _("The period %(period)s is shared by days (%(parts)s of its %(days)s): %(amount)s.") % {
        "period": _period(first.start, first.end),
        "parts": ", ".join(parts),
        "days": (first.end - first.start).days + 1,
        "amount": format_amount(first.after, plan.unit),
    }


def funding_plan_views(plans: list[LinePlan], *, language: str) -> list[LineView]:
    """What approval will do to each line's purse, period by period from the day the change begins."""
    views = []
    for plan in plans:
        rows = [p for p in plan.periods_from_start if p.before or p.after or p.released]
        corrected = any(p.released for p in rows)
        columns = [_("Period"), _("Before"), _("After")]
        if corrected:
            columns += [_("Corrected now"), _("Used already, not taken back")]
        table = Table(
            caption=plan.name_in(language),
            columns=columns,
            numeric_columns=frozenset(range(1, len(columns))),
            empty_text=_("No periods."),
            id=f"plan-{plan.code}-{plan.change}",
        )
        for row in rows:
            cells = [
                _period(row.start, row.end) + (" *" if row.shared else ""),
                Cell(format_amount(row.before, plan.unit), numeric=True),
                Cell(format_amount(row.after, plan.unit), numeric=True),
            ]
            if corrected:
                cells += [
                    Cell(format_amount(row.correction, plan.unit) if row.released else "–", numeric=True),
                    Cell(format_amount(row.uncollected, plan.unit) if row.uncollected else "–", numeric=True),
                ]
            table.add(*cells)
        notes = []
        shares = _shares_text(plan)
        if shares:
            notes.append(f"* {shares}")
        if plan.purse.uncollected:
            notes.append(
                _("%(amount)s had already been used beyond the new amounts; it is not taken back.")
                % {"amount": format_amount(plan.purse.uncollected, plan.unit)}
            )
        views.append(LineView(heading=_heading(plan, language), summary=_summary(plan), table=table, notes=notes))
    return views


def rule_text(decision: Decision) -> str:
    """The rule a replacement follows, in words, for the decision maker."""
    return _(
        "This decision replaces %(number)s from %(date)s. Every period before %(date)s keeps its amount. A period "
        "that %(date)s cuts is shared by days: the old amount for the days before %(date)s and the new amount for "
        "the days from it, rounded once to the cent, the metre or the whole trip. A period already released is "
        "corrected at once: a raise is released now, a cut takes back only what is still available. Money "
        "already used is never taken back."
    ) % {"number": decision.replaces.number if decision.replaces else "", "date": _date(decision.valid_from)}


def _purse_view(line: DecisionLine, language: str) -> LineView:
    table = Table(
        caption=line.name_in(language),
        columns=[_("Period"), _("Amount"), _("Released so far")],
        numeric_columns=frozenset({1, 2}),
        empty_text=_("No periods."),
        id=f"purse-{line.pk}",
    )
    shared = False
    for period in purse_periods(purse=line.purse):
        shared = shared or period.shared
        table.add(
            _period(period.start, period.end) + (" *" if period.shared else ""),
            Cell(format_amount(period.amount, line.purse_unit), numeric=True),
            Cell(format_amount(period.granted, line.purse_unit) if period.released else "–", numeric=True),
        )
    purse = line.purse
    summary = _("Usable %(from)s–%(until)s; available now %(available)s.") % {
        "from": _date(purse.valid_from),
        "until": _date(purse.valid_until),
        "available": format_amount(purse.available_now, line.purse_unit),
    }
    notes = ["* " + _("A replacement began inside this period: it is shared by days.")] if shared else []
    return LineView(heading=line.name_in(language), summary=summary, table=table, notes=notes)


def decision_purse_views(decision: Decision, *, language: str) -> list[LineView]:
    """The purses of an approved decision's lines as the ledger has them, and for a replacement also the purses
    of the lines it ended (they stay with the replaced decision's lines)."""
    lines = list(decision.lines.filter(purse__isnull=False).select_related("purse").order_by("category_code"))
    if decision.replaces_id:  # a line that continued took its purse along; the others still hold theirs
        lines += list(
            DecisionLine.objects.filter(decision_id=decision.replaces_id, purse__isnull=False)
            .select_related("purse")
            .order_by("category_code")
        )
    return [_purse_view(line, language) for line in lines]
