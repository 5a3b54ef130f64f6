"""Payments need two people and the bank's word (1/3, the tables): prepared → released → confirmed, each
payment's outcome, the bank's status reports, the claims each payment carried and the providers a batch left
out. The data follows in 0006, the constraints in 0007 (on PostgreSQL, rows changed in a transaction block later
ALTER TABLEs on the same table in it)."""


import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_audit_append_function"),
        ("services", "0008_bank_change_rejection_has_reason"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PaymentLeftOut",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("reasons", models.JSONField(default=list)),
                ("detail", models.TextField(blank=True)),
                ("claims", models.PositiveIntegerField()),
                ("amount_cents", models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="PaymentLineClaim",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("amount_cents", models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="PaymentStatusReport",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("message_name", models.CharField(max_length=35)),
                ("message_id", models.CharField(max_length=35)),
                ("created_in_file", models.DateTimeField(blank=True, null=True)),
                ("group_status", models.CharField(blank=True, max_length=4)),
                ("filename", models.CharField(max_length=200)),
                ("sha256", models.CharField(max_length=64)),
                ("content", models.BinaryField()),
                ("accepted", models.PositiveIntegerField(default=0)),
                ("rejected", models.PositiveIntegerField(default=0)),
                ("unchanged", models.PositiveIntegerField(default=0)),
                ("imported_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["imported_at"],
            },
        ),
        migrations.AlterModelOptions(
            name="paymentbatch",
            options={
                "ordering": ["-prepared_at"],
                "verbose_name": "payment batch",
                "verbose_name_plural": "payment batches",
            },
        ),
        migrations.RenameField(
            model_name="paymentbatch",
            old_name="paid_at",
            new_name="confirmed_at",
        ),
        migrations.RenameField(
            model_name="paymentbatch",
            old_name="created_at",
            new_name="prepared_at",
        ),
        migrations.RenameField(
            model_name="paymentbatch",
            old_name="created_by",
            new_name="prepared_by",
        ),
        migrations.RenameField(
            model_name="paymentbatch",
            old_name="paid_by",
            new_name="confirmed_by",
        ),
        migrations.AddField(
            model_name="paymentbatch",
            name="cancel_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="paymentbatch",
            name="cancelled_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="paymentbatch",
            name="confirmation_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="paymentbatch",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="paymentbatch",
            name="confirmed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="paymentbatch",
            name="released_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="paymentbatch",
            name="released_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="paymentbatchline",
            name="decided_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="paymentbatchline",
            name="decided_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="paymentbatchline",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("pending", "waiting for the bank"),
                    ("accepted", "accepted by the bank"),
                    ("rejected", "rejected by the bank"),
                    ("cancelled", "batch cancelled"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="paymentbatchline",
            name="reason_code",
            field=models.CharField(blank=True, max_length=35),
        ),
        migrations.AddField(
            model_name="paymentbatchline",
            name="reason_text",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="paymentbatchline",
            name="status_code",
            field=models.CharField(blank=True, max_length=4),
        ),
        migrations.AlterField(
            model_name="paymentbatch",
            name="state",
            field=models.CharField(
                choices=[
                    ("prepared", "prepared, waiting for release"),
                    ("released", "released, waiting for the bank's answer"),
                    ("confirmed", "answered by the bank"),
                    ("cancelled", "cancelled"),
                ],
                default="prepared",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="paymentleftout",
            name="batch",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="left_out", to="services.paymentbatch"
            ),
        ),
        migrations.AddField(
            model_name="paymentleftout",
            name="provider",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="services.provider"
            ),
        ),
        migrations.AddField(
            model_name="paymentlineclaim",
            name="claim",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="payment_items", to="services.claim"
            ),
        ),
        migrations.AddField(
            model_name="paymentlineclaim",
            name="line",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="items", to="services.paymentbatchline"
            ),
        ),
        migrations.AddField(
            model_name="paymentstatusreport",
            name="batch",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="status_reports", to="services.paymentbatch"
            ),
        ),
        migrations.AddField(
            model_name="paymentstatusreport",
            name="imported_by",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="paymentbatchline",
            name="status_report",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="lines",
                to="services.paymentstatusreport",
            ),
        ),
    ]
