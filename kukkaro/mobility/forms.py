"""Forms of the staff's transport pages."""

import datetime as dt
import re

from django import forms
from django.utils.translation import gettext_lazy as _

from kukkaro.mobility.presenters import REASON_TEXTS
from kukkaro.mobility.selectors import REVIEW_REASONS
from kukkaro.mobility.services import Resolution

#: A trip file sent through the web page is imported while the page waits; bigger files go through
#: ``kukkaro import_trips`` (the same code).
WEB_MAX_BYTES = 20 * 1024 * 1024


class TripUploadForm(forms.Form):
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


class ReviewFilterForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        required=False,
        choices=[("", _("all reasons")), *((code, REASON_TEXTS[code]) for code in REVIEW_REASONS)],
    )


class LegResolveForm(forms.Form):
    resolution = forms.ChoiceField(
        label=_("Resolution"),
        choices=[
            (Resolution.ACCEPT, _("accept: the trip is taken from the client's purse and the operator is paid")),
            (Resolution.REJECT, _("refuse: nothing is taken from the purse and the operator is not paid")),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Reason for the resolution"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, may_accept: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_accept:
            self.fields["resolution"].choices = [c for c in self.fields["resolution"].choices if c[0] != "accept"]


class MonthForm(forms.Form):
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
