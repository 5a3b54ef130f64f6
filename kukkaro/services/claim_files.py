"""Claims from a provider's CSV file: every row gets exactly one result, with its row number and reasons.

The file is UTF-8 (a byte-order mark is fine), separated by semicolons (as Finnish spreadsheets save it) or
commas, with a header row naming these columns in any order:

    agreement;service;service_date;quantity;unit_price;invoice_number
    SA-LU-2026-00001;day-activity;2026-03-02;1;98,00;INV-1001

Dates as 2026-03-02 or 2.3.2026; quantities and prices with a decimal comma or point, in the digits 0–9. A row
that cannot be read becomes an ``invalid`` result naming the field; a readable row goes through ``claim_submit``
and its result is the claim's status, or ``duplicate`` (with the original claim) when that invoice number was
claimed before.

Limits: at most ``MAX_BYTES`` (2 MB) and ``MAX_ROWS`` rows a file; a value of at most ``MAX_VALUE_CHARS`` (1 024)
characters — the longest a column takes is 40 (the invoice number), so a longer value is a broken file (most
often a quotation mark left open), and it is its row's problem. A file that is not UTF-8, has no header or no
rows is refused whole, naming the line, and nothing is stored. Values follow the text rule
(``kukkaro.core.text``): a control character is its row's problem too.
"""

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.money import MoneyError, parse_cents
from kukkaro.core.text import allow_long_csv_values, clean_filename, text_problem
from kukkaro.people.models import User
from kukkaro.services import claims, providers
from kukkaro.services.models import ClaimSource, ClaimUpload, ClaimUploadRow, Provider, RejectReason

COLUMNS = ("agreement", "service", "service_date", "quantity", "unit_price", "invoice_number")
MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
MAX_VALUE_CHARS = 1024
DUPLICATE = "duplicate"
INVALID = "invalid"


# ASCII digits only: Python's \d and Decimal also take other scripts' digits ("٣" is 3).
_FINNISH_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_QUANTITY = re.compile(r"[0-9]{1,12}([.,][0-9]{1,2})?")


def parse_date(text: str) -> dt.date:
    """2026-03-02 or 2.3.2026; anything else (2026-W10-1, 20260302, other digits) is a ValueError."""
    text = (text or "").strip()
    match = _FINNISH_DATE.fullmatch(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return dt.date(year, month, day)
    if not _ISO_DATE.fullmatch(text):
        raise ValueError("date")
    return dt.date.fromisoformat(text)


def parse_quantity_hundredths(text: str) -> int:
    """A quantity above zero with at most two decimals, in hundredths: digits only, so no Infinity, NaN, 1e309,
    signs or other scripts' digits (Decimal would take them all)."""
    cleaned = (text or "").strip().replace("\u00a0", "").replace(" ", "")
    if not _QUANTITY.fullmatch(cleaned):
        raise ValueError("quantity")
    hundredths = int(Decimal(cleaned.replace(",", ".")) * 100)
    if hundredths <= 0:
        raise ValueError("quantity")
    return hundredths


def _not_utf8(content: bytes, error: UnicodeDecodeError) -> ValidationError:
    """The whole file refused, naming where its first byte that is not UTF-8 is (utf-8-sig counts from after
    the byte-order mark)."""
    position = error.start + (len(codecs.BOM_UTF8) if content.startswith(codecs.BOM_UTF8) else 0)
    line = len(re.findall(rb"\r\n|\r|\n", content[:position])) + 1
    return ValidationError(
        {
            "file": _("The file is not UTF-8 text (line %(line)s, byte %(byte)s). Save it as CSV (UTF-8).")
            % {"line": line, "byte": position + 1}
        }
    )


def _read_rows(content: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(row number, values)]) — row numbers as a spreadsheet shows them (the header is row 1)."""
    if len(content) > MAX_BYTES:
        raise ValidationError({"file": _("The file is larger than 2 MB. Split it into smaller files.")})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(content, exc) from exc
    allow_long_csv_values(len(text))
    first_line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration as exc:
        raise ValidationError({"file": _("The file is empty.")}) from exc
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValidationError(
            {"file": _("The header row lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)}}
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(reader, start=2):  # by record: a quoted value may span lines
        if not any(v.strip() for v in values):
            continue  # a blank line is not a row
        if len(rows) >= MAX_ROWS:
            raise ValidationError(
                {
                    "file": ngettext("At most %(count)s row per file.", "At most %(count)s rows per file.", MAX_ROWS)
                    % {"count": MAX_ROWS}
                }
            )
        row = {name: (values[i] if i < len(values) else "") for i, name in enumerate(header)}
        row["__extra__"] = "x" if len(values) > len(header) else ""
        rows.append((number, row))
    if not rows:
        raise ValidationError({"file": _("The file has no claim rows.")})
    return header, rows


#: What is wrong with a row that cannot be read, by code. The stored result keeps the code and the English text;
#: pages show ``row_problem_text`` in the reader's language.
ROW_PROBLEMS = {
    "columns": gettext_lazy("The row has more values than the header has columns."),
    "required": gettext_lazy("This value is missing."),
    "date": gettext_lazy("Give the date as 2026-03-02 or 2.3.2026."),
    "number": gettext_lazy("Give a quantity above zero with at most two decimals."),
    "amount": gettext_lazy("Give the unit price in euros, for example 98,00."),
    "length": gettext_lazy("At most 40 characters."),
    "too_long": gettext_lazy("The value is over %(count)s characters long."),
    "line_break": gettext_lazy(
        'The value runs over more than one line: a quotation mark (") has probably been left open.'
    ),
    "character": gettext_lazy(
        "The value contains an invisible control character or another character that cannot be used. Remove it."
    ),
}
_PROBLEM_PARAMS = {"count": MAX_VALUE_CHARS}


def _problem_text(code: str) -> str:
    return str(ROW_PROBLEMS[code]) % _PROBLEM_PARAMS


def row_problem_text(reason: dict[str, str]) -> str:
    """A stored row result's reason in the active language: a reading problem or a claim's rejection reason by
    its code, else the stored text."""
    code = reason.get("code", "")
    if code in ROW_PROBLEMS:
        return _problem_text(code)
    if reason.get("field") == "claim" and code in RejectReason.values:
        return str(RejectReason(code).label)
    return reason.get("message") or code


def _value_problem(value: str) -> str:
    """What makes a value no value of any column: too long, broken over lines, or a character the text rule
    refuses ("" when none)."""
    if len(value) > MAX_VALUE_CHARS:
        return "too_long"
    if "\n" in value or "\r" in value:
        return "line_break"
    return "character" if text_problem(value) is not None else ""


def _parse_row(row: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The row's values, and a problem per field that could not be read."""
    problems = []
    values: dict[str, Any] = {}

    def problem(field: str, code: str) -> None:
        with translation.override("en"):
            problems.append({"field": field, "code": code, "message": _problem_text(code)})

    if row.get("__extra__"):
        problem("row", "columns")
    # What no value may be (too long, or with characters free text may not hold) is this row's problem, not the
    # whole upload's failure.
    for field in COLUMNS:
        code = _value_problem(row.get(field) or "")
        if code:
            problem(field, code)
    if problems:
        return values, problems
    for field in ("agreement", "service", "invoice_number"):
        values[field] = (row.get(field) or "").strip()
        if not values[field]:
            problem(field, "required")
    try:
        values["service_date"] = parse_date(row.get("service_date", ""))
    except ValueError:
        problem("service_date", "date")
    try:
        values["quantity"] = parse_quantity_hundredths(row.get("quantity", ""))
    except (ValueError, InvalidOperation):
        problem("quantity", "number")
    try:
        values["unit_price"] = parse_cents(row.get("unit_price", ""))
        if values["unit_price"] <= 0:
            raise MoneyError("not positive")
    except MoneyError:
        problem("unit_price", "amount")
    if len(values.get("invoice_number", "")) > 40:
        problem("invoice_number", "length")
    return values, problems


