"""Many connections at once: the ledger never overdraws, never loses an update, never applies a retried id
twice, and ``ledger_verify`` stays clean.

On PostgreSQL 8 threads, each with its own database connection, run 500 random operations each against a few
shared purses. SQLite has one writer at a time, so there the same random programme runs in one thread: the
invariants are checked the same way, the concurrency is PostgreSQL's to prove.
"""

import datetime as dt
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.db import close_old_connections, connection

from kukkaro.core import clock
from kukkaro.ledger import services
from kukkaro.ledger.models import PeriodKind, Purse, Transfer, TransferCode, Unit
from kukkaro.ledger.verification import ledger_verify
from tests.factories import client_in
from tests.ledger.factories import open_purse

WORKERS = 8
OPERATIONS = 500
NOW = dt.datetime(2026, 3, 15, 10, 0, tzinfo=dt.UTC)


@dataclass
class Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    open_holds: list = field(default_factory=list)
    applied: Counter = field(default_factory=Counter)  # transfer id -> times the service returned it
    outcomes: Counter = field(default_factory=Counter)
    retried: list = field(default_factory=list)  # (id, pk returned first, pk returned on retry)
    errors: list = field(default_factory=list)


def _worker(seed: int, purses: list[Purse], shared: Shared, *, own_connection: bool = True) -> None:
    rng = random.Random(seed)
    expires = NOW + dt.timedelta(hours=1)
    last_hold: tuple | None = None
    try:
        with clock.pinned(NOW):
            for _ in range(OPERATIONS):
                op = rng.choices(["hold", "post", "void", "borrow", "retry", "conflict"], [40, 25, 12, 5, 12, 6])[0]
                try:
                    if op == "hold":
                        purse = rng.choice(purses)
                        transfer_id = uuid.uuid4()
                        amount = rng.randint(100, 9_000)
                        hold = services.hold_create(
                            transfer_id=transfer_id, purse=purse, amount=amount, expires_at=expires
                        )
                        last_hold = (transfer_id, purse, amount, hold.pk)
                        with shared.lock:
                            shared.open_holds.append(hold)
                    elif op in {"post", "void"}:
                        with shared.lock:
                            if not shared.open_holds:
                                continue
                            hold = rng.choice(shared.open_holds)
                        if op == "post":
                            services.hold_post(transfer_id=uuid.uuid4(), hold=hold, amount=rng.randint(1, hold.amount))
                        else:
                            services.hold_void(transfer_id=uuid.uuid4(), hold=hold)
                        with shared.lock:
                            if hold in shared.open_holds:
                                shared.open_holds.remove(hold)
                    elif op == "borrow":
                        services.purse_borrow(transfer_id=uuid.uuid4(), purse=purses[0], amount=rng.randint(1, 3) * 100)
                    elif op == "retry" and last_hold:
                        transfer_id, purse, amount, first_pk = last_hold
                        again = services.hold_create(
                            transfer_id=transfer_id, purse=purse, amount=amount, expires_at=expires
                        )
                        with shared.lock:
                            shared.retried.append((transfer_id, first_pk, again.pk))
                    elif op == "conflict" and last_hold:
                        transfer_id, purse, amount, _ = last_hold
                        try:
                            services.hold_create(
                                transfer_id=transfer_id, purse=purse, amount=amount + 1, expires_at=expires
                            )
                        except services.TransferConflict:
                            op = "conflict_refused"
                        else:
                            raise AssertionError("a changed retry was accepted")
                    else:
                        continue
                    with shared.lock:
                        shared.outcomes[op] += 1
                except (services.InsufficientFunds, services.HoldNotOpen, services.LedgerError) as exc:
                    with shared.lock:
                        shared.outcomes[f"{op}:{type(exc).__name__}"] += 1
    except Exception as exc:
        shared.errors.append(repr(exc))
    finally:
        if own_connection:
            connection.close()


@pytest.mark.django_db(transaction=True)
def test_ledger__concurrent_random_operations__keep_every_invariant(on_postgres):
    with clock.pinned(NOW):
        client = client_in("lansi-uusimaa")
        purses = [
            open_purse(client=client, amount=60_000, kind=PeriodKind.MONTHLY, borrow_limit=20_000),
            open_purse(client=client, amount=200_000),
            open_purse(client=client, amount=150_000),
        ]
    shared = Shared()
    if on_postgres:
        threads = [threading.Thread(target=_worker, args=(seed, purses, shared)) for seed in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert not any(thread.is_alive() for thread in threads)
    else:
        for seed in range(WORKERS):
            _worker(seed, purses, shared, own_connection=False)
    close_old_connections()

    assert shared.errors == []
    # Contention really happened: refusals for lack of funds and for holds already resolved by someone else.
    assert shared.outcomes["hold"] > 200, dict(shared.outcomes)
    assert shared.outcomes["hold:InsufficientFunds"] > 0
    assert shared.outcomes["conflict_refused"] > 0
    if on_postgres:
        assert shared.outcomes["post:HoldNotOpen"] + shared.outcomes["void:HoldNotOpen"] > 0

    assert ledger_verify()[1] == []
    for purse in Purse.objects.filter(pk__in=[p.pk for p in purses]):
        assert purse.debits_pending + purse.debits_posted <= purse.credits_posted
        assert purse.available_now >= 0
    # A retried id returned the original row, and exists once.
    assert all(first == again for _, first, again in shared.retried)
    assert len(shared.retried) > 0
    retried_ids = {transfer_id for transfer_id, _, _ in shared.retried}
    assert Transfer.objects.filter(pk__in=retried_ids).count() == len(retried_ids)
    # Every hold was resolved at most once (also a database constraint), and nothing posted more than held.
    resolutions = Counter(Transfer.objects.filter(pending__isnull=False).values_list("pending_id", flat=True))
    assert max(resolutions.values()) == 1
    assert Transfer.objects.filter(code=TransferCode.HOLD).count() == shared.outcomes["hold"]
    # Borrowing never went past its limit.
    assert Purse.objects.get(pk=purses[0].pk).borrowed_ahead <= 20_000
    assert all(p.unit == Unit.EUR for p in purses)
