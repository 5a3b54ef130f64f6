"""Form helpers shared by every app."""

from typing import Any

from django.core.exceptions import ValidationError


def add_validation_errors(form: Any, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: next to its field when the form has one, else on top."""
    for field, messages in getattr(error, "message_dict", {"__all__": error.messages}).items():
        form.add_error(field if field in form.fields else None, messages)