@transaction.atomic
def claims_upload(*, actor: User, provider: Provider, filename: str, content: bytes) -> ClaimUpload:
    """Read a provider's CSV of claims. A file that cannot be read at all is refused whole (nothing stored);
    otherwise every row gets one ClaimUploadRow. Re-uploading a file pays nothing twice: rows already claimed
    come back as ``duplicate``."""
    if providers.provider_of(actor).pk != provider.pk:
        raise ValidationError({"file": _("You can upload claims for your own organisation only.")})
    _header, rows = _read_rows(content)
    upload = ClaimUpload.objects.create(
        provider=provider,
        filename=clean_filename(filename, default="claims.csv"),
        sha256=hashlib.sha256(content).hexdigest(),
        rows=len(rows),
        uploaded_by=actor,
        uploaded_at=clock.now(),
    )
    results = []
    for row_number, row in rows:
        values, problems = _parse_row(row)
        if problems:
            results.append(ClaimUploadRow(upload=upload, row_number=row_number, outcome=INVALID, reasons=problems))
            continue
        try:
            claim, created = claims.claim_submit(
                actor=actor,
                provider=provider,
                agreement_number=values["agreement"],
                service_code=values["service"],
                service_date=values["service_date"],
                quantity_hundredths=values["quantity"],
                unit_price_cents=values["unit_price"],
                invoice_number=values["invoice_number"],
                source=ClaimSource.CSV,
                upload=upload,
                row_number=row_number,
            )
        except ValidationError as exc:
            problems = [
                {"field": field, "code": "invalid", "message": " ".join(messages)}
                for field, messages in exc.message_dict.items()
            ]
            results.append(ClaimUploadRow(upload=upload, row_number=row_number, outcome=INVALID, reasons=problems))
            continue
        with translation.override("en"):  # stored in English; pages translate by code (row_problem_text)
            reasons = (
                [{"field": "claim", "code": code, "message": str(RejectReason(code).label)} for code in claim.reasons]
                if created
                else []
            )
        results.append(
            ClaimUploadRow(
                upload=upload,
                row_number=row_number,
                outcome=claim.status if created else DUPLICATE,
                claim=claim,
                reasons=reasons,
            )
        )
    ClaimUploadRow.objects.bulk_create(results)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    audit_record(
        action="claim.upload",
        actor=actor,
        target=upload,
        organiser_id=provider.organiser_id,
        after={"filename": upload.filename, "sha256": upload.sha256, "rows": len(rows), "outcomes": counts},
    )
    return upload
