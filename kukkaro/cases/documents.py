"""The HB decision as a document: a tagged PDF (PDF/UA-1) in the decision's language, Finnish or Swedish.

The document is rendered once, at approval, from what was frozen then: ``decision.snapshot`` (and, for the lines
a replacement drops, the snapshot of the decision it replaces), the decision's number and language, and the
organiser's registry address. It never reads live client or rate data. The bytes are kept on the decision with
their SHA-256, so a reprint is the document as sent, byte for byte.

The wording lives in the templates under ``cases/decision_document/`` — ``base.html`` for the layout and one
template per language for the text — and, for the small words that go with numbers (units, periods, instruments),
in ``_WORDS`` below. It is written in Finnish and Swedish directly, not through the gettext catalogue: a document
frozen at approval must not depend on whether a UI string happened to be translated on that day.
"""

import datetime as dt
import hashlib
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import override

from kukkaro.cases.models import Decision
from kukkaro.cases.selectors import format_amount
from kukkaro.core.money import format_cents, round_cents
from kukkaro.ledger.models import Unit

LANGUAGES = ("fi", "sv")
_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "cases" / "decision_document"

# Words that go with numbers. Service units are (one, many): "1 päivä", "8 päivää"; "1 dag", "8 dagar".
_WORDS: dict[str, dict[str, Any]] = {
    "fi": {
        "service_unit": {
            "hour": ("tunti", "tuntia"),
            "day": ("päivä", "päivää"),
            "visit": ("käynti", "käyntiä"),
            "trip": ("matka", "matkaa"),
            "km": ("km", "km"),
            "month": ("kuukausi", "kuukautta"),
        },
        "trips": ("matka", "matkaa"),
        # The period as a noun (table) and as "per period" (sentences).
        "period": {
            "monthly": ("kuukausi", "kuukaudessa"),
            "quarterly": ("vuosineljännes", "vuosineljänneksessä"),
            "yearly": ("vuosi", "vuodessa"),
            "once": ("koko voimassaoloaika", "koko voimassaoloajalle"),
        },
        "instrument": {
            "voucher": "palveluseteli",
            "purchased": "ostopalvelu",
            "own": "hyvinvointialueen oma palvelu",
            "employer": "työnantajamalli",
        },
        "calc_eur": "{name}: {quantity} {unit} × {cost} = {computed} {per_period}.",
        "calc_other": "{name}: {quantity} {unit} {per_period}. Arvioitu kustannus {count} × {cost} = {cost_total}.",
        "adjustment": "Tarkistus {change}: {reason}. Myönnetty määrä on {amount} {per_period}.",
        "validity": "Voimassaoloaika",
        "not_granted": "ei myönnetty",
        # How each line moves to this decision (the plan the ledger carries out; see funding.transition_snapshot).
        "transition": {
            "changes": "{name}: {before} {per_period} {last} asti ja {after} {per_period} {start} alkaen.",
            "continues": "{name}: jatkuu ennallaan, {after} {per_period}.",
            "ends": "{name}: päättyy. Viimeinen päivä on {last}.",
            "new": "{name}: {after} {per_period} {start} alkaen.",
        },
        "shared": "Kauden {period} määrä on {amount} ({parts}).",
        "share": ("{amount} {days} päivältä", "{amount} {days} päivältä"),
        "and": " ja ",
        "raised": "Jo myönnettyihin kausiin lisätään nyt {amount}.",
        "lowered": "Jo myönnetyistä kausista palautetaan budjettiin {amount}, mikä on vielä käyttämättä.",
        "not_taken_back": "Uutta määrää enemmän on jo käytetty {amount}. Sitä ei peritä takaisin.",
    },
    "sv": {
        "service_unit": {
            "hour": ("timme", "timmar"),
            "day": ("dag", "dagar"),
            "visit": ("besök", "besök"),
            "trip": ("resa", "resor"),
            "km": ("km", "km"),
            "month": ("månad", "månader"),
        },
        "trips": ("resa", "resor"),
        "period": {
            "monthly": ("månad", "per månad"),
            "quarterly": ("kvartal", "per kvartal"),
            "yearly": ("år", "per år"),
            "once": ("hela giltighetstiden", "för hela giltighetstiden"),
        },
        "instrument": {
            "voucher": "servicesedel",
            "purchased": "köpt tjänst",
            "own": "välfärdsområdets egen service",
            "employer": "arbetsgivarmodellen",
        },
        "calc_eur": "{name}: {quantity} {unit} × {cost} = {computed} {per_period}.",
        "calc_other": "{name}: {quantity} {unit} {per_period}. Beräknad kostnad {count} × {cost} = {cost_total}.",
        "adjustment": "Justering {change}: {reason}. Det beviljade beloppet är {amount} {per_period}.",
        "validity": "Giltighetstid",
        "not_granted": "inte beviljat",
        "transition": {
            "changes": "{name}: {before} {per_period} till och med {last} och {after} {per_period} från och med "
            "{start}.",
            "continues": "{name}: fortsätter oförändrad, {after} {per_period}.",
            "ends": "{name}: upphör. Den sista dagen är {last}.",
            "new": "{name}: {after} {per_period} från och med {start}.",
        },
        "shared": "Beloppet för perioden {period} är {amount} ({parts}).",
        "share": ("{amount} för {days} dag", "{amount} för {days} dagar"),
        "and": " och ",
        "raised": "Till de perioder som redan beviljats läggs nu {amount}.",
        "lowered": "Av de perioder som redan beviljats återgår {amount}, som ännu inte har använts, till budgeten.",
        "not_taken_back": "{amount} mer än det nya beloppet har redan använts. Det återkrävs inte.",
    },
}


