"""Migrations of the services app that move data: the global catalogue split per organiser (0004–0006)."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.services import catalogue, claims
from kukkaro.services.models import Claim, PriceCap, ProviderPrice, ServiceAgreement, ServiceType
from tests.factories import make_user, organiser
from tests.services.world import BUSINESS_IDS, approved_provider, build_world

BEFORE_SPLIT = [("services", "0004_service_type_organiser")]
REFERRING = [
    (PriceCap, lambda row: row.organiser_id),
    (ServiceAgreement, lambda row: row.organiser_id),
    (Claim, lambda row: row.organiser_id),
    (ProviderPrice, lambda row: row.provider.organiser_id),
]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def _back_to_one_global_catalogue() -> None:
    """Undo the split as the data stood before it: one service type per code, with no organiser, which both
    counties' caps, prices, agreements and claims refer to. A county that created a code keeps its row's id."""
    apps = _migrate(BEFORE_SPLIT).loader.project_state(BEFORE_SPLIT).apps
    historical = apps.get_model("services", "ServiceType")
    first = {}
    for row in historical.objects.order_by("-organiser__code", "pk"):  # Päijät-Häme's first
        if row.code in first:
            for name in ("PriceCap", "ServiceAgreement", "Claim", "ProviderPrice"):
                apps.get_model("services", name).objects.filter(service_type_id=row.pk).update(
                    service_type_id=first[row.code]
                )
            row.delete()
        else:
            first[row.code] = row.pk
    historical.objects.update(organiser=None)


@pytest.mark.django_db(transaction=True)
def test_migration_0004__gives_each_organiser_its_own_copy_and_repoints_every_reference():
    with clock.pinned(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)):
        ph = organiser("paijat-hame")
        created_by_ph = catalogue.service_type_save(
            actor=make_user(Role.ADMIN, organiser_code="paijat-hame"),
            organiser=ph,
            code="day-activity",
            name_fi="Päivätoiminta",
            name_sv="Dagverksamhet",
            name_en="Day activity",
            unit="day",
            category_code="day-activity",
        )
        world = build_world()  # Länsi-Uusimaa: caps, a price, an agreement and a claim
        claims.claim_submit(
            actor=world.provider_user,
            provider=world.provider,
            agreement_number=world.agreement.number,
            service_code="day-activity",
            service_date=clock.today(),
            quantity_hundredths=100,
            unit_price_cents=9_000,
            invoice_number="M-1",
        )
        ph_provider, ph_user = approved_provider(
            organiser=ph,
            decision_maker=make_user(Role.DECISION_MAKER, organiser_code="paijat-hame"),
            business_id=BUSINESS_IDS[3],
            municipality_codes=("398",),
        )
        catalogue.price_cap_set(
            actor=make_user(Role.ADMIN, organiser_code="paijat-hame"),
            organiser=ph,
            service_type=created_by_ph,
            cap_cents=9_900,
            valid_from=dt.date(2020, 1, 1),
        )
        catalogue.provider_price_set(
            actor=ph_user, provider=ph_provider, service_type=created_by_ph, price_cents=9_500, valid_from=clock.today()
        )
    codes_before = {
        (model.__name__, row.pk): row.service_type.code for model, _org in REFERRING for row in model.objects.all()
    }
    assert {org(row) for model, org in REFERRING for row in model.objects.all()} == {world.client.organiser_id, ph.pk}

    _back_to_one_global_catalogue()
    assert ServiceType.objects.filter(organiser__isnull=True).count() == 2  # day-activity, personal-assistance
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("services"))

    types = {(t.organiser_id, t.code): t for t in ServiceType.objects.all()}
    counties = {world.client.organiser_id, ph.pk}
    assert set(types) == {(o, c) for o in counties for c in ("day-activity", "personal-assistance")}
    assert types[ph.pk, "day-activity"].pk == created_by_ph.pk  # the county that created it keeps the row
    lu_day = types[world.client.organiser_id, "day-activity"]
    assert (lu_day.name_fi, lu_day.name_sv, lu_day.name_en, lu_day.unit, lu_day.category_code) == (
        "Päivätoiminta",
        "Dagverksamhet",
        "Day activity",
        "day",
        "day-activity",
    )
    for model, org in REFERRING:
        for row in model.objects.select_related("service_type"):
            assert row.service_type.organiser_id == org(row), (model.__name__, row.pk)
            assert row.service_type.code == codes_before[model.__name__, row.pk]
    assert ServiceAgreement.objects.get(pk=world.agreement.pk).service_type_id == lu_day.pk
