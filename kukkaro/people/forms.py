from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from kukkaro.core.forms import Form, TextInputsMixin
from kukkaro.core.roles import PASSWORD_ROLES
from kukkaro.people.models import ConsentMethod


class StaffLoginForm(TextInputsMixin, AuthenticationForm):
    """Password sign-in for staff and providers. Clients and supporters have no passwords at all."""

    error_messages = {
        "invalid_login": _("The username or password is wrong."),
        "inactive": _("This account is not in use."),
    }

    def get_invalid_login_error(self) -> forms.ValidationError:
        message = _(
            "The username or password is wrong. After %(limit)d failed attempts the account is locked for "
            "%(minutes)d minutes."
        ) % {"limit": settings.AXES_FAILURE_LIMIT, "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)}
        return forms.ValidationError(message, code="invalid_login")

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if user.role not in PASSWORD_ROLES:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")


class ClientSearchForm(Form):
    q = forms.CharField(
        label=_("Name or personal identity code"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )


class TestIdentityForm(Form):
    national_id = forms.CharField(
        label=_("Personal identity code"),
        max_length=11,
        help_text=_("Test identity codes only: the individual number is 900–999, for example 010180-9026."),
    )
    given_names = forms.CharField(label=_("First names"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)


class SupporterGrantForm(Form):
    """The client names a supporter: who, what the supporter may do, for how long, and how consent was given."""

    national_id = forms.CharField(
        label=_("Supporter's personal identity code"),
        max_length=11,
        help_text=_("The supporter signs in with strong identification using this code."),
    )
    first_name = forms.CharField(label=_("Supporter's first names"), max_length=150)
    last_name = forms.CharField(label=_("Supporter's last name"), max_length=150)
    can_view = forms.BooleanField(label=_("May see the budget and its use"), required=False, initial=True)
    can_help_choose = forms.BooleanField(label=_("May help choose providers"), required=False)
    can_approve_claims = forms.BooleanField(label=_("May approve claims with the client"), required=False)
    valid_from = forms.DateField(
        label=_("Valid from"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    valid_until = forms.DateField(
        label=_("Valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    consent_given_on = forms.DateField(
        label=_("The client gave consent on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    consent_method = forms.ChoiceField(label=_("How the client gave consent"), choices=ConsentMethod.choices)


class GuardianForm(Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    scope = forms.CharField(
        label=_("Scope of the appointment"), max_length=300, help_text=_("For example: financial matters.")
    )
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    valid_from = forms.DateField(
        label=_("Valid from"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    valid_until = forms.DateField(
        label=_("Valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
