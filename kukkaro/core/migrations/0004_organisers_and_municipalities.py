"""Reference data: the two wellbeing services counties and their municipalities (kukkaro.core.reference_data)."""

from django.db import migrations

from kukkaro.core.reference_data import ensure_reference_data


def forward(apps, schema_editor):
    ensure_reference_data(apps.get_model("core", "Organiser"), apps.get_model("core", "Municipality"))


class Migration(migrations.Migration):
    dependencies = [("core", "0003_audit_append_only")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
