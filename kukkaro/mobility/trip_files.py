"""Trip files from the dispatch centre: every row ends in exactly one outcome — accepted (debited), rejected
(malformed or impossible) or held for review (with reason codes) — and importing the same file again changes
nothing.

The file (the contract with the dispatch centre): CSV, UTF-8, a header row, commas, ``.`` as the decimal point,
timestamps ISO 8601 with an offset. Columns, in any order::

    operator_id, trip_id, client_number, authorization_id, pickup_at, dropoff_at, origin_municipality,
    destination_municipality, distance_km, duration_min, waiting_min, vehicle_class, purpose, escort,
    supplements, shared_ride_id, fare_eur, self_share_eur

How a row is judged (``judge``), in this order:

1. **Rejected** when it cannot be read or cannot be true: a malformed business ID, card number (Luhn), time,
   municipality code, number or amount; drop-off before pickup; a distance over 1 000 km, a ride over 24 h, a
   wait over 10 h or a fare over 2 000 €; an unknown vehicle class, purpose or supplement code; a leg that
   cannot have happened as billed (``impossible_speed``, ``impossible_duration``: ``plausibility``, by the
   limits of the tariff, checked once the client, decision and tariff are looked up).
2. **Held for review** with every reason that applies: ``unknown_client`` (no card with that number at the
   pickup time), ``no_decision`` (no entitlement in force on the pickup date), ``no_tariff``,
   ``operator_not_approved`` (the operator is not a provider of the county approved on the pickup date),
   ``outside_area`` (origin or destination outside home and neighbouring municipalities, for those who have
   that area), ``fare_mismatch`` (the operator's fare differs from Kukkaro's price by more than the tariff's
   tolerance), ``insufficient_funds`` (the purse cannot take the debit), ``resent_changed`` (the operator sent
   this trip id before with other content).
3. **Accepted** otherwise, and debited once: a trip from the leisure line (or the work line for work and study
   trips) of a trip quota, the distance in whole metres from a kilometre purse, or the county cost in cents
   from a euro purse. A leg's identity (operator and trip id) has one first leg only (a unique index), so no
   leg is ever debited twice, however often it is sent. The file debits each purse once, with the sum of its
   legs (the legs keep the detail and name that transfer; ADR 0016).

A leg sent again with the same content gets the first one's outcome and no second debit. A first leg refused in
review gives up its identity: the trip sent again under the same id is judged afresh. Legs are taken in
pickup order (then row order) for what depends on order: the purse's money and the monthly cap of work and
study self-shares.

Two paths take a file: ``import_trips_rowwise`` below, a row at a time through the ledger's services (SQLite, and
the reference), and the set-based path on PostgreSQL (``trip_import_sql``); a test runs both on the same files and
compares every field of every row. ``import_trips`` picks the one for the database; the command and the upload
page both call it.
"""

import csv
import datetime as dt
import difflib
import hashlib
import io
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _
from stdnum import luhn

from kukkaro.core import clock, exports
from kukkaro.core.audit import audit_record
from kukkaro.core.db import retry_on_lock_conflict
from kukkaro.core.identifiers import business_id_check_digit
from kukkaro.core.models import Organiser
from kukkaro.core.permissions import Action, authorize
from kukkaro.core.text import allow_long_csv_values, clean_filename
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Purse, TransferCode, Unit
from kukkaro.mobility import plausibility, pricing
from kukkaro.mobility.models import (
    AllowedArea,
    EntitlementModel,
    EntitlementState,
    LegOutcome,
    TransportCard,
    TransportEntitlement,
    TripImport,
    TripLeg,
)
from kukkaro.mobility.neighbours import allowed_municipalities

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
MAX_DISTANCE_KM = Decimal(1000)
MAX_DURATION_MIN = Decimal(24 * 60)
MAX_WAITING_MIN = Decimal(600)
MAX_FARE_CENTS = 200_000

