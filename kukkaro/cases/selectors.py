"""Reads of casework, and the calculation explained in words: for the worker, and in plain language for the
client. The explanation is built from the stored snapshot, so it says what was decided even after rates change."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, override

from kukkaro.cases.models import Assessment, BudgetCalculation, Decision, ServiceUnit, SupportPlan
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, visible
from kukkaro.ledger.models import PeriodKind, Unit
from kukkaro.people.models import Client, User


@dataclass(frozen=True)
class ExplainedLine:
    code: str
    name: str
    worker_text: str
    plain_text: str
    amount_text: str
    adjustment_text: str


def latest_assessment(*, client: Client) -> Assessment | None:
    return client.assessments.prefetch_related("areas").first()


def latest_support_plan(*, client: Client) -> SupportPlan | None:
    return client.support_plans.first()


def calculations_of(*, client: Client) -> QuerySet[BudgetCalculation]:
    return client.calculations.select_related("rate_table", "created_by").order_by("-created_at")


def format_amount(amount: int, unit: str) -> str:
    """An amount in its purse unit, for people: euros, kilometres or trips."""
    if unit == Unit.EUR:
        return format_cents(amount)
    if unit == Unit.KM:
        km = Decimal(amount) / 1000
        text = f"{km:.1f}".rstrip("0").rstrip(".").replace(".", ",")
        return _("%(km)s km") % {"km": text}
    return ngettext("%(count)s trip", "%(count)s trips", amount) % {"count": amount}


def _period_words(period_kind: str) -> str:
    words = {
        PeriodKind.MONTHLY: _("a month"),
        PeriodKind.QUARTERLY: _("a quarter"),
        PeriodKind.YEARLY: _("a year"),
        PeriodKind.ONCE: _("for the whole validity"),
    }
    return str(words.get(period_kind, period_kind))


def _unit_words(service_unit: str) -> str:
    return str(ServiceUnit(service_unit).label) if service_unit in ServiceUnit.values else service_unit


def explain_calculation(*, calculation: BudgetCalculation, language: str) -> dict[str, Any]:
    """The calculation in sentences, in ``language`` (fi, sv or en)."""
    snapshot = calculation.snapshot
    with override(language):
        period = _period_words(snapshot["period_kind"])
        lines = []
        for line in snapshot["lines"]:
            name = line["name"].get(language) or line["name"]["fi"]
            amount = format_amount(line["amount_per_period"], line["purse_unit"])
            computed = format_amount(line["computed_amount"], line["purse_unit"])
            quantity = line["quantity"].rstrip("0").rstrip(".") if "." in line["quantity"] else line["quantity"]
            worker = _("%(name)s: %(quantity)s × %(unit)s at %(cost)s = %(computed)s %(period)s.") % {
                "name": name,
                "quantity": quantity.replace(".", ",") if language != "en" else quantity,
                "unit": _unit_words(line["service_unit"]),
                "cost": format_cents(line["unit_cost_cents"]),
                "computed": computed,
                "period": period,
            }
            adjustment = ""
            if line["adjustment"]:
                adjustment = _("Adjusted by %(change)s: %(reason)s") % {
                    "change": format_amount(line["adjustment"], line["purse_unit"]),
                    "reason": line["adjustment_reason"],
                }
            plain = _("You can use %(amount)s %(period)s for %(name)s.") % {
                "amount": amount,
                "period": period,
                "name": name.lower() if language != "en" else name,
            }
            lines.append(
                ExplainedLine(
                    code=line["code"],
                    name=name,
                    worker_text=worker,
                    plain_text=plain,
                    amount_text=amount,
                    adjustment_text=adjustment,
                )
            )
        totals = [
            format_amount(snapshot["totals"][unit], unit)
            for unit in (Unit.EUR, Unit.KM, Unit.TRIP)
            if unit in snapshot["totals"]
        ]
        rate_table = snapshot["rate_table"]
        basis = _("Unit costs from the rate table %(name)s, valid from %(from)s.") % {
            "name": rate_table["name"],
            "from": rate_table["valid_from"],
        }
        return {
            "lines": lines,
            "totals": totals,
            "period": period,
            "basis": basis,
            "estimated_cost": format_cents(snapshot["totals"]["estimated_cost_cents"]),
        }


def _client_read(actor: User, client: Client, action: Action) -> None:
    from kukkaro.core.audit import PURPOSE_CASEWORK
    from kukkaro.core.permissions import authorize
    from kukkaro.people.selectors import client_log_reads

    authorize(actor, action, client)
    client_log_reads(actor=actor, clients=[client], purpose=PURPOSE_CASEWORK)


def calculation_get(*, actor: User, calculation_id: Any, action: Action) -> BudgetCalculation:
    """A calculation of the actor's organiser (else DoesNotExist); the read of its client is logged."""
    calculation = (
        visible(BudgetCalculation.objects.all(), actor, action)
        .select_related("client", "client__municipality", "rate_table", "based_on")
        .get(pk=calculation_id)
    )
    _client_read(actor, calculation.client, action)
    return calculation


def decision_get(*, actor: User, decision_id: Any, action: Action) -> Decision:
    """A decision of the actor's organiser (else DoesNotExist); the read of its client is logged."""
    decision = (
        visible(Decision.objects.all(), actor, action)
        .select_related("client", "client__municipality", "calculation", "preparer", "approver", "replaces")
        .get(pk=decision_id)
    )
    _client_read(actor, decision.client, action)
    return decision


def decisions_of(*, client: Client) -> QuerySet[Decision]:
    return client.decisions.select_related("preparer", "approver").order_by("-created_at")


def effective_decisions_of(*, client: Client) -> QuerySet[Decision]:
    return client.decisions.filter(state__in=["approved", "sent"]).order_by("-valid_from")
