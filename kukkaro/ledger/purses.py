"""System purses (created on first use, sharded), the per-process caches of what never changes about a purse,
and the ledger's lock order for work that moves many purses in one transaction."""

import uuid
import zlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from kukkaro.core import clock
from kukkaro.core.models import Organiser
from kukkaro.ledger.errors import LedgerError
from kukkaro.ledger.models import (
    SYSTEM_KINDS,
    SYSTEM_SHARDS,
    Purse,
    PurseKind,
)

# --- system purses ---------------------------------------------------------------------------------------


def shard_of(key: object) -> int:
    """Which system-purse shard a client purse (or any key) uses: stable across processes."""
    return zlib.crc32(str(key).encode()) % SYSTEM_SHARDS


def payables_of(purse: Purse) -> Purse:
    """The payables purse a client purse's spending is credited to: its organiser's, in its unit, on its shard."""
    return system_purse(
        organiser=Organiser(pk=purse.organiser_id), unit=purse.unit, kind=PurseKind.PAYABLES, shard=shard_of(purse.pk)
    )


_system_purse_ids: dict[tuple, uuid.UUID] = {}


def system_purse(*, organiser: Organiser, unit: str, kind: str, shard: int = 0) -> Purse:
    """One shard of the organiser's system purse of a unit and kind, created on first use."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"{kind} is not a system purse kind")
    key = (organiser.pk, unit, kind, shard)
    purse = Purse.objects.filter(organiser=organiser, unit=unit, kind=kind, shard=shard).first()
    if purse is None:
        try:
            with transaction.atomic():
                purse = Purse.objects.create(
                    organiser=organiser,
                    unit=unit,
                    kind=kind,
                    shard=shard,
                    label=f"{kind} {unit} #{shard}",
                    created_at=clock.now(),
                )
        except IntegrityError:  # created concurrently
            purse = Purse.objects.get(organiser=organiser, unit=unit, kind=kind, shard=shard)
    # Remember the id only once it is surely committed (a rolled-back creation must not stay cached).
    transaction.on_commit(lambda: _system_purse_ids.__setitem__(key, purse.pk))
    return purse


def purse_caches_clear() -> None:
    """Forget the per-process purse caches. Purses are never deleted in use; a test database that is flushed
    between tests deletes them, and then the cached ids would point at nothing."""
    _system_purse_ids.clear()
    _meta_cache.clear()


def system_purse_id(*, organiser_id: int, unit: str, kind: str, shard: int) -> uuid.UUID:
    """The id of a system purse shard; system purses are never deleted, so the id is cached per process."""
    cached = _system_purse_ids.get((organiser_id, unit, kind, shard))
    if cached is not None:
        return cached
    return system_purse(organiser=Organiser(pk=organiser_id), unit=unit, kind=kind, shard=shard).pk


@dataclass(frozen=True)
class _Meta:
    """What never changes about a purse; cached per process so the hot path does not read it."""

    unit: str
    organiser_id: int
    kind: str
    guarded: bool  # debits may not exceed credits


_meta_cache: dict[uuid.UUID, _Meta] = {}


def _meta(purse_ids: list[uuid.UUID]) -> dict[uuid.UUID, _Meta]:
    missing = [pk for pk in purse_ids if pk not in _meta_cache]
    if missing:
        rows = Purse.objects.filter(pk__in=missing).values_list(
            "pk", "unit", "organiser_id", "kind", "debits_must_not_exceed_credits"
        )
        for pk, unit, organiser_id, kind, guarded in rows:
            _meta_cache[pk] = _Meta(unit, organiser_id, kind, guarded)
        if len(_meta_cache) > 100_000:
            _meta_cache.clear()
    try:
        return {pk: _meta_cache[pk] for pk in purse_ids}
    except KeyError as exc:
        raise LedgerError("no such purse", reason="no_purse") from exc


def purse_facts_remember(pk: uuid.UUID, *, unit: str, organiser_id: int, kind: str, guarded: bool) -> None:
    """A caller that has just read a purse's row tells the ledger what never changes about it (unit, organiser,
    kind, whether it may be overdrawn), so a transfer on it does not read them again."""
    if pk not in _meta_cache:
        _meta_cache[pk] = _Meta(unit, organiser_id, kind, guarded)


def _lock_in_order(purse_ids: set[uuid.UUID]) -> None:
    """Lock purses' rows, client purses first and each group in id order: the order every transfer takes them.
    (``ORDER BY id … FOR NO KEY UPDATE`` locks the rows in the order it returns them.) ``FOR NO KEY UPDATE`` is
    the lock the counters' own UPDATE takes: it keeps other writers of the row out, but not another transaction's
    foreign-key check of a row that references the purse (``FOR KEY SHARE``, at its commit), which ``FOR UPDATE``
    would make wait for this whole transaction."""
    kinds = dict(Purse.objects.filter(pk__in=purse_ids).values_list("pk", "kind"))
    for system in (False, True):
        group = sorted(pk for pk in purse_ids if pk in kinds and (kinds[pk] in SYSTEM_KINDS) == system)
        for start in range(0, len(group), 5_000):
            list(
                Purse.objects.select_for_update(no_key=True)
                .filter(pk__in=group[start : start + 5_000])
                .order_by("pk")
                .values_list("pk", flat=True)
            )


def purses_lock(*, purse_ids: set[uuid.UUID], with_payables: bool = False) -> None:
    """Lock purses up front, in the ledger's lock order (client purses in id order, then system purses in id
    order; docs/ledger.md), for work that moves many purses in one transaction (a trip file): it then never waits
    for a client purse while it holds a system purse. With ``with_payables`` the payables shard each client purse
    pays into is locked too (created if it does not exist yet), with the system purses. Runs in the caller's
    transaction; the locks are held until it ends."""
    ids = set(purse_ids)
    if with_payables:
        # A few shards serve all the purses: each is looked up once.
        shards = {
            (organiser_id, unit, shard_of(pk))
            for pk, organiser_id, unit, kind in Purse.objects.filter(pk__in=purse_ids).values_list(
                "pk", "organiser_id", "unit", "kind"
            )
            if kind not in SYSTEM_KINDS
        }
        ids.update(
            system_purse_id(organiser_id=organiser_id, unit=unit, kind=PurseKind.PAYABLES, shard=shard)
            for organiser_id, unit, shard in sorted(shards)
        )
    _lock_in_order(ids)
