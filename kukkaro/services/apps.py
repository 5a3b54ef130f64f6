from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicesConfig(AppConfig):
    name = "kukkaro.services"
    label = "services"
    verbose_name = _("Choice and spending")

    def ready(self) -> None:
        # Other apps ask whether a business is an approved provider through core, not by importing this app.
        from kukkaro.core.provider_register import provider_register_set
        from kukkaro.services.provider_register import REGISTER

        provider_register_set(REGISTER)
