"""Taxi tariffs from a TOML or JSON file (the county's contract with its taxi operators).

One file describes one contract area and any number of tariff versions, each by validity of the pickup date::

    area = "lu-espoo"                        # the contract area's code (letters, digits, hyphens)
    name = "Espoo, Kauniainen and Kirkkonummi"
    municipalities = ["049", "235", "257"]   # Statistics Finland codes, all of the organiser's area

    [[tariff]]
    valid_from = 2026-01-01                  # a TOML date, or "2026-01-01" in JSON
    valid_until = 2026-12-31                 # optional: open-ended if left out
    base_day_eur = "8.19"                    # Mon–Fri 06:00–19:59, not a public holiday
    base_other_eur = "11.12"
    per_km_eur = { car = "1.35", van = "1.87", wheelchair = "1.87", stretcher = "1.87" }
    per_minute_eur = "1.03"                  # per minute of the ride
    waiting_per_hour_eur = "62.18"
    supplements_eur = { assist = "19.39", stairs = "15.00" }
    shared_ride_discount_percent = "20"      # off each leg of a shared ride
    self_share_adult_eur = "2.90"            # per one-way trip
    self_share_child_eur = "1.45"            # under 18 on the pickup date
    work_study_monthly_cap_eur = "67.10"     # season ticket: after this, work and study trips cost nothing
    fare_tolerance_eur = "1.00"              # the operator's fare may differ this much from the price
    max_speed_kmh = 150                      # optional: a leg faster than this over its ride minutes is rejected
    billed_minutes_slack_min = 5             # optional: ride + waiting minutes may pass pickup-to-drop-off by this

Amounts are **strings** of euros with at most two decimals (money never passes through floats); a number in
the file is refused. Every problem is reported with its place in the file (``tariff[2].per_km_eur.van``).

The two limits of what a leg can have been (``kukkaro.mobility.judgement``) are whole numbers, and optional:
left out, ``max_speed_kmh`` is 150 (above any legal average speed on Finnish roads, with room for rounded
minutes; 10–300) and ``billed_minutes_slack_min`` is 5 (meters round minutes up; 0–120).
"""

import datetime as dt
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from kukkaro.core.text import text_problem
from kukkaro.mobility import judgement
from kukkaro.mobility.judgement import VEHICLE_CLASSES

_AREA_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
#: A supplement's code (the dispatch API states the same pattern in its schema).
SUPPLEMENT_CODE = re.compile(r"[a-z][a-z0-9_]{0,19}")
_EUROS = re.compile(r"\d{1,6}(\.\d{1,2})?")
_PERCENT = re.compile(r"\d{1,3}(\.\d{1,2})?")
AMOUNT_FIELDS = (
    "base_day_eur",
    "base_other_eur",
    "per_minute_eur",
    "waiting_per_hour_eur",
    "self_share_adult_eur",
    "self_share_child_eur",
    "work_study_monthly_cap_eur",
)

#: The limits of what a leg can have been: (default, allowed range) of each.
LIMITS = {
    "max_speed_kmh": (judgement.DEFAULT_MAX_SPEED_KMH, judgement.MAX_SPEED_RANGE),
    "billed_minutes_slack_min": (judgement.DEFAULT_BILLED_MINUTES_SLACK_MIN, judgement.SLACK_RANGE),
}


@dataclass
class TariffSpec:
    valid_from: dt.date
    valid_until: dt.date | None
    cents: dict[str, int]  # model field name -> cents
    supplements_cents: dict[str, int]
    shared_discount_bp: int
    limits: dict[str, int] = field(default_factory=dict)  # model field name -> value (the judgement's limits)


@dataclass
class AreaSpec:
    code: str
    name: str
    municipalities: list[str]
    tariffs: list[TariffSpec] = field(default_factory=list)


