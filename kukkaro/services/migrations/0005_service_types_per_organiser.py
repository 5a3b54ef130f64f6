"""Each organiser owns its catalogue (ADR 0022), step 2 of 3: split the global service types per organiser.

Until now every organiser saw every service type, so every organiser gets a copy of every type (same code, names,
unit and category) and its pages look as before. The original row stays with the organiser whose user created it
(its ``service_type.create`` audit row), or the first organiser when no such row exists; the others get new rows.
Then every reference is pointed at the copy of the referencing row's own organiser: price caps and agreements and
claims by their ``organiser``, provider prices by their provider's. Audit rows are not touched (the chain is
append-only); an old row's target id names the original service type.

A type that no organiser could have used (there are no organisers at all) is removed: nothing can refer to it,
since every row that refers to a service type belongs to an organiser.
"""

from django.db import migrations

#: The tables that refer to a service type, and the path from each row to its organiser.
REFERENCES = [
    ("PriceCap", "organiser_id"),
    ("ServiceAgreement", "organiser_id"),
    ("Claim", "organiser_id"),
    ("ProviderPrice", "provider__organiser_id"),
]


def split_per_organiser(apps, schema_editor):
    ServiceType = apps.get_model("services", "ServiceType")
    Organiser = apps.get_model("core", "Organiser")
    AuditEvent = apps.get_model("core", "AuditEvent")
    organisers = list(Organiser.objects.order_by("pk").values_list("pk", flat=True))
    copied = [f.attname for f in ServiceType._meta.concrete_fields if f.attname not in ("id", "organiser_id")]
    for original in ServiceType.objects.filter(organiser__isnull=True).order_by("pk"):
        if not organisers:
            original.delete()
            continue
        creator = (
            AuditEvent.objects.filter(
                action="service_type.create",
                target_type="services.servicetype",
                target_id=str(original.pk),
                organiser_id__in=organisers,
            )
            .order_by("seq")
            .values_list("organiser_id", flat=True)
            .first()
        )
        keeper = creator or organisers[0]
        original.organiser_id = keeper
        original.save(update_fields=["organiser_id"])
        for organiser_id in organisers:
            if organiser_id == keeper:
                continue
            copy = ServiceType.objects.create(
                organiser_id=organiser_id, **{name: getattr(original, name) for name in copied}
            )
            for model_name, organiser_path in REFERENCES:
                apps.get_model("services", model_name).objects.filter(
                    service_type_id=original.pk, **{organiser_path: organiser_id}
                ).update(service_type_id=copy.pk)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_audit_append_function"),
        ("services", "0004_service_type_organiser"),
    ]

    operations = [migrations.RunPython(split_per_organiser, migrations.RunPython.noop)]
