from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from kukkaro.cases.models import DeliveryMethod, LifeArea, NeedLevel, RateCategory
from kukkaro.core.forms import Form
from kukkaro.ledger.models import PeriodKind, Unit

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class AssessmentForm(Form):
    """One group of fields per life area: need level, the worker's observations, the client's own view."""

    summary = forms.CharField(label=_("Summary"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        levels = [("", _("not assessed")), *[(str(value), label) for value, label in NeedLevel.choices]]
        for area, _label in LifeArea.choices:
            self.fields[f"{area}_level"] = forms.ChoiceField(
                label=_("Need for support"), choices=levels, required=False
            )
            self.fields[f"{area}_observations"] = forms.CharField(
                label=_("Worker's observations"), required=False, widget=forms.Textarea(attrs={"rows": 2})
            )
            self.fields[f"{area}_client_view"] = forms.CharField(
                label=_("The client's own view, in their words"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def groups(self) -> list[tuple[str, list]]:
        return [
            (label, [self[f"{area}_level"], self[f"{area}_observations"], self[f"{area}_client_view"]])
            for area, label in LifeArea.choices
        ]

    def clean(self):
        data = super().clean()
        if not any(data.get(f"{area}_level") for area in LifeArea.values):
            raise forms.ValidationError(_("Assess at least one life area."))
        return data

    def areas(self) -> dict[str, dict]:
        return {
            area: {
                "need_level": int(self.cleaned_data[f"{area}_level"]),
                "observations": self.cleaned_data[f"{area}_observations"],
                "client_view": self.cleaned_data[f"{area}_client_view"],
            }
            for area in LifeArea.values
            if self.cleaned_data.get(f"{area}_level")
        }


class SupportPlanForm(Form):
    goals = forms.CharField(
        label=_("Goals and wishes"),
        help_text=_("In the client's own words."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    what_works = forms.CharField(label=_("What works now"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    what_should_change = forms.CharField(
        label=_("What should change"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    who_helped = forms.CharField(label=_("Who helped write the plan"), required=False, max_length=300)


def _quantity_field(category: RateCategory, language: str, initial=None) -> forms.DecimalField:
    return forms.DecimalField(
        label=f"{category.name_in(language)} ({category.get_service_unit_display()})",
        required=False,
        min_value=Decimal(0),
        max_digits=10,
        decimal_places=0 if category.purse_unit == Unit.TRIP else 2,
        initial=initial,
    )


class CalculationForm(Form):
    """Granted quantity per period for each category of the rate table (empty: not granted)."""

    period_kind = forms.ChoiceField(
        label=_("Budget period"),
        choices=[(k, v) for k, v in PeriodKind.choices if k != PeriodKind.ONCE],
        initial=PeriodKind.MONTHLY,
    )

    def __init__(self, *args, categories: list[RateCategory], language: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.categories = categories
        for category in categories:
            self.fields[f"q_{category.code}"] = _quantity_field(category, language)

    def clean(self):
        data = super().clean()
        if not self.lines():
            raise forms.ValidationError(_("Grant at least one service."))
        return data

    def lines(self) -> list[dict]:
        return [
            {"category": c.code, "quantity": self.cleaned_data[f"q_{c.code}"]}
            for c in self.categories
            if self.cleaned_data.get(f"q_{c.code}")
        ]


class FinaliseForm(Form):
    """The final budget: quantities after the support plan, and any adjustment with its reason."""

    def __init__(self, *args, lines: list, language: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.budget_lines = lines
        self.language = language
        for line in lines:
            self.fields[f"q_{line.category_code}"] = _quantity_field(
                line.category, language, initial=Decimal(line.quantity_hundredths) / 100
            )
            unit = {Unit.EUR: "€", Unit.KM: "km", Unit.TRIP: _("trips")}[line.purse_unit]
            self.fields[f"adj_{line.category_code}"] = forms.DecimalField(
                label=_("Adjustment (%(unit)s, + or −)") % {"unit": unit},
                required=False,
                max_digits=12,
                decimal_places=0 if line.purse_unit == Unit.TRIP else 2,
            )
            self.fields[f"why_{line.category_code}"] = forms.CharField(
                label=_("Reason for the adjustment"), required=False, max_length=500
            )

    def groups(self) -> list[tuple[str, list]]:
        return [
            (
                line.category.name_in(self.language),
                [self[f"q_{line.category_code}"], self[f"adj_{line.category_code}"], self[f"why_{line.category_code}"]],
            )
            for line in self.budget_lines
        ]

    def clean(self):
        data = super().clean()
        for line in self.budget_lines:
            if data.get(f"adj_{line.category_code}") and not (data.get(f"why_{line.category_code}") or "").strip():
                self.add_error(f"why_{line.category_code}", _("Every adjustment needs a reason."))
        return data

    def lines(self) -> list[dict]:
        result = []
        for line in self.budget_lines:
            quantity = self.cleaned_data.get(f"q_{line.category_code}")
            if not quantity:
                continue
            adjustment = self.cleaned_data.get(f"adj_{line.category_code}") or Decimal(0)
            scale = {Unit.EUR: 100, Unit.KM: 1000, Unit.TRIP: 1}[line.purse_unit]
            result.append(
                {
                    "category": line.category_code,
                    "quantity": quantity,
                    "adjustment": int(adjustment * scale),
                    "adjustment_reason": self.cleaned_data.get(f"why_{line.category_code}", ""),
                    "rollover_rule": line.rollover_rule,
                    "rollover_cap": line.rollover_cap,
                    "borrow_limit": line.borrow_limit,
                    "flexibility_group": line.flexibility_group,
                    "instrument": line.instrument,
                }
            )
        return result


class DecisionForm(Form):
    valid_from = forms.DateField(label=_("Valid from"), widget=DATE_INPUT)
    valid_until = forms.DateField(label=_("Valid until"), widget=DATE_INPUT)
    language = forms.ChoiceField(label=_("Language of the decision"), choices=[("fi", "suomi"), ("sv", "svenska")])
    reasons = forms.CharField(label=_("Reasons"), widget=forms.Textarea(attrs={"rows": 6}))
    replaces = forms.ChoiceField(label=_("Replaces the decision"), required=False)

    def __init__(self, *args, replaceable: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.replaceable = {str(d.pk): d for d in replaceable}
        self.fields["replaces"].choices = [("", _("nothing: a new decision"))] + [
            (str(d.pk), f"{d.number} ({d.valid_from:%d.%m.%Y}–{d.valid_until:%d.%m.%Y})") for d in replaceable
        ]

    def clean(self):
        data = super().clean()
        if data.get("valid_from") and data.get("valid_until") and data["valid_until"] < data["valid_from"]:
            self.add_error("valid_until", _("The decision ends before it begins."))
        return data


class SendForm(Form):
    method = forms.ChoiceField(label=_("How the decision was delivered"), choices=DeliveryMethod.choices)
    sent_on = forms.DateField(label=_("Date"), widget=DATE_INPUT)


class AnnulForm(Form):
    reason = forms.CharField(label=_("Reason for annulling"), widget=forms.Textarea(attrs={"rows": 3}))