# The same patterns are written in SQL in trip_import_sql.py; the two must accept exactly the same texts. ASCII:
# PostgreSQL's \d is 0–9 only, Python's would take other scripts' digits too ("٣" is 3, and Decimal reads it).
_TIMESTAMP = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
    r"(Z|[+-](0\d|1[0-4]):[0-5]\d)",
    re.ASCII,
)
_BUSINESS_ID = re.compile(r"\d{7}-\d", re.ASCII)
_DECIMAL = re.compile(r"\d{1,7}(\.\d{1,6})?", re.ASCII)
_MINUTES = re.compile(r"\d{1,5}(\.\d{1,2})?", re.ASCII)
_EUROS = re.compile(r"\d{1,7}(\.\d{1,2})?", re.ASCII)
_MUNICIPALITY = re.compile(r"\d{3}", re.ASCII)
_CARD = re.compile(r"\d{6,20}", re.ASCII)
_ID = re.compile(r"[A-Za-z0-9._:/-]{1,64}")


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
        row.reject("operator_id_invalid")
    row.trip_id = value["trip_id"]
    if not _ID.fullmatch(row.trip_id):
        row.reject("trip_id_invalid")
    row.client_number = value["client_number"]
    if not _CARD.fullmatch(row.client_number) or not luhn.is_valid(row.client_number):
        row.reject("client_number_invalid")
    row.authorization_id = value["authorization_id"]
    if row.authorization_id and not _ID.fullmatch(row.authorization_id):
        row.reject("authorization_id_invalid")
    row.shared_ride_id = value["shared_ride_id"]
    if row.shared_ride_id and not _ID.fullmatch(row.shared_ride_id):
        row.reject("shared_ride_id_invalid")


def _read_times_and_places(row: Row, value: dict[str, str]) -> None:
    for name in ("pickup_at", "dropoff_at"):
        moment = None
        if _TIMESTAMP.fullmatch(value[name]):
            try:
                moment = dt.datetime.fromisoformat(value[name])
            except ValueError:
                moment = None
        if moment is None:
            row.reject(f"{name}_invalid")
        setattr(row, name, moment)
    if row.pickup_at and row.dropoff_at and row.dropoff_at < row.pickup_at:
        row.reject("dropoff_before_pickup")
    row.origin, row.destination = value["origin_municipality"], value["destination_municipality"]
    if not _MUNICIPALITY.fullmatch(row.origin) or not _MUNICIPALITY.fullmatch(row.destination):
        row.reject("municipality_invalid")


def _read_measure(row: Row, text: str, pattern: re.Pattern, limit: Decimal, name: str) -> Decimal | None:
    if not pattern.fullmatch(text):
        row.reject(f"{name}_invalid")
        return None
    value = Decimal(text)
    if value > limit:
        row.reject(f"{name}_absurd")
    return value


def _read_codes_and_money(row: Row, value: dict[str, str]) -> None:
    row.vehicle_class = value["vehicle_class"]
    if row.vehicle_class not in pricing.VEHICLE_CLASSES:
        row.reject("unknown_vehicle_class")
    row.purpose = value["purpose"]
    if row.purpose not in pricing.PURPOSES:
        row.reject("unknown_purpose")
    if value["escort"] not in ("0", "1"):
        row.reject("escort_invalid")
    row.escort = value["escort"] == "1"
    row.supplements = tuple(code.strip(BLANKS) for code in value["supplements"].split(";") if code.strip(BLANKS))
    row.fare_cents = _euros(value["fare_eur"])
    if row.fare_cents is None:
        row.reject("fare_invalid")
    elif row.fare_cents > MAX_FARE_CENTS:
        row.reject("fare_absurd")
    row.self_share_collected_cents = _euros(value["self_share_eur"] or "0")
    if row.self_share_collected_cents is None:
        row.reject("self_share_invalid")


