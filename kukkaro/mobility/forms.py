"""Forms of the staff's transport pages."""

import datetime as dt
import re
from decimal import Decimal

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from kukkaro.cases.models import DecisionLine
from kukkaro.core.forms import DATE_INPUT, EuroField, Form, field_of
from kukkaro.mobility.models import CarModification, ReadingKind, TransportEntitlement
from kukkaro.mobility.presenters import REASON_TEXTS
from kukkaro.mobility.selectors import REVIEW_REASONS
from kukkaro.mobility.services import Resolution

#: A trip file sent through the web page is imported while the page waits; bigger files go through
#: ``kukkaro import_trips`` (the same code).
WEB_MAX_BYTES = 20 * 1024 * 1024


class TripUploadForm(Form):
    file = forms.FileField(
        label=_("Trip file from the dispatch centre (CSV)"),
        help_text=_("UTF-8, a header row, commas between values, a point as the decimal separator. At most 20 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > WEB_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than 20 MB. Import it with the command kukkaro import_trips.")
            )
        return upload


class ReviewFilterForm(Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        required=False,
        choices=[("", _("all reasons")), *((code, REASON_TEXTS[code]) for code in REVIEW_REASONS)],
    )


_RESOLUTIONS = [
    (Resolution.ACCEPT, _("accept: the trip is taken from the client's purse and the operator is paid")),
    (
        Resolution.REJECT,
        _("refuse: nothing is taken from the purse, the operator is not paid and may send the trip again"),
    ),
]


