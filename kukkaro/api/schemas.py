"""Schemas every part of the API shares: its error answers."""

from ninja import Schema


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