def read_row(number: int, raw: dict[str, str]) -> Row:
    """Read a row's values; anything malformed or impossible becomes a rejection reason."""
    row = Row(number=number, raw=raw)
    value = {c: (raw.get(c) or "").strip(BLANKS) for c in COLUMNS}
    _read_identity(row, value)
    _read_times_and_places(row, value)
    row.distance_km = _read_measure(row, value["distance_km"], _DECIMAL, MAX_DISTANCE_KM, "distance")
    row.duration_min = _read_measure(row, value["duration_min"], _MINUTES, MAX_DURATION_MIN, "duration")
    row.waiting_min = _read_measure(row, value["waiting_min"] or "0", _MINUTES, MAX_WAITING_MIN, "waiting")
    _read_codes_and_money(row, value)
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
        row = read_row(number, raw)
        if len(values) != len(header):
            row.reasons.append("columns")
        rows.append(row)
    if not rows:
        raise ValidationError({"file": _("The file has no rows.")})
    return rows


# --- judging a row -------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    outcome: str
    reasons: list[str]
    client: Any = None
    entitlement: Any = None
    provider: Any = None
    price_cents: int | None = None
    self_share_cents: int | None = None
    county_cost_cents: int | None = None
    debit_unit: str = ""
    debit_amount: int | None = None
    purse: Any = None
    same_as: Any = None


class Context:
    """What judging rows needs to look up, cached for one file."""

    def __init__(self, organiser: Organiser) -> None:
        from kukkaro.services import services as spending

        self.organiser = organiser
        self.spending = spending
        self._providers: dict[str, Any] = {}
        self._approved: dict[tuple, bool] = {}
        self._cards: dict[str, list] = {}
        self._entitlements: dict[int, list] = {}
        self._tariffs: dict[tuple, Any] = {}
        self.cap_paid: dict[tuple, int] = {}  # (client id, year, month) -> work/study self-shares so far
        self.first_legs: dict[tuple, Any] = {}  # (operator, trip) -> the identity's first leg in this file

    def provider(self, business_id: str) -> Any:
        if business_id not in self._providers:
            from kukkaro.services.models import Provider

            self._providers[business_id] = Provider.objects.filter(
                organiser=self.organiser, business_id=business_id
            ).first()
        return self._providers[business_id]

    def operator_approved(self, provider: Any, day: dt.date) -> bool:
        key = (provider.pk, day)
        if key not in self._approved:
            self._approved[key] = self.spending.provider_state_on(provider=provider, day=day) == "approved"
        return self._approved[key]

    def client_for(self, number: str, at: dt.datetime) -> Any:
        if number not in self._cards:
            self._cards[number] = list(
                TransportCard.objects.filter(number=number, client__organiser=self.organiser).select_related(
                    "client__municipality"
                )
            )
        for card in self._cards[number]:
            if card.issued_at <= at and (card.closed_at is None or card.closed_at > at):
                return card.client
        return None

    def entitlement_for(self, client: Any, day: dt.date) -> Any:
        if client.pk not in self._entitlements:
            self._entitlements[client.pk] = list(
                TransportEntitlement.objects.filter(client=client).select_related(
                    "leisure_line__purse", "work_line__purse", "contract_area"
                )
            )
        for entitlement in self._entitlements[client.pk]:
            if entitlement.valid_from <= day <= entitlement.valid_until and (
                entitlement.state == EntitlementState.ACTIVE
            ):
                return entitlement
        return None

    def tariff_for(self, area_id: int, day: dt.date) -> Any:
        key = (area_id, day)
        if key not in self._tariffs:
            from kukkaro.mobility.services import tariff_on

            self._tariffs[key] = tariff_on(area_id=area_id, day=day)
        return self._tariffs[key]

    def work_study_paid(self, client: Any, pickup_local: dt.datetime) -> int:
        key = (client.pk, pickup_local.year, pickup_local.month)
        if key not in self.cap_paid:
            start = dt.datetime(pickup_local.year, pickup_local.month, 1, tzinfo=clock.HELSINKI)
            following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            self.cap_paid[key] = (
                TripLeg.objects.filter(
                    client=client,
                    purpose__in=("work", "study"),
                    same_as__isnull=True,
                    pickup_at__gte=start,
                    pickup_at__lt=following,
                    self_share_cents__isnull=False,
                )
                .exclude(outcome=LegOutcome.REJECTED)
                .exclude(resolved_outcome=LegOutcome.REJECTED)
                .aggregate(total=Sum("self_share_cents"))["total"]
                or 0
            )
        return self.cap_paid[key]


