"""Not-yet-released purses were labelled "<name> (not yet released)" in English when opened; the wording is now
added when the purse is shown, in the reader's language, so the stored English suffix goes."""

from django.db import migrations

SUFFIX = " (not yet released)"


def strip_suffix(apps, schema_editor):
    Purse = apps.get_model("ledger", "Purse")
    for purse in Purse.objects.filter(kind="scheduled", label__endswith=SUFFIX).only("pk", "label"):
        Purse.objects.filter(pk=purse.pk).update(label=purse.label.removesuffix(SUFFIX))
    Purse.objects.filter(kind="scheduled", label="(not yet released)").update(label="")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_alter_transfer_code")]

    operations = [migrations.RunPython(strip_suffix, migrations.RunPython.noop)]
