"""The API's input types (``kukkaro.api.schemas``): every text input of every operation follows the text rule, and
numbers, dates and times are read exactly as the OpenAPI schema says (schemathesis found where pydantic alone is
more lenient). A new input without the mechanism fails the walk below."""

import datetime as dt
import types
import typing
from decimal import Decimal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from kukkaro.api.api import api
from kukkaro.api.schemas import IsoDate, IsoDateTime, Line, QueryInt, decimal_input, whole_number
from kukkaro.core.text import CODE

BAD = "ab\x0bcd"


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation (``X``, ``X | None``, ``Annotated[X, …]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    return []


def _leaves(model: type[BaseModel], path: tuple = ()) -> list[tuple]:
    """Every input field's path in a model, through nested models, by the names a request uses (a header's)."""
    found = []
    for attribute, field in model.model_fields.items():
        name = field.alias or attribute
        nested = _models(field.annotation)
        if nested:
            found += [leaf for sub in nested for leaf in _leaves(sub, (*path, name))]
        else:
            found.append((*path, name))
    return found


def _nest(path: tuple, value: object) -> dict:
    data: object = value
    for name in reversed(path):
        data = {name: data}
    return data  # type: ignore[return-value]


def _refused_at(model: type[BaseModel], path: tuple, value: object) -> list[str]:
    """The error types for ``value`` at ``path`` (an empty list: the value was taken)."""
    try:
        model.model_validate(_nest(path, value))
    except ValidationError as error:
        return [e["type"] for e in error.errors() if tuple(e["loc"][: len(path)]) == path]
    return []


def _operation_inputs() -> list[tuple[str, type[BaseModel], tuple]]:
    inputs = []
    for prefix, router in api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                for model in operation.models:
                    label = f"{'/'.join(operation.methods)} {prefix}{path}"
                    inputs += [(label, model, leaf) for leaf in _leaves(model)]
    return inputs


def test_every_api_input__every_text_refuses_a_control_character():
    """Every field of every operation's input (body, query, path, header, file), as a text and as a list of
    texts, refuses a vertical tab."""
    checked = []
    for label, model, path in _operation_inputs():
        for value in (BAD, [BAD]):
            assert _refused_at(model, path, value), f"{label}: {'.'.join(path)} takes {value!r}"
        checked.append(".".join(path[-2:]))
    # The walk found the inputs (a broken walk would check nothing).
    assert {"payload.invoice_number", "payload.supplements", "number", "Idempotency-Key", "filters.status"} <= set(
        checked
    )


def test_free_text__refused_with_the_text_rule_and_its_message():
    from kukkaro.api.providers import ClaimIn

    with pytest.raises(ValidationError) as error:
        ClaimIn.model_validate({"invoice_number": "INV\x0b1"})
    errors = {e["loc"]: e for e in error.value.errors()}
    assert errors[("invoice_number",)]["type"] == CODE
    assert "U+000B" in errors[("invoice_number",)]["msg"]


def test_free_text__a_lone_surrogate_and_nul_are_refused_too():
    adapter = TypeAdapter(Line)
    for value in ("a\ud800b", "nul\x00", "c1\x85"):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
    assert adapter.validate_python("Kotiapu Kastehelmi Oy 🚕") == "Kotiapu Kastehelmi Oy 🚕"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-03-02", dt.date(2026, 3, 2)),
        (0, None),  # schemathesis: read as 1970-01-01
        (1_700_000_000, None),
        ("1700000000", None),
        ("2026-03-02T00:00:00", None),
        ("20260302", None),
        ("2026-W10-1", None),
        ("2026-02-30", None),
        ("２０２６-０３-０２", None),  # full-width digits
        (True, None),
    ],
)
def test_iso_date__only_text_in_the_form_of_the_schema(value, ok):
    adapter = TypeAdapter(IsoDate)
    if ok is None:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
    else:
        assert adapter.validate_python(value) == ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-03-04T10:00:00+02:00", True),
        ("2026-03-04t08:00:00.5z", True),
        ("2026-03-04T10:00+02:00", False),  # RFC 3339 has seconds
        ("2026-03-04T10:00:00", False),  # and an offset
        ("2026-03-04 10:00:00+02:00", False),
        (1_772_611_200, False),
        ("1772611200", False),
    ],
)
def test_iso_date_time__rfc_3339_text_only(value, ok):
    adapter = TypeAdapter(IsoDateTime)
    if ok:
        assert adapter.validate_python(value).utcoffset() is not None
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


@pytest.mark.parametrize(
    ("value", "result"),
    [
        (250, 250),
        (250.0, 250),  # JSON Schema's integer includes it
        (250.5, None),
        ("250", None),
        (True, None),
        (0, None),
        (10**9, None),
        (float("inf"), None),
        (float("nan"), None),
    ],
)
def test_whole_number__json_schema_integers_only(value, result):
    adapter = TypeAdapter(whole_number(gt=0, le=10**8))
    if result is None:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
    else:
        assert adapter.validate_python(value) == result


@pytest.mark.parametrize(("value", "result"), [("10", 10), ("0", 0), ("3.0", 3), (7, 7)])
def test_query_int__digits(value, result):
    assert TypeAdapter(QueryInt).validate_python(value) == result


@pytest.mark.parametrize("value", [" 1", "1e3", "1.5", "", "١٢", "+1"])
def test_query_int__anything_else_is_refused(value):
    with pytest.raises(ValidationError):
        TypeAdapter(QueryInt).validate_python(value)


@pytest.mark.parametrize(
    ("value", "result"),
    [
        ("12.345", Decimal("12.345")),
        ("12", Decimal("12")),
        (12.3456, Decimal("12.346")),  # a JSON number is rounded to metres
        (0.0004, Decimal("0.000")),  # the service's rule refuses zero (a 422 of type rule)
        ("0", Decimal("0")),
        ("9999", Decimal("9999")),  # the range is the service's rule
        (1000, Decimal("1000.000")),
    ],
)
def test_decimal_input__numbers_and_digit_texts(value, result):
    assert TypeAdapter(decimal_input(maximum=1000, places=3)).validate_python(value) == result


@pytest.mark.parametrize(
    "value",
    ["", " 1", "1,5", "1.2345", "-1", "1e3", "Infinity", "NaN", "١٢", -1, 0, 1000.5, float("nan"), True, None],
)
def test_decimal_input__what_the_schema_does_not_allow_is_refused(value):
    with pytest.raises(ValidationError):
        TypeAdapter(decimal_input(maximum=1000, places=3)).validate_python(value)
