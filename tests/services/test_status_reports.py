"""pain.002 status reports: what the bank says about each payment, read carefully from a file that comes from
outside. The reports are built by the demo's bank from real pain.001 files and validated against the official
pain.002.001.10 schema, so the parser is tested on what a bank really sends."""

import datetime as dt
import hashlib

import pytest
from django.utils import translation
from lxml import etree

from kukkaro.demo.bank import status_report
from kukkaro.services import status_reports
from kukkaro.services.payment_files import Payment, pain001, rf_reference, validate_pain001
from kukkaro.services.status_reports import StatusReportError, parse, reason_words

HELSINKI = dt.timezone(dt.timedelta(hours=2))
CREATED = dt.datetime(2026, 3, 4, 8, 0, tzinfo=HELSINKI)


def _pain001(count: int = 3) -> bytes:
    return pain001(
        message_id="PB01202603",
        created_at=dt.datetime(2026, 3, 2, 11, 0, tzinfo=HELSINKI),
        execution_date=dt.date(2026, 3, 5),
        debtor_name="Länsi-Uudenmaan hyvinvointialue",
        debtor_iban="FI5542345670000081",
        debtor_bic="ITELFIHH",
        payments=[
            Payment(
                end_to_end_id=f"PB01202603-{n:04d}",
                name=f"Palvelu {n} Oy",
                iban="FI2112345600000785",
                bic="NDEAFIHH",
                amount_cents=1000 * n,
                reference=rf_reference(f"PB01202603{n:04d}"),
            )
            for n in range(1, count + 1)
        ],
    )


def test_schema__is_the_official_one_unchanged():
    # The ISO 20022 release of 2019-02-14; a change to the vendored file must be deliberate.
    digest = hashlib.sha256(status_reports.SCHEMA_PATHS["pain.002.001.10"].read_bytes()).hexdigest()
    assert digest == "3eaa417745a92d7077d6f966b5a35943014c92164d2973b671d16012bf733686"


def test_demo_bank__answers_with_a_schema_valid_pain002_for_a_schema_valid_pain001():
    document = _pain001()
    validate_pain001(document)
    report = status_report(
        document,
        message_id="BANK-1",
        created_at=CREATED,
        rejected={"PB01202603-0002": ("AC04", "Tili lopetettu")},
    )
    status_reports.validate(report)  # raises if not valid against pain.002.001.10.xsd
    group_only = status_report(document, message_id="BANK-2", created_at=CREATED, group_only=True)
    status_reports.validate(group_only)


def test_parse__transaction_statuses_win_over_the_block_and_group():
    report = parse(
        status_report(
            _pain001(),
            message_id="BANK-1",
            created_at=CREATED,
            rejected={"PB01202603-0002": ("AC04", "Tili lopetettu")},
            pending={"PB01202603-0003"},
        )
    )
    assert (report.message_name, report.message_id) == ("pain.002.001.10", "BANK-1")
    assert (report.original_message_id, report.original_message_name) == ("PB01202603", "pain.001.001.09")
    assert report.created_at == CREATED
    assert report.group.code == "PART"
    first, second, third = (
        report.status_of(payment_information_id="PB01202603-1", end_to_end_id=f"PB01202603-{n:04d}") for n in (1, 2, 3)
    )
    assert first.accepted and first.code == "ACSC"
    assert second.rejected and second.reasons[0].code == "AC04" and second.reasons[0].text == "Tili lopetettu"
    assert third.code == "PDNG" and not third.final
    assert report.end_to_end_ids() == {"PB01202603-0001", "PB01202603-0002", "PB01202603-0003"}


def test_parse__group_status_alone__decides_every_payment_unless_it_is_part():
    accepted = parse(status_report(_pain001(), message_id="B", created_at=CREATED, group_only=True))
    status = accepted.status_of(payment_information_id="PB01202603-1", end_to_end_id="PB01202603-0003")
    assert status.accepted and accepted.payment_informations == ()
    rejected = parse(
        status_report(
            _pain001(1), message_id="B", created_at=CREATED, group_only=True, rejected={"PB01202603-0001": ("FF01", "")}
        )
    )
    status = rejected.status_of(payment_information_id="PB01202603-1", end_to_end_id="PB01202603-0001")
    assert status.rejected and status.reasons[0].code == "FF01"


def test_parse__pain002_001_03__is_read_by_its_structure():
    document = status_report(
        _pain001(2),
        message_id="BANK-3",
        created_at=CREATED,
        rejected={"PB01202603-0001": ("MD07", "")},
        message_name="pain.002.001.03",
    )
    report = parse(document)
    assert report.message_name == "pain.002.001.03"
    assert report.status_of(payment_information_id="PB01202603-1", end_to_end_id="PB01202603-0001").rejected
    assert report.status_of(payment_information_id="PB01202603-1", end_to_end_id="PB01202603-0002").accepted


def test_parse__time_without_offset__is_taken_as_helsinki():
    document = status_report(_pain001(1), message_id="B", created_at=CREATED).replace(
        b"2026-03-04T08:00:00+02:00", b"2026-03-04T08:00:00"
    )
    assert parse(document).created_at.utcoffset() == dt.timedelta(hours=2)


ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt><GrpHdr><MsgId>&secret;</MsgId>
</GrpHdr></CstmrPmtStsRpt></Document>"""


@pytest.mark.parametrize(
    ("document", "words"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"<Document>", "not readable XML", id="not-well-formed"),
        pytest.param(ENTITY, "document type", id="external-entity"),
        pytest.param(b"\xef\xbb\xbf" + b"x" * (6 * 1024 * 1024), "larger", id="too-large"),
        pytest.param(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>', "not a pain.002", id="pain001"
        ),
        pytest.param(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt/></Document>',
            "schema",
            id="schema-invalid",
        ),
        pytest.param(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr>'
            b"<MsgId>X</MsgId></GrpHdr></CstmrPmtStsRpt></Document>",
            "OrgnlMsgId",
            id="v03-without-original",
        ),
    ],
)
def test_parse__what_is_not_a_readable_status_report__is_refused_with_the_reason(document, words):
    with translation.override("en"), pytest.raises(StatusReportError, match=words):
        parse(document)


def test_parse__an_entity_is_never_expanded():
    # Even inside a file that gets past the document type check, lxml resolves no entity and fetches nothing.
    parser = status_reports._parser()
    root = etree.fromstring(ENTITY, parser=parser)
    assert "root:" not in etree.tostring(root).decode()


def test_reason_words__known_codes_in_words_with_the_code_and_unknown_codes_as_codes():
    with translation.override("en"):
        assert reason_words("AC04") == "the account is closed (AC04)"
        assert reason_words("ZZ99") == "the bank's reason code ZZ99"
    with translation.override("fi"):
        assert reason_words("AC04").endswith("(AC04)") and "closed" not in reason_words("AC04")
