"""Transport entitlements from approved decisions, the legal-minimum warning, and transport cards."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation
from stdnum import luhn

from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.mobility import services
from kukkaro.mobility.models import EntitlementModel, EntitlementState, TransportCard
from tests.factories import client_in, make_user
from tests.mobility.world import MODEL_LINES, approved_transport_decision, load_tariffs, rider

pytestmark = pytest.mark.django_db

MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(MARCH):
        yield


@pytest.fixture
def staff():
    return make_user(Role.SOCIAL_WORKER), make_user(Role.DECISION_MAKER)


@pytest.mark.parametrize("model", list(EntitlementModel))
def test_entitlement_create__each_model_with_enough_for_18_trips_has_no_warning(staff, model):
    worker, approver = staff
    made = rider(model, area=load_tariffs(), worker=worker, approver=approver)
    entitlement = made.entitlement
    assert (entitlement.model, entitlement.state, entitlement.minimum_shortfall) == (model, EntitlementState.ACTIVE, {})
    assert (entitlement.valid_from, entitlement.valid_until) == (made.decision.valid_from, made.decision.valid_until)
    assert (entitlement.work_line is not None) is (model == EntitlementModel.TRIP_QUOTA)
    assert AuditEvent.objects.filter(action="transport_entitlement.create", data_subject_id=made.client.pk).exists()


def test_entitlement_create__warns_below_18_typical_trips_a_month(staff):
    worker, approver = staff
    area = load_tariffs()
    quota = rider(
        EntitlementModel.TRIP_QUOTA,
        area=area,
        worker=worker,
        approver=approver,
        lines=[{"category": "transport-trips", "quantity": 12}],
    )
    assert quota.entitlement.minimum_shortfall == {"kind": "quota", "trips": "12.0"}
    with translation.override("en"):
        assert "12 trips a month" in services.minimum_warning_text(quota.entitlement.minimum_shortfall)
    with translation.override("sv"):
        assert "12 resor" in services.minimum_warning_text(quota.entitlement.minimum_shortfall)
    km = rider(
        EntitlementModel.KM_PURSE,
        area=area,
        worker=worker,
        approver=approver,
        lines=[{"category": "transport-km", "quantity": 100}],
    )
    # 100 km a month ÷ 8 km = 12.5 typical trips; 18 need 144 km.
    assert km.entitlement.minimum_shortfall == {"kind": "km", "trips": "12.5", "trip_metres": 8000, "need": 144000}
    with translation.override("en"):
        text = services.minimum_warning_text(km.entitlement.minimum_shortfall)
    assert "12.5 typical trips" in text and "144.0 km" in text
    euros = rider(
        EntitlementModel.EUR_PURSE,
        area=area,
        worker=worker,
        approver=approver,
        lines=[{"category": "transport-eur", "quantity": 400}],
    )
    # A typical trip in 2026: 8,40 + 8 × 1,38 + 15 × 1,06 = 35,34; the county pays 35,34 − 3,00 = 32,34.
    # 400 € ÷ 32,34 = 12.4 trips; 18 trips need 582,12 €.
    assert euros.entitlement.minimum_shortfall["need"] == 58212
    with translation.override("fi"):
        text = services.minimum_warning_text(euros.entitlement.minimum_shortfall)
    assert "12.4" in text and "582,12" in text


def test_entitlement_create__refuses_a_line_of_the_wrong_unit_an_area_that_misses_the_client_and_other_staff(staff):
    worker, approver = staff
    area = load_tariffs()
    client = client_in("lansi-uusimaa")
    decision = approved_transport_decision(
        client, worker=worker, approver=approver, lines=MODEL_LINES[EntitlementModel.KM_PURSE]
    )
    km_line = decision.lines.get()
    with pytest.raises(ValidationError) as wrong_unit:
        services.entitlement_create(
            actor=worker,
            decision=decision,
            model=EntitlementModel.EUR_PURSE,
            leisure_line=km_line,
            contract_area=area,
            allowed_area="neighbours",
            vehicle_class="car",
        )
    assert "leisure_line" in wrong_unit.value.message_dict
    area.municipalities.remove(client.municipality)
    with pytest.raises(ValidationError) as outside:
        services.entitlement_create(
            actor=worker,
            decision=decision,
            model=EntitlementModel.KM_PURSE,
            leisure_line=km_line,
            contract_area=area,
            allowed_area="somewhere",
            vehicle_class="bus",
        )
    assert set(outside.value.message_dict) == {"contract_area", "allowed_area", "vehicle_class"}
    with pytest.raises(PermissionDenied):
        services.entitlement_create(
            actor=make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame"),
            decision=decision,
            model=EntitlementModel.KM_PURSE,
            leisure_line=km_line,
            contract_area=area,
            allowed_area="neighbours",
            vehicle_class="car",
        )


def test_card_issue__luhn_checked_numbers_and_a_new_card_closes_the_old(staff):
    worker, approver = staff
    made = rider(EntitlementModel.TRIP_QUOTA, area=load_tariffs(), worker=worker, approver=approver)
    first = made.card
    assert len(first.number) == 10 and luhn.is_valid(first.number)
    second = services.card_issue(actor=worker, client=made.client)
    first.refresh_from_db()
    assert first.closed_at is not None and second.closed_at is None
    assert second.number != first.number and luhn.is_valid(second.number)
    assert TransportCard.objects.filter(client=made.client, closed_at__isnull=True).count() == 1


def _replace(made, lines, *, starts, worker, approver):
    from kukkaro.cases import services as case_services

    indicative = case_services.calculation_create_indicative(actor=worker, client=made.client, lines=lines)
    final = case_services.calculation_finalise(actor=worker, indicative=indicative, lines=lines)
    draft = case_services.decision_draft_create(
        actor=worker,
        calculation=final,
        valid_from=starts,
        valid_until=made.decision.valid_until,
        reasons="Tarve muuttui.",
        replaces=made.decision,
    )
    case_services.decision_propose(actor=worker, decision=draft)
    return case_services.decision_approve(actor=approver, decision=draft)


def test_entitlements_follow_replacement__a_dropped_work_line_ends_it_and_the_leisure_line_goes_on(staff):
    worker, approver = staff
    quota = rider(EntitlementModel.TRIP_QUOTA, area=load_tariffs(), worker=worker, approver=approver)
    replacement = _replace(
        quota,
        [{"category": "transport-trips", "quantity": 20}],
        starts=dt.date(2026, 4, 1),
        worker=worker,
        approver=approver,
    )
    old = type(quota.entitlement).objects.get(pk=quota.entitlement.pk)
    assert (old.state, old.valid_until, old.work_line_id) == (
        "active",
        dt.date(2026, 3, 31),
        quota.lines["transport-work"].pk,
    )
    assert old.leisure_line.decision_id == replacement.pk  # the leisure purse moved to the new line
    new = type(old).objects.exclude(pk=old.pk).get(client=quota.client)
    assert (new.decision_id, new.valid_from, new.work_line_id) == (replacement.pk, dt.date(2026, 4, 1), None)
    assert (new.model, new.contract_area_id, new.vehicle_class) == (old.model, old.contract_area_id, old.vehicle_class)
    assert AuditEvent.objects.filter(action="transport_entitlement.follow_replacement").exists()


def test_entitlements_end_with_decision__an_annulled_decision_ends_its_entitlements(staff):
    from kukkaro.cases import services as case_services

    worker, approver = staff
    km = rider(EntitlementModel.KM_PURSE, area=load_tariffs(), worker=worker, approver=approver)
    case_services.decision_annul(actor=approver, decision=km.decision, reason="Oikaisuvaatimus hyväksyttiin.")
    km.entitlement.refresh_from_db()
    assert km.entitlement.state == EntitlementState.ENDED
    assert AuditEvent.objects.filter(action="transport_entitlement.end", data_subject_id=km.client.pk).exists()
