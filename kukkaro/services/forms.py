"""Forms for providers, catalogue, choice, claims and payments. They only read input; the services check the rules
and their ValidationErrors are put back on these forms (``kukkaro.core.forms.add_validation_errors``)."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from kukkaro.core.forms import DATE_INPUT, EuroField, Form, field_of
from kukkaro.core.models import Municipality, Organiser
from kukkaro.services.models import Accessibility, Language, ProviderState, ServiceType, ServiceUnit


class QuantityField(forms.DecimalField):
    """A quantity with at most two decimals, cleaned to hundredths of a unit."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", Decimal("0.01"))
        kwargs.setdefault("max_digits", 9)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)
        self.localize = True
        self.widget.is_localized = True
        self.widget.input_type = "text"
        self.widget.attrs["inputmode"] = "decimal"

    def clean(self, value):
        quantity = super().clean(value)
        return None if quantity is None else int(quantity * 100)


def _municipality_choices(organiser_id: int | None = None) -> list[tuple[str, str]]:
    municipalities = Municipality.objects.select_related("organiser").order_by("organiser__name", "name")
    if organiser_id is not None:
        municipalities = municipalities.filter(organiser_id=organiser_id)
    return [(m.code, f"{m.name} ({m.code})") for m in municipalities]


class _ProviderDataForm(Form):
    """What a provider tells about itself, in application and later updates."""

    contact_name = forms.CharField(label=_("Contact person"), max_length=200)
    email = forms.EmailField(label=_("Email"))
    phone = forms.CharField(label=_("Phone"), max_length=40)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    description = forms.CharField(
        label=_("Description of the services"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    municipalities = forms.MultipleChoiceField(
        label=_("Municipalities served"), widget=forms.CheckboxSelectMultiple, choices=()
    )
    languages = forms.MultipleChoiceField(
        label=_("Languages served"), widget=forms.CheckboxSelectMultiple, choices=Language.choices
    )
    accessibility = forms.MultipleChoiceField(
        label=_("Accessibility"),
        widget=forms.CheckboxSelectMultiple,
        choices=Accessibility.choices,
        required=False,
    )

    def __init__(self, *args, organiser_id: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field_of(self, "municipalities", forms.ChoiceField).choices = _municipality_choices(organiser_id)

    def chosen_municipalities(self) -> list[Municipality]:
        return list(Municipality.objects.filter(code__in=self.cleaned_data["municipalities"]))


class ProviderApplicationForm(_ProviderDataForm):
    organiser: forms.ModelChoiceField[Organiser] = forms.ModelChoiceField(
        label=_("Wellbeing services county"), queryset=Organiser.objects.order_by("name"), empty_label=None
    )
    name = forms.CharField(label=_("Name of the organisation"), max_length=200)
    business_id = forms.CharField(label=_("Business ID"), max_length=12, help_text=_("For example 1234567-8."))
    soteri_number = forms.CharField(
        label=_("Soteri registration number"),
        max_length=40,
        help_text=_("The number in Soteri, the national register of social and health care service providers."),
    )
    iban = forms.CharField(label=_("IBAN"), max_length=42, help_text=_("Payments are made to this account."))
    bic = forms.CharField(label=_("BIC"), max_length=11)
    accept_rulebook = forms.BooleanField(label=_("We accept the county's rulebook for service providers."))

    field_order = ["organiser", "name", "business_id", "soteri_number"]


class ProviderUpdateForm(_ProviderDataForm):
    pass


class BankAccountForm(Form):
    iban = forms.CharField(label=_("New IBAN"), max_length=42)
    bic = forms.CharField(label=_("BIC"), max_length=11)


class ProviderStateForm(Form):
    state = forms.ChoiceField(label=_("New state"), choices=ProviderState.choices)
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Needed when the application is rejected or the provider is suspended or ended."),
    )

    def __init__(self, *args, allowed: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if allowed is not None:
            field_of(self, "state", forms.ChoiceField).choices = [(s, ProviderState(s).label) for s in allowed]


class ProviderSearchForm(Form):
    q = forms.CharField(label=_("Name or business ID"), required=False)
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("all states")), *ProviderState.choices])


class _VersionForm(Form):
    """A new version of a cap or price for a service of one organiser's catalogue (``service_types``): a service
    of another organiser is not a valid choice."""

    service_type: forms.ModelChoiceField[ServiceType] = forms.ModelChoiceField(
        label=_("Service"), queryset=ServiceType.objects.none(), empty_label=None
    )
    valid_from = forms.DateField(label=_("Valid from"), widget=DATE_INPUT)
    valid_until = forms.DateField(
        label=_("Valid until"), widget=DATE_INPUT, required=False, help_text=_("Leave empty if it stays in force.")
    )

    def __init__(self, *args, service_types: QuerySet[ServiceType], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field_of(self, "service_type", forms.ModelChoiceField).queryset = service_types


class PriceCapForm(_VersionForm):
    cap = EuroField(label=_("The county's price cap per unit"))


class ProviderPriceForm(_VersionForm):
    price = EuroField(label=_("Price per unit"))


class ChoiceOrderForm(Form):
    order = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[
            ("own_share", _("lowest own share first")),
            ("price", _("price")),
            ("name", _("name")),
        ],
    )


