"""pain.001.001.09 payment files: schema-valid, structured RF references, deterministic, strict about inputs."""

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sepaxml
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from schwifty import BIC, IBAN
from stdnum import iso11649

from kukkaro.services.payment_files import (
    Payment,
    PaymentFileError,
    Problem,
    pain001,
    payment_problems,
    rf_reference,
    validate_pain001,
)

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
HELSINKI = ZoneInfo("Europe/Helsinki")

DEBTOR_IBAN = "FI2112345600000785"  # Nordea test account
DEBTOR_BIC = "NDEAFIHH"
PROVIDER_IBAN = "FI5542345670000081"
PROVIDER_BIC = "ITELFIHH"


def _payments() -> list[Payment]:
    return [
        Payment(
            end_to_end_id="HB-LINE-1",
            name="Hoivapalvelu Koivu Oy",
            iban=PROVIDER_IBAN,
            bic=PROVIDER_BIC,
            amount_cents=12345,
            reference=rf_reference("1001"),
        ),
        Payment(
            end_to_end_id="HB-LINE-2",
            name="Avustajapalvelut Ky",
            iban=DEBTOR_IBAN,
            bic="",
            amount_cents=5,
            reference="RF18539007547034",
        ),
    ]


def _build(**overrides) -> bytes:
    arguments = {
        "message_id": "HB-2026-05-0001",
        "created_at": dt.datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=HELSINKI),
        "execution_date": dt.date(2026, 5, 6),
        "debtor_name": "Pirkanmaan hyvinvointialue",
        "debtor_iban": DEBTOR_IBAN,
        "debtor_bic": DEBTOR_BIC,
        "payments": _payments(),
    }
    arguments.update(overrides)
    return pain001(**arguments)


