"""ISO 20022 pain.001.001.09 credit-transfer files: how the county pays its service providers.

sepaxml builds the document (amount formatting, NbOfTxs/CtrlSum, element order), so none of that is written by
hand here. Three things sepaxml cannot express are then fixed with lxml:

* it always writes free-text remittance (``Ustrd``), but Finnish providers reconcile on the RF creditor reference,
  which banks only pass on as structured remittance (``Strd/CdtrRefInf`` with type ``SCOR``);
* it invents a random MsgId and PmtInfId and stamps CreDtTm from the wall clock, but a payment file must be
  reproducible from the batch (same inputs, same bytes) so it can be regenerated, compared and audited;
* it validates with ``xmlschema`` and hides the reason; we validate the final bytes with lxml against the schema
  that ships with sepaxml and report the schema's own messages.

Data already stored may still be unfit for a bank file (a provider name with a control character, written before
inputs were checked; an IBAN that no longer validates). ``payment_problems`` says what is wrong with one payment
before anything is built, so the caller can leave that payee out and pay the others.
"""

import datetime as dt
import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import sepaxml
from lxml import etree
from schwifty import BIC, IBAN
from sepaxml import SepaTransfer
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

SCHEMA = "pain.001.001.09"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"
SCHEMA_PATH = Path(sepaxml.__file__).parent / "schemas" / f"{SCHEMA}.xsd"
CURRENCY = "EUR"

# The SEPA rulebook caps a single credit transfer at 999 999 999.99 euros.
MAX_AMOUNT_CENTS = 99_999_999_999
# Identifiers are Max35Text in the schema; EPC restricts them further to the SEPA Latin subset, which banks
# enforce on upload. PmtInfId is message_id + "-1", so the message id itself may be two characters shorter.
_SEPA_ID_RE = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]{1,35}")
_MAX_MESSAGE_ID = 33
_RF_BODY_RE = re.compile(r"[A-Z0-9]{1,21}")
# EPC: the creditor's name is at most 70 characters (sepaxml cuts it there, which would change whom we pay).
MAX_NAME_LENGTH = 70
# C0 and C1 control characters (tab and line breaks included: a name is one line) and what XML 1.0 cannot carry.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

_NS = {"p": NAMESPACE}


class PaymentFileError(ValueError):
    """A payment file could not be built or does not validate; the message says which input or rule failed."""


class Problem(StrEnum):
    """Why one payment cannot go into a file (``models.LeftOutReason`` gives each its words)."""

    NAME_CONTROL_CHARACTER = "name_control_character"
    NAME_TOO_LONG = "name_too_long"
    NAME_EMPTY = "name_empty"
    INVALID_IBAN = "invalid_iban"
    INVALID_BIC = "invalid_bic"
    AMOUNT_TOO_LARGE = "amount_too_large"


@dataclass(frozen=True)
class Payment:
    """One credit transfer to a provider."""

    end_to_end_id: str  # ≤ 35 chars, our payment line id; comes back on the bank statement
    name: str  # creditor (provider) name
    iban: str
    bic: str  # may be "" -> CdtrAgt is omitted (SEPA lets the bank derive it from the IBAN)
    amount_cents: int  # > 0, int only: money never goes through floats
    reference: str  # RF creditor reference (ISO 11649), e.g. from rf_reference()


def rf_reference(body: str) -> str:
    """The RF creditor reference (ISO 11649) for ``body``: 'RF' + two check digits + body.

    The check digits make a mistyped reference detectable by the provider's bank, so they are computed with
    stdnum rather than by hand, and the result is validated again before it is returned.
    """
    if not isinstance(body, str) or not _RF_BODY_RE.fullmatch(body):
        raise ValueError(f"RF reference body must be 1–21 characters A–Z or 0–9, got {body!r}")
    # ISO 11649: the check is computed over body + "RF" + check digits (RF moved to the end).
    check_digits = mod_97_10.calc_check_digits(body + "RF")
    return iso11649.validate(f"RF{check_digits}{body}")


