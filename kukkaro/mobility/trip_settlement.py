"""The bookings a trip file settles (issue 7): a leg that names the dispatch centre's authorisation (and its card)
closes it. The import locks the bookings first (``settlement_lock``), then every purse it may touch, releases the
bookings' holds (``lock_and_settle``), so each leg is debited its actual amount like any other leg, and audits each
settled booking at its end (``settlement_audit``). Both import paths call these, in this order: the lock order of
docs/mobility.md ("Locks").
"""

import uuid
from dataclasses import dataclass

from kukkaro.core import clock
from kukkaro.core.actors import Actor
from kukkaro.core.audit import AuditEntry, audit_record_many
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Transfer, TransferFlag
from kukkaro.mobility.models import AuthorizationState, TripAuthorization

#: The audit action of an authorisation closed in each state.
CLOSE_ACTIONS: dict[str, str] = {
    AuthorizationState.CANCELLED: "trips.authorization_cancel",
    AuthorizationState.EXPIRED: "trips.authorization_expire",
    AuthorizationState.SETTLED: "trips.authorization_settle",
}


def closed_entry(
    authorization_id: uuid.UUID, state: str, *, organiser_id: int, client_id: uuid.UUID | None, actor: Actor
) -> AuditEntry:
    """The audit row of an authorisation closed in ``state`` (from values: a trip file closes many at once)."""
    return AuditEntry(
        action=CLOSE_ACTIONS[state],
        actor=actor,
        target_type=TripAuthorization._meta.label_lower,
        target_id=str(authorization_id),
        organiser_id=organiser_id,
        data_subject_id=client_id,
        after={"state": state},
    )


@dataclass
class Settlement:
    """The bookings a trip file settles, locked (``settlement_lock``), then released (``settlement_release``) once
    the import has locked every purse it touches, and audited (``settlement_audit``) at the end of the import."""

    organiser_id: int
    matched: list[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]]  # (id, hold, client)
    purse_ids: set[uuid.UUID]  # the client purses their open holds are on


def settlement_lock(*, organiser_id: int, references: list[tuple[str, str]]) -> Settlement:
    """Lock the authorisations a trip file's legs carry (``references``: authorization_id and client_number of
    each row that has one) that are open, of the organiser, and named with their own card — in id order, the
    second step of the lock order (docs/mobility.md, "Locks"): a cancel of one of these waits, then finds it
    settled; one the cancel took first is cancelled already and is left alone. Runs inside the import's
    transaction, before the legs are judged."""
    wanted: dict[uuid.UUID, set[str]] = {}  # the cards of the rows that name each booking
    for text, card in references:
        try:
            wanted.setdefault(uuid.UUID(text.strip()), set()).add(card.strip())
        except ValueError:
            continue  # not one of ours: the leg is judged as if it had none
    ids = sorted(wanted)
    # Values, not model instances: a file can settle a booking per leg.
    matched: list[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]] = []
    for start in range(0, len(ids), 5_000):
        matched += [
            (pk, hold_id, client_id)
            for pk, hold_id, client_id, card in TripAuthorization.objects.select_for_update()
            .filter(
                pk__in=ids[start : start + 5_000],
                organiser_id=organiser_id,
                state=AuthorizationState.APPROVED,
                closed_at__isnull=True,
            )
            .order_by("pk")
            .values_list("pk", "hold_id", "client_id", "client_number")
            if card in wanted[pk]
        ]
    holds = [hold_id for _pk, hold_id, _client in matched if hold_id]
    purse_ids: set[uuid.UUID] = set()
    for start in range(0, len(holds), 5_000):
        purse_ids.update(
            Transfer.objects.filter(pk__in=holds[start : start + 5_000], flag=TransferFlag.PENDING).values_list(
                "debit_purse_id", flat=True
            )
        )
    return Settlement(organiser_id=organiser_id, matched=matched, purse_ids=purse_ids)


def settlement_release(settlement: Settlement, *, actor: Actor) -> int:
    """Release the settled bookings' holds and mark them settled, so each leg is then debited its actual amount
    like any other — the difference is released, and a leg that costs more than the purse has is held for review.
    The caller has locked the purses (client purses before system purses). A hold released meanwhile (the expiry
    job) is left alone: the money is back either way. Returns how many were settled."""
    ledger.holds_void_many(
        voids=[
            (ledger.derived_id(hold_id, "settled"), hold_id) for _pk, hold_id, _client in settlement.matched if hold_id
        ],
        actor=actor,
        memo="settled by the trip file",
    )
    now = clock.now()
    for start in range(0, len(settlement.matched), 5_000):
        chunk = settlement.matched[start : start + 5_000]
        TripAuthorization.objects.filter(pk__in=[pk for pk, _hold, _client in chunk]).update(
            state=AuthorizationState.SETTLED, closed_at=now
        )
    return len(settlement.matched)


def settlement_audit(settlement: Settlement, *, actor: Actor) -> None:
    """An audit row for each settled booking. Written at the end of the import, with its own: the audit chain's
    lock is the last lock a transaction takes (docs/mobility.md, "Locks")."""
    for start in range(0, len(settlement.matched), 5_000):
        audit_record_many(
            closed_entry(
                pk, AuthorizationState.SETTLED, organiser_id=settlement.organiser_id, client_id=client_id, actor=actor
            )
            for pk, _hold, client_id in settlement.matched[start : start + 5_000]
        )


def lock_and_settle(settlement: Settlement, purse_ids: set, actor: Actor) -> None:
    """Lock every purse the import may touch — the settled bookings' and the legs' client purses in id order,
    then their payables shards — and only then release the settled bookings' holds, so that the import never
    waits for a client purse while it holds a system purse (docs/mobility.md, "Locks"). Both paths call this
    before the purses' money is read."""
    ledger.purses_lock(purse_ids=set(purse_ids) | settlement.purse_ids, with_payables=True)
    settlement_release(settlement, actor=actor)