def _parse(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def _text(root: etree._Element, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


def _transactions(root: etree._Element) -> list[etree._Element]:
    return root.findall("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", NS)


def test_test_accounts__are_valid_for_schwifty():
    for iban in (DEBTOR_IBAN, PROVIDER_IBAN):
        assert IBAN(iban).compact == iban
    assert IBAN(DEBTOR_IBAN).bic == DEBTOR_BIC
    assert IBAN(PROVIDER_IBAN).bic == PROVIDER_BIC
    for bic in (DEBTOR_BIC, PROVIDER_BIC):
        assert BIC(bic).exists


# --- rf_reference ---


def test_rf_reference__known_value():
    assert rf_reference("539007547034") == "RF18539007547034"


@pytest.mark.parametrize("body", ["1", "1001", "539007547034", "HB2026000123", "A" * 21, "0" * 21])
def test_rf_reference__gives_valid_references(body):
    reference = rf_reference(body)
    assert iso11649.is_valid(reference)
    assert reference.startswith("RF")
    assert reference[2:4].isdigit()
    assert reference[4:] == body


@given(st.from_regex(r"[A-Z0-9]{1,21}", fullmatch=True))
def test_rf_reference__any_valid_body__is_valid_iso11649(body):
    reference = rf_reference(body)
    assert iso11649.is_valid(reference)
    assert reference[4:] == body


@pytest.mark.parametrize("body", ["", "A" * 22, "abc123", "12 34", "12-34", "ÄÖ1", None, 1234])
def test_rf_reference__bad_body__raises_value_error(body):
    with pytest.raises(ValueError, match="body"):
        rf_reference(body)


# --- pain001: the document ---


def test_pain001__two_payments__validates_against_the_schema():
    schema_path = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"
    schema = etree.XMLSchema(etree.parse(str(schema_path)))
    doc = _parse(_build())
    assert schema.validate(doc), schema.error_log
    assert etree.QName(doc).namespace == NS["p"]


def test_pain001__output__is_utf8_with_xml_declaration():
    document = _build()
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    document.decode("utf-8")


def test_pain001__group_header__has_given_message_id_time_and_totals():
    root = _parse(_build())
    header = "p:CstmrCdtTrfInitn/p:GrpHdr"
    assert _text(root, f"{header}/p:MsgId") == "HB-2026-05-0001"
    assert _text(root, f"{header}/p:CreDtTm") == "2026-05-04T09:30:15+03:00"
    assert _text(root, f"{header}/p:NbOfTxs") == "2"
    assert _text(root, f"{header}/p:CtrlSum") == "123.50"
    assert _text(root, f"{header}/p:InitgPty/p:Nm") == "Pirkanmaan hyvinvointialue"


def test_pain001__created_at_in_utc__keeps_its_offset():
    root = _parse(_build(created_at=dt.datetime(2026, 5, 4, 6, 30, tzinfo=dt.UTC)))
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm") == "2026-05-04T06:30:00+00:00"


def test_pain001__payment_information__one_batch_booked_block_from_the_debtor():
    root = _parse(_build())
    blocks = root.findall("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert len(blocks) == 1
    block = blocks[0]
    assert _text(block, "p:PmtInfId") == "HB-2026-05-0001-1"
    assert _text(block, "p:PmtMtd") == "TRF"
    assert _text(block, "p:BtchBookg") == "true"
    assert _text(block, "p:NbOfTxs") == "2"
    assert _text(block, "p:CtrlSum") == "123.50"
    assert _text(block, "p:PmtTpInf/p:SvcLvl/p:Cd") == "SEPA"
    assert _text(block, "p:ReqdExctnDt/p:Dt") == "2026-05-06"
    assert _text(block, "p:Dbtr/p:Nm") == "Pirkanmaan hyvinvointialue"
    assert _text(block, "p:DbtrAcct/p:Id/p:IBAN") == DEBTOR_IBAN
    assert _text(block, "p:DbtrAgt/p:FinInstnId/p:BICFI") == DEBTOR_BIC
    assert _text(block, "p:ChrgBr") == "SLEV"


def test_pain001__transactions__one_per_payment_in_order():
    payments = _payments()
    transactions = _transactions(_parse(_build(payments=payments)))
    assert len(transactions) == len(payments)
    for transaction, payment in zip(transactions, payments, strict=True):
        assert _text(transaction, "p:PmtId/p:EndToEndId") == payment.end_to_end_id
        assert _text(transaction, "p:Cdtr/p:Nm") == payment.name
        assert _text(transaction, "p:CdtrAcct/p:Id/p:IBAN") == payment.iban
        assert transaction.find("p:Amt/p:InstdAmt", NS).get("Ccy") == "EUR"


def test_pain001__each_transaction__has_scor_rf_reference_and_no_ustrd():
    payments = _payments()
    root = _parse(_build(payments=payments))
    assert root.findall(".//p:Ustrd", NS) == []
    for transaction, payment in zip(_transactions(root), payments, strict=True):
        remittance = transaction.find("p:RmtInf", NS)
        assert [etree.QName(child).localname for child in remittance] == ["Strd"]
        reference = remittance.find("p:Strd/p:CdtrRefInf", NS)
        assert _text(reference, "p:Tp/p:CdOrPrtry/p:Cd") == "SCOR"
        assert _text(reference, "p:Ref") == payment.reference
        assert iso11649.is_valid(_text(reference, "p:Ref"))


def test_pain001__reference_with_spaces__is_written_compact():
    payment = dataclasses.replace(_payments()[0], reference="RF18 5390 0754 7034")
    transaction = _transactions(_parse(_build(payments=[payment])))[0]
    assert _text(transaction, "p:RmtInf/p:Strd/p:CdtrRefInf/p:Ref") == "RF18539007547034"


@pytest.mark.parametrize(
    ("cents", "text"),
    [(12345, "123.45"), (5, "0.05"), (10, "0.10"), (100, "1.00"), (99, "0.99"), (123456789, "1234567.89")],
)
def test_pain001__amounts__formatted_with_two_decimals(cents, text):
    payment = dataclasses.replace(_payments()[0], amount_cents=cents)
    root = _parse(_build(payments=[payment]))
    assert _text(_transactions(root)[0], "p:Amt/p:InstdAmt") == text
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum") == text
    assert _text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:CtrlSum") == text


def test_pain001__many_payments__totals_add_up():
    base = _payments()[0]
    payments = [
        dataclasses.replace(base, end_to_end_id=f"HB-LINE-{n}", amount_cents=n * 101, reference=rf_reference(str(n)))
        for n in range(1, 51)
    ]
    root = _parse(_build(payments=payments))
    total = sum(Decimal(_text(t, "p:Amt/p:InstdAmt")) for t in _transactions(root))
    assert total == Decimal(sum(n * 101 for n in range(1, 51))) / 100
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs") == "50"
    assert Decimal(_text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum")) == total


def test_pain001__empty_bic__omits_the_creditor_agent():
    with_bic, without_bic = _transactions(_parse(_build()))
    assert _text(with_bic, "p:CdtrAgt/p:FinInstnId/p:BICFI") == PROVIDER_BIC
    assert without_bic.find("p:CdtrAgt", NS) is None


def test_pain001__iban_and_bic_with_spaces_or_lowercase__are_normalised():
    payment = dataclasses.replace(_payments()[0], iban="fi55 4234 5670 0000 81", bic="itelfihh")
    root = _parse(_build(debtor_iban="FI21 1234 5600 0007 85", payments=[payment]))
    assert _text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAcct/p:Id/p:IBAN") == DEBTOR_IBAN
    transaction = _transactions(root)[0]
    assert _text(transaction, "p:CdtrAcct/p:Id/p:IBAN") == PROVIDER_IBAN
    assert _text(transaction, "p:CdtrAgt/p:FinInstnId/p:BICFI") == PROVIDER_BIC


def test_pain001__names__are_transliterated_by_sepaxml():
    """sepaxml's clean=True reduces names to ASCII (EPC's basic Latin set); documented here so nobody is surprised."""
    payment = dataclasses.replace(_payments()[0], name="Hoiva Äijälä Oy")
    root = _parse(_build(debtor_name="Etelä-Pohjanmaan hyvinvointialue", payments=[payment]))
    assert _text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:Dbtr/p:Nm") == "Etela-Pohjanmaan hyvinvointialue"
    assert _text(_transactions(root)[0], "p:Cdtr/p:Nm") == "Hoiva Aijala Oy"


def test_pain001__same_inputs__give_byte_identical_output():
    assert _build() == _build()


def test_pain001__different_message_id__changes_only_the_ids():
    first, second = _build(message_id="HB-A"), _build(message_id="HB-B")
    assert first != second
    assert first.replace(b"HB-A", b"HB-B") == second


# --- pain001: bad inputs ---


def _payment(**changes) -> Payment:
    return dataclasses.replace(_payments()[0], **changes)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        pytest.param({"payments": []}, "at least one payment", id="empty-list"),
        pytest.param({"payments": [_payment(iban="FI2112345600000786")]}, "invalid IBAN", id="bad-iban-checksum"),
        pytest.param({"payments": [_payment(iban="not an iban")]}, "invalid IBAN", id="bad-iban-format"),
        pytest.param({"payments": [_payment(bic="NDEAFIH")]}, "invalid BIC", id="bad-bic"),
        pytest.param({"payments": [_payment(amount_cents=0)]}, "positive", id="zero-amount"),
        pytest.param({"payments": [_payment(amount_cents=-100)]}, "positive", id="negative-amount"),
        pytest.param({"payments": [_payment(amount_cents=123.45)]}, "int", id="float-amount"),
        pytest.param({"payments": [_payment(amount_cents=100.0)]}, "int", id="integral-float-amount"),
        pytest.param({"payments": [_payment(amount_cents=Decimal("1.00"))]}, "int", id="decimal-amount"),
        pytest.param({"payments": [_payment(amount_cents=True)]}, "int", id="bool-amount"),
        pytest.param({"payments": [_payment(amount_cents=100_000_000_000)]}, "SEPA maximum", id="over-sepa-maximum"),
        pytest.param({"payments": [_payment(reference="RF17539007547034")]}, "RF creditor reference", id="bad-rf"),
        pytest.param({"payments": [_payment(reference="")]}, "RF creditor reference", id="empty-rf"),
        pytest.param({"payments": [_payment(end_to_end_id="")]}, "end_to_end_id", id="empty-end-to-end-id"),
        pytest.param({"payments": [_payment(end_to_end_id="X" * 36)]}, "end_to_end_id", id="long-end-to-end-id"),
        pytest.param({"payments": [_payment(end_to_end_id="rivi_1")]}, "end_to_end_id", id="non-sepa-character"),
        pytest.param({"payments": [_payment(), _payment()]}, "duplicate end_to_end_id", id="duplicate-end-to-end-id"),
        pytest.param({"debtor_iban": "FI2112345600000786"}, "debtor: invalid IBAN", id="bad-debtor-iban"),
        pytest.param({"debtor_bic": "NDEA"}, "debtor: invalid BIC", id="bad-debtor-bic"),
        pytest.param({"debtor_bic": ""}, "debtor: invalid BIC", id="empty-debtor-bic"),
        pytest.param({"debtor_name": " "}, "debtor_name", id="blank-debtor-name"),
        pytest.param({"message_id": ""}, "message_id", id="empty-message-id"),
        pytest.param({"message_id": "M" * 34}, "message_id", id="message-id-too-long-for-pmtinfid"),
        pytest.param({"created_at": dt.datetime(2026, 5, 4, 9, 30)}, "aware", id="naive-created-at"),  # noqa: DTZ001
        pytest.param({"execution_date": dt.datetime(2026, 5, 6, tzinfo=HELSINKI)}, "date", id="datetime-exec-date"),
        pytest.param({"execution_date": "2026-05-06"}, "date", id="string-execution-date"),
    ],
)
def test_pain001__bad_input__raises_payment_file_error(overrides, match):
    with pytest.raises(PaymentFileError, match=match):
        _build(**overrides)


def test_pain001__message_id_of_33_characters__is_accepted():
    root = _parse(_build(message_id="M" * 33))
    assert _text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId") == "M" * 33 + "-1"


def test_pain001__schema_violation__raises_payment_file_error_with_the_schema_message():
    with pytest.raises(PaymentFileError, match=r"schema validation failed.*Nm"):
        _build(payments=[_payment(name="")])


def test_payment_file_error__is_a_value_error():
    assert issubclass(PaymentFileError, ValueError)


# --- validate_pain001 ---


def test_validate_pain001__accepts_our_output():
    validate_pain001(_build())


def test_validate_pain001__document_without_msg_id__is_rejected():
    root = _parse(_build())
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    header.remove(header.find("p:MsgId", NS))
    with pytest.raises(PaymentFileError, match=r"Expected is .*MsgId") as caught:
        validate_pain001(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert "line" in str(caught.value)


def test_validate_pain001__tampered_amount__is_rejected():
    tampered = _build().replace(b">123.45<", b">123,45<")
    with pytest.raises(PaymentFileError, match="InstdAmt"):
        validate_pain001(tampered)


def test_validate_pain001__not_xml__is_rejected():
    with pytest.raises(PaymentFileError, match="well-formed"):
        validate_pain001(b"<Document><unclosed></Document>")


def test_validate_pain001__other_message_type__is_rejected():
    other = _build().replace(b"pain.001.001.09", b"pain.001.001.03")
    with pytest.raises(PaymentFileError, match="schema validation failed"):
        validate_pain001(other)


# --- data a bank file cannot carry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        pytest.param({}, [], id="fit"),
        pytest.param({"name": "Päivä\x0bpaikka Oy"}, [Problem.NAME_CONTROL_CHARACTER], id="vertical-tab"),
        pytest.param({"name": "Rivi\nvaihto Oy"}, [Problem.NAME_CONTROL_CHARACTER], id="line-break"),
        pytest.param({"name": "Nolla\x00 Oy"}, [Problem.NAME_CONTROL_CHARACTER], id="nul"),
        pytest.param({"name": "C1\x85 Oy"}, [Problem.NAME_CONTROL_CHARACTER], id="c1-control"),
        pytest.param({"name": " "}, [Problem.NAME_EMPTY], id="blank"),
        pytest.param({"name": "N" * 71}, [Problem.NAME_TOO_LONG], id="71-characters"),
        pytest.param({"name": "N" * 70}, [], id="70-characters"),
        pytest.param({"iban": "FI2112345600000786"}, [Problem.INVALID_IBAN], id="iban-checksum"),
        pytest.param({"bic": "NDEA"}, [Problem.INVALID_BIC], id="bic"),
        pytest.param({"amount_cents": 100_000_000_000}, [Problem.AMOUNT_TOO_LARGE], id="over-sepa-maximum"),
    ],
)
def test_payment_problems__say_what_in_a_payees_data_a_bank_file_cannot_carry(changes, problems):
    assert payment_problems(_payment(**changes)) == problems


def test_pain001__name_with_a_control_character__raises_payment_file_error_not_an_xml_error():
    # sepaxml writes the character; lxml then cannot parse the draft. Before, that was an XMLSyntaxError (a 500).
    with pytest.raises(PaymentFileError, match="control characters"):
        _build(payments=[_payment(name="Päivä\x0bpaikka Oy")])
    with pytest.raises(PaymentFileError, match="debtor_name"):
        _build(debtor_name="Hyvinvointi\x0balue")


def test_pain001__name_over_70_characters__is_refused_rather_than_cut():
    with pytest.raises(PaymentFileError, match="70"):
        _build(payments=[_payment(name="N" * 71)])
