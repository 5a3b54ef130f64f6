"""The ledger's services: its public face. Every write to the ledger is one of these names, whatever app calls it
(``from kukkaro.ledger import services as ledger``; ``ledger.transfer_post(...)``).

The code lives in topic modules, as Zulip split ``zerver/lib/actions.py`` into ``zerver/actions/<topic>.py``
(docs/decisions/0029); this module only re-exports their public names, so callers stay as they are and other apps
need one import. Inside the ledger, modules import the topic modules, never this one. The import direction, which
the ``acyclic`` import contract keeps:

- ``errors``: the refusals (``LedgerError`` and its kinds);
- ``purses``: system purses, the per-process purse caches, the lock order (``purses_lock``);
- ``transfers``: the one way a transfer is applied (its docstring states the invariant), ``transfer_post`` and
  ``transfer_correct``;
- ``holds``: holds placed, posted, voided (one or many) and expired;
- ``releases``: funding periods released, closed by their rollover rule, lapsed, borrowed from;
- ``client_purses``: a client purse opened, rescheduled, ended.

Set-based work on many purses at once is ``kukkaro.ledger.bulk``; the period arithmetic is ``periods`` and
``schedules``.
"""

from kukkaro.ledger.client_purses import client_purse_open, purse_change_preview, purse_end, purse_reschedule
from kukkaro.ledger.errors import HoldNotOpen, InsufficientFunds, LedgerError, TransferConflict
from kukkaro.ledger.holds import hold_create, hold_post, hold_void, holds_expire, holds_void_many
from kukkaro.ledger.purses import (
    payables_of,
    purse_caches_clear,
    purse_facts_remember,
    purses_lock,
    shard_of,
    system_purse,
    system_purse_id,
)
from kukkaro.ledger.releases import purse_borrow, purse_release_due, purses_release_due
from kukkaro.ledger.transfers import derived_id, transfer_correct, transfer_fingerprint, transfer_post

__all__ = [
    "HoldNotOpen",
    "InsufficientFunds",
    "LedgerError",
    "TransferConflict",
    "client_purse_open",
    "derived_id",
    "hold_create",
    "hold_post",
    "hold_void",
    "holds_expire",
    "holds_void_many",
    "payables_of",
    "purse_borrow",
    "purse_caches_clear",
    "purse_change_preview",
    "purse_end",
    "purse_facts_remember",
    "purse_release_due",
    "purse_reschedule",
    "purses_lock",
    "purses_release_due",
    "shard_of",
    "system_purse",
    "system_purse_id",
    "transfer_correct",
    "transfer_fingerprint",
    "transfer_post",
]
