"""A rejected change of bank account always says why."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("services", "0007_bank_change_reason")]

    operations = [
        migrations.AddConstraint(
            model_name="bankaccountchange",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "rejected"), _negated=True),
                    models.Q(("reason", ""), _negated=True),
                    _connector="OR",
                ),
                name="services_bank_change_rejection_has_reason",
            ),
        ),
    ]
