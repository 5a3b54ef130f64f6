"""Leasing cars (issue 7): the contract, its checks, and the county's monthly cost posted to the ledger once a
month."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse, Transfer
from kukkaro.ledger.selectors import purse_statement
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import leasing
from kukkaro.mobility.models import LeaseState
from tests.factories import client_in, make_user
from tests.mobility.world import approved_transport_decision
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db

BUILT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _build_case() -> dict:
    worker, approver = make_user(Role.SOCIAL_WORKER), make_user(Role.DECISION_MAKER)
    client = client_in("lansi-uusimaa", first_names="Leena")
    decision = approved_transport_decision(
        client,
        worker=worker,
        approver=approver,
        lines=[{"category": "transport-leasing", "quantity": 900}, {"category": "transport-eur", "quantity": 100}],
    )
    line = decision.lines.get(category_code="transport-leasing")
    return {"worker": worker, "decision": decision, "line": line, "client": client}


#: Built once on 5 January and shared by the module's tests (tests/worlds.py).
case = shared_world("case", _build_case, at=BUILT)


def _terms(**changes) -> dict:
    terms = {
        "lessor": "Esteetön Leasing Oy",
        "contract_number": "EL-2026-0042",
        "vehicle": "Volkswagen Caddy Maxi, ramp",
        "registration": "ABC-123",
        "modifications": ["ramp", "wheelchair_securing"],
        "starts_on": dt.date(2026, 2, 1),
        "contract_months": 48,
        "monthly_price_cents": 89_000,
        "insurance_cents": 9_000,
        "servicing_cents": 6_000,
        "client_contribution_cents": 15_000,
        "included_km_per_year": 15_000,
        "excess_km_cents": 15,
        "client_drives": False,
        "drivers": ["Pekka Lahtinen"],
    }
    terms.update(changes)
    return terms


def test_leasing_create__records_the_car_and_its_monthly_cost(case):
    with clock.pinned(BUILT):
        contract = leasing.leasing_create(
            actor=case["worker"], decision=case["decision"], line=case["line"], **_terms()
        )
    assert contract.county_cost_cents == 89_000  # 890 + 90 + 60 − 150 €
    assert contract.ends_on == dt.date(2030, 1, 31)
    assert contract.drivers == ["Pekka Lahtinen"] and contract.state == LeaseState.ACTIVE


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"monthly_price_cents": 95_000}, "line"),  # costs the county 950 €, the line gives 900 €
        ({"starts_on": dt.date(2026, 2, 15)}, "starts_on"),
        ({"starts_on": dt.date(2027, 2, 1)}, "starts_on"),  # after the decision
        ({"client_drives": False, "drivers": [" "]}, "drivers"),
        ({"modifications": ["rocket"]}, "modifications"),
        ({"contract_months": 120}, "contract_months"),
    ],
)
def test_leasing_create__refuses_what_cannot_be_at_its_field(case, changes, field):
    with clock.pinned(BUILT), pytest.raises(ValidationError) as caught:
        leasing.leasing_create(actor=case["worker"], decision=case["decision"], line=case["line"], **_terms(**changes))
    assert field in caught.value.message_dict


def test_leasing_post_due__posts_each_month_once(case):
    with clock.pinned(BUILT):
        contract = leasing.leasing_create(
            actor=case["worker"], decision=case["decision"], line=case["line"], **_terms()
        )
    with clock.pinned(dt.datetime(2026, 4, 15, 6, 0, tzinfo=dt.UTC)):
        assert leasing.leasing_post_due() == 3  # February, March and April
        assert leasing.leasing_post_due() == 0
    purse = Purse.objects.get(pk=case["line"].purse_id)
    assert purse.debits_posted == 3 * 89_000
    posted = Transfer.objects.filter(ref_type="leasing", ref_id=str(contract.pk))
    assert sorted(posted.values_list("memo", flat=True)) == [
        "Volkswagen Caddy Maxi, ramp 2026-02",
        "Volkswagen Caddy Maxi, ramp 2026-03",
        "Volkswagen Caddy Maxi, ramp 2026-04",
    ]
    # Posted on 15 April (the job caught up), so April's statement shows the three months.
    april = purse_statement(purse=purse, start=dt.date(2026, 4, 1), end=dt.date(2026, 4, 30))
    assert [m.amount for m in april.movements if m.transfer.ref_type == "leasing"] == [-89_000] * 3
    assert ledger_verify()[1] == []


def _form(line, **changes) -> dict:
    values = {
        "line": str(line.pk),
        "lessor": "Esteetön Leasing Oy",
        "contract_number": "EL-2026-0077",
        "vehicle": "Volkswagen Caddy Maxi",
        "registration": "XYZ-987",
        "modifications": ["ramp", "hand_controls"],
        "starts_on": "2026-02-01",
        "contract_months": "36",
        "monthly_price_cents": "790,00",
        "insurance_cents": "80",
        "servicing_cents": "0",
        "client_contribution_cents": "120,50",
        "included_km_per_year": "12000",
        "excess_km_cents": "0,18",
        "client_drives": "on",
        "drivers": "",
    }
    values.update(changes)
    return values


def test_leasing_page__records_a_car_from_the_form_and_shows_it_on_the_month(client, case):
    from django.conf import settings
    from django.urls import reverse

    client.force_login(case["worker"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = reverse("mobility:leasing_new", kwargs={"client_id": case["client"].pk})
    with clock.pinned(BUILT):
        assert client.get(url).status_code == 200
        wrong = client.post(url, _form(case["line"], client_drives="", drivers=""))
        assert wrong.status_code == 200 and "Name at least one driver" in wrong.content.decode()
        done = client.post(url, _form(case["line"]))
        assert done.status_code == 302
        month = client.get(
            reverse("mobility:client_month", kwargs={"client_id": case["client"].pk}), {"month": "2026-02"}
        )
    contract = case["client"].leasing_contracts.get()
    # 790,00 + 80,00 + 0 − 120,50 = 749,50 € a month to the county.
    assert contract.county_cost_cents == 74_950 and contract.excess_km_cents == 18
    page = month.content.decode()
    assert "Leasing car: Volkswagen Caddy Maxi XYZ-987" in page and "€749.50" in page


# --- odometer readings and excess kilometres ---------------------------------------------------------------------


@pytest.fixture
def lease(case):
    """A ten-month lease (February–November 2026), 15 000 km a year included, 0,15 € for each kilometre more."""
    with clock.pinned(BUILT):
        return leasing.leasing_create(
            actor=case["worker"], decision=case["decision"], line=case["line"], **_terms(contract_months=10)
        )


def _read(lease, day: dt.date, km: int, kind: str, *, actor=None):
    with clock.pinned(dt.datetime(day.year, day.month, day.day, 12, 0, tzinfo=dt.UTC)):
        return leasing.odometer_record(
            actor=actor or lease.created_by, contract=lease, read_on=day, km=km, kind=kind, note="read by the driver"
        )


def test_lease_pace__projects_the_excess_from_the_readings_so_far(lease):
    _read(lease, dt.date(2026, 1, 28), 120, "start")
    _read(lease, dt.date(2026, 5, 28), 5_120, "check")
    pace = leasing.lease_pace(lease)
    # 10 months of 15 000 km a year: 12 500 km. Delivered 28 January, the contract ends 30 November: 306 days.
    assert pace.contract_allowance_km == 12_500
    assert pace.driven_km == 5_000  # in 120 days
    assert pace.allowance_to_date_km == 4_902  # 12 500 × 120 / 306 = 4 901.96
    assert pace.projected_km == 12_750  # 5 000 × 306 / 120
    assert (pace.projected_excess_km, pace.projected_excess_cents) == (250, 3_750)  # 250 km × 0,15 €


def test_odometer_record__the_return_charges_the_excess_once_and_ends_the_readings(case, lease):
    _read(lease, dt.date(2026, 1, 28), 120, "start")
    purse = Purse.objects.get(pk=case["line"].purse_id)
    debits_before = purse.debits_posted
    final = _read(lease, dt.date(2026, 11, 20), 12_720, "final")
    # Driven 12 600 km; 10 months allow 12 500 km; 100 km × 0,15 € = 15,00 €.
    assert (final.excess_km, final.excess_cents) == (100, 1_500)
    purse.refresh_from_db()
    assert purse.debits_posted == debits_before + 1_500
    charge = Transfer.objects.get(ref_type="leasing", ref_id=str(lease.pk), amount=1_500)
    assert charge.memo == "Volkswagen Caddy Maxi, ramp: 100 km over 12500 km"
    with pytest.raises(ValidationError) as caught:
        _read(lease, dt.date(2026, 11, 25), 12_800, "check")
    assert "kind" in caught.value.message_dict
    from kukkaro.core.models import AuditEvent

    assert AuditEvent.objects.filter(action="leasing.odometer", data_subject_id=case["client"].pk).count() == 2
    assert ledger_verify()[1] == []


def test_odometer_record__an_early_return_allows_and_pays_only_the_months_used(case):
    with clock.pinned(BUILT):
        lease = leasing.leasing_create(
            actor=case["worker"], decision=case["decision"], line=case["line"], **_terms(contract_months=48)
        )
    _read(lease, dt.date(2026, 2, 2), 0, "start")
    final = _read(lease, dt.date(2026, 6, 30), 6_300, "final")
    # February–June: 5 months of 15 000 km a year = 6 250 km; 50 km × 0,15 € = 7,50 €.
    assert (final.excess_km, final.excess_cents) == (50, 750)
    lease.refresh_from_db()
    assert (lease.returned_on, lease.paid_until) == (dt.date(2026, 6, 30), dt.date(2026, 6, 30))
    with clock.pinned(dt.datetime(2026, 9, 2, 6, 0, tzinfo=dt.UTC)):
        assert leasing.leasing_post_due() == 5  # February–June, not July or August
        assert leasing.leasing_post_due() == 0
    lease.refresh_from_db()
    assert lease.state == LeaseState.ENDED
    assert ledger_verify()[1] == []


def test_leasing_post_due__a_lease_that_outlives_its_purse_is_paid_while_the_purse_lasts(case):
    with clock.pinned(BUILT):
        lease = leasing.leasing_create(
            actor=case["worker"], decision=case["decision"], line=case["line"], **_terms(contract_months=48)
        )
    with clock.pinned(dt.datetime(2026, 12, 15, 6, 0, tzinfo=dt.UTC)):
        assert leasing.leasing_post_due() == 11  # February–December 2026
    with clock.pinned(dt.datetime(2027, 1, 15, 6, 0, tzinfo=dt.UTC)):
        assert leasing.leasing_post_due() == 0  # the purse closed with its decision: logged, not a crash
        leasing.odometer_record(actor=case["worker"], contract=lease, read_on=dt.date(2026, 1, 28), km=0, kind="start")
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            # 12 months allow 15 000 km: 5 000 km over, 750 €, and no purse to take it from.
            leasing.odometer_record(
                actor=case["worker"], contract=lease, read_on=dt.date(2027, 1, 10), km=20_000, kind="final"
            )
    assert "purse is closed" in caught.value.message_dict["kind"][0]
    assert lease.readings.count() == 1
    lease.refresh_from_db()
    assert lease.returned_on is None
    assert ledger_verify()[1] == []


def test_odometer_record__a_return_the_purse_cannot_pay_records_nothing(case, lease):
    _read(lease, dt.date(2026, 1, 28), 120, "start")
    transfers = Transfer.objects.count()
    with pytest.raises(ValidationError) as caught:
        _read(lease, dt.date(2026, 11, 20), 1_000_000, "final")  # 987 400 km over: 148 110 €
    assert "km" in caught.value.message_dict and "mitään ei kirjattu" in caught.value.message_dict["km"][0]
    assert lease.readings.count() == 1 and Transfer.objects.count() == transfers


@pytest.mark.parametrize(
    ("day", "km", "kind", "field"),
    [
        (dt.date(2026, 3, 1), 100, "check", "km"),  # the odometer went back
        (dt.date(2026, 1, 20), 500, "check", "read_on"),  # before the delivery
        (dt.date(2026, 3, 1), 500, "start", "kind"),  # a second delivery
        (dt.date(2026, 3, 1), 3_000_000, "check", "km"),  # not an odometer
        (dt.date(2026, 3, 1), 500, "rocket", "kind"),
        (dt.date(2026, 2, 10), 1_500, "final", "read_on"),  # a return before the latest reading
    ],
)
def test_odometer_record__refuses_a_reading_that_cannot_be_at_its_field(lease, day, km, kind, field):
    _read(lease, dt.date(2026, 1, 28), 120, "start")
    _read(lease, dt.date(2026, 2, 20), 1_000, "check")
    with pytest.raises(ValidationError) as caught:
        _read(lease, day, km, kind)
    assert field in caught.value.message_dict
    assert lease.readings.count() == 2


def test_odometer_record__refuses_a_reading_in_the_future(lease):
    with clock.pinned(dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)), pytest.raises(ValidationError) as caught:
        leasing.odometer_record(
            actor=lease.created_by, contract=lease, read_on=dt.date(2026, 3, 2), km=10, kind="start"
        )
    assert "read_on" in caught.value.message_dict


def test_odometer_record__needs_the_delivery_first_and_a_caseworker(case, lease):
    with pytest.raises(ValidationError) as caught:
        _read(lease, dt.date(2026, 3, 1), 500, "check")
    assert "kind" in caught.value.message_dict
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        _read(lease, dt.date(2026, 1, 28), 120, "start", actor=make_user(Role.FINANCE))


def test_lease_page__records_readings_and_shows_the_pace(client, case, lease):
    from django.conf import settings
    from django.urls import reverse

    client.force_login(case["worker"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = reverse("mobility:lease_detail", kwargs={"client_id": case["client"].pk, "lease_id": lease.pk})
    month = reverse("mobility:client_month", kwargs={"client_id": case["client"].pk})
    with clock.pinned(dt.datetime(2026, 5, 28, 12, 0, tzinfo=dt.UTC)):
        assert url in client.get(month, {"month": "2026-02"}).content.decode()
        empty = client.get(url).content.decode()
        assert "No reading yet" in empty and "Record an odometer reading" in empty
        first = client.post(url, {"kind": "start", "read_on": "2026-01-28", "km": "120", "note": ""})
        assert first.status_code == 302
        back = client.post(url, {"kind": "check", "read_on": "2026-05-28", "km": "100", "note": ""})
        assert back.status_code == 200 and "An odometer does not go back" in back.content.decode()
        assert client.post(url, {"kind": "check", "read_on": "2026-05-28", "km": "5120"}).status_code == 302
        page = client.get(url).content.decode()
    assert "5,000 km" in page  # driven since delivery
    assert "12,750 km" in page and "€37.50" in page  # at this pace: 250 km over, 0,15 € each
    assert lease.readings.count() == 2


def test_lease_page__another_clients_lease_is_not_found(client, case, lease):
    from django.urls import reverse

    other = client_in("lansi-uusimaa", first_names="Olli")
    client.force_login(case["worker"])
    url = reverse("mobility:lease_detail", kwargs={"client_id": other.pk, "lease_id": lease.pk})
    assert client.get(url).status_code == 404
    elsewhere = make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame")
    client.force_login(elsewhere)
    mine = reverse("mobility:lease_detail", kwargs={"client_id": case["client"].pk, "lease_id": lease.pk})
    assert client.get(mine).status_code == 404


def test_lease_page__a_reading_after_the_return_is_refused_with_a_message(client, case, lease):
    from django.conf import settings
    from django.urls import reverse

    _read(lease, dt.date(2026, 1, 28), 120, "start")
    _read(lease, dt.date(2026, 11, 20), 12_000, "final")
    client.force_login(case["worker"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = reverse("mobility:lease_detail", kwargs={"client_id": case["client"].pk, "lease_id": lease.pk})
    with clock.pinned(dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)):
        page = client.get(url).content.decode()
        assert "Record an odometer reading" not in page and "Charged at return" in page
        stale = client.post(url, {"kind": "check", "read_on": "2026-11-24", "km": "12500"}, follow=True)
    assert "its readings are complete" in stale.content.decode()
    assert lease.readings.count() == 2


def test_leasing_page__offers_only_lines_in_force_today_or_later(client, case):
    """A replaced decision's line stays effective up to the day before its replacement starts (issue 16, item 1),
    so "effective" alone does not mean "in force": a line that ended before today is not offered to pay a car."""
    from django.urls import reverse

    from kukkaro.cases.models import DecisionLine

    ended = case["decision"].lines.get(category_code="transport-eur")
    DecisionLine.objects.filter(pk=ended.pk).update(valid_until=dt.date(2026, 1, 4))
    client.force_login(case["worker"])
    with clock.pinned(BUILT):
        page = client.get(reverse("mobility:leasing_new", kwargs={"client_id": case["client"].pk}))
    assert list(page.context["form"].fields["line"].queryset) == [case["line"]]
