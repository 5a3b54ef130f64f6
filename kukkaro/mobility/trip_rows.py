"""Reading a trip file from the dispatch centre: its text, its header and each row's typed values, with the reasons
a row cannot be read (``kukkaro.mobility.judgement``: the shapes, limits and codes; this module applies them).

The file (the contract with the dispatch centre): CSV, UTF-8, a header row, commas, ``.`` as the decimal point,
timestamps ISO 8601 with an offset. Columns, in any order::

    operator_id, trip_id, client_number, authorization_id, pickup_at, dropoff_at, origin_municipality,
    destination_municipality, distance_km, duration_min, waiting_min, vehicle_class, purpose, escort,
    supplements, shared_ride_id, fare_eur, self_share_eur

A row is rejected when it cannot be read or cannot be true: a malformed business ID, card number (Luhn), time,
municipality code, number or amount; drop-off before pickup; a distance, ride, wait or fare over its limit; an
unknown vehicle class or purpose; too many or too few values. The set-based import on PostgreSQL
(``trip_import_sql``) reads the same texts with the same patterns, written in SQL from the same constants.
"""

import csv
import datetime as dt
import difflib
import hashlib
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from stdnum import luhn

from kukkaro.core.identifiers import business_id_check_digit
from kukkaro.core.text import allow_long_csv_values
from kukkaro.mobility import judgement
from kukkaro.mobility.judgement import (
    CARD_DIGITS,
    DISTANCE_SHAPE,
    EUROS_SHAPE,
    ID_CHARACTERS,
    ID_MAX_LENGTH,
    MINUTES_SHAPE,
    MUNICIPALITY_DIGITS,
)

COLUMNS = (
    "operator_id",
    "trip_id",
    "client_number",
    "authorization_id",
    "pickup_at",
    "dropoff_at",
    "origin_municipality",
    "destination_municipality",
    "distance_km",
    "duration_min",
    "waiting_min",
    "vehicle_class",
    "purpose",
    "escort",
    "supplements",
    "shared_ride_id",
    "fare_eur",
    "self_share_eur",
)
MAX_BYTES = 512 * 1024 * 1024
BLANKS = " \t\r\n"  # what is trimmed around a value (the SQL path trims the same)


def _number(shape: tuple[int, int]) -> re.Pattern:
    whole, decimals = shape
    return re.compile(rf"\d{{1,{whole}}}(\.\d{{1,{decimals}}})?", re.ASCII)


# The same patterns are written in SQL in trip_import_sql (from the same shapes); the two must accept exactly the
# same texts. ASCII: PostgreSQL's \d is 0–9 only, Python's would take other scripts' digits too ("٣" is 3, and
# Decimal reads it).
_TIMESTAMP = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
    r"(Z|[+-](0\d|1[0-4]):[0-5]\d)",
    re.ASCII,
)
_BUSINESS_ID = re.compile(r"\d{7}-\d", re.ASCII)
_DECIMAL = _number(DISTANCE_SHAPE)
_MINUTES = _number(MINUTES_SHAPE)
_EUROS = _number(EUROS_SHAPE)
_MUNICIPALITY = re.compile(rf"\d{{{MUNICIPALITY_DIGITS}}}", re.ASCII)
_CARD = re.compile(rf"\d{{{CARD_DIGITS[0]},{CARD_DIGITS[1]}}}", re.ASCII)
_ID = re.compile(rf"[{ID_CHARACTERS}]{{1,{ID_MAX_LENGTH}}}")


@dataclass(frozen=True)
class Readings:
    """The measured values of a readable row (one without rejection reasons): none of them is missing."""

    pickup_at: dt.datetime
    dropoff_at: dt.datetime
    distance_km: Decimal
    duration_min: Decimal
    waiting_min: Decimal
    fare_cents: int


