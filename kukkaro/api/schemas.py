"""Schemas every part of the API shares: its error answers, and the base of every input."""

from typing import Any

from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import field_validator


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple, set)):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return False


class InputSchema(Schema):
    """The base of every request body and query: no text may carry a NUL character, which PostgreSQL cannot store
    (it was a 500; schemathesis found it). A 422 names the field like any other shape error."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError(_("The text contains a NUL character (0x00), which is not allowed."))
        return value


class ErrorOut(Schema):
    detail: str


class FieldErrorOut(Schema):
    """One problem with the input: ninja's own keys (``type``, ``loc``, ``msg``) plus the name of the input
    field and the message under plainer names, the same whether the request's shape or a service found it."""

    type: str
    loc: list[str | int]
    msg: str
    field: str
    message: str


class ValidationErrorOut(Schema):
    detail: list[FieldErrorOut]
