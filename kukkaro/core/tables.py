"""A tiny table description for the ``data_table`` component: a caption, column headers and rows of cells.

Views build a ``Table``; the template renders it with ``<caption>``, ``<th scope>`` and, when a table is wider
than a phone, a scrollable region that is keyboard-focusable and labelled by the caption.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cell:
    text: Any
    href: str = ""
    numeric: bool = False
    lang: str = ""


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    empty_text: str = ""
    numeric_columns: frozenset[int] = frozenset()
    id: str = "table"

    def add(self, *cells: Any) -> None:
        self.rows.append([c if isinstance(c, Cell) else Cell(c) for c in cells])