class DocumentError(ValueError):
    """A decision that cannot have a document (not approved yet, or in a language with no template)."""


def _date(value: str | dt.date) -> str:
    """Finnish and Swedish (in Finland) both write 2.3.2026."""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day}.{day.month}.{day.year}"


def _period(start: str, end: str) -> str:
    return f"{_date(start)}\u2013{_date(end)}"


def _quantity(text: str) -> tuple[str, bool]:
    """ "8" → ("8", many); "12.50" → ("12,5", many); "1" → ("1", one)."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ","), Decimal(text) != 1


def _amount(amount: int, unit: str, words: dict[str, Any]) -> str:
    """An amount in its purse unit. Trips are worded here, not through the UI catalogue (see the module text)."""
    if unit == Unit.TRIP:
        one, many = words["trips"]
        return f"{amount}\u00a0{one if amount == 1 else many}"
    return format_amount(amount, unit)


def _signed(amount: int, unit: str, words: dict[str, Any]) -> str:
    text = _amount(abs(amount), unit, words)
    return f"+{text}" if amount >= 0 else f"\u2212{text}"


def _calculation_text(line: dict[str, Any], period_kind: str, words: dict[str, Any], name: str) -> list[str]:
    quantity, many = _quantity(line["quantity"])
    unit_words = words["service_unit"].get(line["service_unit"], (line["service_unit"], line["service_unit"]))
    per_period = words["period"].get(period_kind, (period_kind, period_kind))[1]
    values = {
        "name": name,
        "quantity": quantity,
        "unit": unit_words[1] if many else unit_words[0],
        "cost": format_cents(line["unit_cost_cents"]),
        "per_period": per_period,
    }
    if line["purse_unit"] == Unit.EUR:
        sentences = [words["calc_eur"].format(computed=_amount(line["computed_amount"], Unit.EUR, words), **values)]
    else:
        cost_total = round_cents(Decimal(line["quantity"]) * Decimal(line["unit_cost_cents"]) / 100)
        sentences = [words["calc_other"].format(count=quantity, cost_total=format_cents(cost_total), **values)]
    if line["adjustment"]:
        sentences.append(
            words["adjustment"].format(
                change=_signed(line["adjustment"], line["purse_unit"], words),
                reason=line["adjustment_reason"].strip().rstrip("."),
                amount=_amount(line["amount_per_period"], line["purse_unit"], words),
                per_period=per_period,
            )
        )
    return sentences


def _changes(decision: Decision, snapshot: dict[str, Any], language: str, words: dict[str, Any]) -> list[dict]:
    names = {line["code"]: line["name"] for line in snapshot["lines"]}
    replaced = decision.replaces.snapshot if decision.replaces_id and decision.replaces else None
    for line in (replaced or {}).get("lines", []):  # a dropped line is named only in the replaced decision
        names.setdefault(line["code"], line["name"])
    rows = []
    for change in snapshot.get("changes") or []:
        if change["code"] == "validity":
            rows.append(
                {
                    "name": words["validity"],
                    "before": _period(*change["before"]),
                    "after": _period(*change["after"]),
                }
            )
            continue
        name = names.get(change["code"], {})
        rows.append(
            {
                "name": name.get(language) or name.get("fi") or change["code"],
                "before": words["not_granted"]
                if change["before"] is None
                else _amount(change["before"], change["unit"], words),
                "after": words["not_granted"]
                if change["after"] is None
                else _amount(change["after"], change["unit"], words),
            }
        )
    return rows


def _transition(snapshot: dict[str, Any], language: str, words: dict[str, Any]) -> list[str]:
    """Each line's move to this decision in a sentence or two, from the plan frozen at approval."""
    texts = []
    for row in snapshot.get("transition") or []:
        unit = row["unit"]
        start = dt.date.fromisoformat(row["effective_from"])
        values = {
            "name": row["name"].get(language) or row["name"]["fi"],
            "before": _amount(row["before"] or 0, unit, words),
            "after": _amount(row["after"] or 0, unit, words),
            "per_period": words["period"].get(row["period_kind"], ("", row["period_kind"]))[1],
            "start": _date(start),
            "last": _date(start - dt.timedelta(days=1)),
        }
        sentences = [words["transition"][row["change"]].format(**values)]
        shared = row.get("shared_period")
        if shared:
            parts = []
            for share in shared["shares"]:
                if not share["period_amount"]:
                    continue  # the days of a line that ended give nothing
                days = (dt.date.fromisoformat(share["end"]) - dt.date.fromisoformat(share["start"])).days + 1
                one, many = words["share"]
                parts.append(
                    (one if days == 1 else many).format(amount=_amount(share["period_amount"], unit, words), days=days)
                )
            sentences.append(
                words["shared"].format(
                    period=_period(shared["start"], shared["end"]),
                    amount=_amount(shared["amount"], unit, words),
                    parts=words["and"].join(parts),
                )
            )
        if row.get("corrected"):
            key = "raised" if row["corrected"] > 0 else "lowered"
            sentences.append(words[key].format(amount=_amount(abs(row["corrected"]), unit, words)))
        if row.get("not_taken_back"):
            sentences.append(words["not_taken_back"].format(amount=_amount(row["not_taken_back"], unit, words)))
        texts.append(" ".join(sentences))
    return texts


