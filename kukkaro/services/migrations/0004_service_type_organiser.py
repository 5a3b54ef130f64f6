"""Each organiser owns its catalogue (ADR 0022), step 1 of 3: service types get an organiser, and a code is no
longer unique across organisers. The organiser stays nullable until 0004 has given every row one."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_audit_append_function"),
        ("services", "0003_audit_target_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="servicetype",
            name="organiser",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="service_types",
                to="core.organiser",
            ),
        ),
        migrations.AlterField(
            model_name="servicetype",
            name="code",
            field=models.SlugField(max_length=40, verbose_name="code"),
        ),
    ]
