from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "kukkaro.api"
    label = "api"
    verbose_name = "API"
