"""The checks behind ``check_translations`` that keep codes out of sight: every audit action code has words, and
every enum label is translated and is not its raw value."""

import sys
import textwrap

import pytest
from django.conf import settings

from kukkaro.core import audit_words, translation_checks

ROOT = settings.BASE_DIR / "kukkaro"


def _tree(tmp_path, name: str, files: dict[str, str]):
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for filename, source in files.items():
        (package / filename).write_text(textwrap.dedent(source))
    return package


def test_audit_actions__every_code_in_the_code__has_words():
    assert translation_checks.audit_action_problems(ROOT, set(audit_words.described_actions())) == []


def test_audit_actions__the_scan_reads_literals_branches_dicts_and_defaults():
    uses, unreadable = translation_checks.audit_action_uses(ROOT)
    codes = {use.code for use in uses}
    # a conditional, a module-level dict, a parameter's default
    assert {"claim.client_approve", "claim.dispute", "trips.authorization_cancel", "client.read"} <= codes
    assert {"calculation.indicative", "calculation.final"} <= codes
    assert unreadable == []


def test_audit_actions__a_code_without_words__is_reported_with_where_it_is_used(tmp_path):
    package = _tree(
        tmp_path,
        "fakeapp",
        {
            "services.py": """
                from kukkaro.core.audit import audit_record

                ACTIONS = {"a": "thing.one", "b": "thing.two"}

                def f(state):
                    audit_record(action="thing.new", actor=None)
                    audit_record(action="thing.one" if state else "thing.gone", actor=None)
                    audit_record(action=ACTIONS[state], actor=None)
                    audit_record(action=f"thing.{state}", actor=None)
            """
        },
    )
    problems = translation_checks.audit_action_problems(package, {"thing.one", "thing.two"})
    assert any("fakeapp/services.py:10" in p and "cannot be read" in p for p in problems), problems
    assert any("'thing.new'" in p and "fakeapp/services.py:7" in p for p in problems), problems
    assert any("'thing.gone'" in p and "fakeapp/services.py:8" in p for p in problems), problems
    assert len(problems) == 3


def test_choices__every_label_in_kukkaro__is_translated_and_not_its_value():
    assert translation_checks.choices_problems(ROOT) == []


@pytest.fixture
def importable(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("fakechoices")]:
        del sys.modules[name]


def test_choices__a_made_up_or_untranslated_label__is_reported(importable):
    package = _tree(
        importable,
        "fakechoices",
        {
            "models.py": """
                from django.db import models
                from django.utils.translation import gettext_lazy as _

                class Colour(models.TextChoices):
                    DARK_RED = "dark_red"
                    GREEN = "green", "green"
                    BLUE = "blue", _("a colour nobody has translated")
                    CLIENT = "client", _("client")

                class Outer:
                    class Size(models.IntegerChoices):
                        SMALL = 1
            """
        },
    )
    problems = translation_checks.choices_problems(package)
    assert any(p.startswith("fakechoices.models.Colour.DARK_RED:") and "not translatable" in p for p in problems)
    assert any(p.startswith("fakechoices.models.Colour.GREEN:") and "not translatable" in p for p in problems)
    assert any(p.startswith("fakechoices.models.Colour.BLUE:") and "no fi translation" in p for p in problems)
    assert any(p.startswith("fakechoices.models.Outer.Size.SMALL:") for p in problems)
    assert not any("Colour.CLIENT" in p for p in problems), "a translated label is fine"