@dataclass
class Row:
    """One row of a trip file, read: typed values, and the rejection reasons found while reading it."""

    number: int
    raw: dict[str, str]
    reasons: list[str] = field(default_factory=list)
    operator_id: str = ""
    trip_id: str = ""
    client_number: str = ""
    authorization_id: str = ""
    pickup_at: dt.datetime | None = None
    dropoff_at: dt.datetime | None = None
    origin: str = ""
    destination: str = ""
    distance_km: Decimal | None = None
    duration_min: Decimal | None = None
    waiting_min: Decimal | None = None
    vehicle_class: str = ""
    purpose: str = ""
    escort: bool = False
    supplements: tuple[str, ...] = ()
    shared_ride_id: str = ""
    fare_cents: int | None = None
    self_share_collected_cents: int | None = None

    def reject(self, code: str) -> None:
        if code not in self.reasons:
            self.reasons.append(code)

    def readings(self) -> Readings:
        """The measured values of a readable row; a ValueError for a row with rejection reasons."""
        if (
            self.reasons
            or self.pickup_at is None
            or self.dropoff_at is None
            or self.distance_km is None
            or self.duration_min is None
            or self.waiting_min is None
            or self.fare_cents is None
        ):
            raise ValueError(f"row {self.number} is not readable")
        return Readings(
            pickup_at=self.pickup_at,
            dropoff_at=self.dropoff_at,
            distance_km=self.distance_km,
            duration_min=self.duration_min,
            waiting_min=self.waiting_min,
            fare_cents=self.fare_cents,
        )

    @property
    def content_sha256(self) -> str:
        """What the operator says of the leg, normalised; a trip id sent again with other content differs here."""
        values = "\x1f".join(
            (self.raw.get(c) or "").strip(BLANKS) for c in COLUMNS if c not in ("operator_id", "trip_id")
        )
        return hashlib.sha256(values.encode()).hexdigest()


def _euros(text: str) -> int | None:
    return int(Decimal(text) * 100) if _EUROS.fullmatch(text) else None


def _read_identity(row: Row, value: dict[str, str]) -> None:
    row.operator_id = value["operator_id"]
    if not _BUSINESS_ID.fullmatch(row.operator_id) or business_id_check_digit(row.operator_id[:7]) != int(
        row.operator_id[8]
    ):
        row.reject(judgement.OPERATOR_ID_INVALID)
    row.trip_id = value["trip_id"]
    if not _ID.fullmatch(row.trip_id):
        row.reject(judgement.TRIP_ID_INVALID)
    row.client_number = value["client_number"]
    if not _CARD.fullmatch(row.client_number) or not luhn.is_valid(row.client_number):
        row.reject(judgement.CLIENT_NUMBER_INVALID)
    row.authorization_id = value["authorization_id"]
    if row.authorization_id and not _ID.fullmatch(row.authorization_id):
        row.reject(judgement.AUTHORIZATION_ID_INVALID)
    row.shared_ride_id = value["shared_ride_id"]
    if row.shared_ride_id and not _ID.fullmatch(row.shared_ride_id):
        row.reject(judgement.SHARED_RIDE_ID_INVALID)


def _moment(text: str) -> dt.datetime | None:
    if not _TIMESTAMP.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _read_times_and_places(row: Row, value: dict[str, str]) -> None:
    row.pickup_at = _moment(value["pickup_at"])
    if row.pickup_at is None:
        row.reject(judgement.PICKUP_AT_INVALID)
    row.dropoff_at = _moment(value["dropoff_at"])
    if row.dropoff_at is None:
        row.reject(judgement.DROPOFF_AT_INVALID)
    if row.pickup_at and row.dropoff_at and row.dropoff_at < row.pickup_at:
        row.reject(judgement.DROPOFF_BEFORE_PICKUP)
    row.origin, row.destination = value["origin_municipality"], value["destination_municipality"]
    if not _MUNICIPALITY.fullmatch(row.origin) or not _MUNICIPALITY.fullmatch(row.destination):
        row.reject(judgement.MUNICIPALITY_INVALID)


def _read_measure(row: Row, text: str, pattern: re.Pattern, limit: str, codes: tuple[str, str]) -> Decimal | None:
    """A number of the file, or None with ``codes[0]`` when it does not fit its pattern; ``codes[1]`` when it is
    over its limit (``judgement.LIMITS[limit]``)."""
    invalid, absurd = codes
    if not pattern.fullmatch(text):
        row.reject(invalid)
        return None
    value = Decimal(text)
    if judgement.absurd(limit, value):
        row.reject(absurd)
    return value