def _age_child(client: Any, day: dt.date) -> bool:
    return pricing.age_on(client.birth_date, day) < 18


def _lookups(row: Row, context: Context, verdict: Verdict) -> Any:
    """Operator, client, entitlement and tariff of a readable row; review reasons where one is missing. Returns
    the tariff (or None)."""
    day = row.pickup_at.astimezone(clock.HELSINKI).date()
    verdict.provider = context.provider(row.operator_id)
    if verdict.provider is None or not context.operator_approved(verdict.provider, day):
        verdict.reasons.append("operator_not_approved")
    verdict.client = context.client_for(row.client_number, row.pickup_at)
    if verdict.client is None:
        verdict.reasons.append("unknown_client")
        return None
    verdict.entitlement = context.entitlement_for(verdict.client, day)
    if verdict.entitlement is None:
        verdict.reasons.append("no_decision")
        return None
    if outside_area(verdict.entitlement, verdict.client, row.origin, row.destination):
        verdict.reasons.append("outside_area")
    tariff = context.tariff_for(verdict.entitlement.contract_area_id, day)
    if tariff is None:
        verdict.reasons.append("no_tariff")
    return tariff


def outside_area(entitlement: Any, client: Any, origin: str, destination: str) -> bool:
    """Does a trip leave the area the entitlement allows (the home municipality and its neighbours)?"""
    if entitlement.allowed_area != AllowedArea.NEIGHBOURS:
        return False
    allowed = allowed_municipalities(client.municipality.code)
    return origin not in allowed or destination not in allowed


def price_and_share(context: Context, client: Any, tariff: Any, leg: pricing.Leg, purpose: str) -> tuple[int, int]:
    """A leg's price by the tariff and the client's self-share of it (child or adult on the pickup date, and within
    the month's cap of work and study self-shares)."""
    terms = tariff.terms()
    local = leg.pickup_at.astimezone(clock.HELSINKI)
    price = pricing.leg_price_cents(leg, terms)
    paid = context.work_study_paid(client, local) if purpose in pricing.WORK_OR_STUDY else 0
    share = pricing.self_share_cents(
        price_cents=price,
        terms=terms,
        child=_age_child(client, local.date()),
        purpose=purpose,
        paid_this_month_cents=paid,
    )
    return price, share


def debit_target(entitlement: Any, purpose: str, distance_km: Decimal, county_cost_cents: int) -> tuple[str, int, Any]:
    """Which purse pays for a leg and how much, by the entitlement's model: (unit, amount, purse)."""
    line = entitlement.leisure_line
    if entitlement.model == EntitlementModel.TRIP_QUOTA:
        if purpose in pricing.WORK_OR_STUDY and entitlement.work_line is not None:
            line = entitlement.work_line
        return Unit.TRIP, 1, line.purse
    if entitlement.model == EntitlementModel.KM_PURSE:
        return Unit.KM, pricing.metres(distance_km), line.purse
    return Unit.EUR, county_cost_cents, line.purse


def _price(row: Row, context: Context, verdict: Verdict, tariff: Any) -> None:
    leg = pricing.Leg(
        pickup_at=row.pickup_at,
        distance_km=row.distance_km,
        ride_minutes=row.duration_min,
        waiting_minutes=row.waiting_min,
        vehicle_class=row.vehicle_class,
        supplements=row.supplements,
        shared=bool(row.shared_ride_id),
    )
    price, share = price_and_share(context, verdict.client, tariff, leg, row.purpose)
    verdict.price_cents, verdict.self_share_cents, verdict.county_cost_cents = price, share, price - share
    if abs(row.fare_cents - price) > tariff.fare_tolerance_cents:
        verdict.reasons.append("fare_mismatch")


