"""ISO 20022 customer payment status reports (pain.002): what the bank says about each payment of a file we sent.

A status report names the file it answers (``OrgnlMsgId``, our batch number), its payment information block
(``OrgnlPmtInfId``) and each payment by our end-to-end id (``OrgnlEndToEndId``), with a status on each level
and the reasons (``StsRsnInf/Rsn/Cd``, ISO external status reason codes such as AC04 "closed account"). A status
given on a payment wins over its block's, which wins over the group's; ``PART`` (partly accepted) on a block or
the group says only that its payments differ, so it decides none of them.

The file comes from outside, so it is read carefully: lxml with entities unresolved, no network and no DTD, and a
document type declaration is refused outright. pain.002.001.10 is validated against the official schema
(``schemas/pain.002.001.10.xsd``); pain.002.001.03, which many banks still send, is read by its structure (the
elements used here have the same names and places in both versions), because its schema is not shipped.
"""

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from lxml import etree

from kukkaro.core import clock

NAMESPACES = {
    "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10": "pain.002.001.10",
    "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03": "pain.002.001.03",
}
SCHEMA_PATHS = {"pain.002.001.10": Path(__file__).parent / "schemas" / "pain.002.001.10.xsd"}
#: A status report of a county's monthly batch is a few kilobytes; anything far larger is not one.
MAX_BYTES = 5 * 1024 * 1024

#: Statuses that say the bank will pay (or has paid): accepted after the customer profile or funds check, in
#: settlement, settled, accepted with a change.
ACCEPTED = frozenset({"ACCP", "ACSP", "ACSC", "ACCC", "ACWC", "ACFC", "ACPD"})
#: Statuses that say the payment will not be made.
REJECTED = frozenset({"RJCT", "CANC"})
# Anything else (ACTC: the file passed technical checks; RCVD, PDNG, BLCK…) is not an outcome yet.

#: Words for the reason codes banks commonly give for a credit transfer; the code is shown beside them.
REASON_WORDS = {
    "AC01": gettext_lazy("the account number is incorrect"),
    "AC03": gettext_lazy("the payee's account number is not valid"),
    "AC04": gettext_lazy("the account is closed"),
    "AC06": gettext_lazy("the account is blocked"),
    "AG01": gettext_lazy("the bank does not allow this transaction on the account"),
    "AM01": gettext_lazy("the amount is zero"),
    "AM02": gettext_lazy("the amount is not allowed"),
    "AM04": gettext_lazy("the paying account does not have enough funds"),
    "AM05": gettext_lazy("the payment is a duplicate"),
    "AM09": gettext_lazy("the amount is wrong"),
    "BE01": gettext_lazy("the payee's name does not match the account"),
    "BE04": gettext_lazy("the payee's address is missing"),
    "BE05": gettext_lazy("the bank does not recognise the sender of the file"),
    "CNOR": gettext_lazy("the payee's bank cannot receive this payment"),
    "CUST": gettext_lazy("cancelled at the payer's request"),
    "DT01": gettext_lazy("the date is not valid"),
    "DUPL": gettext_lazy("the payment is a duplicate"),
    "ED05": gettext_lazy("the settlement failed"),
    "FF01": gettext_lazy("the file format is not valid"),
    "MD07": gettext_lazy("the account holder has died"),
    "MS02": gettext_lazy("the payee's bank gave no reason"),
    "MS03": gettext_lazy("the bank gave no reason"),
    "NARR": gettext_lazy("see the bank's explanation"),
    "RC01": gettext_lazy("the bank identifier (BIC) is not correct"),
    "RR01": gettext_lazy("the payer's account or identification is missing"),
    "RR03": gettext_lazy("the payee's name or address is missing"),
    "RR04": gettext_lazy("regulatory reasons"),
    "TM01": gettext_lazy("the file arrived after the bank's cut-off time"),
}


class StatusReportError(ValueError):
    """The file is not a status report we can read; the message says why, in the user's language."""


@dataclass(frozen=True)
class Reason:
    code: str  # an ISO external status reason code, or the bank's own (proprietary) text
    proprietary: bool
    text: str  # the bank's additional information, if any


@dataclass(frozen=True)
class Status:
    code: str
    reasons: tuple[Reason, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED

    @property
    def rejected(self) -> bool:
        return self.code in REJECTED

    @property
    def final(self) -> bool:
        return self.accepted or self.rejected


@dataclass(frozen=True)
class Transaction:
    end_to_end_id: str
    status: Status | None


@dataclass(frozen=True)
class PaymentInformation:
    id: str
    status: Status | None
    transactions: tuple[Transaction, ...]


@dataclass(frozen=True)
class StatusReport:
    message_name: str  # pain.002.001.10 or pain.002.001.03
    message_id: str
    created_at: dt.datetime | None
    original_message_id: str
    original_message_name: str
    group: Status | None
    payment_informations: tuple[PaymentInformation, ...]

    def status_of(self, *, payment_information_id: str, end_to_end_id: str) -> Status | None:
        """What the report says about one payment: its own status, else its block's, else the group's (a
        ``PART`` says nothing about any one payment); None if it says nothing."""
        for block in self.payment_informations:
            if block.id != payment_information_id:
                continue
            for transaction in block.transactions:
                if transaction.end_to_end_id == end_to_end_id and transaction.status is not None:
                    return transaction.status
            if block.status is not None and block.status.code != "PART":
                return block.status
        if self.group is not None and self.group.code != "PART":
            return self.group
        return None

    def end_to_end_ids(self) -> set[str]:
        return {t.end_to_end_id for block in self.payment_informations for t in block.transactions}

    def payment_information_ids(self) -> set[str]:
        return {block.id for block in self.payment_informations}


def reason_words(code: str) -> str:
    """``the account is closed (AC04)``: words for a known code with the code beside them; an unknown code only
    as the bank's code."""
    words = REASON_WORDS.get(code)
    if words is None:
        return _("the bank's reason code %(code)s") % {"code": code}
    return f"{words} ({code})"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


@functools.cache
def _schema(message_name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATHS[message_name]), parser=_parser()))


