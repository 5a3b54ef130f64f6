from modeltranslation.translator import TranslationOptions, register

from kukkaro.core.models import Municipality, Organiser


@register(Organiser)
class OrganiserTranslation(TranslationOptions):
    fields = ("name", "registry_address")
    required_languages = ("fi", "sv")


@register(Municipality)
class MunicipalityTranslation(TranslationOptions):
    fields = ("name",)
    required_languages = ("fi", "sv")