def _debit_target(row: Row, verdict: Verdict) -> None:
    verdict.debit_unit, verdict.debit_amount, verdict.purse = debit_target(
        verdict.entitlement, row.purpose, row.distance_km, verdict.county_cost_cents
    )


def judge(row: Row, context: Context) -> Verdict:
    """The row's one outcome, without changing anything (the caller debits an accepted leg)."""
    if row.reasons:
        return Verdict(outcome=LegOutcome.REJECTED, reasons=list(row.reasons))
    verdict = Verdict(outcome=LegOutcome.ACCEPTED, reasons=[])
    tariff = _lookups(row, context, verdict)
    # What cannot have happened as billed, by the tariff's limits (the defaults without a tariff), and a
    # supplement the tariff does not know: rejected, with the client found.
    rejection = plausibility.impossible(
        distance_km=row.distance_km,
        ride_minutes=row.duration_min,
        waiting_minutes=row.waiting_min,
        span=row.dropoff_at - row.pickup_at,
        limits=plausibility.limits_of(tariff),
    )
    if tariff is not None and any(code not in tariff.supplements_cents for code in row.supplements):
        rejection.append("unknown_supplement")
    if rejection:
        return Verdict(outcome=LegOutcome.REJECTED, reasons=rejection, client=verdict.client)
    if tariff is not None:
        _price(row, context, verdict, tariff)
        _debit_target(row, verdict)
    return verdict


def transfer_id_for(operator_id: str, trip_id: str) -> uuid.UUID:
    """The transfer of a leg accepted on its own, in review: the MD5 of its identity as a UUID."""
    return uuid.UUID(hashlib.md5(f"kukkaro/trip/{operator_id}/{trip_id}".encode(), usedforsecurity=False).hexdigest())


#: The ``ref_type`` of the one debit an import makes from each purse (its ``ref_id`` is the file's SHA-256).
FILE_REF_TYPE = "trip_file"


def file_transfer_id(organiser_id: int, sha256: str, purse_id: uuid.UUID) -> uuid.UUID:
    """The one debit of a purse for the legs a file took from it. The same file is imported once per organiser,
    so the id can only ever be used once (ADR 0016)."""
    return ledger.derived_id("trip-file", organiser_id, sha256, purse_id)


def file_memo(filename: str, legs: int) -> str:
    return f"{filename[:200]}: {legs} legs"


class _Debits:
    """What the file takes from each purse, decided leg by leg in pickup order against the purse's money as it
    was when the import began (the purse locked), and posted as one transfer per purse at the end."""

    def __init__(self) -> None:
        self.available: dict[uuid.UUID, int] = {}
        self.taken: dict[uuid.UUID, int] = {}
        self.legs: dict[uuid.UUID, int] = {}
        self.purses: dict[uuid.UUID, Any] = {}

    def take(self, purse: Any, amount: int) -> bool:
        """Whether the purse can take the leg; False means it (and every later leg of the file) waits."""
        if purse.pk not in self.available:
            locked = Purse.objects.select_for_update(no_key=True).get(pk=purse.pk)  # locked up front already
            self.available[purse.pk] = -1 if locked.closed_at is not None else locked.available_now
            self.taken[purse.pk] = self.legs[purse.pk] = 0
            self.purses[purse.pk] = locked
        if self.taken[purse.pk] + amount > self.available[purse.pk]:
            return False
        self.taken[purse.pk] += amount
        self.legs[purse.pk] += 1
        return True

    def post(self, trip_import: TripImport, actor: Any) -> None:
        for purse_id in sorted(self.taken):
            if not self.taken[purse_id]:
                continue
            purse = self.purses[purse_id]
            ledger.transfer_post(
                transfer_id=file_transfer_id(trip_import.organiser_id, trip_import.sha256, purse_id),
                debit=purse,
                credit=ledger.payables_of(purse),
                amount=self.taken[purse_id],
                code=TransferCode.USAGE,
                actor=actor,
                ref_type=FILE_REF_TYPE,
                ref_id=trip_import.sha256,
                memo=file_memo(trip_import.filename, self.legs[purse_id]),
            )