def validate(document: bytes, message_name: str = "pain.002.001.10") -> None:
    """Validate a status report against its official schema; StatusReportError lists the schema's messages."""
    root = _root(document)
    schema = _schema(message_name)
    if not schema.validate(root):
        errors = "; ".join(f"line {error.line}: {error.message}" for error in list(schema.error_log)[:5])
        raise StatusReportError(
            _("The file does not follow the %(schema)s schema: %(errors)s") % {"schema": message_name, "errors": errors}
        )


def _root(document: bytes) -> etree._Element:
    if not isinstance(document, bytes) or not document.strip():
        raise StatusReportError(_("The file is empty."))
    if len(document) > MAX_BYTES:
        raise StatusReportError(_("The file is larger than any status report (5 MB)."))
    try:
        tree = etree.fromstring(document, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise StatusReportError(_("The file is not readable XML: %(error)s") % {"error": exc}) from exc
    if tree.docinfo.doctype:
        raise StatusReportError(_("The file declares a document type, which a bank's status report never does."))
    return tree.getroot()


def _status(element: etree._Element | None, code_tag: str, ns: dict) -> Status | None:
    if element is None:
        return None
    reasons = []
    for info in element.findall("p:StsRsnInf", ns):
        code = (info.findtext("p:Rsn/p:Cd", namespaces=ns) or "").strip()
        proprietary = (info.findtext("p:Rsn/p:Prtry", namespaces=ns) or "").strip()
        text = " ".join((line.text or "").strip() for line in info.findall("p:AddtlInf", ns)).strip()
        if code or proprietary or text:
            reasons.append(Reason(code=code or proprietary, proprietary=not code and bool(proprietary), text=text))
    code = (element.findtext(f"p:{code_tag}", namespaces=ns) or "").strip()
    if not code:
        return None
    return Status(code=code, reasons=tuple(reasons))


def _datetime(text: str | None) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat((text or "").strip())
    except ValueError:
        return None
    # ISODateTime may leave out the offset; a Finnish bank's local time is Helsinki's.
    return value if value.tzinfo is not None else value.replace(tzinfo=clock.HELSINKI)


def parse(document: bytes) -> StatusReport:
    """Read a pain.002 status report. Refuses anything else with a StatusReportError that says what is wrong."""
    root = _root(document)
    qname = etree.QName(root)
    message_name = NAMESPACES.get(qname.namespace or "")
    if qname.localname != "Document" or message_name is None:
        raise StatusReportError(
            _("The file is not a pain.002 payment status report (its document is %(kind)s).")
            % {"kind": qname.namespace or qname.localname}
        )
    if message_name in SCHEMA_PATHS:
        validate(document, message_name)
    ns = {"p": qname.namespace}
    report = root.find("p:CstmrPmtStsRpt", ns)
    if report is None:
        raise StatusReportError(_("The file has no status report (CstmrPmtStsRpt) in it."))
    message_id = (report.findtext("p:GrpHdr/p:MsgId", namespaces=ns) or "").strip()
    group = report.find("p:OrgnlGrpInfAndSts", ns)
    original_id = (group.findtext("p:OrgnlMsgId", namespaces=ns) or "").strip() if group is not None else ""
    if not message_id or not original_id:
        raise StatusReportError(_("The file does not say which payment file it answers (OrgnlMsgId)."))
    blocks = []
    for block in report.findall("p:OrgnlPmtInfAndSts", ns):
        transactions = []
        for transaction in block.findall("p:TxInfAndSts", ns):
            end_to_end_id = (transaction.findtext("p:OrgnlEndToEndId", namespaces=ns) or "").strip()
            if not end_to_end_id:
                raise StatusReportError(_("A payment in the file has no end-to-end id (OrgnlEndToEndId)."))
            transactions.append(Transaction(end_to_end_id=end_to_end_id, status=_status(transaction, "TxSts", ns)))
        blocks.append(
            PaymentInformation(
                id=(block.findtext("p:OrgnlPmtInfId", namespaces=ns) or "").strip(),
                status=_status(block, "PmtInfSts", ns),
                transactions=tuple(transactions),
            )
        )
    return StatusReport(
        message_name=message_name,
        message_id=message_id,
        created_at=_datetime(report.findtext("p:GrpHdr/p:CreDtTm", namespaces=ns)),
        original_message_id=original_id,
        original_message_name=(group.findtext("p:OrgnlMsgNmId", namespaces=ns) or "").strip(),
        group=_status(group, "GrpSts", ns),
        payment_informations=tuple(blocks),
    )
