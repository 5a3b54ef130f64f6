"""Choice and spending turned into tables and fact lists people can read, shared by staff and provider pages (and
later the portal). Money is formatted here, once, per language."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kukkaro.core.money import format_cents
from kukkaro.core.presenters import datetime_text
from kukkaro.core.tables import Cell, Table
from kukkaro.services.models import (
    Accessibility,
    Claim,
    ClaimStatus,
    Language,
    LeftOutReason,
    PaymentBatch,
    PaymentBatchLine,
    PaymentBatchState,
    PaymentOutcome,
    Provider,
    RejectReason,
    ServiceAgreement,
)
from kukkaro.services.status_reports import reason_words


def _date(value: Any) -> str:
    return date_format(value, "SHORT_DATE_FORMAT") if value else "–"


def outcome_label(outcome: str) -> str:
    """The result of one row of a claims file: a claim's status, or why no claim came of it."""
    if outcome in ClaimStatus.values:
        return str(ClaimStatus(outcome).label)
    if outcome == "duplicate":
        return _("already claimed (the earlier claim stands)")
    return _("not read (the row is not valid)")


def quantity(hundredths: int) -> str:
    """Hundredths of a unit as people write it: 250 → "2,5", 800 → "8"."""
    value = Decimal(hundredths) / 100
    return number_format(value.normalize() if value == value.to_integral() else value, use_l10n=True)


def quantity_with_unit(hundredths: int, unit: str) -> str:
    """ "8 days", "2,5 hours", "1 visit" — the unit in the number's grammatical form."""
    count = 1 if hundredths == 100 else 2
    forms = {
        "hour": ngettext("%(n)s hour", "%(n)s hours", count),
        "day": ngettext("%(n)s day", "%(n)s days", count),
        "visit": ngettext("%(n)s visit", "%(n)s visits", count),
        "km": ngettext("%(n)s kilometre", "%(n)s kilometres", count),
        "trip": ngettext("%(n)s trip", "%(n)s trips", count),
        "item": ngettext("%(n)s item", "%(n)s items", count),
    }
    return forms.get(unit, "%(n)s") % {"n": quantity(hundredths)}


def languages(codes: Iterable[str]) -> str:
    return ", ".join(str(Language(c).label) for c in codes if c in Language.values) or "–"


def accessibility(codes: Iterable[str]) -> str:
    return ", ".join(str(Accessibility(c).label) for c in codes if c in Accessibility.values) or "–"


def reasons(codes: Iterable[str]) -> list[str]:
    return [str(RejectReason(c).label) if c in RejectReason.values else c for c in codes]


def provider_facts(provider: Provider) -> list[tuple[str, str]]:
    return [
        (_("Business ID"), provider.business_id),
        (_("Soteri registration number"), provider.soteri_number),
        (_("State"), provider.get_state_display()),
        (_("Contact person"), provider.contact_name),
        (_("Email"), provider.email),
        (_("Phone"), provider.phone),
        (_("Address"), provider.address or "–"),
        (_("Municipalities served"), ", ".join(m.name for m in provider.municipalities.order_by("name")) or "–"),
        (_("Languages served"), languages(provider.languages)),
        (_("Accessibility"), accessibility(provider.accessibility)),
        (_("Bank account"), f"{provider.iban} ({provider.bic})"),
        (
            _("Rulebook accepted"),
            _("version %(version)s on %(date)s")
            % {"version": provider.rulebook_version, "date": _date(localtime(provider.rulebook_accepted_at))},
        ),
        (_("Description"), provider.description or "–"),
    ]


def price_table(prices: Iterable[Any], *, caption: str) -> Table:
    table = Table(
        caption=caption,
        columns=[_("Service"), _("Unit"), _("Price"), _("Valid from"), _("Valid until")],
        empty_text=_("No prices yet."),
        numeric_columns=frozenset({2}),
        id="prices",
    )
    for price in prices:
        table.add(
            price.service_type.name,
            price.service_type.get_unit_display(),
            Cell(format_cents(price.price_cents), numeric=True),
            _date(price.valid_from),
            _date(price.valid_until),
        )
    return table


