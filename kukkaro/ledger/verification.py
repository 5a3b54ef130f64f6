"""Recompute every counter from the transfers and compare (``kukkaro ledger_verify``)."""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import F, Q, Sum

from kukkaro.ledger.models import Purse, Transfer, TransferFlag


@dataclass(frozen=True)
class Problem:
    purse_id: str
    what: str


def _sums(field: str, flags: tuple[str, ...], open_only: bool = False) -> dict:
    rows = Transfer.objects.filter(flag__in=flags)
    if open_only:
        # A hold has at most one resolution (unique constraint), so this anti-join counts each open hold once.
        rows = rows.filter(resolutions__isnull=True)
    return dict(rows.values(field).annotate(total=Sum("amount")).values_list(field, "total"))


def ledger_verify() -> tuple[int, list[Problem]]:
    """Returns (purses checked, problems). Checks: each purse's four counters equal the sums of its
    transfers; no purse flagged against overdraft is overdrawn; every unit of every organiser balances
    (debits = credits); every resolution matches its hold and posts no more than it held."""
    posted = (TransferFlag.POSTED, TransferFlag.POST_PENDING)
    expected = {
        "debits_posted": _sums("debit_purse", posted),
        "credits_posted": _sums("credit_purse", posted),
        "debits_pending": _sums("debit_purse", (TransferFlag.PENDING,), open_only=True),
        "credits_pending": _sums("credit_purse", (TransferFlag.PENDING,), open_only=True),
    }
    problems: list[Problem] = []
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    count = 0
    for purse in Purse.objects.all().iterator():
        count += 1
        for counter, by_purse in expected.items():
            want = by_purse.get(purse.pk, 0) or 0
            have = getattr(purse, counter)
            if have != want:
                problems.append(Problem(str(purse.pk), f"{counter} is {have}, transfers say {want}"))
        if purse.debits_must_not_exceed_credits and purse.debits_pending + purse.debits_posted > purse.credits_posted:
            problems.append(Problem(str(purse.pk), "overdrawn"))
        key = (purse.organiser_id, purse.unit)
        for index, value in enumerate(
            (purse.debits_posted, purse.credits_posted, purse.debits_pending, purse.credits_pending)
        ):
            totals[key][index] += value
    for (organiser_id, unit), (dp, cp, dpe, cpe) in totals.items():
        if dp != cp or dpe != cpe:
            problems.append(Problem(f"organiser {organiser_id} {unit}", f"does not balance: {dp}/{cp}, {dpe}/{cpe}"))
    bad_resolutions = Transfer.objects.filter(pending__isnull=False).filter(
        ~Q(debit_purse=F("pending__debit_purse"))
        | ~Q(credit_purse=F("pending__credit_purse"))
        | Q(amount__gt=F("pending__amount"))
    )
    for transfer in bad_resolutions.only("id"):
        problems.append(Problem("-", f"transfer {transfer.pk} does not match the hold it resolves"))
    # Borrowing: what a purse says it has borrowed ahead is what the borrow transfers into it say.
    # One grouped query for all purses, not one query per purse.
    borrows: dict = defaultdict(list)
    rows = Transfer.objects.filter(code="borrow").values("credit_purse", "period_start").annotate(total=Sum("amount"))
    for row in rows:
        borrows[row["credit_purse"]].append((row["period_start"], row["total"]))
    for purse in Purse.objects.filter(kind="client").exclude(borrowed_ahead=0, borrow_limit=0).iterator():
        borrowed = sum(
            total
            for period_start, total in borrows.get(purse.pk, [])
            if purse.current_period_start is None or period_start > purse.current_period_start
        )
        if borrowed != purse.borrowed_ahead:
            problems.append(
                Problem(str(purse.pk), f"borrowed_ahead is {purse.borrowed_ahead}, borrow transfers say {borrowed}")
            )
    mixed_units = Transfer.objects.filter(~Q(unit=F("debit_purse__unit")) | ~Q(unit=F("credit_purse__unit")))
    for transfer in mixed_units.only("id"):
        problems.append(Problem("-", f"transfer {transfer.pk} moves between units"))
    return count, problems
