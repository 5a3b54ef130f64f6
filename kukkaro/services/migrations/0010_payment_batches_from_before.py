"""Payments need two people and the bank's word (2/3, the data): batches made before are released or
confirmed, and each payment keeps the claims it carried."""

from django.db import migrations

# Batches made before two-person release were "exported" (the file downloadable at once) and "paid" (marked by
# hand, often by the person who made them). They become released and confirmed; who marked a batch paid is kept
# on its payments, because a hand confirmation by the preparer is what the new constraint refuses.
LEGACY_CONFIRMATION = "Marked paid before the bank's status reports and two-person release were in use."


def forward(apps, schema_editor):
    Batch = apps.get_model("services", "PaymentBatch")
    Line = apps.get_model("services", "PaymentBatchLine")
    Claim = apps.get_model("services", "Claim")
    LineClaim = apps.get_model("services", "PaymentLineClaim")
    for batch in Batch.objects.filter(state="exported"):
        Batch.objects.filter(pk=batch.pk).update(state="released", released_at=batch.prepared_at)
    for batch in Batch.objects.filter(state="paid"):
        confirmed_at = batch.confirmed_at or batch.prepared_at
        Line.objects.filter(batch=batch).update(
            outcome="accepted", decided_at=confirmed_at, decided_by=batch.confirmed_by_id
        )
        Batch.objects.filter(pk=batch.pk).update(
            state="confirmed",
            released_at=batch.prepared_at,
            confirmed_at=confirmed_at,
            confirmed_by=None,
            confirmation_reason=LEGACY_CONFIRMATION,
        )
    LineClaim.objects.bulk_create(
        LineClaim(line_id=line_id, claim_id=claim_id, amount_cents=amount)
        for claim_id, line_id, amount in Claim.objects.filter(payment__isnull=False).values_list(
            "pk", "payment_id", "amount_cents"
        )
    )


def backward(apps, schema_editor):
    Batch = apps.get_model("services", "PaymentBatch")
    Line = apps.get_model("services", "PaymentBatchLine")
    for batch in Batch.objects.filter(state="confirmed"):
        line = Line.objects.filter(batch=batch, decided_by__isnull=False).first()
        Batch.objects.filter(pk=batch.pk).update(
            state="paid", confirmed_by=batch.confirmed_by_id or (line.decided_by_id if line else None)
        )
    # A cancelled batch's claims were set free; it can only be shown as an exported file that was never paid.
    Batch.objects.exclude(state="paid").update(state="exported")


class Migration(migrations.Migration):
    dependencies = [("services", "0009_payments_need_two_people_and_the_bank")]

    operations = [migrations.RunPython(forward, backward)]
