"""The demo's bank: it answers a payment file (pain.001.001.09) with a status report (pain.002.001.10 or .001.03),
as a Finnish bank's web service would — every payment accepted (settled) except those it is told to reject, each
with an ISO reason code and a line of explanation.

The demo uses it to confirm a batch the way a finance office does, and the tests use it to build real status
reports from the batches they release (and validate them against the official schema).
"""

import datetime as dt
from collections.abc import Collection, Mapping

from lxml import etree

PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
PAIN002 = {
    "pain.002.001.10": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10",
    "pain.002.001.03": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03",
}


def _decimal(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _cents(text: str) -> int:
    euros, _sep, cents = text.partition(".")
    return int(euros) * 100 + int((cents + "00")[:2])


def _read(pain001: bytes) -> tuple[str, str, str, str | None, list[tuple[str, int]]]:
    """(message id, creation time, payment information id, debtor agent's BIC, [(end-to-end id, cents)])."""
    source = etree.fromstring(pain001, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    p = {"p": PAIN001}
    block = source.find("p:CstmrCdtTrfInitn/p:PmtInf", p)
    transactions = [
        (t.findtext("p:PmtId/p:EndToEndId", namespaces=p), _cents(t.findtext("p:Amt/p:InstdAmt", namespaces=p)))
        for t in block.findall("p:CdtTrfTxInf", p)
    ]
    return (
        source.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=p),
        source.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm", namespaces=p),
        block.findtext("p:PmtInfId", namespaces=p),
        block.findtext("p:DbtrAgt/p:FinInstnId/p:BICFI", namespaces=p),
        transactions,
    )


def status_report(
    pain001: bytes,
    *,
    message_id: str,
    created_at: dt.datetime,
    rejected: Mapping[str, tuple[str, str]] | None = None,
    pending: Collection[str] = (),
    accepted_status: str = "ACSC",
    message_name: str = "pain.002.001.10",
    group_only: bool = False,
) -> bytes:
    """A status report on ``pain001``: the payments whose end-to-end ids are keys of ``rejected`` are rejected
    with (reason code, explanation), those in ``pending`` are reported as pending, the rest ``accepted_status``.
    ``group_only`` reports only the group's status (all accepted, or all rejected with the first reason)."""
    rejected = dict(rejected or {})
    original_id, original_time, block_id, bic, transactions = _read(pain001)
    total = _decimal(sum(amount for _id, amount in transactions))
    ns = PAIN002[message_name]

    def sub(parent, tag, text=None, **attributes):
        element = etree.SubElement(parent, f"{{{ns}}}{tag}", **attributes)
        element.text = text
        return element

    def reason(parent, code, explanation):
        info = sub(parent, "StsRsnInf")
        sub(sub(info, "Rsn"), "Cd", code)
        if explanation:
            sub(info, "AddtlInf", explanation[:105])

    def overall(ids):
        states = {("RJCT" if i in rejected else "PDNG" if i in pending else accepted_status) for i in ids}
        return states.pop() if len(states) == 1 else "PART"

    ids = [end_to_end_id for end_to_end_id, _amount in transactions]
    document = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    report = sub(document, "CstmrPmtStsRpt")
    group_header = sub(report, "GrpHdr")
    sub(group_header, "MsgId", message_id)
    sub(group_header, "CreDtTm", created_at.isoformat(timespec="seconds"))
    if bic:
        sub(sub(sub(group_header, "DbtrAgt"), "FinInstnId"), "BICFI" if message_name.endswith(".10") else "BIC", bic)
    group = sub(report, "OrgnlGrpInfAndSts")
    sub(group, "OrgnlMsgId", original_id)
    sub(group, "OrgnlMsgNmId", "pain.001.001.09")
    sub(group, "OrgnlCreDtTm", original_time)
    sub(group, "OrgnlNbOfTxs", str(len(transactions)))
    sub(group, "OrgnlCtrlSum", total)
    sub(group, "GrpSts", overall(ids))
    if group_only:
        if rejected:
            code, explanation = next(iter(rejected.values()))
            reason(group, code, explanation)
        return etree.tostring(document, xml_declaration=True, encoding="UTF-8")
    payment_information = sub(report, "OrgnlPmtInfAndSts")
    sub(payment_information, "OrgnlPmtInfId", block_id)
    sub(payment_information, "OrgnlNbOfTxs", str(len(transactions)))
    sub(payment_information, "OrgnlCtrlSum", total)
    sub(payment_information, "PmtInfSts", overall(ids))
    for sequence, (end_to_end_id, amount) in enumerate(transactions, start=1):
        transaction = sub(payment_information, "TxInfAndSts")
        sub(transaction, "StsId", f"{message_id[:28]}-{sequence:04d}")
        sub(transaction, "OrgnlEndToEndId", end_to_end_id)
        if end_to_end_id in rejected:
            sub(transaction, "TxSts", "RJCT")
            reason(transaction, *rejected[end_to_end_id])
        else:
            sub(transaction, "TxSts", "PDNG" if end_to_end_id in pending else accepted_status)
        reference = sub(transaction, "OrgnlTxRef")
        sub(sub(reference, "Amt"), "InstdAmt", _decimal(amount), Ccy="EUR")
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")
