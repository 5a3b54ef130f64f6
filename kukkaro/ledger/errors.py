"""The ledger's refusals: each carries a stable ``reason`` code and says it in words."""


class LedgerError(Exception):
    """A transfer the ledger refuses. ``reason`` is a stable code; the message says it in words."""

    reason = "invalid"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class InsufficientFunds(LedgerError):
    reason = "insufficient_funds"


class TransferConflict(LedgerError):
    reason = "id_conflict"


class HoldNotOpen(LedgerError):
    reason = "hold_not_open"
