"""What both paths of a trip import share (the row-wise ``trip_import_rowwise`` and the set-based
``trip_import_sql``): who may import, the one debit of each purse a file makes, and how an import ends."""

import uuid

from kukkaro.core import clock
from kukkaro.core.actors import Actor
from kukkaro.core.audit import audit_record
from kukkaro.core.models import Organiser
from kukkaro.core.permissions import Action, OfOrganiser, authorize
from kukkaro.ledger import services as ledger
from kukkaro.mobility.models import TripImport
from kukkaro.mobility.trip_settlement import Settlement, settlement_audit

#: The ``ref_type`` of the one debit an import makes from each purse (its ``ref_id`` is the file's SHA-256).
FILE_REF_TYPE = "trip_file"


def import_authorize(actor: Actor, organiser: Organiser) -> None:
    """Only staff of the organiser may import its trip files, or the system for it (the ``import_trips`` command
    and the demo act as ``core.actors`` system actors of that organiser)."""
    authorize(actor, Action.TRIP_IMPORT, OfOrganiser(organiser.pk))


def file_transfer_id(organiser_id: int, sha256: str, purse_id: uuid.UUID) -> uuid.UUID:
    """The one debit of a purse for the legs a file took from it. The same file is imported once per organiser,
    so the id can only ever be used once (ADR 0016)."""
    return ledger.derived_id("trip-file", organiser_id, sha256, purse_id)


def file_memo(filename: str, legs: int) -> str:
    return f"{filename[:200]}: {legs} legs"


def import_finish(
    trip_import: TripImport, *, counts: dict[str, int], rows: int, settlement: Settlement, actor: Actor
) -> None:
    """Record the outcomes, then the audit rows: the settled bookings' and the import's own. The audit chain's lock
    is the last lock the import takes (docs/mobility.md, "Locks")."""
    trip_import.counts, trip_import.finished_at = counts, clock.now()
    trip_import.save(update_fields=["counts", "finished_at"])
    settlement_audit(settlement, actor=actor)
    audit_record(
        action="trips.import",
        actor=actor,
        target=trip_import,
        organiser_id=trip_import.organiser_id,
        after={"filename": trip_import.filename, "sha256": trip_import.sha256, "rows": rows, "outcomes": counts},
    )
