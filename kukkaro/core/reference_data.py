"""Reference data every installation has: the two wellbeing services counties and their municipalities
(Statistics Finland codes). Used by migration core.0004 and by tests that empty the database.

The business IDs carry valid check digits but must be confirmed from the YTJ register before production use;
the registry addresses are placeholders (e-mail under .example) that each county sets to its own.
"""

from typing import Any

ORGANISERS = [
    {
        "code": "lansi-uusimaa",
        "business_id": "3221331-8",
        "name_fi": "Länsi-Uudenmaan hyvinvointialue",
        "name_sv": "Västra Nylands välfärdsområde",
        "name_en": "Western Uusimaa Wellbeing Services County",
        "registry_fi": "Länsi-Uudenmaan hyvinvointialue, kirjaamo, PL 1, 02070 Länsi-Uudenmaan hyvinvointialue",
        "registry_sv": "Västra Nylands välfärdsområde, registratorskontoret, PB 1, 02070 Västra Nylands välfärdsområde",
        "registry_email": "kirjaamo@lansi-uusimaa.example",
        "municipalities": [
            ("049", "Espoo", "Esbo"),
            ("235", "Kauniainen", "Grankulla"),
            ("257", "Kirkkonummi", "Kyrkslätt"),
            ("444", "Lohja", "Lojo"),
            ("224", "Karkkila", "Högfors"),
            ("927", "Vihti", "Vichtis"),
        ],
    },
    {
        "code": "paijat-hame",
        "business_id": "3221347-3",
        "name_fi": "Päijät-Hämeen hyvinvointialue",
        "name_sv": "Päijänne-Tavastlands välfärdsområde",
        "name_en": "Päijät-Häme Wellbeing Services County",
        "registry_fi": "Päijät-Hämeen hyvinvointialue, kirjaamo, PL 1, 15101 Lahti",
        "registry_sv": "Päijänne-Tavastlands välfärdsområde, registratorskontoret, PB 1, 15101 Lahtis",
        "registry_email": "kirjaamo@paijat-hame.example",
        "municipalities": [
            ("398", "Lahti", "Lahtis"),
            ("098", "Hollola", "Hollola"),
            ("111", "Heinola", "Heinola"),
            ("560", "Orimattila", "Orimattila"),
            ("016", "Asikkala", "Asikkala"),
            ("081", "Hartola", "Gustav Adolfs"),
            ("142", "Iitti", "Itis"),
            ("316", "Kärkölä", "Kärkölä"),
            ("576", "Padasjoki", "Padasjoki"),
            ("781", "Sysmä", "Sysmä"),
        ],
    },
]


def ensure_reference_data(organiser_model: Any, municipality_model: Any) -> None:
    """Create or update the organisers and municipalities (idempotent). Takes the model classes so a migration
    can pass its historical models."""
    # A migration's historical model may not have every field yet: set only those it has.
    fields = {f.name for f in organiser_model._meta.get_fields()}
    for data in ORGANISERS:
        defaults = {
            "business_id": data["business_id"],
            "name": data["name_fi"],
            "name_fi": data["name_fi"],
            "name_sv": data["name_sv"],
            "name_en": data["name_en"],
            "registry_address": data["registry_fi"],
            "registry_address_fi": data["registry_fi"],
            "registry_address_sv": data["registry_sv"],
            "registry_address_en": data["registry_fi"],
            "registry_email": data["registry_email"],
        }
        organiser, _ = organiser_model.objects.update_or_create(
            code=data["code"], defaults={k: v for k, v in defaults.items() if k in fields}
        )
        for code, name_fi, name_sv in data["municipalities"]:
            municipality_model.objects.update_or_create(
                code=code,
                defaults={
                    "organiser": organiser,
                    "name": name_fi,
                    "name_fi": name_fi,
                    "name_sv": name_sv,
                    "name_en": name_fi,
                },
            )