def _leg(trip_import: TripImport, row: Row, verdict: Verdict) -> TripLeg:
    return TripLeg(
        trip_import=trip_import,
        row_number=row.number,
        outcome=verdict.outcome,
        reasons=verdict.reasons,
        operator_id=row.operator_id[:20],
        trip_id=row.trip_id[:64],
        content_sha256=row.content_sha256,
        same_as=verdict.same_as,
        client=verdict.client,
        entitlement=verdict.entitlement,
        provider=verdict.provider,
        client_number=row.client_number[:20],
        authorization_id=row.authorization_id[:64],
        pickup_at=row.pickup_at if not row.reasons else None,
        dropoff_at=row.dropoff_at if not row.reasons else None,
        origin_municipality=row.origin[:3],
        destination_municipality=row.destination[:3],
        distance_m=pricing.metres(row.distance_km) if row.distance_km is not None and not row.reasons else None,
        duration_min=row.duration_min if not row.reasons else None,
        waiting_min=row.waiting_min if not row.reasons else None,
        vehicle_class=row.vehicle_class[:16],
        purpose=row.purpose[:8],
        escort=row.escort,
        supplements=list(row.supplements),
        shared_ride_id=row.shared_ride_id[:64],
        fare_cents=row.fare_cents if not row.reasons else None,
        self_share_collected_cents=row.self_share_collected_cents if not row.reasons else None,
        price_cents=verdict.price_cents,
        self_share_cents=verdict.self_share_cents,
        county_cost_cents=verdict.county_cost_cents,
        debit_unit=verdict.debit_unit if verdict.outcome == LegOutcome.ACCEPTED else "",
        debit_amount=verdict.debit_amount if verdict.outcome == LegOutcome.ACCEPTED else None,
        purse=verdict.purse,
        transfer_id=file_transfer_id(trip_import.organiser_id, trip_import.sha256, verdict.purse.pk)
        if verdict.outcome == LegOutcome.ACCEPTED and verdict.same_as is None and verdict.debit_amount
        else None,
    )


def _settlement_lock(organiser: Organiser, references: list[tuple[str, str]]) -> Any:
    """Lock the bookings the file's legs settle (the lock order's second step, after the organiser)."""
    # Imported here: the authorisations judge a booking with this module's lookups.
    from kukkaro.mobility.authorizations import settlement_lock

    return settlement_lock(organiser_id=organiser.pk, references=references)


def lock_and_settle(settlement: Any, purse_ids: set, actor: Any) -> None:
    """Lock every purse the import may touch — the settled bookings' and the legs' client purses in id order,
    then their payables shards — and only then release the settled bookings' holds, so that the import never
    waits for a client purse while it holds a system purse (docs/mobility.md, "Locks"). Both paths call this
    before the purses' money is read."""
    from kukkaro.mobility.authorizations import settlement_release

    ledger.purses_lock(purse_ids=set(purse_ids) | settlement.purse_ids, with_payables=True)
    settlement_release(settlement, actor=actor)


def _settlement_audit(settlement: Any, actor: Any) -> None:
    from kukkaro.mobility.authorizations import settlement_audit

    settlement_audit(settlement, actor=actor)


