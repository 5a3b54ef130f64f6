"""Free text from people, files and other systems: one rule for the characters it may hold.

Text typed into a form, sent to the API or read from a CSV file ends up in pages, PDF letters, CSV exports and the
bank's payment files, which are XML 1.0. XML 1.0 cannot carry control characters at all (a provider's name with a
vertical tab once stopped a county's whole payment run), PostgreSQL cannot store NUL, and a lone surrogate cannot
be written as UTF-8. Such characters are invisible, so they only ever arrive by accident (copied from another
program, a broken export), and nobody needs them in a name, a number or a reason. So every free-text input
refuses, naming the character and its place:

- the C0 control characters U+0000–U+001F, DEL U+007F and the C1 control characters U+0080–U+009F, except that
  multi-line text (a text area) may hold tabs and line breaks (LF, or CR LF as browsers send them);
- the lone surrogates U+D800–U+DFFF, the byte-order mark U+FEFF (inside a text it is the seam of two files or
  exports, never meant) and the non-characters U+FFFE and U+FFFF.

This module is the rule's one home. Forms get it from ``kukkaro.core.forms.Form`` (every ``CharField``), the API
from ``kukkaro.api.schemas`` (every text of a request), the CSV readers call ``text_problem`` per value, and the
tariff files per area name. ``tests/core/test_text.py`` walks every form and every API input and checks that
each free-text field refuses such a character.
"""

import csv
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

#: The characters no text may hold: C0 controls, DEL, C1 controls, surrogates, U+FEFF, U+FFFE and U+FFFF.
FORBIDDEN_CLASS = r"\x00-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff"
#: A single-line text as a JSON Schema pattern (ECMA 262, as the API's schema states it). It leaves out the
#: surrogates, which a JSON Schema pattern cannot name (and UTF-8 JSON text cannot carry but as escapes); the API
#: refuses them all the same.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\ufeff\ufffe\uffff]*$"

_FORBIDDEN = re.compile(rf"[{FORBIDDEN_CLASS}]")
# In multi-line text a tab, a line feed and a carriage return followed by a line feed are line layout.
_FORBIDDEN_MULTILINE = re.compile(r"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")

#: The error code of a refused character (forms, API and row problems use it).
CODE = "text_character"

MESSAGE = _(
    "The text has a character that cannot be used (%(character)s, character %(position)s). Remove it: such "
    "invisible characters often come along when text is copied from another program."
)


@dataclass(frozen=True)
class TextProblem:
    """The first character a text may not hold: where it is (1 = the first character) and its code point."""

    position: int
    character: str

    @property
    def code_point(self) -> str:
        return f"U+{ord(self.character):04X}"

    def message(self) -> str:
        return str(MESSAGE) % {"character": self.code_point, "position": self.position}


def text_problem(value: str, *, multiline: bool = False) -> TextProblem | None:
    """The first character of ``value`` that free text may not hold, or None when the text is clean."""
    match = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).search(value)
    if match is None:
        return None
    return TextProblem(position=match.start() + 1, character=match.group())


def check_text(value: str, *, multiline: bool = False) -> None:
    """Raise a ValidationError (code ``text_character``) naming the first character the text may not hold."""
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise ValidationError(
            MESSAGE,
            code=CODE,
            params={"character": problem.code_point, "position": problem.position},
        )


@deconstructible
class TextValidator:
    """``check_text`` as a Django validator: single-line text by default, multi-line for text areas."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, value: object) -> None:
        if isinstance(value, str):
            check_text(value, multiline=self.multiline)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextValidator) and other.multiline == self.multiline

    def __hash__(self) -> int:
        return hash((TextValidator, self.multiline))


def allow_long_csv_values(max_chars: int) -> None:
    """Let Python's csv module read values up to ``max_chars`` long. Its own limit (128 KiB) raises in the middle
    of a file, where the row cannot be named; the file readers check a value's length themselves and make a long
    one its row's problem. The files are in memory whole and bounded already (the limit only ever grows)."""
    if csv.field_size_limit() < max_chars:
        csv.field_size_limit(max_chars)


def clean_filename(name: str | None, *, default: str, max_length: int = 200) -> str:
    """An uploaded file's name as stored and shown: what the rule forbids becomes U+FFFD (a file's name is not
    something people can easily correct, and it is only shown), at most ``max_length`` characters."""
    return _FORBIDDEN.sub("\ufffd", name or default)[:max_length] or default
