import datetime as dt
import json

import pytest

from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse
from kukkaro.people import services as people_services
from kukkaro.people.models import User
from kukkaro.services import agreements, catalogue, claims, providers
from kukkaro.services.models import Claim, ClaimSource, ClaimUpload, ServiceAgreement
from tests.factories import make_user
from tests.services.world import BUSINESS_IDS, IBANS, World, approved_provider
from tests.services.world import build_world as services_world
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db

FIRST_OF_MARCH = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MARCH = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)
API = "/api/v1/provider"
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(MARCH):
        yield


def build_world(**kwargs) -> World:
    """The provider approved and the agreement in force from 1 March; the API is called on 20 March."""
    with clock.pinned(FIRST_OF_MARCH):
        return services_world(**kwargs)


#: The default world, built once and shared by the tests that start from it (tests/worlds.py).
world = shared_world("world", build_world)


def other_provider(world: World) -> tuple[ServiceAgreement, User]:
    """A second approved provider of the same organiser with its own agreement for the same client."""
    with clock.pinned(FIRST_OF_MARCH):
        provider, user = approved_provider(
            organiser=world.client.organiser,
            decision_maker=world.decision_maker,
            business_id=BUSINESS_IDS[1],
            name="Toinen Palvelu Oy",
            username="toinen-palvelu",
        )
        catalogue.provider_price_set(
            actor=user, provider=provider, service_type=world.day_activity, price_cents=8_000, valid_from=clock.today()
        )
        agreement = agreements.agreement_create(
            actor=world.worker,
            line=world.line,
            provider=provider,
            service_type=world.day_activity,
            quantity_hundredths=400,
            valid_from=clock.today(),
            valid_until=world.line.valid_until,
            endorsed=True,
        )
    return agreement, user


def auth(user) -> dict[str, str]:
    _row, token = people_services.api_token_create(actor=None, user=user, name="test")
    return {"Authorization": f"Bearer {token}", **ENGLISH}


def claim_body(world: World, **changes) -> dict:
    body = {
        "agreement": world.agreement.number,
        "service": "day-activity",
        "service_date": "2026-03-03",
        "quantity_hundredths": 100,
        "unit_price_cents": 9_000,
        "invoice_number": "API-1",
    }
    body.update(changes)
    return body


def post_claim(client, headers, body):
    return client.post(f"{API}/claims", data=json.dumps(body), content_type="application/json", headers=headers)


def submit(world: World, user, agreement: ServiceAgreement, invoice: str, *, day=dt.date(2026, 3, 3), price=None):
    claim, _created = claims.claim_submit(
        actor=user,
        provider=agreement.provider,
        agreement_number=agreement.number,
        service_code="day-activity",
        service_date=day,
        quantity_hundredths=100,
        unit_price_cents=price or agreement.agreed_price_cents,
        invoice_number=invoice,
    )
    return claim


def posted(world: World) -> int:
    return Purse.objects.get(pk=world.purse.pk).debits_posted


# --- who gets in ---------------------------------------------------------------------------------------------

PROVIDER_OPERATIONS = [
    ("get", ""),
    ("get", "/catalogue"),
    ("get", "/prices"),
    ("post", "/prices"),
    ("get", "/agreements"),
    ("get", "/agreements/SA-LU-2026-00001"),
    ("get", "/claims"),
    ("post", "/claims"),
    ("get", "/claims/00000000-0000-0000-0000-000000000001"),
    ("post", "/claims/uploads"),
    ("get", "/claims/uploads/00000000-0000-0000-0000-000000000001"),
]


@pytest.mark.parametrize(("method", "path"), PROVIDER_OPERATIONS)
def test_provider_api__dispatch_token__is_forbidden_everywhere(client, method, path):
    response = getattr(client, method)(f"{API}{path}", headers=auth(make_user(Role.DISPATCH)))
    assert response.status_code == 403
    assert response.json()["detail"] == "You do not have permission to do this."


@pytest.mark.parametrize(("method", "path"), PROVIDER_OPERATIONS)
def test_provider_api__without_token__is_unauthorised(client, method, path):
    response = getattr(client, method)(f"{API}{path}")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


