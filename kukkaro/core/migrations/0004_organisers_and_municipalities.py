"""Reference data: the two wellbeing services counties and their municipalities (Statistics Finland codes).

The business IDs carry valid check digits but must be confirmed from the YTJ register before production use.
"""

from django.db import migrations

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


def forward(apps, schema_editor):
    Organiser = apps.get_model("core", "Organiser")
    Municipality = apps.get_model("core", "Municipality")
    for data in ORGANISERS:
        organiser, _ = Organiser.objects.update_or_create(
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
            Municipality.objects.update_or_create(
                code=code,
                defaults={
                    "organiser": organiser,
                    "name": name_fi,
                    "name_fi": name_fi,
                    "name_sv": name_sv,
                    "name_en": name_fi,
                },
            )


class Migration(migrations.Migration):
    dependencies = [("core", "0003_audit_append_only")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
