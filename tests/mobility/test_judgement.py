"""The trip judgement is declared once (``kukkaro.mobility.judgement``): every reason code in one list and order,
every limit in one place, and no path writing them again — the SQL texts are built from the constants, the words
of every code exist, and a code or limit written into an SQL text by hand fails here."""

import ast
import inspect
import re
from pathlib import Path

import pytest
from django.utils import translation

from kukkaro.mobility import (
    authorizations,
    judgement,
    presenters,
    selectors,
    services,
    trip_import_sql,
    trip_import_sql_judge,
)

#: The modules whose SQL judges trips, and the limits' and codes' words that must not be written into it.
SQL_MODULES = (trip_import_sql, trip_import_sql_judge, authorizations)


def _strings(module) -> list[tuple[int, str]]:
    """Every string written in a module (the constant parts of f-strings too), but its docstrings."""
    tree = ast.parse(Path(inspect.getsourcefile(module)).read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_reason_codes__each_once_and_in_one_order():
    assert len(set(judgement.LEG_REASONS)) == len(judgement.LEG_REASONS)
    assert judgement.LEG_REASONS == judgement.REJECTION_REASONS + judgement.REVIEW_REASONS
    assert set(judgement.BOOKING_REASONS) - set(judgement.LEG_REASONS) == {judgement.PURSE_NOT_OPEN}
    assert judgement.in_order(["fare_mismatch", "operator_not_approved", "fare_mismatch"]) == [
        "operator_not_approved",
        "fare_mismatch",
    ]


def test_reason_codes__every_one_has_words_and_the_queue_offers_every_review_reason():
    assert set(presenters.REASON_TEXTS) == set(judgement.LEG_REASONS)
    assert set(authorizations.DENIAL_TEXTS) == set(judgement.BOOKING_REASONS)
    assert set(selectors.REVIEW_REASONS) == set(judgement.REVIEW_REASONS)
    assert services.ACCEPTABLE_REASONS.issubset(judgement.REVIEW_REASONS)


def test_reason_words__name_the_judgements_limits():
    with translation.override("en"):
        assert presenters.reason_text("distance_absurd") == "the distance is over 1,000 km"
        assert presenters.reason_text("duration_absurd") == "the duration is over 24 hours"
        assert presenters.reason_text("waiting_absurd") == "the waiting time is over 10 hours"
        assert presenters.reason_text("fare_absurd") == "the fare is over 2,000 euros"
    with translation.override("fi"):
        assert "1\xa0000" in presenters.reason_text("distance_absurd")


def test_limits__the_declared_values():
    assert judgement.LIMITS == {"distance_km": 1000, "duration_min": 1440, "waiting_min": 600, "fare_cents": 200_000}
    assert not judgement.absurd("distance_km", judgement.MAX_DISTANCE_KM)
    assert judgement.absurd("fare_cents", judgement.MAX_FARE_CENTS + 1)


def test_sql_reasons__follow_the_declared_order_and_refuse_an_undeclared_code():
    sql = judgement.sql_reasons({"fare_mismatch": "x", "operator_not_approved": "y"})
    assert sql.index("'operator_not_approved'") < sql.index("'fare_mismatch'")
    with pytest.raises(ValueError, match="undeclared"):
        judgement.sql_reasons({"made_up": "true"})
    with pytest.raises(ValueError, match="plain code"):
        judgement.sql_text("it's")


@pytest.mark.parametrize("module", SQL_MODULES, ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def test_sql__no_reason_code_outcome_or_limit_is_written_by_hand(module):
    """The SQL texts take every reason code, outcome and limit from the judgement's constants: a literal
    ``'no_tariff'``, ``'accepted'`` or ``1000`` in a string of these modules is a rule written twice."""
    codes = (
        set(judgement.LEG_REASONS)
        | set(judgement.BOOKING_REASONS)
        | set(judgement.LegOutcome.values)
        | set(judgement.VEHICLE_CLASSES)
        | set(judgement.PURPOSES)
    )
    quoted = re.compile(r"'(" + "|".join(sorted(codes)) + r")'")
    limits = re.compile(r"\b(1000|1440|600|200000|24 \* 60|06:00|20:00|Europe/Helsinki)\b")
    found = [
        (line, text[:60])
        for line, text in _strings(module)
        if quoted.search(text) or (limits.search(text) and not text.startswith(("The ", "the ")))
    ]
    assert found == []