@functools.cache
def _schema() -> etree.XMLSchema:
    """The official pain.001.001.09 schema shipped with sepaxml, parsed once per process."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def _parser() -> etree.XMLParser:
    """A parser that never fetches or expands anything: validate_pain001 may be handed foreign bytes."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def validate_pain001(document: bytes) -> None:
    """Validate ``document`` against pain.001.001.09.xsd; raise PaymentFileError listing every schema error.

    Used on our own output before it leaves the process, and on any file about to be uploaded to the bank.
    """
    try:
        tree = etree.fromstring(document, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise PaymentFileError(f"not well-formed XML: {exc}") from exc
    schema = _schema()
    if not schema.validate(tree):
        errors = "; ".join(f"line {error.line}: {error.message}" for error in schema.error_log)
        raise PaymentFileError(f"{SCHEMA} schema validation failed: {errors}")


def _decimal(cents: int) -> str:
    """Cents as the schema's decimal amount, without floats: 12345 -> '123.45'."""
    return f"{cents // 100}.{cents % 100:02d}"


def _check_id(label: str, value: object, max_length: int = 35) -> str:
    if not isinstance(value, str) or len(value) > max_length or not _SEPA_ID_RE.fullmatch(value):
        raise PaymentFileError(
            f"{label} must be 1–{max_length} characters of the SEPA character set (A–Z a–z 0–9 / - ? : ( ) . , ' +"
            f" space), got {value!r}"
        )
    return value


def _check_iban(label: str, value: str) -> str:
    try:
        return IBAN(value).compact
    except (ValueError, TypeError) as exc:
        raise PaymentFileError(f"{label}: invalid IBAN {value!r} ({exc})") from exc


def _check_bic(label: str, value: str) -> str:
    try:
        return BIC(value).compact
    except (ValueError, TypeError) as exc:
        raise PaymentFileError(f"{label}: invalid BIC {value!r} ({exc})") from exc


def has_control_characters(text: str) -> bool:
    """True if ``text`` has a character no bank file line may carry (control characters, non-XML code points)."""
    return bool(_CONTROL_RE.search(text))


def printable(text: str) -> str:
    """``text`` with each control character shown as U+FFFD, for a message about data that has one."""
    return _CONTROL_RE.sub("\ufffd", text)


def payment_problems(payment: Payment) -> list[Problem]:
    """Everything in the payee's data that would stop a file with this payment from being built or accepted, so
    that the payee can be left out (and told why) while the others are paid. Empty when the payment is fit."""
    problems = []
    name = payment.name if isinstance(payment.name, str) else ""
    if has_control_characters(name):
        problems.append(Problem.NAME_CONTROL_CHARACTER)
    if not name.strip():
        problems.append(Problem.NAME_EMPTY)
    elif len(name.strip()) > MAX_NAME_LENGTH:
        problems.append(Problem.NAME_TOO_LONG)
    try:
        IBAN(payment.iban)
    except (ValueError, TypeError):
        problems.append(Problem.INVALID_IBAN)
    if payment.bic:
        try:
            BIC(payment.bic)
        except (ValueError, TypeError):
            problems.append(Problem.INVALID_BIC)
    if isinstance(payment.amount_cents, int) and payment.amount_cents > MAX_AMOUNT_CENTS:
        problems.append(Problem.AMOUNT_TOO_LARGE)
    return problems


def _check_payment(index: int, payment: Payment) -> dict:
    """Validate one payment and turn it into sepaxml's payment dict (with normalised IBAN, BIC and reference)."""
    label = f"payment {index + 1}"
    if not isinstance(payment, Payment):
        raise PaymentFileError(f"{label}: expected a Payment, got {type(payment).__name__}")
    _check_id(f"{label}: end_to_end_id", payment.end_to_end_id)
    amount = payment.amount_cents
    # bool is an int subclass; True cents is a bug, not one cent.
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise PaymentFileError(f"{label}: amount_cents must be an int, got {type(amount).__name__}")
    if amount <= 0:
        raise PaymentFileError(f"{label}: amount_cents must be positive, got {amount}")
    if amount > MAX_AMOUNT_CENTS:
        raise PaymentFileError(f"{label}: amount_cents {amount} exceeds the SEPA maximum")
    if not isinstance(payment.name, str) or has_control_characters(payment.name):
        raise PaymentFileError(f"{label}: the name must be text without control characters, got {payment.name!r}")
    if len(payment.name.strip()) > MAX_NAME_LENGTH:
        raise PaymentFileError(f"{label}: the name is longer than {MAX_NAME_LENGTH} characters")
    if not isinstance(payment.reference, str) or not iso11649.is_valid(payment.reference):
        raise PaymentFileError(f"{label}: invalid RF creditor reference {payment.reference!r}")
    reference = iso11649.compact(payment.reference)
    entry = {
        "name": payment.name.strip(),
        "IBAN": _check_iban(label, payment.iban),
        "amount": amount,
        "execution_date": None,  # filled in by pain001(); one execution date per file
        "description": reference,  # written as Ustrd by sepaxml, replaced by Strd below
        "endtoend_id": payment.end_to_end_id,
        "_reference": reference,
    }
    if payment.bic:
        entry["BIC"] = _check_bic(label, payment.bic)
    return entry


def check_header(
    *,
    message_id: str,
    created_at: dt.datetime,
    execution_date: dt.date,
    debtor_name: str,
    debtor_iban: str,
    debtor_bic: str,
) -> tuple[str, str]:
    """Check the file-level inputs up front, so the error names the input rather than an XML path.

    Returns the debtor's IBAN and BIC in their compact form, as the schema patterns require.
    """
    _check_id("message_id", message_id, max_length=_MAX_MESSAGE_ID)
    if not isinstance(created_at, dt.datetime) or created_at.tzinfo is None or created_at.utcoffset() is None:
        raise PaymentFileError("created_at must be an aware datetime")
    # datetime is a date subclass, but sepaxml would then write a date-time into ReqdExctnDt/Dt.
    if not isinstance(execution_date, dt.date) or isinstance(execution_date, dt.datetime):
        raise PaymentFileError("execution_date must be a date")
    if not isinstance(debtor_name, str) or not debtor_name.strip():
        raise PaymentFileError("debtor_name is required")
    if has_control_characters(debtor_name) or len(debtor_name.strip()) > MAX_NAME_LENGTH:
        raise PaymentFileError(f"debtor_name must be at most {MAX_NAME_LENGTH} characters without control characters")
    iban = _check_iban("debtor", debtor_iban)
    # The county always knows its own bank; an empty DbtrAgt is schema-valid but banks reject it.
    bic = _check_bic("debtor", debtor_bic)
    return iban, bic


def _check_payments(payments: list[Payment]) -> list[dict]:
    """Check every payment and that end-to-end ids are unique: they are how the bank's report finds our line."""
    if not isinstance(payments, list | tuple) or not payments:
        raise PaymentFileError("a payment file needs at least one payment")
    entries = [_check_payment(index, payment) for index, payment in enumerate(payments)]
    seen: set[str] = set()
    for entry in entries:
        if entry["endtoend_id"] in seen:
            raise PaymentFileError(f"duplicate end_to_end_id {entry['endtoend_id']!r}")
        seen.add(entry["endtoend_id"])
    return entries


def _structured_remittance(reference: str) -> etree._Element:
    """``<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>RF…</Ref>…`` content."""

    def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
        element.text = text
        return element

    strd = etree.Element(f"{{{NAMESPACE}}}Strd")
    ref_inf = sub(strd, "CdtrRefInf")
    sub(sub(sub(ref_inf, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
    sub(ref_inf, "Ref", reference)
    return strd


def _one(root: etree._Element, path: str) -> etree._Element:
    found = root.findall(path, _NS)
    if len(found) != 1:
        raise PaymentFileError(f"sepaxml output has {len(found)} elements at {path}, expected 1")
    return found[0]


def pain001(
    *,
    message_id: str,
    created_at: dt.datetime,
    execution_date: dt.date,
    debtor_name: str,
    debtor_iban: str,
    debtor_bic: str,
    payments: list[Payment],
) -> bytes:
    """A pain.001.001.09 document (UTF-8 bytes): one batch-booked payment information block, one transaction
    per payment, each with the RF reference as structured (SCOR) remittance.

    Output depends only on the arguments: MsgId is ``message_id``, PmtInfId is ``message_id + "-1"`` and
    CreDtTm is ``created_at`` (with its UTC offset), so regenerating a batch gives byte-identical files. Inputs
    are checked before anything is built and the final bytes are validated against the official schema.
    """
    iban, bic = check_header(
        message_id=message_id,
        created_at=created_at,
        execution_date=execution_date,
        debtor_name=debtor_name,
        debtor_iban=debtor_iban,
        debtor_bic=debtor_bic,
    )
    entries = _check_payments(payments)

    # --- build with sepaxml ---
    config = {"name": debtor_name, "IBAN": iban, "BIC": bic, "batch": True, "currency": CURRENCY}
    transfer = SepaTransfer(config, schema=SCHEMA, clean=True)
    for entry in entries:
        payment = {key: value for key, value in entry.items() if not key.startswith("_")}
        payment["execution_date"] = execution_date
        transfer.add_payment(payment)
    # sepaxml's own validation (xmlschema) would run on the Ustrd version and hide the reason; ours runs below.
    draft = transfer.export(validate=False)

    # --- post-process with lxml ---
    try:
        root = etree.fromstring(draft, parser=_parser())
    except etree.XMLSyntaxError as exc:  # a character the checks above did not foresee
        raise PaymentFileError(f"sepaxml wrote XML that does not parse: {exc}") from exc
    _one(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId").text = message_id
    _one(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm").text = created_at.isoformat(timespec="seconds")
    _one(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId").text = f"{message_id}-1"

    transactions = root.findall("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", _NS)
    if len(transactions) != len(entries):
        raise PaymentFileError(f"sepaxml wrote {len(transactions)} transactions for {len(entries)} payments")
    for transaction, entry in zip(transactions, entries, strict=True):
        if transaction.findtext("p:PmtId/p:EndToEndId", namespaces=_NS) != entry["endtoend_id"]:
            raise PaymentFileError("sepaxml changed the order of the transactions")
        remittance = _one(transaction, "p:RmtInf")
        for child in list(remittance):
            remittance.remove(child)
        remittance.append(_structured_remittance(entry["_reference"]))

    # sepaxml computes the totals; check them against ours so a library change cannot pay the wrong sum.
    expected_count, expected_sum = str(len(entries)), _decimal(sum(entry["amount"] for entry in entries))
    for block in ("p:CstmrCdtTrfInitn/p:GrpHdr", "p:CstmrCdtTrfInitn/p:PmtInf"):
        count = _one(root, f"{block}/p:NbOfTxs").text
        total = _one(root, f"{block}/p:CtrlSum").text
        if (count, total) != (expected_count, expected_sum):
            raise PaymentFileError(
                f"{block}: NbOfTxs/CtrlSum {count}/{total}, expected {expected_count}/{expected_sum}"
            )

    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    validate_pain001(document)
    return document
