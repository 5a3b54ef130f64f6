"""Every file people download to open in a spreadsheet, CSV or XLSX, is written here, so that none of them can
carry a formula (CSV or formula injection, OWASP).

A spreadsheet evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@`` (also their full-width forms
``＝＋－＠``, and after leading spaces), a tab or a carriage return as a formula: a provider called
``=HYPERLINK("https://…")`` would put a link in the county's accounting file. So **text** cells are written as
data, never as formulas:

- in CSV such a text is prefixed with a single quote (``'=HYPERLINK(…)``) and the field is quoted, as OWASP
  recommends; any other text is written exactly as it is (quoted only where CSV needs it: a delimiter, a quote
  or a line break);
- in XLSX every text is a string cell, never a formula (openpyxl would otherwise take a ``str`` starting with
  ``=`` for a formula), and such a text also gets Excel's quote prefix, so even editing the cell keeps it text.

What is a number is decided by the column's Python type, never by looking at text: ``int`` is an integer (cents,
counts, metres), ``Decimal`` a fixed-point amount written with exactly two decimals (euros from cents,
quantities from hundredths: ``Decimal(cents) / 100``), ``datetime.date`` a date (ISO 8601 in CSV, a date cell in
XLSX), ``None`` an empty cell. Numbers are never neutralised: ``Decimal("-12.50")`` is ``-12,50`` in a CSV with a
decimal comma and the number −12.5 (shown ``0.00``) in XLSX. Anything else is text, so a negative amount passed as
the string ``"-12,50"`` would be neutralised: give money as ``Decimal`` or ``int``.

CSV keeps each file's own conventions (delimiter, decimal separator, byte-order mark) and always ends lines with
CRLF. ``attachment`` sets ``Content-Disposition: attachment`` with a file name that is safe whatever the input.
"""

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header

from kukkaro.core import clock

#: What a spreadsheet takes for the start of a formula (OWASP), with the full-width forms of the first four.
FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Control characters an XLSX file cannot hold (XML 1.0); tab, line feed and carriage return it can.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TWO_PLACES = Decimal("0.01")

Cell = str | int | Decimal | dt.date | None


def is_formula_like(text: str) -> bool:
    """Would a spreadsheet read this text as a formula? Leading whitespace does not hide one; a tab or a carriage
    return is a start of its own."""
    if not text:
        return False
    if text[0] in FORMULA_STARTS:
        return True
    rest = text.lstrip()
    return bool(rest) and rest[0] in FORMULA_STARTS


def neutralise(text: str) -> str:
    """The text as a CSV cell shows it: prefixed with a single quote if a spreadsheet would read a formula."""
    return "'" + text if is_formula_like(text) else text


def _decimal(value: Decimal) -> Decimal:
    if value != value.quantize(_TWO_PLACES):
        raise ValueError(f"{value} has more than two decimals; round it before exporting")
    return value.quantize(_TWO_PLACES) if value else Decimal("0.00")  # never "-0.00"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# --- CSV -----------------------------------------------------------------------------------------------------


def _csv_value(value: Cell, *, decimal_separator: str) -> str | None:
    """A number, date or empty cell as CSV writes it; None for text."""
    if value is None:
        return ""
    if isinstance(value, int):  # a bool is an int to Python, but text to whoever reads the file
        return None if isinstance(value, bool) else str(value)
    if isinstance(value, Decimal):
        return f"{_decimal(value):f}".replace(".", decimal_separator)
    if isinstance(value, dt.datetime):
        return value.astimezone(clock.HELSINKI).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None


def _csv_field(value: Cell, *, delimiter: str, decimal_separator: str) -> str:
    written = _csv_value(value, decimal_separator=decimal_separator)
    if written is not None:
        return written
    text = _text(value)
    formula = is_formula_like(text)
    if formula:
        text = "'" + text
    if formula or delimiter in text or '"' in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_bytes(
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    delimiter: str = ";",
    decimal_separator: str = ",",
    bom: bool = True,
) -> bytes:
    """A CSV file (UTF-8, CRLF) of ``header`` and ``rows``, every text cell neutralised."""

    def line(cells: Sequence[Cell]) -> str:
        return delimiter.join(_csv_field(c, delimiter=delimiter, decimal_separator=decimal_separator) for c in cells)

    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    out.write(line(header) + "\r\n")
    for row in rows:
        out.write(line(row) + "\r\n")
    return out.getvalue().encode("utf-8")


# --- XLSX ----------------------------------------------------------------------------------------------------


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, sheet: str = "Kukkaro") -> bytes:
    """An XLSX workbook of one sheet: ``header`` in bold, then ``rows``; text is never a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(title=_XML_ILLEGAL.sub("", sheet)[:31] or "Kukkaro")
    bold = Font(bold=True)

    def cell(value: Cell, *, header_cell: bool = False) -> Any:
        made = WriteOnlyCell(worksheet)
        if value is None:
            pass
        elif isinstance(value, int) and not isinstance(value, bool):
            made.value = value
        elif isinstance(value, Decimal):
            made.value = _decimal(value)
            made.number_format = "0.00"
        elif isinstance(value, dt.datetime):
            made.value = value.astimezone(clock.HELSINKI).replace(tzinfo=None)  # Excel has no time zones
            made.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(value, dt.date):
            made.value = value
            made.number_format = "yyyy-mm-dd"
        else:
            text = _XML_ILLEGAL.sub("", _text(value))
            made.value = text
            made.data_type = "s"  # after the value: openpyxl has just taken a leading "=" for a formula
            if is_formula_like(text):
                made.quotePrefix = True
        if header_cell:
            made.font = bold
        return made

    worksheet.append([cell(name, header_cell=True) for name in header])
    for row in rows:
        worksheet.append([cell(value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- downloads -----------------------------------------------------------------------------------------------


def safe_filename(name: str, *, extension: str, fallback: str = "export") -> str:
    """A file name that cannot break the header or point anywhere: letters, digits, ``.``, ``_`` and ``-``
    (Finnish and Swedish letters kept), at most 100 characters, with ``extension``."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.sub(r"[^\w.-]+", "-", name).strip(".-_")[:100].strip(".-_")
    return f"{name or fallback}.{extension}"


def attachment(response: HttpResponse, *, name: str, extension: str) -> HttpResponse:
    """Mark ``response`` as a file to save, not to show, under a safe version of ``name``."""
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=safe_filename(name, extension=extension)
    )
    return response


def csv_response(content: bytes, *, name: str) -> HttpResponse:
    return attachment(HttpResponse(content, content_type=CSV_CONTENT_TYPE), name=name, extension="csv")


def xlsx_response(content: bytes, *, name: str) -> HttpResponse:
    return attachment(HttpResponse(content, content_type=XLSX_CONTENT_TYPE), name=name, extension="xlsx")
