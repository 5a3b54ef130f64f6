"""A decided change of bank account keeps the reason (required when it is rejected). Changes rejected before
this get a reason that says so; the rule itself follows in 0004, in its own transaction."""

from django.db import migrations, models

LEGACY_REJECTION = "Rejected before a reason was asked for."


def forward(apps, schema_editor):
    Change = apps.get_model("services", "BankAccountChange")
    Change.objects.filter(state="rejected", reason="").update(reason=LEGACY_REJECTION)


class Migration(migrations.Migration):
    dependencies = [("services", "0006_service_type_organiser_required")]

    operations = [
        migrations.AddField(
            model_name="bankaccountchange",
            name="reason",
            field=models.TextField(blank=True, verbose_name="reason"),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
