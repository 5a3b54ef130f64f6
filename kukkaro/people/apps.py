from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PeopleConfig(AppConfig):
    name = "kukkaro.people"
    label = "people"
    verbose_name = _("People")

    def ready(self) -> None:
        from kukkaro.people import receivers  # noqa: F401  (sign-in events into the audit trail)
