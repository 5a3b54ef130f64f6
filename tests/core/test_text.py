"""The rule for free text (``kukkaro.core.text``). That every form and every API input applies it is checked in
tests/core/test_forms.py and tests/api/test_schemas.py."""

import csv

import pytest
from django import forms
from django.utils import translation

from kukkaro.core.text import CODE, allow_long_csv_values, check_text, clean_filename, text_problem

BAD = "Hoivakoti\x0bAurinko"


@pytest.mark.parametrize(
    ("text", "position", "code_point"),
    [
        ("Kotiapu\x0bOy", 8, "U+000B"),
        ("\x00", 1, "U+0000"),
        ("tab\there", 4, "U+0009"),
        ("line\nbreak", 5, "U+000A"),
        ("cr\rlf", 3, "U+000D"),
        ("del\x7f", 4, "U+007F"),
        ("c1\x85", 3, "U+0085"),
        ("lone \ud800 surrogate", 6, "U+D800"),
        ("not\ufffe", 4, "U+FFFE"),
        ("\uffff", 1, "U+FFFF"),
    ],
)
def test_text_problem__single_line__names_the_first_forbidden_character(text, position, code_point):
    problem = text_problem(text)
    assert (problem.position, problem.code_point) == (position, code_point)


@pytest.mark.parametrize(
    "text",
    ["Kotiapu Kastehelmi Oy", "Åsa Ödmark-Ääri", "Straße € 1 234,56", "emoji 🚕 ok", "\u00a0nbsp\u202f", ""],
)
def test_text_problem__ordinary_text_of_every_script__is_clean(text):
    assert text_problem(text) is None
    assert text_problem(text, multiline=True) is None


def test_text_problem__multi_line__allows_tabs_and_line_breaks_but_no_other_control():
    assert text_problem("first\r\nsecond\n\tthird", multiline=True) is None
    assert text_problem("old mac\rline end", multiline=True).code_point == "U+000D"
    assert text_problem("ends in cr\r", multiline=True).code_point == "U+000D"
    assert text_problem("a\r\n\x0bb", multiline=True).position == 4
    assert text_problem("form\x0cfeed", multiline=True).code_point == "U+000C"
    assert text_problem("nul\x00", multiline=True).code_point == "U+0000"


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_check_text__message_names_the_character_in_each_language(language):
    with translation.override(language):
        with pytest.raises(forms.ValidationError) as error:
            check_text(BAD)
        message = error.value.messages[0]  # the message is lazy: read it in the language under test
    assert error.value.code == CODE
    assert "U+000B" in message and "10" in message
    if language != "en":
        assert "character that cannot be used" not in message


def test_clean_filename__forbidden_characters_become_replacement_characters():
    assert clean_filename("march\x0b\x00.csv", default="claims.csv") == "march\ufffd\ufffd.csv"
    assert clean_filename("", default="claims.csv") == "claims.csv"
    assert len(clean_filename("x" * 500, default="a.csv")) == 200


def test_allow_long_csv_values__only_ever_raises_the_limit():
    before = csv.field_size_limit()
    allow_long_csv_values(10)
    assert csv.field_size_limit() == before
    allow_long_csv_values(before + 1)
    assert csv.field_size_limit() == before + 1
