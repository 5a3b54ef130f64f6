"""Trip files from the dispatch centre, as the command, the upload page and the demo use them: import one
(``import_trips``) and read back its results (``results_csv``). Every row ends in exactly one outcome — accepted
(debited), rejected (malformed or impossible) or held for review (with reason codes) — and importing the same file
again changes nothing.

How a file is read is in ``trip_rows``, how a leg is judged in ``judgement`` (the one declared rule set). Two paths
take a file: ``trip_import_rowwise``, a row at a time through the ledger's services (SQLite, and the reference),
and the set-based path on PostgreSQL (``trip_import_sql``); a test runs both on the same files and compares every
field of every row. ``import_trips`` picks the one for the database.
"""

from decimal import Decimal

from django.db import connection

from kukkaro.core import exports
from kukkaro.core.actors import Actor
from kukkaro.core.db import retry_on_lock_conflict
from kukkaro.core.models import Organiser
from kukkaro.mobility.models import TripImport, TripLeg
from kukkaro.mobility.presenters import duplicate_text, is_duplicate
from kukkaro.mobility.trip_import import FILE_REF_TYPE
from kukkaro.mobility.trip_import_rowwise import import_trips_rowwise
from kukkaro.mobility.trip_import_sql import import_trips_sql
from kukkaro.mobility.trip_rows import COLUMNS

__all__ = ["COLUMNS", "FILE_REF_TYPE", "RESULT_COLUMNS", "import_trips", "import_trips_rowwise", "results_csv"]

RESULT_COLUMNS = ("row", "trip_id", "outcome", "reasons", "price_eur", "self_share_eur", "debit", "debit_unit")


def _cents_as_euros(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / 100


def results_csv(trip_import: TripImport) -> bytes:
    """The result file: one line per row of the file, with its outcome, reasons, price, self-share and debit
    (commas and a decimal point, like the dispatch centre's own file). A duplicate reads as what it is — which
    row it repeats, already debited there — not "accepted" with a debit it did not make."""

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


def import_trips(*, actor: Actor, organiser: Organiser, filename: str, content: bytes) -> TripImport:
    """Import a trip file: set-based on PostgreSQL, a row at a time elsewhere (the demo's SQLite). An import that
    PostgreSQL aborted for a lock conflict is run again (it is all or nothing, and the same bytes are the same
    import), a few times; then ``LockConflict`` says it may be sent again later."""
    importer = import_trips_sql if connection.vendor == "postgresql" else import_trips_rowwise
    return retry_on_lock_conflict(
        "trip import", lambda: importer(actor=actor, organiser=organiser, filename=filename, content=content)
    )
