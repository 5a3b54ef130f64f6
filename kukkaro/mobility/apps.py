from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MobilityConfig(AppConfig):
    name = "kukkaro.mobility"
    label = "mobility"
    verbose_name = _("Mobility")

    def ready(self) -> None:
        # Entitlements name decision lines: they follow a replaced decision's lines and end with an annulled
        # decision in the approval's own transaction (cases.hooks; cases never imports mobility).
        from kukkaro.cases import hooks
        from kukkaro.mobility import services

        hooks.on_decision_replaced(services.entitlements_follow_replacement)
        hooks.on_decision_annulled(services.entitlements_end_with_decision)