class LegResolveForm(Form):
    resolution = forms.ChoiceField(label=_("Resolution"), choices=_RESOLUTIONS, widget=forms.RadioSelect)
    note = forms.CharField(
        label=_("Reason for the resolution"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, may_accept: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_accept:
            field_of(self, "resolution", forms.ChoiceField).choices = [c for c in _RESOLUTIONS if c[0] != "accept"]


class MonthForm(Form):
    month = forms.CharField(
        label=_("Month"),
        required=False,
        help_text=_("As year and month, for example 2026-03."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 8}),
    )

    def clean_month(self) -> dt.date | None:
        text = (self.cleaned_data.get("month") or "").strip()
        if not text:
            return None
        match = re.fullmatch(r"(\d{4})-(\d{1,2})", text) or re.fullmatch(r"(\d{1,2})/(\d{4})", text)
        if match is None:
            raise forms.ValidationError(_("Write the month as year and month, for example 2026-03."))
        year, month = (int(match[1]), int(match[2])) if len(match[1]) == 4 else (int(match[2]), int(match[1]))
        if not (1 <= month <= 12 and 2000 <= year <= 2100):
            raise forms.ValidationError(_("Write the month as year and month, for example 2026-03."))
        return dt.date(year, month, 1)


MONTH_CHOICES = [(3, _("the last 3 months")), (6, _("the last 6 months")), (12, _("the last 12 months"))]
DRIVER_CHOICES = [
    ("", _("not known")),
    ("yes", _("yes: drives, or has a named driver")),
    ("no", _("no")),
]


class ComparisonForm(Form):
    """Which months of the client's own trips to compare by, or a pattern the worker enters instead."""

    months = forms.TypedChoiceField(
        label=_("Trips to compare by"), choices=MONTH_CHOICES, coerce=int, required=False, initial=12
    )
    can_drive = forms.ChoiceField(label=_("Could the client use a car?"), choices=DRIVER_CHOICES, required=False)
    trips_per_month = forms.IntegerField(
        label=_("One-way trips a month"),
        required=False,
        min_value=1,
        max_value=300,
        help_text=_("Fill these in to compare by a pattern instead of the client's own trips."),
    )
    work_trips_per_month = forms.IntegerField(
        label=_("Of them, work and study trips"), required=False, min_value=0, max_value=300
    )
    km_per_trip = forms.DecimalField(
        label=_("Kilometres per trip"), required=False, min_value=Decimal("0.5"), max_value=500, decimal_places=1
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        entered = [data.get(name) for name in ("trips_per_month", "km_per_trip")]
        if any(value is not None for value in entered) and not all(value is not None for value in entered):
            raise forms.ValidationError(_("For a pattern of your own, give both the trips a month and the kilometres."))
        work = data.get("work_trips_per_month") or 0
        if data.get("trips_per_month") is not None and work > data["trips_per_month"]:
            self.add_error("work_trips_per_month", _("There cannot be more work and study trips than trips."))
        return data

    def can_drive_value(self) -> bool | None:
        value = self.cleaned_data.get("can_drive") if self.is_bound and self.is_valid() else ""
        return {"yes": True, "no": False}.get(value or "")


class CohortForm(Form):
    municipality = forms.ChoiceField(label=_("Municipality"), required=False)
    months = forms.TypedChoiceField(
        label=_("Trips to compare by"), choices=MONTH_CHOICES, coerce=int, required=False, initial=12
    )

    def __init__(self, *args, municipalities=(), **kwargs):
        super().__init__(*args, **kwargs)
        field_of(self, "municipality", forms.ChoiceField).choices = [("", _("all municipalities")), *municipalities]


class _LineField(forms.ModelChoiceField[DecisionLine]):
    def label_from_instance(self, obj: DecisionLine) -> str:
        return f"{obj.name_in((get_language() or 'fi')[:2])} ({obj.decision.number})"


class _TaxiEntitlementField(forms.ModelChoiceField[TransportEntitlement]):
    def label_from_instance(self, obj: TransportEntitlement) -> str:
        return f"{obj.get_model_display()} ({obj.valid_from}–)"


class LeasingForm(Form):
    """A leasing car's contract, in euros as people type them."""

    line = _LineField(label=_("Paid from the decision's line"), queryset=None, empty_label=None)
    taxi_entitlement = _TaxiEntitlementField(
        label=_("Taxi purse alongside"), queryset=None, required=False, empty_label=_("none")
    )
    lessor = forms.CharField(label=_("Lessor"), max_length=200)
    contract_number = forms.CharField(label=_("Contract number"), max_length=64)
    vehicle = forms.CharField(label=_("Vehicle"), max_length=200, help_text=_("Make and model."))
    registration = forms.CharField(label=_("Registration number"), max_length=10, required=False)
    modifications = forms.MultipleChoiceField(
        label=_("Accessibility modifications"),
        choices=CarModification.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    starts_on = forms.DateField(label=_("First month"), widget=DATE_INPUT, help_text=_("The first day of a month."))
    contract_months = forms.IntegerField(label=_("Contract months"), min_value=1, max_value=84)
    monthly_price_cents = EuroField(label=_("Lease a month"))
    insurance_cents = EuroField(label=_("Insurance a month"), allow_zero=True)
    servicing_cents = EuroField(label=_("Servicing a month"), allow_zero=True)
    client_contribution_cents = EuroField(label=_("The client's own contribution a month"), allow_zero=True)
    included_km_per_year = forms.IntegerField(label=_("Kilometres included a year"), min_value=0, max_value=200_000)
    excess_km_cents = EuroField(
        label=_("Price of each kilometre beyond that"), help_text=_("In euros, for example 0,15.")
    )
    client_drives = forms.BooleanField(label=_("The client drives the car"), required=False)
    drivers = forms.CharField(
        label=_("Named drivers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One name a line. Needed when the client does not drive."),
    )

    def __init__(self, *args, lines=None, entitlements=None, **kwargs):
        super().__init__(*args, **kwargs)
        field_of(self, "line", forms.ModelChoiceField).queryset = lines
        field_of(self, "taxi_entitlement", forms.ModelChoiceField).queryset = entitlements

    def contract_values(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("line"), data.pop("taxi_entitlement")
        data["drivers"] = [name for name in (data.get("drivers") or "").splitlines() if name.strip()]
        return data


class OdometerForm(Form):
    """An odometer reading of a leasing car."""

    kind = forms.ChoiceField(label=_("Reading"), choices=ReadingKind.choices, widget=forms.RadioSelect)
    read_on = forms.DateField(label=_("Read on"), widget=DATE_INPUT)
    km = forms.IntegerField(label=_("Odometer (km)"), min_value=0, max_value=2_000_000)
    note = forms.CharField(
        label=_("Note"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For example who read it, or a photo's reference."),
    )
