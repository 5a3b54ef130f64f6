import csv
import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kukkaro.core import clock
from kukkaro.core.text import text_problem
from kukkaro.ledger.models import Purse, Transfer, TransferCode
from kukkaro.ledger.verification import ledger_verify
from kukkaro.services import claims
from kukkaro.services.claim_files import COLUMNS, claims_upload
from kukkaro.services.models import Claim, ClaimUpload
from tests import csv_fuzz
from tests.services.world import build_world as services_world
from tests.worlds import shared_world

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


#: Built once and shared by the tests that start from it (tests/worlds.py).
world = shared_world("world", build_world)


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


def test_claims_upload__one_result_per_row_and_a_second_upload_pays_nothing_twice(world):
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
def test_claims_upload__unreadable_file__is_refused_whole_and_stores_nothing(content, world):
    with pytest.raises(ValidationError) as refused:
        claims_upload(actor=world.provider_user, provider=world.provider, filename="bad.csv", content=content)
    assert "file" in refused.value.message_dict
    assert ClaimUpload.objects.count() == 0 and Claim.objects.count() == 0


def test_claims_upload__comma_separated_file_is_read_too(world):
    content = (
        "invoice_number,agreement,service,service_date,quantity,unit_price\n"
        f'C-1,{world.agreement.number},day-activity,2026-03-03,1,"90,00"\n'
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="c.csv", content=content)
    assert [r.outcome for r in upload.results.all()] == ["approved"]


def test_claims_upload__a_nul_character_is_a_problem_of_its_field(world):
    """PostgreSQL cannot store NUL: such a row gets its own problem, and the other rows are claimed as usual."""
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


# --- fuzzed files --------------------------------------------------------------------------------------------

GOOD = {
    "service": ["day-activity", "personal-assistance"],
    "service_date": ["2026-03-03", "4.3.2026", "2026-03-09", "2026-04-01"],
    "quantity": ["1", "2,5", "0.5", "900"],
    "unit_price": ["90,00", "90.00", "95,00", "1 000,00"],
    "invoice_number": ["F-1", "F-2", "F-3", "F-1"],
}


@st.composite
def _claim_files(draw: st.DrawFn, agreement: str) -> bytes:
    good = {"agreement": [agreement, agreement, "SA-NONE"], **GOOD}
    header = list(COLUMNS)
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 9)) == 0:
        header = header[: draw(st.integers(0, len(header)))]
    rows = draw(st.lists(st.tuples(*(csv_fuzz.value(good.get(name, [""])) for name in header)), max_size=6))
    rows = [list(row) + draw(st.sampled_from([[], [], [], ["extra"]])) for row in rows]
    text = csv_fuzz.write_csv(
        header,
        rows,
        delimiter=draw(st.sampled_from([";", ","])),
        line_end=draw(st.sampled_from(csv_fuzz.LINE_ENDS)),
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
    )
    return draw(csv_fuzz.encoded(text))


def _assert_stored_rows_valid(upload: ClaimUpload) -> None:
    results = list(upload.results.all())
    assert len(results) == upload.rows == len({r.row_number for r in results}) > 0
    for result in results:
        if result.outcome == "invalid":
            assert result.claim_id is None and result.reasons
            assert all(p["field"] and p["code"] and p["message"] for p in result.reasons)
        else:
            assert result.claim_id is not None
    for claim in Claim.objects.filter(upload=upload):
        assert 0 < claim.quantity_hundredths <= claims.MAX_CLAIM_QUANTITY_HUNDREDTHS
        assert 0 < claim.unit_price_cents <= claims.MAX_CLAIM_UNIT_PRICE_CENTS
        assert 0 < len(claim.invoice_number) <= 40 and text_problem(claim.invoice_number) is None
        assert isinstance(claim.service_date, dt.date)


def test_claims_upload__fuzzed_files__row_problems_or_the_whole_file_refused_never_a_crash(world):
    """Broken files (see tests/csv_fuzz.py) through the service the page and the API call: either the file is
    refused whole with a message and nothing is stored, or every row gets one result and every claim stored is a
    valid claim. Any other exception is a bug (it was a 500: a value over 128 KiB, a quantity of Infinity)."""

    header = ";".join(COLUMNS)

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(content=_claim_files(world.agreement.number))
    # The files that were a 500, always among the examples.
    @example(content=f"{header}\nSA-X;day-activity;2026-03-03;Infinity;90,00;E-1\n".encode())
    @example(content=f"{header}\nSA-X;day-activity;2026-03-03;{'9' * 140_000};90,00;E-2\n".encode())
    def upload(content: bytes) -> None:
        with transaction.atomic():
            uploads, claims = ClaimUpload.objects.count(), Claim.objects.count()
            refused = None
            try:
                done = claims_upload(
                    actor=world.provider_user, provider=world.provider, filename="f.csv", content=content
                )
            except ValidationError as error:
                refused = error
            if refused is not None:
                assert list(refused.message_dict) == ["file"] and all(refused.message_dict["file"])
                assert (ClaimUpload.objects.count(), Claim.objects.count()) == (uploads, claims)
            else:
                _assert_stored_rows_valid(done)
            transaction.set_rollback(True)

    upload()
    assert ledger_verify()[1] == []