def _context(decision: Decision, snapshot: dict[str, Any], language: str) -> dict[str, Any]:
    words = _WORDS[language]
    calculation = snapshot["calculation"]
    calc_lines = {line["code"]: line for line in calculation["lines"]}
    lines = []
    for line in snapshot["lines"]:
        name = line["name"].get(language) or line["name"]["fi"]
        period_noun, per_period = words["period"].get(line["period_kind"], (line["period_kind"],) * 2)
        calc = calc_lines.get(line["code"])
        lines.append(
            {
                "name": name,
                "amount": _amount(line["amount_per_period"], line["unit"], words),
                "period": period_noun,
                "per_period": per_period,
                "instrument": words["instrument"].get(line["instrument"], line["instrument"]),
                "calculation": _calculation_text(calc, line["period_kind"], words, name) if calc else [],
            }
        )
    helsinki = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    # A preview of a draft (the snapshot it would get, not stored) has no approval yet: it says it is a draft.
    draft = not snapshot.get("approved_at")
    approved_at = None if draft else dt.datetime.fromisoformat(snapshot["approved_at"]).astimezone(helsinki)
    stamp = approved_at or decision.created_at.astimezone(helsinki)
    organiser = decision.organiser
    client = snapshot["client"]
    totals = calculation["totals"]
    return {
        "language": language,
        "number": snapshot["number"],
        "organiser_name": snapshot["organiser"].get(language) or snapshot["organiser"]["fi"],
        "registry_address": getattr(organiser, f"registry_address_{language}", "") or organiser.registry_address,
        "registry_email": organiser.registry_email,
        "draft": draft,
        "decision_date": _date(approved_at.date()) if approved_at else "",
        # WeasyPrint writes these into the PDF's info and XMP: the approval time, so the bytes never depend on
        # when the document was rendered.
        "created": stamp.isoformat(timespec="seconds"),
        "client_name": client["name"],
        "national_id": client["national_id"],
        "address": [part for part in client["address"] if part.strip()],
        "municipality": client["municipality"],
        "valid_from": _date(snapshot["valid_from"]),
        "valid_until": _date(snapshot["valid_until"]),
        "validity": _period(snapshot["valid_from"], snapshot["valid_until"]),
        "lines": lines,
        "estimated_cost": format_cents(totals["estimated_cost_cents"]),
        "per_period": words["period"].get(calculation["period_kind"], ("", ""))[1],
        "reasons": snapshot["reasons"],
        # Snapshots made before rate tables had Swedish and English names hold only the Finnish one.
        "rate_table": calculation["rate_table"].get(f"name_{language}") or calculation["rate_table"]["name"],
        "rate_table_from": _date(calculation["rate_table"]["valid_from"]),
        "has_vouchers": any(line["instrument"] == "voucher" for line in snapshot["lines"]),
        "replaces": snapshot.get("replaces"),
        "changes": _changes(decision, snapshot, language, words),
        "transition": _transition(snapshot, language, words),
        "last_day": _date(dt.date.fromisoformat(snapshot["valid_from"]) - dt.timedelta(days=1)),
        "preparer": snapshot["preparer"],
        "approver": snapshot["approver"],
    }


