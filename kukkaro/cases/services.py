"""Writes of casework: the cases app's public face. Each is one transaction with its audit row; versions are new
rows.

Other apps (and the cases views) call these names through this module (``from kukkaro.cases import services``);
the code lives in topic modules (docs/decisions/0029), which import each other only downwards:

- ``assessments``: support records, assessments and support plans;
- ``calculations``: rate tables, line amounts, indicative and final budget calculations;
- ``decisions``: a decision drafted, proposed, approved (its lines funded through ``funding`` and the ledger),
  sent and annulled.
"""

from kukkaro.cases.assessments import assessment_create, support_plan_create, support_record_create
from kukkaro.cases.calculations import (
    calculation_create_indicative,
    calculation_finalise,
    estimated_cost_cents,
    line_amount,
    rate_table_create,
    rate_table_for,
)
from kukkaro.cases.decisions import (
    decision_annul,
    decision_approve,
    decision_draft_create,
    decision_preview_snapshot,
    decision_propose,
    decision_send,
)

__all__ = [
    "assessment_create",
    "calculation_create_indicative",
    "calculation_finalise",
    "decision_annul",
    "decision_approve",
    "decision_draft_create",
    "decision_preview_snapshot",
    "decision_propose",
    "decision_send",
    "estimated_cost_cents",
    "line_amount",
    "rate_table_create",
    "rate_table_for",
    "support_plan_create",
    "support_record_create",
]