@pytest.mark.parametrize(
    ("value", "field", "code"),
    [
        pytest.param("Infinity", "quantity", "number", id="infinity"),
        pytest.param("NaN", "quantity", "number", id="nan"),
        pytest.param("1e309", "quantity", "number", id="1e309"),
        pytest.param("-0", "quantity", "number", id="negative-zero"),
        pytest.param("٣", "quantity", "number", id="arabic-indic-digit"),
        pytest.param("x" * 1025, "quantity", "too_long", id="over-1-kib"),
        pytest.param("x" * 140_000, "quantity", "too_long", id="over-128-kib"),
    ],
)
def test_claims_upload__a_bad_quantity__is_its_rows_problem(value, field, code, world):
    content = (
        "agreement;service;service_date;quantity;unit_price;invoice_number\r\n"
        f"{world.agreement.number};day-activity;2026-03-03;{value};90,00;Q-1\r\n"
        f"{world.agreement.number};day-activity;2026-03-04;1;90,00;Q-2\r\n"
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="q.csv", content=content)
    results = list(upload.results.order_by("row_number"))
    assert [r.outcome for r in results] == ["invalid", "approved"]
    assert [(p["field"], p["code"]) for p in results[0].reasons] == [(field, code)]


@pytest.mark.parametrize(
    ("value", "field", "code"),
    [
        pytest.param("Kotiapu\x0bOy", "invoice_number", "character", id="vertical-tab"),
        pytest.param("F\ufeff1", "invoice_number", "character", id="bom-inside"),
        pytest.param("٢٠٢٦-٠٣-٠٣", "service_date", "date", id="arabic-indic-date"),
        pytest.param("2026-W10-2", "service_date", "date", id="week-date"),
        pytest.param("١٢,٥٠", "unit_price", "amount", id="arabic-indic-price"),
    ],
)
def test_claims_upload__other_scripts_digits_and_control_characters__are_row_problems(value, field, code, world):
    values = {"service_date": "2026-03-03", "unit_price": "90,00", "invoice_number": "R-1", field: value}
    content = (
        "agreement;service;service_date;quantity;unit_price;invoice_number\n"
        f"{world.agreement.number};day-activity;{values['service_date']};1;{values['unit_price']};"
        f"{values['invoice_number']}\n"
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="r.csv", content=content)
    [result] = upload.results.all()
    assert result.outcome == "invalid"
    assert [(p["field"], p["code"]) for p in result.reasons] == [(field, code)]


def test_claims_upload__cr_only_line_ends__are_read_as_lines(world):
    content = (
        "agreement;service;service_date;quantity;unit_price;invoice_number\r"
        f"{world.agreement.number};day-activity;2026-03-03;1;90,00;M-1\r"
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="mac.csv", content=content)
    assert [r.outcome for r in upload.results.all()] == ["approved"]


def test_claims_upload__not_utf8__is_refused_naming_the_line_and_byte(world):
    content = (
        "\ufeffagreement;service;service_date;quantity;unit_price;invoice_number\n"
        f"{world.agreement.number};day-activity;2026-03-03;1;90,00;Ä-1\n"
    ).encode()
    content = content.replace("Ä".encode(), "Ä".encode("latin-1"))
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        claims_upload(actor=world.provider_user, provider=world.provider, filename="l.csv", content=content)
    byte = content.index(b"\xc4") + 1
    assert refused.value.message_dict["file"] == [
        f"The file is not UTF-8 text (line 2, byte {byte}). Save it as CSV (UTF-8)."
    ]
    assert ClaimUpload.objects.count() == 0


def test_claims_upload__a_quoted_value_over_two_lines__is_its_rows_problem_and_rows_keep_their_numbers(world):
    content = (
        "agreement;service;service_date;quantity;unit_price;invoice_number\n"
        f'{world.agreement.number};day-activity;2026-03-03;1;90,00;"L\n1"\n'
        f"{world.agreement.number};day-activity;2026-03-04;1;90,00;L-2\n"
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="l.csv", content=content)
    results = list(upload.results.order_by("row_number"))
    assert [(r.row_number, r.outcome) for r in results] == [(2, "invalid"), (3, "approved")]
    assert [(p["field"], p["code"]) for p in results[0].reasons] == [("invoice_number", "line_break")]
