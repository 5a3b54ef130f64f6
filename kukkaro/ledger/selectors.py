"""Reads of the ledger: balances, open holds and statements (reused by the portal and by PDFs)."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet, Sum

from kukkaro.core.clock import HELSINKI
from kukkaro.ledger.models import Purse, Transfer, TransferFlag
from kukkaro.ledger.periods import period_amounts
from kukkaro.ledger.schedules import granted_by_period, purse_steps

POSTED_FLAGS = (TransferFlag.POSTED, TransferFlag.POST_PENDING)


@dataclass(frozen=True)
class Movement:
    transfer: Transfer
    amount: int  # + credit to the purse, − debit from it
    balance_after: int


@dataclass
class Statement:
    purse: Purse
    start: dt.date
    end: dt.date  # inclusive
    opening_balance: int
    closing_balance: int
    movements: list[Movement] = field(default_factory=list)
    open_holds: list[Transfer] = field(default_factory=list)

    @property
    def credits(self) -> int:
        return sum(m.amount for m in self.movements if m.amount > 0)

    @property
    def debits(self) -> int:
        return -sum(m.amount for m in self.movements if m.amount < 0)


def _helsinki_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=HELSINKI)


def _posted_balance_before(purse: Purse, moment: dt.datetime) -> int:
    posted = Transfer.objects.filter(flag__in=POSTED_FLAGS, created_at__lt=moment)
    credits = posted.filter(credit_purse=purse).aggregate(total=Sum("amount"))["total"] or 0
    debits = posted.filter(debit_purse=purse).aggregate(total=Sum("amount"))["total"] or 0
    return credits - debits


def open_holds(*, purse: Purse, at: dt.datetime | None = None) -> QuerySet[Transfer]:
    """Holds on the purse not yet posted, voided or expired (as of ``at``, if given)."""
    holds = Transfer.objects.filter(debit_purse=purse, flag=TransferFlag.PENDING)
    if at is None:
        return holds.filter(resolutions__isnull=True).order_by("created_at")
    return holds.filter(created_at__lt=at).exclude(resolutions__created_at__lt=at).order_by("created_at")


def purse_statement(*, purse: Purse, start: dt.date, end: dt.date) -> Statement:
    """Opening balance, every posted movement in [start, end] (Helsinki dates), closing balance, and the holds
    still open at the end. Balances are posted balances; holds are listed, not subtracted."""
    since, until = _helsinki_midnight(start), _helsinki_midnight(end + dt.timedelta(days=1))
    opening = _posted_balance_before(purse, since)
    transfers = (
        Transfer.objects.filter(flag__in=POSTED_FLAGS, created_at__gte=since, created_at__lt=until)
        .filter(Q(credit_purse=purse) | Q(debit_purse=purse))
        .select_related("actor")
        .order_by("created_at", "id")
    )
    balance = opening
    movements = []
    for transfer in transfers:
        signed = transfer.amount if transfer.credit_purse_id == purse.pk else -transfer.amount
        balance += signed
        movements.append(Movement(transfer=transfer, amount=signed, balance_after=balance))
    return Statement(
        purse=purse,
        start=start,
        end=end,
        opening_balance=opening,
        closing_balance=balance,
        movements=movements,
        open_holds=list(open_holds(purse=purse, at=until)),
    )


def system_total(*, organiser_id: int, unit: str, kind: str) -> dict[str, int]:
    """A system purse's counters summed over its shards."""
    totals = Purse.objects.filter(organiser_id=organiser_id, unit=unit, kind=kind).aggregate(
        debits_posted=Sum("debits_posted"),
        credits_posted=Sum("credits_posted"),
        debits_pending=Sum("debits_pending"),
        credits_pending=Sum("credits_pending"),
    )
    totals = {k: v or 0 for k, v in totals.items()}
    totals["balance_posted"] = totals["credits_posted"] - totals["debits_posted"]
    return totals


def client_purses(*, client) -> QuerySet[Purse]:
    return Purse.objects.filter(client=client, kind="client").order_by("valid_from", "unit")


@dataclass(frozen=True)
class PursePeriod:
    """One funding period of a client purse as it stands: what the schedule gives it, and whether (and how much)
    it has been given already."""

    start: dt.date
    end: dt.date
    amount: int  # what the schedule gives the period
    shared: bool  # a change of amount began inside it: shared by days
    released: bool
    granted: int  # what the purse has had for it so far (its release, borrowing, corrections)


def purse_periods(*, purse: Purse) -> list[PursePeriod]:
    """The purse's funding periods from its first day to its last (and any period released beyond a last day
    that came later), with what each gets and has had."""
    if purse.valid_from is None or purse.valid_until is None:
        return []
    current = purse.current_period_start
    entries = [
        e
        for e in period_amounts(kind=purse.period_kind, steps=purse_steps(purse))
        if e.period.end >= purse.valid_from
        and (e.period.start <= purse.valid_until or (current is not None and e.period.start <= current))
    ]
    granted = granted_by_period(purse, [e.period for e in entries])
    return [
        PursePeriod(
            start=e.period.start,
            end=e.period.end,
            amount=e.amount if e.period.start <= purse.valid_until else 0,
            shared=e.shared,
            released=current is not None and e.period.start <= current,
            granted=granted.get(e.period.start, 0),
        )
        for e in entries
    ]