def _candidate_purses(rows: list[Row], context: Context) -> set:
    """The client purses the file's readable legs could be debited from: both lines of the entitlement in force
    for the card's client on the pickup date (the same lookups the judgement makes, cached for it)."""
    purses = set()
    for row in rows:
        if row.reasons:
            continue
        client = context.client_for(row.client_number, row.pickup_at)
        entitlement = None if client is None else context.entitlement_for(client, _helsinki_day(row.pickup_at))
        if entitlement is None:
            continue
        for line in (entitlement.leisure_line, entitlement.work_line):
            if line is not None and line.purse_id is not None:
                purses.add(line.purse_id)
    return purses


def _helsinki_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(clock.HELSINKI).date()


def _order(row: Row) -> tuple:
    # Readable rows in pickup order (then row order); rejected ones keep their place at the end.
    if row.reasons or row.pickup_at is None:
        return (1, dt.datetime.max.replace(tzinfo=dt.UTC), row.number)
    return (0, row.pickup_at, row.number)


@transaction.atomic
def import_trips_rowwise(*, actor: Any, organiser: Organiser, filename: str, content: bytes) -> TripImport:
    """Import a trip file a row at a time. The same bytes again return the earlier import unchanged; a file that
    cannot be read at all is refused whole and stores nothing."""
    if actor is not None:
        authorize(actor, Action.TRIP_IMPORT, _Owned(organiser.pk))
    sha256 = hashlib.sha256(content).hexdigest()
    # One import of an organiser at a time. FOR NO KEY UPDATE, not FOR UPDATE: a booking or a cancel that commits
    # meanwhile checks its rows' foreign keys to the organiser (FOR KEY SHARE), and must not wait for the import.
    Organiser.objects.select_for_update(no_key=True).get(pk=organiser.pk)
    existing = TripImport.objects.filter(organiser=organiser, sha256=sha256).first()
    if existing is not None:
        return existing
    rows = read_file(content)
    started = clock.now()
    trip_import = TripImport.objects.create(
        organiser=organiser,
        filename=clean_filename(filename, default="trips.csv"),
        sha256=sha256,
        rows=len(rows),
        imported_by=actor,
        started_at=started,
        finished_at=started,
    )
    # The lock order (docs/mobility.md, "Locks"): the bookings the file settles, then every purse it may touch,
    # client purses before system purses; the audit chain last, when everything else is done.
    settlement = _settlement_lock(
        organiser, [(r.authorization_id, r.client_number) for r in rows if r.authorization_id]
    )
    context = Context(organiser)
    lock_and_settle(settlement, _candidate_purses(rows, context), actor)
    legs = []
    debits = _Debits()
    exhausted: set = set()  # purses that could not take a leg of this file: later legs wait too (pickup order)
    for row in sorted(rows, key=_order):
        verdict = judge(row, context)
        if verdict.outcome != LegOutcome.REJECTED:
            _identity(row, verdict, context)
        if verdict.same_as is None and verdict.outcome != LegOutcome.REJECTED:
            if verdict.reasons:
                verdict.outcome = LegOutcome.REVIEW
            elif verdict.debit_amount and (
                verdict.purse.pk in exhausted or not debits.take(verdict.purse, verdict.debit_amount)
            ):
                exhausted.add(verdict.purse.pk)
                verdict.outcome, verdict.reasons = LegOutcome.REVIEW, ["insufficient_funds"]
            if verdict.self_share_cents is not None and row.purpose in pricing.WORK_OR_STUDY:
                local = row.pickup_at.astimezone(clock.HELSINKI)
                key = (verdict.client.pk, local.year, local.month)
                context.cap_paid[key] = context.cap_paid.get(key, 0) + verdict.self_share_cents
        leg = _leg(trip_import, row, verdict)
        leg.save()
        if verdict.outcome != LegOutcome.REJECTED and verdict.same_as is None:
            context.first_legs[(row.operator_id, row.trip_id)] = leg
        legs.append(leg)
    debits.post(trip_import, actor)
    counts: dict[str, int] = {}
    for leg in legs:
        counts[leg.outcome] = counts.get(leg.outcome, 0) + 1
    trip_import.counts, trip_import.finished_at = counts, clock.now()
    trip_import.save(update_fields=["counts", "finished_at"])
    _settlement_audit(settlement, actor)
    audit_record(
        action="trips.import",
        actor=actor,
        target=trip_import,
        organiser_id=organiser.pk,
        after={"filename": trip_import.filename, "sha256": sha256, "rows": len(rows), "outcomes": counts},
    )
    return trip_import