def decision_document_render(*, decision: Decision) -> bytes:
    """The decision as a tagged PDF/UA-1 in its language. The same decision always gives the same bytes.

    For an approved decision this is what ``decision_document_store`` keeps. A draft has no snapshot; given one
    from ``services.decision_preview_snapshot`` (not saved) it renders as a preview marked as a draft."""
    snapshot = decision.snapshot
    if not snapshot:
        raise DocumentError("Only an approved decision (with a snapshot) has a document.")
    language = snapshot.get("language") or decision.language
    if language not in LANGUAGES:
        raise DocumentError(f"No decision document template in {language!r}.")
    with override(language):
        context = _context(decision, snapshot, language)
        html = render_to_string(f"cases/decision_document/{language}.html", context)

    # Pango is loaded only when a document is made, not at every start-up.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # The document is self-contained: no protocol is allowed, so nothing is read from files or the network.
    no_fetching = URLFetcher(allowed_protocols=())
    return HTML(string=html, base_url=str(_TEMPLATE_DIR), url_fetcher=no_fetching).write_pdf(
        pdf_variant="pdf/ua-1",
        # A fixed file identifier; without one pydyf writes none, with ``True`` it would hash the content. Either
        # is deterministic, but an ID naming the decision lets archives match copies.
        pdf_identifier=hashlib.sha256(f"kukkaro-decision:{decision.pk}".encode()).hexdigest().encode(),
        uncompressed_pdf=False,
    )


def decision_document_store(*, decision: Decision) -> None:
    """Render and keep the document, once. A decision that already has one keeps it unchanged."""
    if decision.document_sha256:
        return
    if not (decision.snapshot or {}).get("approved_at"):
        raise DocumentError("Only an approved decision's document is kept; a draft's preview never is.")
    pdf = decision_document_render(decision=decision)
    digest = hashlib.sha256(pdf).hexdigest()
    # Only where none is stored yet: a concurrent first store cannot overwrite the other's bytes.
    stored = Decision.objects.filter(pk=decision.pk, document_sha256="").update(
        document_pdf=pdf, document_sha256=digest
    )
    if stored:
        decision.document_pdf, decision.document_sha256 = pdf, digest
    else:
        decision.refresh_from_db(fields=["document_pdf", "document_sha256"])


def decision_document_pdf(*, decision: Decision) -> bytes:
    """The document as stored (stored first if an approved decision has none yet); a reprint is the same bytes.
    Refuses bytes that no longer match their recorded SHA-256."""
    if not decision.document_sha256:
        decision_document_store(decision=decision)
    pdf = bytes(decision.document_pdf or b"")  # PostgreSQL gives a memoryview
    if hashlib.sha256(pdf).hexdigest() != decision.document_sha256:
        raise DocumentError(f"The stored document of decision {decision.number} does not match its SHA-256.")
    return pdf