@pytest.mark.parametrize(("method", "path"), PROVIDER_OPERATIONS)
def test_provider_api__provider_user_without_a_provider__is_forbidden_with_a_reason(client, method, path):
    user = make_user(Role.PROVIDER, organiser_code=None)
    response = getattr(client, method)(f"{API}{path}", headers=auth(user))
    assert response.status_code == 403
    assert "does not belong to a service provider" in response.json()["detail"]


def test_provider_api__every_operation__is_tagged_summarised_and_authenticated():
    from kukkaro.api.api import api

    schema = api.get_openapi_schema()
    operations = [
        (method, path, operation)
        for path, methods in schema["paths"].items()
        if path.startswith(API)
        for method, operation in methods.items()
    ]
    assert {(method, path.removeprefix(API)) for method, path, _op in operations} == {
        ("get", ""),
        ("get", "/catalogue"),
        ("get", "/prices"),
        ("post", "/prices"),
        ("get", "/agreements"),
        ("get", "/agreements/{number}"),
        ("get", "/claims"),
        ("post", "/claims"),
        ("get", "/claims/{claim_id}"),
        ("post", "/claims/uploads"),
        ("get", "/claims/uploads/{upload_id}"),
    }
    for method, path, operation in operations:
        assert operation["tags"] == ["provider"], f"{method} {path}"
        assert operation["summary"], f"{method} {path}"
        assert operation["security"], f"{method} {path}"
        assert {"401", "403"} <= {str(status) for status in operation["responses"]}, f"{method} {path}"


# --- provider, catalogue and prices --------------------------------------------------------------------------


def test_provider_api__own_provider__with_bank_account_and_pending_change(client, world):
    headers = auth(world.provider_user)
    data = client.get(API, headers=headers).json()
    assert data["name"] == "Päiväpaikka Oy"
    assert data["business_id"] == BUSINESS_IDS[0]
    assert data["state"] == "approved"
    assert data["organiser"] == "lansi-uusimaa"
    assert data["municipalities"] == ["049"]
    assert data["languages"] == ["fi", "sv"]
    assert data["accessibility"] == ["step_free"]
    assert data["rulebook_version"] == providers.RULEBOOK_VERSION
    assert data["bank_account"] == {"iban": IBANS[0][0], "bic": IBANS[0][1]}
    assert data["pending_bank_change"] is None

    providers.bank_account_change_request(
        actor=world.provider_user, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    data = client.get(API, headers=headers).json()
    assert data["bank_account"]["iban"] == IBANS[0][0]  # still the old one until approved
    assert (data["pending_bank_change"]["iban"], data["pending_bank_change"]["bic"]) == IBANS[1]


def test_provider_api__catalogue__cap_in_force_on_the_day_asked(client, world):
    catalogue.price_cap_set(
        actor=make_user(Role.ADMIN),
        organiser=world.client.organiser,
        service_type=world.day_activity,
        cap_cents=11_000,
        valid_from=dt.date(2026, 4, 1),
    )
    headers = auth(world.provider_user)

    def caps(day: str) -> dict[str, int | None]:
        response = client.get(f"{API}/catalogue", {"day": day}, headers=headers)
        assert response.status_code == 200
        return {row["code"]: row["cap_cents"] for row in response.json()}

    assert caps("2026-03-31") == {"day-activity": 10_000, "personal-assistance": 10_000}
    assert caps("2026-04-01") == {"day-activity": 11_000, "personal-assistance": 10_000}
    assert caps("2019-12-31") == {"day-activity": None, "personal-assistance": None}
    today = {row["code"]: row for row in client.get(f"{API}/catalogue", headers=headers).json()}
    assert today["day-activity"] == {
        "code": "day-activity",
        "name_fi": "Päivätoiminta",
        "name_sv": "Dagverksamhet",
        "name_en": "Day activity",
        "unit": "day",
        "category_code": "day-activity",
        "cap_cents": 10_000,
    }
    bad = client.get(f"{API}/catalogue", {"day": "2026-02-30"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "day"


def test_provider_api__prices__a_new_version_is_posted_and_listed(client, world):
    headers = auth(world.provider_user)
    body = {"service": "day-activity", "price_cents": 9_500, "valid_from": "2026-04-01"}
    response = client.post(f"{API}/prices", data=json.dumps(body), content_type="application/json", headers=headers)
    assert response.status_code == 201
    assert response.json() == {**body, "valid_until": None}

    prices = client.get(f"{API}/prices", headers=headers).json()
    assert prices == [
        {"service": "day-activity", "price_cents": 9_500, "valid_from": "2026-04-01", "valid_until": None},
        {"service": "day-activity", "price_cents": 9_000, "valid_from": "2026-03-01", "valid_until": "2026-03-31"},
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"service": "no-such-service"}, "service", id="unknown-service"),
        pytest.param({"valid_from": "2026-03-19"}, "valid_from", id="past"),
        pytest.param({"price_cents": 0}, "price_cents", id="zero"),
        pytest.param({"price_cents": "95.00"}, "price_cents", id="not-cents"),
        pytest.param({"valid_from": None}, "valid_from", id="no-date"),
        # PostgreSQL cannot store a NUL character: it was a 500 (found by schemathesis).
        pytest.param({"service": "day-\x00activity"}, "service", id="nul-character"),
        # Nor a lone surrogate: pydantic refuses it as not a string.
        pytest.param({"service": "day-\ud800activity"}, "service", id="lone-surrogate"),
    ],
)
def test_provider_api__prices__invalid_price__422_names_the_field_and_saves_nothing(client, change, field, world):
    body = {"service": "day-activity", "price_cents": 9_500, "valid_from": "2026-04-01", **change}
    response = client.post(
        f"{API}/prices", data=json.dumps(body), content_type="application/json", headers=auth(world.provider_user)
    )
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["message"] and errors[0]["msg"] == errors[0]["message"]
    assert world.provider.prices.count() == 1