def _identity(row: Row, verdict: Verdict, context: Context) -> None:
    """A trip id the operator sent before: the same content is the same leg (its outcome, no new debit); other
    content is held for review."""
    key = (row.operator_id, row.trip_id)
    first = context.first_legs.get(key)
    if first is None:
        first = (
            TripLeg.objects.filter(operator_id=row.operator_id, trip_id=row.trip_id, same_as__isnull=True)
            .exclude(outcome=LegOutcome.REJECTED)
            .exclude(resolved_outcome=LegOutcome.REJECTED)
            .first()
        )
        if first is not None:
            context.first_legs[key] = first
    if first is None:
        return
    verdict.same_as = first
    if first.content_sha256 == row.content_sha256:
        verdict.outcome, verdict.reasons = first.outcome, list(first.reasons)
        verdict.price_cents, verdict.self_share_cents = first.price_cents, first.self_share_cents
        verdict.county_cost_cents, verdict.debit_unit = first.county_cost_cents, first.debit_unit
        verdict.debit_amount, verdict.purse = first.debit_amount, first.purse
    else:
        verdict.outcome, verdict.reasons = LegOutcome.REVIEW, ["resent_changed"]
        verdict.self_share_cents = verdict.county_cost_cents = verdict.debit_amount = verdict.purse = None
        verdict.debit_unit = ""


class _Owned:
    def __init__(self, organiser_id: int) -> None:
        self.organiser_id = organiser_id


RESULT_COLUMNS = ("row", "trip_id", "outcome", "reasons", "price_eur", "self_share_eur", "debit", "debit_unit")


def _cents_as_euros(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / 100


def results_csv(trip_import: TripImport) -> bytes:
    """The result file: one line per row of the file, with its outcome, reasons, price, self-share and debit
    (commas and a decimal point, like the dispatch centre's own file). A duplicate reads as what it is — which
    row it repeats, already debited there — not "accepted" with a debit it did not make."""
    from kukkaro.mobility.presenters import duplicate_text, is_duplicate

    def row(leg: TripLeg) -> list:
        duplicate = is_duplicate(leg)
        return [
            leg.row_number,
            leg.trip_id,
            duplicate_text(leg) if duplicate else leg.outcome,
            ";".join(leg.reasons),
            _cents_as_euros(leg.price_cents),
            _cents_as_euros(leg.self_share_cents),
            None if duplicate else leg.debit_amount,
            "" if duplicate else leg.debit_unit,
        ]

    legs = trip_import.legs.select_related("same_as__trip_import").order_by("row_number").iterator()
    return exports.csv_bytes(
        RESULT_COLUMNS,
        (row(leg) for leg in legs),
        delimiter=",",
        decimal_separator=".",
        bom=False,
    )


def import_trips(*, actor: Any, organiser: Organiser, filename: str, content: bytes) -> TripImport:
    """Import a trip file: set-based on PostgreSQL, a row at a time elsewhere (the demo's SQLite). An import that
    PostgreSQL aborted for a lock conflict is run again (it is all or nothing, and the same bytes are the same
    import), a few times; then ``LockConflict`` says it may be sent again later."""
    from django.db import connection

    if connection.vendor == "postgresql":
        from kukkaro.mobility.trip_import_sql import import_trips_sql

        importer = import_trips_sql
    else:
        importer = import_trips_rowwise
    return retry_on_lock_conflict(
        "trip import", lambda: importer(actor=actor, organiser=organiser, filename=filename, content=content)
    )
