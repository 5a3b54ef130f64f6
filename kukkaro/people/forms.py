from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from kukkaro.core.roles import PASSWORD_ROLES


class StaffLoginForm(AuthenticationForm):
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


class ClientSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Name or personal identity code"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )


class TestIdentityForm(forms.Form):
    national_id = forms.CharField(
        label=_("Personal identity code"),
        max_length=11,
        help_text=_("Test identity codes only: the individual number is 900–999, for example 010180-9026."),
    )
    given_names = forms.CharField(label=_("First names"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
