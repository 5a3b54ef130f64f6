"""Tariff files: read, checked with every problem at its place, loaded once, versions by pickup date."""

import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.mobility import services, tariff_files
from kukkaro.mobility.models import ContractArea, Tariff
from tests.factories import make_user, organiser, system_actor
from tests.mobility.world import TARIFF_FILE, load_tariffs

pytestmark = pytest.mark.django_db

PH_FILE = TARIFF_FILE.parent / "paijat-hame.json"


def test_tariff_file__the_shipped_files_load_and_price_by_pickup_date():
    area = load_tariffs()
    assert set(area.municipalities.values_list("code", flat=True)) == {"049", "235", "257", "444", "224", "927"}
    assert area.tariffs.count() == 2
    assert services.tariff_on(area_id=area.pk, day=dt.date(2025, 12, 31)).base_day_cents == 819
    new = services.tariff_on(area_id=area.pk, day=dt.date(2026, 1, 1))
    assert (new.base_day_cents, new.per_km_wheelchair_cents, new.shared_discount_bp) == (840, 192, 2000)
    assert new.supplements_cents == {"assist": 1990, "stairs": 2560, "service": 1020}
    assert services.tariff_on(area_id=area.pk, day=dt.date(2024, 12, 31)) is None
    ph = tariff_files.read_document(PH_FILE.read_bytes(), PH_FILE.name)
    ph_area, added = services.tariffs_load(
        actor=system_actor(organiser("paijat-hame")), organiser=organiser("paijat-hame"), document=ph, source="ph"
    )
    assert added == 1 and ph_area.tariffs.get().self_share_adult_cents == 280


def test_tariff_file__loading_it_again_changes_nothing():
    load_tariffs()
    document = tariff_files.read_document(TARIFF_FILE.read_bytes(), TARIFF_FILE.name)
    _area, added = services.tariffs_load(
        actor=system_actor(organiser()), organiser=organiser(), document=document, source="again"
    )
    assert added == 0
    assert Tariff.objects.count() == 2


def test_tariff_file__a_changed_price_for_stored_dates_is_refused_whole():
    load_tariffs()
    document = tariff_files.read_document(TARIFF_FILE.read_bytes(), TARIFF_FILE.name)
    document["tariff"][1]["base_day_eur"] = "9.00"
    with pytest.raises(ValidationError) as refused:
        services.tariffs_load(
            actor=system_actor(organiser()), organiser=organiser(), document=document, source="changed"
        )
    assert "tariff[2]" in refused.value.message_dict["file"][0]
    assert Tariff.objects.get(valid_from=dt.date(2026, 1, 1)).base_day_cents == 840


def test_tariff_file__every_problem_is_named_with_its_place():
    text = b"""
area = "Bad Code"
municipalities = ["049", "398"]
[[tariff]]
valid_from = 2026-02-01
base_day_eur = 8.19
base_other_eur = "11.123"
per_km_eur = { car = "1.35", van = "1.87", wheelchair = "1.87", bus = "2.00" }
per_minute_eur = "1.03"
waiting_per_hour_eur = "62.18"
self_share_adult_eur = "2.90"
self_share_child_eur = "1.45"
work_study_monthly_cap_eur = "67.10"
shared_ride_discount_percent = "120"
colour = "yellow"
[[tariff]]
valid_from = 2026-01-01
valid_until = 2026-03-01
base_day_eur = "8"
base_other_eur = "11"
per_km_eur = { car = "1", van = "1", wheelchair = "1", stretcher = "1" }
per_minute_eur = "1"
waiting_per_hour_eur = "60"
self_share_adult_eur = "3"
self_share_child_eur = "1.5"
work_study_monthly_cap_eur = "60"
"""
    document = tariff_files.read_document(text, "bad.toml")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.tariffs_load(
            actor=system_actor(organiser()), organiser=organiser(), document=document, source="bad.toml"
        )
    problems = "\n".join(refused.value.message_dict["file"])
    for place in [
        "area:",
        "name:",
        "municipalities[1]:",
        "tariff[1].base_day_eur:",
        "tariff[1].base_other_eur:",
        "tariff[1].per_km_eur.stretcher:",
        "tariff[1].per_km_eur.bus:",
        "tariff[1].shared_ride_discount_percent:",
        "tariff[1].colour:",
        "tariff: versions overlap from 2026-02-01",
    ]:
        assert place in problems, place
    assert not ContractArea.objects.exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Länsi\x00Uusimaa", "control characters"),
        ("Länsi\tUusimaa", "control characters"),
        ("Länsi\ud800Uusimaa", "control characters"),
        ("x" * 201, "200"),
    ],
)
def test_tariff_file__an_area_name_the_database_cannot_keep_is_refused_with_its_place(name, problem):
    document = json.loads(PH_FILE.read_text())
    document["name"] = name
    parsed = tariff_files.read_document(json.dumps(document).encode(), "ph.json")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.tariffs_load(
            actor=system_actor(organiser("paijat-hame")),
            organiser=organiser("paijat-hame"),
            document=parsed,
            source="ph.json",
        )
    (message,) = refused.value.message_dict["file"]
    assert message.startswith("name:") and problem in message
    assert not ContractArea.objects.exists()


def test_tariff_file__a_file_name_with_nul_is_kept_without_it():
    document = tariff_files.read_document(PH_FILE.read_bytes(), PH_FILE.name)
    area, added = services.tariffs_load(
        actor=system_actor(organiser("paijat-hame")),
        organiser=organiser("paijat-hame"),
        document=document,
        source="ph\x00.json",
    )
    assert added and {t.source for t in Tariff.objects.filter(area=area)} == {"ph.json"}
    assert AuditEvent.objects.filter(action="tariff.load").latest("pk").after["source"] == "ph.json"


def test_tariff_file__json_numbers_with_a_fraction_are_refused_as_money():
    document = json.loads(PH_FILE.read_text())
    document["tariff"][0]["base_day_eur"] = 7.9
    content = json.dumps(document).encode()
    parsed = tariff_files.read_document(content, "ph.json")
    with pytest.raises(ValidationError) as refused:
        services.tariffs_load(
            actor=system_actor(organiser("paijat-hame")),
            organiser=organiser("paijat-hame"),
            document=parsed,
            source="ph.json",
        )
    assert any("tariff[1].base_day_eur" in p for p in refused.value.message_dict["file"])


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"\xff\xfe", "x.toml"), (b"area = ", "x.toml"), (b"{", "x.json"), (b"[1, 2]", "x.json")],
)
def test_tariff_file__unreadable__is_refused(content, name):
    with pytest.raises(ValidationError) as refused:
        tariff_files.read_document(content, name)
    assert "file" in refused.value.message_dict


def test_tariffs_load__by_finance_or_admin_of_the_organiser_and_audited():
    document = tariff_files.read_document(TARIFF_FILE.read_bytes(), TARIFF_FILE.name)
    with pytest.raises(PermissionDenied):
        services.tariffs_load(actor=make_user(Role.SOCIAL_WORKER), organiser=organiser(), document=document, source="x")
    with pytest.raises(PermissionDenied):
        services.tariffs_load(
            actor=make_user(Role.FINANCE, organiser_code="paijat-hame"),
            organiser=organiser(),
            document=document,
            source="x",
        )
    services.tariffs_load(actor=make_user(Role.FINANCE), organiser=organiser(), document=document, source="file.toml")
    event = AuditEvent.objects.get(action="tariff.load")
    assert event.after["versions_added"] == ["2025-01-01", "2026-01-01"]
