from modeltranslation.translator import TranslationOptions, register

from kukkaro.services.models import ServiceType


@register(ServiceType)
class ServiceTypeTranslation(TranslationOptions):
    fields = ("name",)
    required_languages = ("fi", "sv", "en")
