"""A client's case at every step, for page tests: assessment, plan, an indicative and a final budget, and a
proposed decision."""

import datetime as dt
from dataclasses import dataclass

from kukkaro.cases import services
from kukkaro.cases.models import BudgetCalculation, Decision, RateTable
from kukkaro.core import clock
from kukkaro.people.models import Client, User
from tests.cases.factories import rate_table


@dataclass
class Case:
    indicative: BudgetCalculation
    final: BudgetCalculation
    decision: Decision


def build_case(client: Client, *, worker: User) -> Case:
    if not RateTable.objects.filter(organiser=client.organiser).exists():
        rate_table(client.organiser.code, valid_from=dt.date(2020, 1, 1))
    services.assessment_create(
        actor=worker,
        client=client,
        areas={
            "mobility": {"need_level": 3, "observations": "Tarvitsee kuljetuksen.", "client_view": "Haluan liikkua."}
        },
    )
    services.support_plan_create(actor=worker, client=client, goals="Haluan käydä uimassa.", who_helped="Sisko")
    indicative = services.calculation_create_indicative(
        actor=worker,
        client=client,
        lines=[{"category": "day-activity", "quantity": 8}, {"category": "transport-trips", "quantity": 18}],
    )
    final = services.calculation_finalise(
        actor=worker,
        indicative=indicative,
        lines=[
            {"category": "day-activity", "quantity": 8, "adjustment": 5000, "adjustment_reason": "Retket"},
            {"category": "transport-trips", "quantity": 18, "borrow_limit": 4},
        ],
    )
    today = clock.today()
    decision = services.decision_draft_create(
        actor=worker,
        calculation=final,
        valid_from=today,
        valid_until=today + dt.timedelta(days=364),
        reasons="Perustelut.",
    )
    decision = services.decision_propose(actor=worker, decision=decision)
    return Case(indicative=indicative, final=final, decision=decision)


#: Pages whose calculation must be the indicative one (the others take the final one).
INDICATIVE_PAGES = {"cases:calculation_finalise"}