# --- agreements ----------------------------------------------------------------------------------------------


def _agreement_reads(world: World, user) -> int:
    return AuditEvent.objects.filter(
        kind="read", purpose="claims", action="agreement.read", data_subject_id=world.client.pk, actor=user
    ).count()


def test_provider_api__agreements__only_its_own_and_no_identity_code(client, world):
    theirs, their_user = other_provider(world)
    headers = auth(world.provider_user)

    listed = client.get(f"{API}/agreements", headers=headers)
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert [a["number"] for a in listed.json()["items"]] == [world.agreement.number]
    item = listed.json()["items"][0]
    assert item == {
        "number": world.agreement.number,
        "client_name": world.client.full_name,
        "service": "day-activity",
        "quantity_hundredths": 800,
        "agreed_price_cents": 9_000,
        "own_share_cents": 0,
        "valid_from": "2026-03-01",
        "valid_until": world.agreement.valid_until.isoformat(),
        "state": "active",
    }
    assert world.client.national_id not in listed.content.decode()
    assert "national_id" not in listed.content.decode()

    detail = client.get(f"{API}/agreements/{world.agreement.number}", headers=headers)
    assert detail.json() == item

    other = client.get(f"{API}/agreements/{theirs.number}", headers=headers)
    missing = client.get(f"{API}/agreements/SA-NO-SUCH", headers=headers)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()

    their_list = client.get(f"{API}/agreements", headers=auth(their_user)).json()
    assert [a["number"] for a in their_list["items"]] == [theirs.number]
    assert their_list["items"][0]["agreed_price_cents"] == 8_000


def test_provider_api__agreement_reads__are_logged_for_the_client(client, world):
    theirs, _their_user = other_provider(world)
    headers = auth(world.provider_user)
    assert _agreement_reads(world, world.provider_user) == 0

    client.get(f"{API}/agreements", headers=headers)
    assert _agreement_reads(world, world.provider_user) == 1
    client.get(f"{API}/agreements/{world.agreement.number}", headers=headers)
    assert _agreement_reads(world, world.provider_user) == 2
    client.get(f"{API}/agreements/{theirs.number}", headers=headers)  # 404: nothing was shown
    assert _agreement_reads(world, world.provider_user) == 2
    event = AuditEvent.objects.filter(action="agreement.read").order_by("-seq").first()
    assert event.organiser_id == world.client.organiser_id
    assert event.target_id == str(world.client.pk)


