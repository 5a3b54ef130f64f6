"""Payments need two people and the bank's word (3/3, the rules): four eyes on release and on a confirmation by
hand, a reason where one is due, each state with its times; and, because a CHECK cannot look at other tables, a
trigger that refuses a release by anyone who approved (or asked for) a bank account the batch pays to."""

from django.db import migrations, models

PG_FORWARD = """
CREATE FUNCTION services_payment_release_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.released_by_id IS NOT NULL AND NEW.released_by_id IS DISTINCT FROM OLD.released_by_id AND EXISTS (
        SELECT 1
        FROM services_paymentbatchline line
        JOIN services_bankaccountchange change
            ON change.provider_id = line.provider_id AND change.iban = line.iban AND change.state = 'approved'
        WHERE line.batch_id = NEW.id
            AND (change.decided_by_id = NEW.released_by_id OR change.requested_by_id = NEW.released_by_id)
    ) THEN
        RAISE EXCEPTION 'payment batch % cannot be released by someone who approved or asked for a bank account '
            'it pays to', NEW.number USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER services_payment_release_guard
    BEFORE UPDATE OF released_by_id ON services_paymentbatch
    FOR EACH ROW EXECUTE FUNCTION services_payment_release_guard();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS services_payment_release_guard ON services_paymentbatch;
DROP FUNCTION IF EXISTS services_payment_release_guard();
"""
SQLITE_FORWARD = """
CREATE TRIGGER services_payment_release_guard
BEFORE UPDATE OF released_by_id ON services_paymentbatch
WHEN NEW.released_by_id IS NOT NULL AND EXISTS (
    SELECT 1
    FROM services_paymentbatchline line
    JOIN services_bankaccountchange change
        ON change.provider_id = line.provider_id AND change.iban = line.iban AND change.state = 'approved'
    WHERE line.batch_id = NEW.id
        AND (change.decided_by_id = NEW.released_by_id OR change.requested_by_id = NEW.released_by_id)
)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: services_batch_release_not_by_account_approver');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS services_payment_release_guard;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("services", "0010_payment_batches_from_before")]

    operations = [
        migrations.AddConstraint(
            model_name="paymentbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("released_by__isnull", True),
                    models.Q(("released_by", models.F("prepared_by")), _negated=True),
                    _connector="OR",
                ),
                name="services_batch_release_four_eyes",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("confirmed_by__isnull", True),
                    models.Q(("confirmed_by", models.F("prepared_by")), _negated=True),
                    _connector="OR",
                ),
                name="services_batch_confirm_four_eyes",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("confirmed_by__isnull", True),
                    models.Q(("confirmation_reason", ""), _negated=True),
                    _connector="OR",
                ),
                name="services_batch_manual_confirmation_has_reason",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("state__in", ["prepared", "cancelled"]), ("released_at__isnull", False), _connector="OR"
                ),
                name="services_batch_released_has_time",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "prepared"), _negated=True),
                    models.Q(("released_by__isnull", True), ("released_at__isnull", True)),
                    _connector="OR",
                ),
                name="services_batch_prepared_is_not_released",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "confirmed"), _negated=True), ("confirmed_at__isnull", False), _connector="OR"
                ),
                name="services_batch_confirmed_has_time",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "cancelled"), _negated=True),
                    models.Q(
                        ("cancelled_at__isnull", False),
                        ("released_at__isnull", True),
                        models.Q(("cancel_reason", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="services_batch_cancelled_before_release_with_reason",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentbatchline",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("outcome__in", ["pending", "cancelled"]), ("decided_at__isnull", False), _connector="OR"
                ),
                name="services_payment_outcome_has_time",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentleftout",
            constraint=models.UniqueConstraint(fields=("batch", "provider"), name="services_left_out_once"),
        ),
        migrations.AddConstraint(
            model_name="paymentlineclaim",
            constraint=models.UniqueConstraint(fields=("line", "claim"), name="services_claim_once_per_payment"),
        ),
        migrations.AddConstraint(
            model_name="paymentstatusreport",
            constraint=models.UniqueConstraint(fields=("batch", "sha256"), name="services_status_report_once"),
        ),
        migrations.RunPython(forward, backward),
    ]
