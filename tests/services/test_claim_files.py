import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from kukkaro.core import clock
from kukkaro.ledger.models import Purse, Transfer, TransferCode
from kukkaro.ledger.verification import ledger_verify
from kukkaro.services.claim_files import claims_upload
from kukkaro.services.models import Claim, ClaimUpload
from tests.services.world import build_world as services_world

pytestmark = pytest.mark.django_db

FIRST_OF_MARCH = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MARCH = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(MARCH):
        yield


def build_world():
    """The provider approved and the agreement in force from 1 March; the claims come on 20 March."""
    with clock.pinned(FIRST_OF_MARCH):
        return services_world()


def _csv(agreement: str) -> bytes:
    rows = [
        "agreement;service;service_date;quantity;unit_price;invoice_number",
        f"{agreement};day-activity;2026-03-03;1;90,00;G-1",  # 2: good
        f"{agreement};day-activity;4.3.2026;2,5;90.00;G-2",  # 3: good, Finnish date, decimal comma
        f"{agreement};day-activity;2026-03-05;1;90,00;G-1",  # 4: the same invoice again in the file
        f"{agreement};day-activity;2026-13-01;1;90,00;B-1",  # 5: no such date
        f"{agreement};day-activity;2026-03-06;-1;90,00;B-2",  # 6: negative quantity
        f"{agreement};day-activity;2026-03-06;1;ninety;B-3",  # 7: not an amount
        f"{agreement};day-activity;2026-03-06;1;90,00;",  # 8: no invoice number
        "SA-NONE;day-activity;2026-03-06;1;90,00;B-5",  # 9: no such agreement
        f"{agreement};personal-assistance;2026-03-06;1;90,00;B-6",  # 10: not the agreed service
        f"{agreement};day-activity;2026-03-06;1;95,00;B-7",  # 11: above the agreed price
        f"{agreement};day-activity;2026-04-01;1;90,00;B-8",  # 12: in the future
        f"{agreement};day-activity;2026-03-06;900;90,00;B-9",  # 13: more than the budget has
        f"{agreement};day-activity;2026-03-06;1;90,00;B-10;extra",  # 14: a value too many
        "",  # a blank line is not a row
        f"{agreement};day-activity;2026-03-09;1;90,00;G-3",  # 16: good
    ]
    return ("\ufeff" + "\r\n".join(rows) + "\r\n").encode()


def test_claims_upload__one_result_per_row_and_a_second_upload_pays_nothing_twice():
    world = build_world()
    content = _csv(world.agreement.number)
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="march.csv", content=content)
    results = {r.row_number: r for r in upload.results.all()}
    assert sorted(results) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16]
    assert upload.rows == 14
    outcome = {n: r.outcome for n, r in results.items()}
    assert [outcome[n] for n in (2, 3, 16)] == ["approved", "approved", "approved"]
    assert outcome[4] == "duplicate" and results[4].claim_id == results[2].claim_id
    fields = {n: {p["field"] for p in results[n].reasons} for n in (5, 6, 7, 8, 14)}
    assert fields == {
        5: {"service_date"},
        6: {"quantity"},
        7: {"unit_price"},
        8: {"invoice_number"},
        14: {"row"},
    }
    assert all(outcome[n] == "invalid" for n in (5, 6, 7, 8, 14))
    codes = {n: {p["code"] for p in results[n].reasons} for n in (9, 10, 11, 12, 13)}
    assert all(p["message"] for n in (9, 10, 11, 12, 13) for p in results[n].reasons)
    assert codes == {
        9: {"no_agreement"},
        10: {"wrong_service"},
        11: {"price_above_agreement"},
        12: {"future_date"},
        13: {"insufficient_funds"},
    }
    assert all(outcome[n] == "rejected" for n in (9, 10, 11, 12, 13))
    purse = Purse.objects.get(pk=world.purse.pk)
    spent = purse.debits_posted
    posts = Transfer.objects.filter(code=TransferCode.POST).count()
    assert Claim.objects.filter(status="approved").count() == 3

    again = claims_upload(actor=world.provider_user, provider=world.provider, filename="march.csv", content=content)
    outcome_again = {r.row_number: r.outcome for r in again.results.all()}
    assert [outcome_again[n] for n in (2, 3, 4, 16)] == ["duplicate"] * 4
    assert Purse.objects.get(pk=world.purse.pk).debits_posted == spent
    assert Transfer.objects.filter(code=TransferCode.POST).count() == posts
    assert Claim.objects.filter(status="approved").count() == 3
    assert ledger_verify()[1] == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"agreement;service\nx;y\n", id="columns-missing"),
        pytest.param(b"agreement;service;service_date;quantity;unit_price;invoice_number\n", id="no-rows"),
        pytest.param(
            "agreement;service;service_date;quantity;unit_price;invoice_number\nä".encode("latin-1"), id="latin-1"
        ),
    ],
)
def test_claims_upload__unreadable_file__is_refused_whole_and_stores_nothing(content):
    world = build_world()
    with pytest.raises(ValidationError) as refused:
        claims_upload(actor=world.provider_user, provider=world.provider, filename="bad.csv", content=content)
    assert "file" in refused.value.message_dict
    assert ClaimUpload.objects.count() == 0 and Claim.objects.count() == 0


def test_claims_upload__comma_separated_file_is_read_too():
    world = build_world()
    content = (
        "invoice_number,agreement,service,service_date,quantity,unit_price\n"
        f'C-1,{world.agreement.number},day-activity,2026-03-03,1,"90,00"\n'
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="c.csv", content=content)
    assert [r.outcome for r in upload.results.all()] == ["approved"]


def test_claims_upload__a_nul_character_is_a_problem_of_its_field():
    """PostgreSQL cannot store NUL: such a row gets its own problem, and the other rows are claimed as usual."""
    world = build_world()
    agreement = world.agreement.number
    content = (
        "agreement;service;service_date;quantity;unit_price;invoice_number\n"
        f"{agreement};day-activity;2026-03-03;1;90,00;N\x00-1\n"
        f"{agreement};day-activity;2026-03-04;1;90,00;N-2\n"
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="n.csv", content=content)
    results = list(upload.results.order_by("row_number"))
    assert [r.outcome for r in results] == ["invalid", "approved"]
    assert [(p["field"], p["code"]) for p in results[0].reasons] == [("invoice_number", "character")]