def catalogue_table(rows: Iterable[Any], *, editable: bool = False) -> Table:
    table = Table(
        caption=_("Services and the county's price caps"),
        columns=[_("Service"), _("Code"), _("Unit"), _("Price cap now"), _("In force"), _("Changes ahead")],
        empty_text=_("The catalogue is empty."),
        numeric_columns=frozenset({3}),
        id="catalogue",
    )
    for row in rows:
        cap = row.cap
        name: Any = row.service_type.name
        if editable:
            name = Cell(
                name, href=reverse("services:service_type_edit", kwargs={"service_code": row.service_type.code})
            )
        table.add(
            name,
            row.service_type.code,
            row.service_type.get_unit_display(),
            Cell(format_cents(cap.cap_cents) if cap else "–", numeric=True),
            f"{_date(cap.valid_from)}–{_date(cap.valid_until) if cap.valid_until else ''}" if cap else "–",
            "; ".join(
                _("%(amount)s from %(date)s") % {"amount": format_cents(c.cap_cents), "date": _date(c.valid_from)}
                for c in row.upcoming
            )
            or "–",
        )
    return table


def choice_rows(options: Iterable[Any], *, client_language: str) -> list[dict[str, Any]]:
    """One row per provider on the comparison page, in the order the selector gave."""
    rows = []
    for option in options:
        rows.append(
            {
                "option": option,
                "provider": option.provider,
                "service": option.service_type,
                "price": format_cents(option.price_cents),
                "cap": format_cents(option.cap_cents),
                "own_share": format_cents(option.own_share_cents),
                "languages": languages(option.provider.languages),
                "accessibility": accessibility(option.provider.accessibility),
                "speaks_client_language": option.speaks_client_language,
            }
        )
    return rows


def agreement_table(agreements: Iterable[ServiceAgreement], *, caption: str, staff: bool) -> Table:
    """Agreements for staff (with links to each) or for the provider (with the client's name only)."""
    columns = [_("Agreement"), _("Provider") if staff else _("Client"), _("Service"), _("Per month")]
    columns += [_("Agreed price"), _("Own share per unit"), _("Validity"), _("State")]
    table = Table(
        caption=caption,
        columns=columns,
        empty_text=_("No agreements."),
        numeric_columns=frozenset({3, 4, 5}),
        id="agreements",
    )
    for agreement in agreements:
        number: Any = agreement.number
        if staff:
            number = Cell(
                agreement.number, href=reverse("services:agreement_detail", kwargs={"agreement_id": agreement.pk})
            )
        table.add(
            number,
            agreement.provider.name if staff else agreement.client.full_name,
            agreement.service_type.name,
            Cell(quantity_with_unit(agreement.quantity_hundredths, agreement.service_type.unit), numeric=True),
            Cell(format_cents(agreement.agreed_price_cents), numeric=True),
            Cell(format_cents(agreement.own_share_cents), numeric=True),
            f"{_date(agreement.valid_from)}–{_date(agreement.valid_until)}",
            agreement.get_state_display(),
        )
    return table


def agreement_facts(agreement: ServiceAgreement) -> list[tuple[str, str]]:
    facts = [
        (_("Client"), agreement.client.full_name),
        (_("Provider"), agreement.provider.name),
        (_("Service"), agreement.service_type.name),
        (
            _("Quantity per month"),
            quantity_with_unit(agreement.quantity_hundredths, agreement.service_type.unit),
        ),
        (_("Agreed price per unit"), format_cents(agreement.agreed_price_cents)),
        (_("Client's own share per unit"), format_cents(agreement.own_share_cents)),
        (_("Validity"), f"{_date(agreement.valid_from)}–{_date(agreement.valid_until)}"),
        (_("Claims need the client's approval"), _("only above the threshold") if agreement.endorsed else _("yes")),
        (_("Monthly amount reserved"), _("yes") if agreement.standing_hold else _("no")),
        (_("State"), agreement.get_state_display()),
    ]
    if agreement.end_reason:
        facts.append((_("Reason for ending"), agreement.end_reason))
    return facts


def _claim_href(claim: Claim, href: str) -> str:
    if href == "staff":
        return reverse("services:claim_detail", kwargs={"claim_id": claim.pk})
    if href == "provider":
        return reverse("provider:claim_detail", kwargs={"claim_id": claim.pk})
    return ""


def claim_table(
    claims: Iterable[Claim], *, caption: str, href: str = "", with_client: bool = False, table_id: str = "claims"
) -> Table:
    columns = [_("Invoice"), _("Service date"), _("Provider")]
    if with_client:
        columns.append(_("Client"))
    columns += [_("Service"), _("Quantity"), _("From the budget"), _("Own share"), _("Status")]
    numeric = {len(columns) - 4, len(columns) - 3, len(columns) - 2}
    table = Table(
        caption=caption,
        columns=columns,
        empty_text=_("No claims."),
        numeric_columns=frozenset(numeric),
        id=table_id,
    )
    for claim in claims:
        cells: list[Any] = [
            Cell(claim.invoice_number, href=_claim_href(claim, href)),
            _date(claim.service_date),
            claim.provider.name,
        ]
        if with_client:
            cells.append(claim.client.full_name if claim.client else "–")
        cells += [
            claim.service_type.name if claim.service_type else "–",
            Cell(quantity(claim.quantity_hundredths), numeric=True),
            Cell(format_cents(claim.amount_cents), numeric=True),
            Cell(format_cents(claim.own_share_cents), numeric=True),
            claim.get_status_display(),
        ]
        table.add(*cells)
    return table


