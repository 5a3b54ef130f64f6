"""Reading the demo's data files (``kukkaro/demo/specs/*.toml``) with clear errors.

The demo's literal tables (its catalogue, providers, the words in its disputes) are data, not code: they live in
TOML files next to this module (package data, so they ship with the package and are found relative to it) and
are read with the standard library's ``tomllib``. A file that is not valid TOML, a missing or unknown key, or a
value of the wrong type stops the demo with a ``SpecError`` that names the file, the table and the key.
"""

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parent / "specs"
_MISSING = object()


class SpecError(ValueError):
    """A data file of the demo that cannot be used: the message names the file, the table and the key."""


class Table:
    """One TOML table of a data file, read key by key with its type checked. ``where`` names it in errors
    (``providers[3] (kastehelmi)``, ``caps.lansi-uusimaa``)."""

    def __init__(self, *, file: str, where: str, data: dict[str, Any]) -> None:
        self.file, self.where, self.data = file, where, data

    def error(self, key: str, problem: str) -> SpecError:
        return SpecError(f"{self.file}: [{self.where}] {key}: {problem}")

    def _get(self, key: str, kind: type, what: str, default: Any) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise self.error(key, "missing")
            return default
        value = self.data[key]
        # A bool is an int in Python; TOML keeps them apart, and so do we.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.error(key, f"expected {what}, got {type(value).__name__} {value!r}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        return self._get(key, str, "a string", default)

    def integer(self, key: str, default: Any = _MISSING) -> int:
        return self._get(key, int, "an integer", default)

    def flag(self, key: str, default: Any = _MISSING) -> bool:
        return self._get(key, bool, "true or false", default)

    def texts(self, key: str, *, length: int | None = None) -> tuple[str, ...]:
        values = self._get(key, list, "an array of strings", _MISSING)
        if not all(isinstance(v, str) for v in values):
            raise self.error(key, f"expected an array of strings, got {values!r}")
        if length is not None and len(values) != length:
            raise self.error(key, f"expected {length} strings, got {len(values)}")
        return tuple(values)

    def table(self, key: str) -> "Table":
        return Table(file=self.file, where=self._join(key), data=self._get(key, dict, "a table", _MISSING))

    def tables(self, key: str) -> list["Table"]:
        """An array of tables (``[[key]]``)."""
        rows = self._get(key, list, "an array of tables", _MISSING)
        result = []
        for index, row in enumerate(rows):
            where = f"{self._join(key)}[{index}]"
            if not isinstance(row, dict):
                raise SpecError(f"{self.file}: [{where}]: expected a table, got {row!r}")
            result.append(Table(file=self.file, where=where, data=row))
        return result

    def subtables(self) -> Iterator[tuple[str, "Table"]]:
        """Each key of this table with the table it holds (``[caps.<organiser>]``)."""
        for key in self.data:
            yield key, self.table(key)

    def int_values(self) -> dict[str, int]:
        """This table as a mapping of keys to integers (``prices``, ``caps.<organiser>``)."""
        return {key: self.integer(key) for key in self.data}

    def only(self, *keys: str) -> "Table":
        """Refuse keys this table does not know (a misspelt optional key would otherwise be ignored)."""
        unknown = sorted(set(self.data) - set(keys))
        if unknown:
            raise self.error(unknown[0], f"unknown key (known: {', '.join(keys)})")
        return self

    def _join(self, key: str) -> str:
        return key if self.where == "" else f"{self.where}.{key}"


def load(name: str, *, directory: Path = SPECS) -> Table:
    """The top-level table of the data file ``name`` in ``directory``."""
    path = directory / name
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError as exc:
        raise SpecError(f"{name}: no such data file in {directory}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{name}: not valid TOML: {exc}") from exc
    return Table(file=name, where="", data=data)
