"""Finnish identifiers: personal identity code (henkilötunnus) and business ID (Y-tunnus).

Both are validated by their check characters; the identity code also yields the date of birth. Individual
numbers 900–999 are reserved for temporary and test use, which is the only range the demo and the test
identity provider accept.
"""

import datetime as dt
import re
from dataclasses import dataclass

_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900}
_CENTURY.update(dict.fromkeys("ABCDEF", 2000))
_CENTURY_SIGN = {1800: "+", 1900: "-", 2000: "A"}
_HETU_RE = re.compile(r"^(\d{2})(\d{2})(\d{2})([-+A-FU-Y])(\d{3})([0-9A-Y])$")


class IdentifierError(ValueError):
    """An identifier that fails its format or check."""


@dataclass(frozen=True)
class PersonalIdentityCode:
    value: str
    birth_date: dt.date
    individual_number: int

    @property
    def is_test_range(self) -> bool:
        """Individual numbers 900–999 are for temporary and test identity codes, never real people."""
        return self.individual_number >= 900

    def age_on(self, day: dt.date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years

    def __str__(self) -> str:
        return self.value


def hetu_check_character(birth_digits: str, individual: str) -> str:
    return _HETU_CHECK[int(birth_digits + individual) % 31]


def parse_hetu(text: str) -> PersonalIdentityCode:
    """Parse and validate a personal identity code; every century sign including the 2023 ones is accepted."""
    value = (text or "").strip().upper()
    match = _HETU_RE.match(value)
    if not match:
        raise IdentifierError("format")
    day, month, year2, sign, individual, check = match.groups()
    if individual in {"000", "001"}:
        raise IdentifierError("individual_number")
    try:
        birth_date = dt.date(_CENTURY[sign] + int(year2), int(month), int(day))
    except ValueError as exc:
        raise IdentifierError("date") from exc
    if hetu_check_character(day + month + year2, individual) != check:
        raise IdentifierError("check_character")
    return PersonalIdentityCode(value=value, birth_date=birth_date, individual_number=int(individual))


def sql_hetu_birth_date_parts(code: str) -> tuple[str, str, str]:
    """PostgreSQL: the (year, month, day) of birth of a valid identity code, as integer expressions, by
    ``parse_hetu``'s century signs."""
    centuries = sorted(set(_CENTURY.values()))
    sign = f"upper(substr({code}, 7, 1))"
    cases = " ".join(
        f"WHEN {sign} IN ({', '.join(repr(s) for s in sorted(k for k, c in _CENTURY.items() if c == century))}) "
        f"THEN {century}"
        for century in centuries
    )
    year = f"((CASE {cases} END) + substr({code}, 5, 2)::int)"
    return year, f"substr({code}, 3, 2)::int", f"substr({code}, 1, 2)::int"


def make_hetu(birth_date: dt.date, individual_number: int, *, sign: str | None = None) -> str:
    """Build a valid identity code (used by the demo and tests, always with 900–999 there)."""
    if not 2 <= individual_number <= 999:
        raise ValueError("individual number must be 002–999")
    century = (birth_date.year // 100) * 100
    sign = sign or _CENTURY_SIGN[century]
    if _CENTURY.get(sign) != century:
        raise ValueError(f"century sign {sign!r} does not fit {birth_date.year}")
    digits = birth_date.strftime("%d%m%y")
    individual = f"{individual_number:03d}"
    return f"{digits}{sign}{individual}{hetu_check_character(digits, individual)}"


_BUSINESS_ID_RE = re.compile(r"^(\d{6,7})-(\d)$")
_BUSINESS_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)


def business_id_check_digit(seven_digits: str) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(seven_digits, _BUSINESS_ID_WEIGHTS, strict=True)) % 11
    if remainder == 0:
        return 0
    if remainder == 1:
        return None
    return 11 - remainder


def sql_business_id_valid(value: str) -> str:
    """PostgreSQL: whether a text expression is a business ID in its canonical form ("1234567-1") whose check digit
    is right, as ``business_id_check_digit`` computes it."""
    total = " + ".join(f"substr({value}, {i}, 1)::int * {w}" for i, w in enumerate(_BUSINESS_ID_WEIGHTS, start=1))
    expected = f"CASE mod({total}, 11) WHEN 0 THEN 0 WHEN 1 THEN -1 ELSE 11 - mod({total}, 11) END"
    return f"({value} ~ '^\\d{{7}}-\\d$' AND ({expected}) = substr({value}, 9, 1)::int)"


def parse_business_id(text: str) -> str:
    """Validate a Y-tunnus ("1234567-1"); six-digit old forms are zero-padded. Returns the canonical form."""
    match = _BUSINESS_ID_RE.match((text or "").strip())
    if not match:
        raise IdentifierError("format")
    digits = match.group(1).zfill(7)
    expected = business_id_check_digit(digits)
    if expected is None or expected != int(match.group(2)):
        raise IdentifierError("check_digit")
    return f"{digits}-{match.group(2)}"