def test_provider_api__agreements__filtered_by_state_and_paged(client, world):
    with clock.pinned(FIRST_OF_MARCH):
        second = agreements.agreement_create(
            actor=world.worker,
            line=world.line,
            provider=world.provider,
            service_type=world.day_activity,
            quantity_hundredths=200,
            valid_from=clock.today(),
            valid_until=world.line.valid_until,
        )
    agreements.agreement_end(actor=world.worker, agreement=second, last_day=dt.date(2026, 3, 19), reason="Muutto")
    headers = auth(world.provider_user)

    def numbers(**params) -> list[str]:
        return [a["number"] for a in client.get(f"{API}/agreements", params, headers=headers).json()["items"]]

    assert numbers(state="active") == [world.agreement.number]
    assert numbers(state="ended") == [second.number]
    assert sorted(numbers()) == sorted([world.agreement.number, second.number])
    assert len(numbers(limit=1)) == 1 and numbers(limit=1) != numbers(limit=1, offset=1)
    assert client.get(f"{API}/agreements", {"state": "paused"}, headers=headers).status_code == 422
    assert client.get(f"{API}/agreements", {"limit": 501}, headers=headers).status_code == 422


# --- claims --------------------------------------------------------------------------------------------------


def test_provider_api__claim__approved_and_the_same_invoice_again_pays_nothing_twice(client, world):
    headers = auth(world.provider_user)
    before = posted(world)

    created = post_claim(client, headers, claim_body(world, quantity_hundredths=250))
    assert created.status_code == 201
    data = created.json()
    assert data["status"] == "approved"
    assert data["reasons"] == []
    assert data["amount_cents"] == 22_500 and data["own_share_cents"] == 0
    assert data["quantity_hundredths"] == 250 and data["unit_price_cents"] == 9_000
    assert data["agreement"] == world.agreement.number and data["service"] == "day-activity"
    assert data["invoice_number"] == "API-1" and data["service_date"] == "2026-03-03"
    assert data["payment_batch"] is None and data["dispute_deadline"] is None
    assert posted(world) == before + 22_500
    assert Claim.objects.get(pk=data["id"]).source == ClaimSource.API

    again = post_claim(client, headers, claim_body(world, quantity_hundredths=250, service_date="2026-03-04"))
    assert again.status_code == 200
    assert again.json()["id"] == data["id"]
    assert again.json()["service_date"] == "2026-03-03"  # the original, not the retry
    assert posted(world) == before + 22_500
    assert Claim.objects.count() == 1


def test_provider_api__claim__not_endorsed__waits_for_the_client(client):
    world = build_world(endorsed=False)
    before = posted(world)
    response = post_claim(client, auth(world.provider_user), claim_body(world))
    assert response.status_code == 201
    assert response.json()["status"] == "waiting"
    assert response.json()["dispute_deadline"] == "2026-03-27"  # seven days from today
    assert posted(world) == before  # held, not yet paid out of the budget


def test_provider_api__claim__above_the_agreed_price__is_rejected_with_the_reason(client, world):
    before = posted(world)
    response = post_claim(client, auth(world.provider_user), claim_body(world, unit_price_cents=9_500))
    assert response.status_code == 201
    assert response.json()["status"] == "rejected"
    assert response.json()["reasons"] == [
        {"code": "price_above_agreement", "label": "the unit price is above the agreed price"}
    ]
    assert posted(world) == before
    assert Claim.objects.get(pk=response.json()["id"]).hold_id is None


def test_provider_api__claim__another_providers_agreement__is_rejected_as_no_agreement(client, world):
    theirs, _their_user = other_provider(world)
    response = post_claim(
        client, auth(world.provider_user), claim_body(world, agreement=theirs.number, unit_price_cents=8_000)
    )
    assert response.status_code == 201
    assert response.json()["status"] == "rejected"
    assert [r["code"] for r in response.json()["reasons"]] == ["no_agreement"]
    assert response.json()["agreement"] is None


