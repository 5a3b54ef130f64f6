"""Schemas every part of the API shares: its error answers, the base of every input, and the input types whose
validation is exactly what the OpenAPI schema says.

The rule of this API: a request the schema allows is never refused for its shape, and a request the schema does
not allow always is (422). A request of the right shape can still be refused by a rule of the service (an unknown
service code, a date in the past): that 422 says ``"type": "rule"``. ``tests/api/test_schema.py`` holds the API to
this with schemathesis. Pydantic alone is more lenient than the schema it writes (it reads ``0`` as the date
1970-01-01 and ``" 1"`` as an integer), so the types below check the shape first."""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from kukkaro.core import text

#: The ``type`` of an error from a rule of the service, for a request of the right shape.
RULE = "rule"


def _text_error(problem: text.TextProblem) -> PydanticCustomError:
    return PydanticCustomError(text.CODE, problem.message())


def _refuse_forbidden(value: Any, *, multiline: bool = False) -> None:
    """Every text anywhere in the value (lists, objects) follows the text rule (``kukkaro.core.text``)."""
    if isinstance(value, str):
        problem = text.text_problem(value, multiline=multiline)
        if problem is not None:
            raise _text_error(problem)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _refuse_forbidden(item, multiline=multiline)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_forbidden(key, multiline=multiline)
            _refuse_forbidden(item, multiline=multiline)


@dataclass(frozen=True)
class PlainText:
    """Free text that follows the text rule, and says so in the schema (a pattern)."""

    multiline: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def check(value: str) -> str:
            _refuse_forbidden(value, multiline=self.multiline)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema = handler(schema)
        if not self.multiline:
            json_schema.setdefault("pattern", text.SINGLE_LINE_PATTERN)
        return json_schema


#: One line of free text (a name, a number, a code).
Line = Annotated[str, PlainText()]


def _integer(value: Any) -> Any:
    """JSON Schema's integer: a whole number, also when written as ``5.0``; never a boolean or a text."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", _("Give a whole number."))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_number(*, gt: int, le: int) -> Any:
    """A whole number in a JSON body, ``gt < n <= le`` (the bounds are in the schema too)."""
    return Annotated[int, Field(strict=True, gt=gt, le=le), BeforeValidator(_integer)]


_QUERY_INTEGER = re.compile(r"-?[0-9]+(\.0+)?")


def _query_integer(value: Any) -> Any:
    """A whole number in a query string, digits only (pydantic would take ``" 1"`` too)."""
    if isinstance(value, str):
        if not _QUERY_INTEGER.fullmatch(value):
            raise PydanticCustomError("int_parsing", _("Give a whole number."))
        return int(value.split(".")[0])
    return _integer(value)


QueryInt = Annotated[int, BeforeValidator(_query_integer)]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339's date-time, which JSON Schema's format means: seconds and an offset are not optional.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise PydanticCustomError("date_type", _("Give the date as text in the form 2026-03-02."))
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError("date_from_datetime_parsing", _("There is no such date.")) from exc


def _iso_date_time(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise PydanticCustomError(
            "datetime_type", _("Give the time as text in the form 2026-03-02T10:00:00+02:00, with its UTC offset.")
        )
    try:
        return dt.datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise PydanticCustomError("datetime_from_date_parsing", _("There is no such time.")) from exc


#: A date: text as 2026-03-02 only (JSON Schema's ``format: date``), never a number.
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
#: A moment: RFC 3339 text with seconds and an offset (``format: date-time``), never a number.
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_date_time)]


def decimal_input(*, maximum: int, places: int) -> Any:
    """A positive decimal, as a JSON number or as text of digits. A number is rounded half up to ``places``
    decimals (a JSON number is binary: its digits past those are noise); a text has at most ``places`` decimals.
    Whether it is above zero and at most ``maximum`` is the service's rule (a 422 of type ``rule``), as the
    schema can bound a number but not a text."""
    digits = len(str(maximum))
    pattern = rf"^[0-9]{{1,{digits}}}(\.[0-9]{{1,{places}}})?$"
    shape = re.compile(pattern)
    quantum = Decimal(1).scaleb(-places)

    def parse(value: Any) -> Decimal:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not (0 < value <= maximum):  # also refuses NaN; JSON has no infinities
                raise PydanticCustomError(
                    "decimal_range", _("Give a number above 0 and at most %(maximum)s.") % {"maximum": maximum}
                )
            return Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)
        if isinstance(value, str) and shape.fullmatch(value):
            return Decimal(value)
        raise PydanticCustomError(
            "decimal_parsing",
            _("Give a number, or a text of digits with at most %(places)s decimals after a point.")
            % {"places": places},
        )

    return Annotated[
        Decimal,
        BeforeValidator(parse),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "exclusiveMinimum": 0, "maximum": maximum},
                    {"type": "string", "pattern": pattern},
                ]
            }
        ),
    ]


class InputSchema(Schema):
    """The base of every request body and query. Any text in it, in any field however typed, follows the text
    rule (``kukkaro.core.text``): a field declared as plain ``str`` is still guarded, though only ``Line`` says so
    in the schema. A 422 names the field like any other shape error."""

    @field_validator("*", mode="after")
    @classmethod
    def _text_rule(cls, value: Any) -> Any:
        _refuse_forbidden(value)
        return value


class ErrorOut(Schema):
    detail: str


class FieldErrorOut(Schema):
    """One problem with the input: ninja's own keys (``type``, ``loc``, ``msg``) plus the name of the input
    field and the message under plainer names, the same whether the request's shape or a service found it."""

    type: str = Field(
        description=(
            "What kind of problem: pydantic's error type when the request does not have the shape the schema "
            "gives (missing, string_too_long, text_character…), or rule when it has but a rule of the service "
            "refuses it (an unknown code, a date in the past)."
        )
    )
    loc: list[str | int]
    msg: str
    field: str
    message: str


class ValidationErrorOut(Schema):
    detail: list[FieldErrorOut]
