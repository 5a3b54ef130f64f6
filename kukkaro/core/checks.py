"""System checks that stop a misconfigured production deployment (`kukkaro check --deploy`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def identification_in_production(app_configs, **kwargs):
    errors = []
    adapter = getattr(settings, "IDENTIFICATION_ADAPTER", "")
    if settings.KUKKARO_ENV == "production" and "TestIdentityProvider" in adapter:
        errors.append(checks.Error("The test identity provider is enabled in production.", id="kukkaro.E001"))
    if settings.KUKKARO_ENV == "production" and not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        errors.append(checks.Error("Production runs on PostgreSQL only.", id="kukkaro.E002"))
    return errors
