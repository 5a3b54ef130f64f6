"""Leasing cars (issue 7): the contract, its checks, and the county's monthly cost posted to the ledger once a
month."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse, Transfer
from kukkaro.ledger.selectors import purse_statement
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import leasing
from kukkaro.mobility.models import LeaseState
from tests.factories import client_in, make_user
from tests.mobility.world import approved_transport_decision

pytestmark = pytest.mark.django_db

BUILT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def case():
    with clock.pinned(BUILT):
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
