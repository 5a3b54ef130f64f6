from django.db import migrations

from kukkaro.core.reference_data import ensure_reference_data


def forward(apps, schema_editor):
    ensure_reference_data(apps.get_model("core", "Organiser"), apps.get_model("core", "Municipality"))


class Migration(migrations.Migration):
    dependencies = [("core", "0005_organiser_registry")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