def _read_codes_and_money(row: Row, value: dict[str, str]) -> None:
    row.vehicle_class = value["vehicle_class"]
    if row.vehicle_class not in judgement.VEHICLE_CLASSES:
        row.reject(judgement.UNKNOWN_VEHICLE_CLASS)
    row.purpose = value["purpose"]
    if row.purpose not in judgement.PURPOSES:
        row.reject(judgement.UNKNOWN_PURPOSE)
    if value["escort"] not in judgement.ESCORT_VALUES:
        row.reject(judgement.ESCORT_INVALID)
    row.escort = value["escort"] == "1"
    row.supplements = tuple(code.strip(BLANKS) for code in value["supplements"].split(";") if code.strip(BLANKS))
    row.fare_cents = _euros(value["fare_eur"])
    if row.fare_cents is None:
        row.reject(judgement.FARE_INVALID)
    elif judgement.absurd("fare_cents", row.fare_cents):
        row.reject(judgement.FARE_ABSURD)
    row.self_share_collected_cents = _euros(value["self_share_eur"] or "0")
    if row.self_share_collected_cents is None:
        row.reject(judgement.SELF_SHARE_INVALID)


def read_row(number: int, raw: dict[str, str], *, columns_ok: bool = True) -> Row:
    """Read a row's values; anything malformed or impossible becomes a rejection reason, in the declared order.
    ``columns_ok``: the row had as many values as the header has columns."""
    row = Row(number=number, raw=raw)
    value = {c: (raw.get(c) or "").strip(BLANKS) for c in COLUMNS}
    _read_identity(row, value)
    _read_times_and_places(row, value)
    row.distance_km = _read_measure(
        row, value["distance_km"], _DECIMAL, "distance_km", (judgement.DISTANCE_INVALID, judgement.DISTANCE_ABSURD)
    )
    row.duration_min = _read_measure(
        row, value["duration_min"], _MINUTES, "duration_min", (judgement.DURATION_INVALID, judgement.DURATION_ABSURD)
    )
    row.waiting_min = _read_measure(
        row,
        value["waiting_min"] or "0",
        _MINUTES,
        "waiting_min",
        (judgement.WAITING_INVALID, judgement.WAITING_ABSURD),
    )
    _read_codes_and_money(row, value)
    if not columns_ok:
        row.reject(judgement.COLUMN_COUNT)
    row.reasons = judgement.in_order(row.reasons)
    return row


