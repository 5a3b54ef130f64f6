"""Hypothesis strategies for broken CSV files, shared by the fuzz tests of the claim and trip uploads: values that
have crashed parsers (Infinity, NaN, 1e309, huge integers, negative zero, other scripts' digits, byte-order
marks, control characters, values over the csv module's 128 KiB limit, open quotation marks), files with CR-only
line ends, BOMs and other encodings, and a few bytes spoiled or cut off."""

import csv
import io

from hypothesis import strategies as st

#: Values that are not what any column means, each of a kind that once broke something somewhere.
NASTY = [
    "",
    " ",
    "Infinity",
    "-Infinity",
    "inf",
    "NaN",
    "sNaN",
    "1e309",
    "1E5",
    "1e-7",
    "9" * 400,
    "99999999999999999999",
    "-1",
    "-0",
    "-0.0",
    "+1",
    "0",
    "0,00",
    "1_000",
    "1.005",
    "0,001",
    "1 234,56",
    "12,5 €",
    "٣",
    "١٢,٥٠",
    "１２",
    "½",
    "²",
    "\ufeff1",
    "1\ufeff",
    "x\x0by",
    "\x00",
    "a\x00b",
    "\x85",
    "tab\there",
    "line\nbreak",
    "cr\ronly",
    '"',
    'open "quote',
    "semi;colon",
    "com,ma",
    "2026-02-30",
    "2026-13-01",
    "0001-01-01",
    "9999-12-31",
    "31.12.9999",
    "1.1.0001",
    "2026-W10-1",
    "20260302",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "x" * 1025,
    "y" * 140_000,
]

LINE_ENDS = ["\r\n", "\n", "\r"]


def value(good: list[str]) -> st.SearchStrategy[str]:
    """A good value of the column, a nasty one or any short text."""
    return st.one_of(st.sampled_from(good), st.sampled_from(NASTY), st.text(max_size=12))


def write_csv(header: list[str], rows: list[list[str]], *, delimiter: str, line_end: str, quoting: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@st.composite
def encoded(draw: st.DrawFn, text: str) -> bytes:
    """The text as a file: UTF-8 mostly (with or without a BOM), sometimes another encoding, sometimes with a
    spoiled byte or cut short."""
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    content = text.encode(encoding, errors="replace")
    spoil = draw(st.sampled_from(["none"] * 8 + ["byte", "cut", "nul", "raw_quote"]))
    if content and spoil == "byte":
        at = draw(st.integers(0, len(content) - 1))
        content = content[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + content[at + 1 :]
    elif content and spoil == "cut":
        content = content[: draw(st.integers(0, len(content)))]
    elif spoil == "nul":
        content += b"\x00"
    elif spoil == "raw_quote":
        at = draw(st.integers(0, len(content)))
        content = content[:at] + b'"' + content[at:]
    return content
