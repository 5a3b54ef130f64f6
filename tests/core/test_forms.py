"""Every form of the project applies the text rule (``kukkaro.core.forms``): a new form or text field without it
fails here."""

import importlib
import pkgutil
from types import SimpleNamespace

import pytest
from django import forms

import kukkaro
from kukkaro.core.forms import Form, field_of
from kukkaro.core.text import CODE
from kukkaro.ledger.models import Unit

BAD = "Hoivakoti\x0bAurinko"


def _project_modules() -> None:
    for module in pkgutil.walk_packages(kukkaro.__path__, "kukkaro."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _line() -> SimpleNamespace:
    """Enough of a budget line for FinaliseForm to add its fields (its adjustment reason is a text field)."""
    category = SimpleNamespace(name_in=lambda _language: "Päivätoiminta", get_service_unit_display=lambda: "day")
    category.purse_unit = Unit.EUR
    return SimpleNamespace(category_code="day", category=category, quantity_hundredths=100, purse_unit=Unit.EUR)


#: What a form needs to be built, for those that need more than data. A new form that needs arguments goes here.
FORM_ARGUMENTS = {
    "CalculationForm": lambda: {"categories": [], "language": "fi"},
    "FinaliseForm": lambda: {"lines": [_line()], "language": "fi"},
    "DecisionForm": lambda: {"replaceable": []},
    **dict.fromkeys(("_VersionForm", "PriceCapForm", "ProviderPriceForm"), lambda: {"service_types": _no_services()}),
}


def _no_services():
    from kukkaro.services.models import ServiceType

    return ServiceType.objects.none()


def _project_forms() -> list[type]:
    _project_modules()
    return sorted(
        (f for f in _subclasses(forms.BaseForm) if f.__module__.startswith("kukkaro.")),
        key=lambda f: f"{f.__module__}.{f.__qualname__}",
    )


def _errors(form_class: type, data: dict[str, str]) -> dict[str, list]:
    arguments = FORM_ARGUMENTS.get(form_class.__name__, dict)()
    form = form_class(data=data, **arguments)
    form.is_valid()
    return form.errors.as_data()


def _text_fields(form_class: type) -> dict[str, forms.CharField]:
    arguments = FORM_ARGUMENTS.get(form_class.__name__, dict)()
    form = form_class(**arguments)
    return {name: field for name, field in form.fields.items() if isinstance(field, forms.CharField)}


@pytest.mark.django_db
def test_every_form__every_text_field_refuses_a_control_character():
    """Walks every form class of the project (a form that needs arguments to be built names them in
    FORM_ARGUMENTS). Each text field, given a vertical tab inside its text, must answer with the text rule's
    error; a text area must still take tabs and line breaks."""
    checked = []
    for form_class in _project_forms():
        for name, field in _text_fields(form_class).items():
            codes = [error.code for error in _errors(form_class, {name: BAD}).get(name, [])]
            assert CODE in codes, f"{form_class.__qualname__}.{name} takes a vertical tab"
            if isinstance(field.widget, forms.Textarea):
                lines = _errors(form_class, {name: "Ensin\r\nsitten\tsarkain\nja loppu"}).get(name, [])
                assert CODE not in [error.code for error in lines], f"{form_class.__qualname__}.{name}"
            else:
                codes = [error.code for error in _errors(form_class, {name: "kaksi\nriviä"}).get(name, [])]
                assert CODE in codes, f"{form_class.__qualname__}.{name} takes a line break"
            checked.append(f"{form_class.__qualname__}.{name}")
    # The walk found the forms (a broken walk would check nothing): the provider's name is the one that once
    # stopped a payment run.
    assert "ProviderApplicationForm.name" in checked
    assert "FinaliseForm.why_day" in checked
    assert "StaffLoginForm.username" in checked
    assert len(checked) > 60


def test_field_of__gives_the_field_as_its_kind_and_refuses_another():
    class Choosing(Form):
        colour = forms.ChoiceField(choices=[("red", "red")])
        note = forms.CharField()

    form = Choosing()
    assert field_of(form, "colour", forms.ChoiceField) is form.fields["colour"]
    with pytest.raises(TypeError):
        field_of(form, "note", forms.ChoiceField)
