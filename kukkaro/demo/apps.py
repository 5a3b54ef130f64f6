from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Synthetic demo data. Sits at the top of the dependency chain: it may use every app, none uses it."""

    name = "kukkaro.demo"
    label = "demo"
    verbose_name = "Demo"