class AgreementForm(Form):
    """The terms of the client's choice; which provider comes from the comparison table's radio buttons."""

    quantity = QuantityField(label=_("Quantity per month"))
    valid_from = forms.DateField(label=_("Valid from"), widget=DATE_INPUT)
    valid_until = forms.DateField(label=_("Valid until"), widget=DATE_INPUT)
    endorsed = forms.BooleanField(
        label=_("The client trusts this provider: claims up to the threshold need no approval"), required=False
    )
    standing_hold = forms.BooleanField(label=_("Reserve the monthly amount in the budget"), required=False)


class AgreementEndForm(Form):
    last_day = forms.DateField(label=_("Last day of the agreement"), widget=DATE_INPUT)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class ClaimForm(Form):
    agreement = forms.ChoiceField(label=_("Service agreement"))
    service_date = forms.DateField(label=_("Service date"), widget=DATE_INPUT)
    quantity = QuantityField(label=_("Quantity"))
    unit_price = EuroField(label=_("Unit price"))
    invoice_number = forms.CharField(
        label=_("Your invoice number"), max_length=40, help_text=_("Each claim has its own number.")
    )

    def __init__(self, *args, agreements: list | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field_of(self, "agreement", forms.ChoiceField).choices = [
            (a.number, f"{a.number} – {a.service_type.name} ({a.valid_from:%d.%m.%Y}–{a.valid_until:%d.%m.%Y})")
            for a in agreements or []
        ]


class ClaimUploadForm(Form):
    file = forms.FileField(
        label=_("CSV file of claims"),
        help_text=_(
            "UTF-8, a header row with the columns agreement, service, service_date, quantity, unit_price and "
            "invoice_number."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class ClaimQueueForm(Form):
    q = forms.CharField(label=_("Invoice, provider, client or agreement"), required=False)


class ClaimDecisionForm(Form):
    """The client's (or supporter's) answer, and a worker's resolution of a dispute."""

    approve = forms.TypedChoiceField(
        label=_("Resolution"),
        choices=[("1", _("pay the claim")), ("0", _("do not pay"))],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PaymentBatchForm(Form):
    approved_until = forms.DateField(
        label=_("Pay claims approved on or before"), widget=DATE_INPUT, help_text=_("Usually the last day of a month.")
    )
    execution_date = forms.DateField(label=_("Payment date"), widget=DATE_INPUT)

    def __init__(self, *args, today: dt.date | None = None, **kwargs) -> None:
        if today is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = {
                "approved_until": today.replace(day=1) - dt.timedelta(days=1),
                "execution_date": today,
            }
        super().__init__(*args, **kwargs)


class PaymentReasonForm(Form):
    """Cancelling a prepared batch, or confirming a released one by hand: the service insists on the reason."""

    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, label: str | None = None, help_text: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if label:
            self.fields["reason"].label = label
        self.fields["reason"].help_text = help_text


#: A bank's status report of a county's batch is a few kilobytes.
STATUS_REPORT_MAX_BYTES = 5 * 1024 * 1024


class StatusReportForm(Form):
    file = forms.FileField(
        label=_("The bank's status report (pain.002, XML)"),
        help_text=_("The file the bank's web service gives for a payment file you sent. At most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xml,application/xml,text/xml"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > STATUS_REPORT_MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than any status report (5 MB)."))
        return upload


class BankChangeRejectForm(Form):
    reason = forms.CharField(
        label=_("Why is the change rejected?"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The provider is told the reason."),
    )


class SpendingPolicyForm(Form):
    approval_threshold = EuroField(
        label=_("Approval threshold"),
        help_text=_("Claims above this need the client's approval even from a provider the client trusts."),
    )
    dispute_window_days = forms.IntegerField(
        label=_("Days the client has to approve or dispute"), min_value=1, max_value=60
    )
    payment_day = forms.IntegerField(label=_("Payment day of the month"), min_value=1, max_value=28)
    debtor_name = forms.CharField(label=_("Payer name"), max_length=70)
    debtor_iban = forms.CharField(label=_("Payer IBAN"), max_length=42)
    debtor_bic = forms.CharField(label=_("Payer BIC"), max_length=11)


class ServiceTypeForm(Form):
    code = forms.SlugField(
        label=_("Code"), max_length=40, help_text=_("Short and permanent, for example day-activity.")
    )
    name_fi = forms.CharField(label=_("Name in Finnish"), max_length=200)
    name_sv = forms.CharField(label=_("Name in Swedish"), max_length=200)
    name_en = forms.CharField(label=_("Name in English"), max_length=200)
    unit = forms.ChoiceField(label=_("Unit"), choices=ServiceUnit.choices)
    category_code = forms.ChoiceField(
        label=_("Paid from the budget line"), help_text=_("A category of the county's rate table.")
    )

    def __init__(self, *args, categories: list[tuple[str, str]] | None = None, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        field_of(self, "category_code", forms.ChoiceField).choices = categories or []
        if editing:
            for name in ("code", "unit", "category_code"):
                self.fields[name].disabled = True