def claim_facts(claim: Claim, *, staff: bool, payments: Iterable[Any] = ()) -> list[tuple[str, str]]:
    """A claim in facts; ``payments`` (``selectors.claim_payments``) adds each payment batch it has been in."""
    facts = [
        (_("Status"), claim.get_status_display()),
        (_("Provider"), claim.provider.name),
        (_("Invoice number"), claim.invoice_number),
        (_("Agreement"), claim.agreement.number if claim.agreement else "–"),
    ]
    if staff or claim.agreement is not None:
        facts.append((_("Client"), claim.client.full_name if claim.client else "–"))
    facts += [
        (_("Service"), claim.service_type.name if claim.service_type else "–"),
        (_("Service date"), _date(claim.service_date)),
        (_("Quantity"), quantity(claim.quantity_hundredths)),
        (_("Unit price"), format_cents(claim.unit_price_cents)),
        (_("Paid from the budget"), format_cents(claim.amount_cents)),
        (_("The client's own share"), format_cents(claim.own_share_cents)),
        (_("Received"), f"{datetime_text(claim.created_at)} ({claim.get_source_display()})"),
    ]
    if claim.status == ClaimStatus.WAITING and claim.dispute_deadline:
        facts.append((_("Approved automatically after"), _date(claim.dispute_deadline)))
    if claim.reasons:
        facts.append((_("Reasons"), "; ".join(reasons(claim.reasons))))
    if claim.dispute_reason:
        facts.append((_("The client's dispute"), claim.dispute_reason))
    if claim.decided_at:
        facts.append((_("Decided"), datetime_text(claim.decided_at)))
    for item in payments:
        facts.append((_("Payment batch %(number)s") % {"number": item.line.batch.number}, payment_outcome(item.line)))
    return facts


# --- payments ------------------------------------------------------------------------------------------------


def batch_state(batch: PaymentBatch, *, payments: int, answered: int, rejected: int) -> str:
    """A batch's state in words, with what the bank has said so far."""
    if batch.state == PaymentBatchState.CONFIRMED:
        if not rejected:
            return _("paid")
        if rejected == payments:
            return _("rejected by the bank")
        return ngettext(
            "partly rejected: %(n)s of %(total)s payment",
            "partly rejected: %(n)s of %(total)s payments",
            payments,
        ) % {"n": rejected, "total": payments}
    if batch.state == PaymentBatchState.RELEASED and answered:
        return ngettext(
            "released; the bank has answered for %(n)s of %(total)s payment",
            "released; the bank has answered for %(n)s of %(total)s payments",
            payments,
        ) % {"n": answered, "total": payments}
    return str(batch.get_state_display())


def payment_reason(line: PaymentBatchLine) -> str:
    """Why the bank rejected a payment: the reason in words with its code, then the bank's own explanation."""
    parts = []
    if line.reason_code:
        parts.append(reason_words(line.reason_code))
    if line.reason_text:
        parts.append(_("the bank: “%(text)s”") % {"text": line.reason_text})
    return "; ".join(parts) or _("the bank gave no reason")


def payment_outcome(line: PaymentBatchLine) -> str:
    """One payment's outcome in words, for the batch's page and for each claim it carried."""
    batch = line.batch
    if batch.state == PaymentBatchState.PREPARED:
        return _("prepared, waiting for release")
    if line.outcome == PaymentOutcome.ACCEPTED:
        if line.decided_by_id:
            return _("paid (confirmed by hand on %(date)s)") % {"date": _date(localtime(line.decided_at).date())}
        return _("paid (the bank accepted it on %(date)s)") % {"date": _date(localtime(line.decided_at).date())}
    if line.outcome == PaymentOutcome.REJECTED:
        return _("rejected by the bank: %(reason)s") % {"reason": payment_reason(line)}
    if line.outcome == PaymentOutcome.CANCELLED:
        return _("not paid: the batch was cancelled")
    return _("released; payment date %(date)s, waiting for the bank's answer") % {"date": _date(batch.execution_date)}


def left_out_reasons(codes: Iterable[str]) -> str:
    return "; ".join(str(LeftOutReason(c).label) if c in LeftOutReason.values else c for c in codes)
