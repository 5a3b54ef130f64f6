"""Drop four single-column indexes of ledger_transfer that other indexes already cover (ADR 0010):
debit_purse and credit_purse lead the (purse, created_at) indexes, pending is covered by the unique
"resolved once" index, and nothing looks transfers up by actor. Every index is work on every transfer.

The indexes are dropped by name. A plain AlterField(db_index=False) is not safe here: on PostgreSQL Django picked
the unique partial index ``ledger_hold_resolved_once`` on the same column to drop instead of the plain one (which
let a hold be resolved twice, caught by the concurrency test), and on SQLite it rebuilds the table, which drops
the append-only trigger. Index names are the same on both databases."""

from django.conf import settings
from django.db import migrations, models

INDEXES = [
    ("ledger_transfer_actor_id_0f31e776", "actor_id"),
    ("ledger_transfer_credit_purse_id_456e0b10", "credit_purse_id"),
    ("ledger_transfer_debit_purse_id_63f9255f", "debit_purse_id"),
    ("ledger_transfer_pending_id_d4b0cd6d", "pending_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0003_paid_system_purses"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "ledger_transfer" ("{column}")',
                )
                for name, column in INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="transfer",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="credit_purse",
                    field=models.ForeignKey(
                        db_index=False, on_delete=models.deletion.PROTECT, related_name="credits", to="ledger.purse"
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="debit_purse",
                    field=models.ForeignKey(
                        db_index=False, on_delete=models.deletion.PROTECT, related_name="debits", to="ledger.purse"
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="pending",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        related_name="resolutions",
                        to="ledger.transfer",
                    ),
                ),
            ],
        ),
    ]
