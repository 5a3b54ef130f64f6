"""System checks that stop a misconfigured deployment (`kukkaro check`, `kukkaro check --deploy`)."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.security, deploy=True)
def identification_in_production(app_configs, **kwargs):
    errors = []
    adapter = getattr(settings, "IDENTIFICATION_ADAPTER", "")
    if settings.KUKKARO_ENV == "production" and "TestIdentityProvider" in adapter:
        errors.append(checks.Error("The test identity provider is enabled in production.", id="kukkaro.E001"))
    if settings.KUKKARO_ENV == "production" and not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        errors.append(checks.Error("Production runs on PostgreSQL only.", id="kukkaro.E002"))
    return errors


@checks.register(checks.Tags.security)
def audit_keys(app_configs, **kwargs):
    """The audit chain's keys must parse wherever Kukkaro runs (ADR 0020). A missing key or the public
    development key in production stops the settings themselves."""
    from kukkaro.core.audit import parse_keyring

    try:
        parse_keyring(settings.AUDIT_HMAC_KEYS)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="kukkaro.E003")]
    return []