def test_provider_api__claim__whole_numbers_written_with_a_point__are_whole_numbers(client, world):
    """JSON Schema's integer includes 250.0 (schemathesis sent it); the schema allows it, so the API takes it."""
    response = post_claim(
        client, auth(world.provider_user), claim_body(world, quantity_hundredths=250.0, unit_price_cents=9000.0)
    )
    assert response.status_code == 201
    assert (response.json()["quantity_hundredths"], response.json()["unit_price_cents"]) == (250, 9_000)


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        pytest.param({"invoice_number": None}, "invoice_number", "missing", id="no-invoice"),
        # The schema allows it; the service's rule refuses it.
        pytest.param({"invoice_number": "   "}, "invoice_number", "rule", id="blank-invoice"),
        pytest.param({"invoice_number": "INV\x0b1"}, "invoice_number", "text_character", id="control-character"),
        pytest.param({"invoice_number": "X" * 41}, "invoice_number", "string_too_long", id="long-invoice"),
        pytest.param({"agreement": None}, "agreement", "missing", id="no-agreement"),
        pytest.param({"service_date": "2026-13-01"}, "service_date", "date_from_datetime_parsing", id="bad-date"),
        # Found by schemathesis: a number was read as a Unix time (0 as 1970-01-01).
        pytest.param({"service_date": 0}, "service_date", "date_type", id="date-number"),
        pytest.param({"service_date": "2026-03-02T00:00:00"}, "service_date", "date_type", id="date-with-time"),
        pytest.param({"quantity_hundredths": 1.5}, "quantity_hundredths", "int_type", id="quantity-float"),
        pytest.param({"quantity_hundredths": "100"}, "quantity_hundredths", "int_type", id="quantity-text"),
        pytest.param({"quantity_hundredths": 0}, "quantity_hundredths", "greater_than", id="quantity-zero"),
        pytest.param({"unit_price_cents": -1}, "unit_price_cents", "greater_than", id="negative-price"),
        pytest.param({"unit_price_cents": True}, "unit_price_cents", "int_type", id="price-boolean"),
        # Found by schemathesis: a product beyond 64 bits answered 500.
        pytest.param({"quantity_hundredths": 10**15}, "quantity_hundredths", "less_than_equal", id="quantity-huge"),
        pytest.param({"unit_price_cents": 10**17}, "unit_price_cents", "less_than_equal", id="price-huge"),
    ],
)
def test_provider_api__claim__invalid_input__422_names_the_field_and_claims_nothing(client, change, field, kind, world):
    body = claim_body(world)
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    response = post_claim(client, auth(world.provider_user), body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [(e["field"], e["type"]) for e in errors] == [(field, kind)]
    assert errors[0]["loc"][0] == "body" and errors[0]["loc"][-1] == field
    assert errors[0]["message"]
    assert Claim.objects.count() == 0


def test_provider_api__claim__body_not_json__is_a_bad_request(client, world):
    response = client.post(
        f"{API}/claims", data="agreement=x", content_type="application/json", headers=auth(world.provider_user)
    )
    assert response.status_code == 400
    assert Claim.objects.count() == 0


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary="\x0b"'],
    ids=["no-boundary", "empty-boundary", "control-boundary"],
)
def test_provider_api__claims_upload__multipart_without_a_usable_boundary__is_a_bad_request(
    client, content_type, world
):
    """Schemathesis found it: Django's parser raises for such a body, and it was a 500."""
    response = client.post(
        f"{API}/claims/uploads", data=b"--x\r\n", content_type=content_type, headers=auth(world.provider_user)
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert ClaimUpload.objects.count() == 0


def test_provider_api__claims__only_its_own_in_list_and_detail(client, world):
    theirs, their_user = other_provider(world)
    own = submit(world, world.provider_user, world.agreement, "OWN-1")
    their = submit(world, their_user, theirs, "THEIRS-1")
    headers = auth(world.provider_user)

    listed = client.get(f"{API}/claims", headers=headers).json()
    assert listed["count"] == 1
    assert [c["id"] for c in listed["items"]] == [str(own.pk)]

    detail = client.get(f"{API}/claims/{own.pk}", headers=headers)
    assert detail.status_code == 200
    assert detail.json()["invoice_number"] == "OWN-1" and detail.json()["status"] == "approved"
    other = client.get(f"{API}/claims/{their.pk}", headers=headers)
    missing = client.get(f"{API}/claims/00000000-0000-0000-0000-000000000001", headers=headers)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert "THEIRS-1" not in other.content.decode()

    their_list = client.get(f"{API}/claims", headers=auth(their_user)).json()
    assert [c["invoice_number"] for c in their_list["items"]] == ["THEIRS-1"]


def test_provider_api__claims__filtered_by_status_and_service_date_and_paged(client, world):
    for number, day in enumerate((3, 4, 5, 6), start=1):
        submit(world, world.provider_user, world.agreement, f"OK-{number}", day=dt.date(2026, 3, day))
    submit(world, world.provider_user, world.agreement, "HIGH-1", day=dt.date(2026, 3, 6), price=9_900)
    headers = auth(world.provider_user)

    def invoices(**params) -> list[str]:
        response = client.get(f"{API}/claims", params, headers=headers)
        assert response.status_code == 200
        return sorted(c["invoice_number"] for c in response.json()["items"])

    assert invoices(status="rejected") == ["HIGH-1"]
    assert invoices(status="approved") == ["OK-1", "OK-2", "OK-3", "OK-4"]
    assert invoices(service_date_from="2026-03-04", service_date_to="2026-03-05") == ["OK-2", "OK-3"]
    assert invoices(service_date_from="2026-03-06") == ["HIGH-1", "OK-4"]
    first, rest = invoices(limit=2), invoices(limit=10, offset=2)
    assert len(first) == 2 and len(rest) == 3 and not set(first) & set(rest)
    assert client.get(f"{API}/claims", {"limit": 2}, headers=headers).json()["count"] == 5
    assert client.get(f"{API}/claims", {"status": "lost"}, headers=headers).status_code == 422
    too_many = client.get(f"{API}/claims", {"limit": 501}, headers=headers)
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["field"] == "limit"


def test_provider_api__claim__tells_truthfully_where_its_payment_stands(client, world):
    from kukkaro.demo.bank import status_report
    from kukkaro.services import payments

    claim = submit(world, world.provider_user, world.agreement, "PAY-1")

    def seen():
        return client.get(f"{API}/claims/{claim.pk}", headers=auth(world.provider_user)).json()

    assert (seen()["payment_batch"], seen()["payment_state"], seen()["payment_rejected"]) == (None, None, None)
    batch = payments.payment_batch_prepare(
        actor=world.finance,
        organiser=world.client.organiser,
        approved_until=clock.today(),
        execution_date=clock.today(),
    )
    assert (seen()["status"], seen()["payment_batch"], seen()["payment_state"]) == (
        "approved",
        batch.number,
        "prepared",
    )
    payments.payment_batch_release(actor=world.finance2, batch=batch)
    assert (seen()["status"], seen()["payment_state"]) == ("approved", "released")
    line = batch.lines.get()
    rejected = status_report(
        bytes(batch.pain001),
        message_id="B-1",
        created_at=clock.now(),
        rejected={line.end_to_end_id: ("AC04", "")},
    )
    payments.payment_status_import(
        actor=world.finance2, organiser=world.client.organiser, filename="s.xml", content=rejected
    )
    data = seen()
    assert (data["status"], data["payment_batch"], data["payment_state"]) == ("approved", None, None)
    assert data["payment_rejected"]["code"] == "AC04" and data["payment_rejected"]["label"]
    following = payments.payment_batch_prepare(
        actor=world.finance,
        organiser=world.client.organiser,
        approved_until=clock.today(),
        execution_date=clock.today(),
    )
    payments.payment_batch_release(actor=world.finance2, batch=following)
    payments.payment_status_import(
        actor=world.finance2,
        organiser=world.client.organiser,
        filename="s.xml",
        content=status_report(bytes(following.pain001), message_id="B-2", created_at=clock.now()),
    )
    data = seen()
    assert (data["status"], data["payment_batch"], data["payment_state"]) == ("paid", following.number, "paid")
    listed = client.get(f"{API}/claims", headers=auth(world.provider_user)).json()["items"]
    assert [c["payment_state"] for c in listed if c["id"] == str(claim.pk)] == ["paid"]


# --- claims from a file --------------------------------------------------------------------------------------


def _csv(agreement: str) -> bytes:
    rows = [
        "agreement;service;service_date;quantity;unit_price;invoice_number",
        f"{agreement};day-activity;2026-03-03;1;90,00;F-1",  # 2: good
        f"{agreement};day-activity;2026-13-01;1;90,00;F-2",  # 3: no such date
        f"{agreement};day-activity;2026-03-04;1;95,00;F-3",  # 4: above the agreed price
        f"{agreement};day-activity;2026-03-05;1;90,00;F-1",  # 5: the same invoice again
    ]
    return ("\ufeff" + "\r\n".join(rows) + "\r\n").encode()


def _upload(client, headers, content: bytes, name: str = "march.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"{API}/claims/uploads", {"file": SimpleUploadedFile(name, content, "text/csv")}, headers=headers
    )


def test_provider_api__upload__one_result_per_row_and_readable_again(client, world):
    headers = auth(world.provider_user)
    response = _upload(client, headers, _csv(world.agreement.number))
    assert response.status_code == 201
    data = response.json()
    assert data["filename"] == "march.csv"
    assert data["rows"] == 4
    assert data["counts"] == {"approved": 1, "invalid": 1, "rejected": 1, "duplicate": 1}
    results = {r["row"]: r for r in data["results"]}
    assert sorted(results) == [2, 3, 4, 5]
    good = Claim.objects.get(invoice_number="F-1")
    assert (results[2]["outcome"], results[2]["claim_id"], results[2]["reasons"]) == ("approved", str(good.pk), [])
    assert results[3]["outcome"] == "invalid" and results[3]["claim_id"] is None
    assert [(r["field"], r["code"]) for r in results[3]["reasons"]] == [("service_date", "date")]
    assert results[4]["outcome"] == "rejected"
    assert [(r["field"], r["code"]) for r in results[4]["reasons"]] == [("claim", "price_above_agreement")]
    assert results[4]["reasons"][0]["message"]
    assert (results[5]["outcome"], results[5]["claim_id"]) == ("duplicate", str(good.pk))
    assert Claim.objects.get(pk=results[4]["claim_id"]).source == ClaimSource.CSV

    again = client.get(f"{API}/claims/uploads/{data['id']}", headers=headers)
    assert again.status_code == 200
    assert again.json() == data


def test_provider_api__upload__another_providers_file__is_not_found(client, world):
    _theirs, their_user = other_provider(world)
    upload = _upload(client, auth(world.provider_user), _csv(world.agreement.number)).json()
    other = client.get(f"{API}/claims/uploads/{upload['id']}", headers=auth(their_user))
    missing = client.get(f"{API}/claims/uploads/00000000-0000-0000-0000-000000000001", headers=auth(their_user))
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert world.agreement.number not in other.content.decode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "The file is empty.", id="empty"),
        pytest.param(b"agreement;service\nx;y\n", "The header row lacks the columns", id="columns-missing"),
        pytest.param(
            "agreement;service;service_date;quantity;unit_price;invoice_number\nä".encode("latin-1"),
            "The file is not UTF-8 text",
            id="latin-1",
        ),
    ],
)
def test_provider_api__upload__unreadable_file__422_and_nothing_stored(client, content, message, world):
    response = _upload(client, auth(world.provider_user), content, name="bad.csv")
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["field"] for e in errors] == ["file"]
    assert errors[0]["message"].startswith(message)
    assert ClaimUpload.objects.count() == 0 and Claim.objects.count() == 0


def test_provider_api__upload__without_a_file__422_names_the_field(client, world):
    response = client.post(f"{API}/claims/uploads", {}, headers=auth(world.provider_user))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["file"]
    assert ClaimUpload.objects.count() == 0