def file_text(content: bytes) -> str:
    """A trip file's text. A NUL character, which PostgreSQL cannot store, becomes U+FFFD, which no column's
    pattern accepts: its row is rejected for that column on either database, instead of the import failing. A
    file that is not UTF-8 is refused whole, naming the first byte that is not, where it is and what the file
    looks like instead."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": not_utf8_message(content, exc.start)}) from exc
    return text.replace("\x00", "\ufffd")


def not_utf8_message(content: bytes, start: int) -> str:
    """Where a file stops being UTF-8 (line, byte of the file counting from 1, the byte's value) and what it
    probably is: UTF-16 (a byte-order mark, or NULs between letters), or Windows-1252/Latin-1 (what Excel saves
    as "CSV" on a Finnish Windows: ä and ö as one byte each)."""
    line = content.count(b"\n", 0, start) + 1
    value = content[start]
    where = {"line": line, "byte": start + 1, "value": f"0x{value:02X}"}
    if content[:2] in (b"\xff\xfe", b"\xfe\xff") or content[:200].count(b"\x00") > len(content[:200]) // 4:
        return (
            _(
                "The file is not UTF-8 text: line %(line)s, byte %(byte)s of the file (%(value)s) is not UTF-8. "
                "It looks like UTF-16. Save the file as UTF-8 (in Excel: CSV UTF-8) and send it again."
            )
            % where
        )
    try:
        seen = content[start : start + 1].decode("cp1252")
    except UnicodeDecodeError:
        seen = ""
    if seen and seen.isprintable():
        return _(
            "The file is not UTF-8 text: line %(line)s, byte %(byte)s of the file (%(value)s) is not UTF-8. "
            "It looks like Windows-1252 or Latin-1, where that byte is “%(character)s”. Save the file as "
            "UTF-8 (in Excel: CSV UTF-8) and send it again."
        ) % {**where, "character": seen}
    return (
        _(
            "The file is not UTF-8 text: line %(line)s, byte %(byte)s of the file (%(value)s) is not UTF-8. "
            "Save the file as UTF-8 and send it again."
        )
        % where
    )


def header_problem(header: list[str]) -> str | None:
    """What is wrong with a trip file's header row, in one message that names the likely cause (semicolons or
    tabs for commas, a byte-order mark read as text, upper-case names, a column twice, columns missing — by
    name, with the unknown ones that are probably them misspelt), or None when every column is there."""
    names = [name.strip(BLANKS) for name in header]
    if not any(names):
        return _("The file is empty.")
    return _shape_problem(names) or _missing_problem(names)


def _shape_problem(names: list[str]) -> str | None:
    first = names[0]
    if len(names) == 1 and (";" in first or "\t" in first):
        separator = _("semicolons (;)") if ";" in first else _("tabs")
        return _(
            "The header row is separated by %(separator)s, not commas. Save the file as CSV with commas (in "
            "Excel: CSV UTF-8, comma delimited) and send it again."
        ) % {"separator": separator}
    if first.startswith(("\ufeff", "ï»¿")):
        return _(
            "The header row starts with a byte-order mark that was saved as text (the file was converted to "
            "UTF-8 twice). Save the file once as UTF-8 and send it again."
        )
    upper = [name for name in names if name != name.lower() and name.lower() in COLUMNS]
    if upper:
        return _("Column names are written in lower case: %(names)s.") % {
            "names": ", ".join(f"{name} → {name.lower()}" for name in upper)
        }
    twice = sorted({name for name in names if name and names.count(name) > 1})
    if twice:
        return _("The header row names these columns twice: %(columns)s.") % {"columns": ", ".join(twice)}
    return None


def _missing_problem(names: list[str]) -> str | None:
    missing = [c for c in COLUMNS if c not in names]
    if not missing:
        return None
    message = _("The header row lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)}
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        guesses = []
        for name in unknown:
            close = difflib.get_close_matches(name.lower(), missing, n=1, cutoff=0.6)
            shown = name or "''"
            guesses.append(_("%(name)s (perhaps %(column)s)") % {"name": shown, "column": close[0]} if close else shown)
        message += " " + _("It has columns that are not in the contract: %(columns)s.") % {
            "columns": ", ".join(guesses)
        }
    return message


def check_header(header: list[str]) -> list[str]:
    """The header's names, trimmed; a header that does not match the contract refuses the file whole."""
    problem = header_problem(header)
    if problem:
        raise ValidationError({"file": problem})
    return [name.strip(BLANKS) for name in header]


def read_file(content: bytes) -> list[Row]:
    """The rows of a trip file, each read. A file that is not a trip file at all is refused whole."""
    if len(content) > MAX_BYTES:
        raise ValidationError({"file": _("The file is larger than 512 MB.")})
    text = file_text(content)
    allow_long_csv_values(len(text))  # a long value is its row's problem (no pattern takes it), not a crash
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = check_header(next(reader))
    except StopIteration as exc:
        raise ValidationError({"file": _("The file is empty.")}) from exc
    rows = []
    # Numbered by record, as a spreadsheet and PostgreSQL's COPY number them (a quoted value may span lines).
    for number, values in enumerate(reader, start=2):
        if not any(v.strip(BLANKS) for v in values):
            continue
        raw = {name: (values[i] if i < len(values) else "") for i, name in enumerate(header)}
        rows.append(read_row(number, raw, columns_ok=len(values) == len(header)))
    if not rows:
        raise ValidationError({"file": _("The file has no rows.")})
    return rows