#: As long as ``ContractArea.name`` may be.
NAME_MAX_LENGTH = 200


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def read_document(content: bytes, filename: str) -> dict[str, Any]:
    """A tariff file's content as a dict: TOML unless the name ends in .json."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": _("The file is not UTF-8 text.")}) from exc
    try:
        if filename.lower().endswith(".json"):
            document = json.loads(text, parse_float=lambda _v: _FloatRefused())
        else:
            document = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError({"file": _("The file cannot be read: %(error)s") % {"error": exc}}) from exc
    if not isinstance(document, dict):
        raise ValidationError({"file": _("The file must describe one contract area.")})
    return document


class _FloatRefused:
    """A JSON number with a fraction: kept as a marker so the place can be named in the error."""


def _euros_to_cents(value: Any, where: str, problems: _Problems) -> int | None:
    if isinstance(value, bool) or not isinstance(value, str) or not _EUROS.fullmatch(value.strip()):
        problems.add(where, _('give euros as text with at most two decimals, for example "8.19"'))
        return None
    return int(Decimal(value.strip()) * 100)


def _date(value: Any, where: str, problems: _Problems, *, required: bool) -> dt.date | None:
    if value is None and not required:
        return None
    if isinstance(value, dt.datetime):
        problems.add(where, _("give a date without a time"))
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    problems.add(where, _("give a date as 2026-01-01"))
    return None


def _parse_version(version: Any, where: str, problems: _Problems) -> TariffSpec | None:
    """One [[tariff]] table; its problems are added with their places."""
    if not isinstance(version, dict):
        problems.add(where, _("a tariff version is a table of values"))
        return None
    known = {"valid_from", "valid_until", "per_km_eur", "supplements_eur", "shared_ride_discount_percent", *LIMITS}
    for unknown in sorted(set(version) - known - {"fare_tolerance_eur", *AMOUNT_FIELDS}):
        problems.add(f"{where}.{unknown}", _("unknown field"))
    valid_from = _date(version.get("valid_from"), f"{where}.valid_from", problems, required=True)
    valid_until = _date(version.get("valid_until"), f"{where}.valid_until", problems, required=False)
    if valid_from and valid_until and valid_until < valid_from:
        problems.add(f"{where}.valid_until", _("ends before it begins"))
    amounts = {name: version.get(name) for name in AMOUNT_FIELDS}
    amounts["fare_tolerance_eur"] = version.get("fare_tolerance_eur", "1.00")
    per_km = version.get("per_km_eur")
    if not isinstance(per_km, dict):
        problems.add(f"{where}.per_km_eur", _("give the price per km for each vehicle class"))
        per_km = {}
    for unknown in sorted(set(per_km) - set(VEHICLE_CLASSES)):
        problems.add(f"{where}.per_km_eur.{unknown}", _("unknown vehicle class"))
    for vehicle in VEHICLE_CLASSES:
        amounts[f"per_km_eur.{vehicle}"] = per_km.get(vehicle)
    cents: dict[str, int] = {}
    for name, value in amounts.items():
        parsed = _euros_to_cents(value, f"{where}.{name}", problems)
        if parsed is not None:
            column = f"per_km_{name.split('.')[1]}" if name.startswith("per_km_eur.") else name.removesuffix("_eur")
            cents[f"{column}_cents"] = parsed
    supplements = _supplements(version.get("supplements_eur", {}), f"{where}.supplements_eur", problems)
    discount = version.get("shared_ride_discount_percent", "0")
    discount_bp = 0
    if not isinstance(discount, str) or not _PERCENT.fullmatch(discount) or Decimal(discount) > 100:
        problems.add(f"{where}.shared_ride_discount_percent", _('give a percentage 0–100 as text, e.g. "20"'))
    else:
        discount_bp = int(Decimal(discount) * 100)
    limits = {
        name: _whole(version.get(name, default), f"{where}.{name}", bounds, problems)
        for name, (default, bounds) in LIMITS.items()
    }
    if valid_from is None:
        return None
    return TariffSpec(
        valid_from=valid_from,
        valid_until=valid_until,
        cents=cents,
        supplements_cents=supplements,
        shared_discount_bp=discount_bp,
        limits={name: value for name, value in limits.items() if value is not None},
    )


def _whole(value: Any, where: str, bounds: tuple[int, int], problems: _Problems) -> int | None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(where, _("give a whole number from %(low)s to %(high)s") % {"low": low, "high": high})
        return None
    return value


def _supplements(value: Any, where: str, problems: _Problems) -> dict[str, int]:
    if not isinstance(value, dict):
        problems.add(where, _("give supplements as code = amount"))
        return {}
    supplements = {}
    for code, amount in value.items():
        if not SUPPLEMENT_CODE.fullmatch(str(code)):
            problems.add(f"{where}.{code}", _("a code is lower-case letters and digits"))
            continue
        parsed = _euros_to_cents(amount, f"{where}.{code}", problems)
        if parsed is not None:
            supplements[code] = parsed
    return supplements


def parse_document(document: dict[str, Any], *, organiser_municipalities: set[str]) -> AreaSpec:
    """Check a tariff document and turn it into an AreaSpec; every problem at once, each with its place."""
    problems = _Problems()
    code = document.get("area")
    if not isinstance(code, str) or not _AREA_CODE.fullmatch(code):
        problems.add("area", _("give the area's code: lower-case letters, digits and hyphens"))
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("name", _("give the area's name"))
    elif len(name.strip()) > NAME_MAX_LENGTH:
        problems.add("name", _("at most %(count)s characters") % {"count": NAME_MAX_LENGTH})
    elif text_problem(name) is not None:
        problems.add("name", _("remove the control characters (such as tabs, line breaks or NUL)"))
    municipalities = document.get("municipalities")
    if not isinstance(municipalities, list) or not municipalities:
        problems.add("municipalities", _("list the municipalities of the area"))
        municipalities = []
    for index, muni in enumerate(municipalities):
        if not isinstance(muni, str) or muni not in organiser_municipalities:
            problems.add(
                f"municipalities[{index}]", _("not a municipality of the organiser: %(code)s") % {"code": muni}
            )
    versions = document.get("tariff")
    if not isinstance(versions, list) or not versions:
        problems.add("tariff", _("give at least one [[tariff]] version"))
        versions = []
    specs = [_parse_version(version, f"tariff[{index + 1}]", problems) for index, version in enumerate(versions)]
    ordered = sorted((s for s in specs if s is not None), key=lambda s: s.valid_from)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.valid_until is None or earlier.valid_until >= later.valid_from:
            problems.add("tariff", _("versions overlap from %(date)s") % {"date": later.valid_from.isoformat()})
    if problems.items or not isinstance(code, str) or not isinstance(name, str):
        raise ValidationError({"file": problems.items})
    return AreaSpec(code=code, name=name.strip(), municipalities=sorted(set(municipalities)), tariffs=ordered)
