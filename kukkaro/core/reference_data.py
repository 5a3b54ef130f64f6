"""Reference data every installation has: the two wellbeing services counties and their municipalities
(Statistics Finland codes). Used by migration core.0004 and by tests that empty the database.

The business IDs carry valid check digits but must be confirmed from the YTJ register before production use.
"""

from typing import Any

ORGANISERS = [
    {
        "code": "lansi-uusimaa",
        "business_id": "3221331-8",
        "name_fi": "Länsi-Uudenmaan hyvinvointialue",
        "name_sv": "Västra Nylands välfärdsområde",
        "name_en": "Western Uusimaa Wellbeing Services County",
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
    for data in ORGANISERS:
        organiser, _ = organiser_model.objects.update_or_create(
            code=data["code"],
            defaults={
                "business_id": data["business_id"],
                "name": data["name_fi"],
                "name_fi": data["name_fi"],
                "name_sv": data["name_sv"],
                "name_en": data["name_en"],
            },
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
