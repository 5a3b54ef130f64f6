"""Each organiser owns its catalogue (ADR 0022), step 3 of 3: every service type has its organiser, and a code is
unique within an organiser's catalogue."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_audit_append_function"),
        ("services", "0005_service_types_per_organiser"),
    ]

    operations = [
        migrations.AlterField(
            model_name="servicetype",
            name="organiser",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="service_types",
                to="core.organiser",
            ),
        ),
        migrations.AddConstraint(
            model_name="servicetype",
            constraint=models.UniqueConstraint(fields=("organiser", "code"), name="services_service_code_per_organiser"),
        ),
    ]
