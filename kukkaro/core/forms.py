"""Form helpers shared by every app, and the base of every form.

Every form of the project derives from ``Form`` (or puts ``TextInputsMixin`` in front of a Django form class it
extends), so every text field refuses the characters free text may not hold (``kukkaro.core.text``): single-line
fields all control characters, text areas all but tabs and line breaks. ``tests/core/test_text.py`` walks every
form class of the project and fails for one whose text fields do not."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext_lazy as _

from kukkaro.core.money import MoneyError, parse_cents
from kukkaro.core.text import TextValidator

#: A date picker that sends and shows ISO dates (``<input type="date">``).
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def add_validation_errors(form: Any, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: next to its field when the form has one, else on top."""
    for field, messages in getattr(error, "message_dict", {"__all__": error.messages}).items():
        form.add_error(field if field in form.fields else None, messages)


def field_of[F: forms.Field](form: forms.BaseForm, name: str, kind: type[F]) -> F:
    """``form.fields[name]`` as the kind of field it was declared as, to set its choices or queryset (Django types
    ``form.fields`` as plain fields). A TypeError if it is of another kind."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"{name} is a {type(field).__name__}, not a {kind.__name__}")
    return field


def is_multiline(field: forms.Field) -> bool:
    """A text area's text may hold tabs and line breaks; any other text field's may not."""
    return isinstance(field.widget, forms.Textarea)


def guard_text_fields(fields: dict[str, forms.Field]) -> None:
    """Give every text field (``CharField`` and its kinds: email, slug, regex, username, password…) the text rule.
    It replaces Django's own NUL check, which the rule includes, so a NUL gets one message, not two."""
    for field in fields.values():
        if not isinstance(field, forms.CharField):
            continue
        rule = TextValidator(multiline=is_multiline(field))
        field.validators = [
            v for v in field.validators if not isinstance(v, (ProhibitNullCharactersValidator, TextValidator))
        ]
        field.validators.append(rule)


class TextInputsMixin:
    """Applies the text rule to every text field of the form, those added in a subclass's ``__init__`` too (the
    check runs when the form cleans, after every ``__init__`` has run)."""

    fields: dict[str, forms.Field]

    def full_clean(self) -> None:
        guard_text_fields(self.fields)
        super().full_clean()  # type: ignore[misc]


class Form(TextInputsMixin, forms.Form):
    """The base of every form of the project."""


class EuroField(forms.CharField):
    """An amount in euros as people type it ("98,50", "1 234 €"), cleaned to integer cents above zero."""

    def __init__(self, *args: Any, allow_zero: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", _("In euros, for example 98,50."))
        super().__init__(*args, **kwargs)
        self.allow_zero = allow_zero
        self.widget.attrs.setdefault("inputmode", "decimal")

    def clean(self, value: Any) -> int | None:
        text = super().clean(value)  # the text's own checks (required, length) first
        if text in self.empty_values:
            return None
        try:
            cents = parse_cents(text)
        except MoneyError as exc:
            raise forms.ValidationError(_("Give an amount in euros, for example 98,50.")) from exc
        if cents < 0 or (cents == 0 and not self.allow_zero):
            raise forms.ValidationError(_("Give an amount above zero."))
        return cents
