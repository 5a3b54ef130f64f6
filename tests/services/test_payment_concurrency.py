"""Payment runs race the clients approving claims: batches are prepared, released, cancelled and answered by the
bank (some payments rejected) while clients approve, and still no claim is paid twice or lost, ``ledger_verify``
and ``audit_verify`` stay clean, and every claim is paid exactly once in the end.

On PostgreSQL two clients approve and two finance pairs run payment cycles at once, each thread with its own
database connection. SQLite has one writer at a time, so there the same programme runs interleaved in one thread:
the invariants are checked the same way, the concurrency is PostgreSQL's to prove (as in
``tests/ledger/test_concurrency.py``: nothing is skipped).
"""

import datetime as dt
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection

from kukkaro.core import clock
from kukkaro.core.audit import audit_verify
from kukkaro.core.roles import Role
from kukkaro.demo.bank import status_report
from kukkaro.ledger.models import PurseKind, Transfer, TransferCode, Unit
from kukkaro.ledger.selectors import system_total
from kukkaro.ledger.verification import ledger_verify
from kukkaro.services import agreements, catalogue, payments
from kukkaro.services.claims import claim_client_decide, claim_submit
from kukkaro.services.models import (
    Claim,
    ClaimStatus,
    PaymentBatch,
    PaymentBatchState,
    PaymentLineClaim,
    PaymentOutcome,
)
from tests.factories import client_user_for, make_user
from tests.services.world import BUSINESS_IDS, approved_provider, build_world

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CLAIMS_PER_PROVIDER = 16
QUANTITY = 10  # a tenth of a day: 9 € a claim, well within the purse


@dataclass
class Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    approving: int = 2  # approver threads still running
    batches_while_approving: int = 0
    outcomes: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)


def _world():
    """Two providers with agreements the client approves claim by claim, and a file of waiting claims."""
    world = build_world(endorsed=False)
    other, other_user = approved_provider(
        organiser=world.client.organiser,
        decision_maker=world.decision_maker,
        business_id=BUSINESS_IDS[1],
        name="Toinen Päivä Oy",
        username="toinen-paiva-race",
    )
    catalogue.provider_price_set(
        actor=other_user, provider=other, service_type=world.day_activity, price_cents=9_000, valid_from=clock.today()
    )
    second = agreements.agreement_create(
        actor=world.worker,
        line=world.line,
        provider=other,
        service_type=world.day_activity,
        quantity_hundredths=400,
        valid_from=clock.today(),
        valid_until=world.line.valid_until,
    )
    claims = []
    for provider, user, agreement, prefix in (
        (world.provider, world.provider_user, world.agreement, "A"),
        (other, other_user, second, "B"),
    ):
        for n in range(CLAIMS_PER_PROVIDER):
            claim, _created = claim_submit(
                actor=user,
                provider=provider,
                agreement_number=agreement.number,
                service_code="day-activity",
                service_date=clock.today(),
                quantity_hundredths=QUANTITY,
                unit_price_cents=9_000,
                invoice_number=f"{prefix}-{n}",
            )
            assert claim.status == ClaimStatus.WAITING
            claims.append(claim)
    return world, claims


def _approve(seed: int, claims: list, client_user, shared: Shared, *, own_connection: bool = True) -> None:
    rng = random.Random(seed)
    claims = list(claims)
    rng.shuffle(claims)
    try:
        with clock.pinned(NOW):
            for claim in claims:
                claim_client_decide(actor=client_user, claim=claim, approve=True)
                with shared.lock:
                    shared.outcomes["approved"] += 1
                if own_connection:
                    time.sleep(rng.random() / 100)
    except Exception as exc:
        shared.errors.append(f"approve: {exc!r}")
    finally:
        with shared.lock:
            shared.approving -= 1
        if own_connection:
            connection.close()


def _cycle(
    rng: random.Random, world, preparer, releaser, shared: Shared, *, reject: bool = True, force_reject: bool = False
) -> bool:
    """One payment run: prepare; sometimes cancel; else release and import the bank's answer (a payment rejected
    now and then). False when there was nothing to pay."""
    try:
        batch = payments.payment_batch_prepare(
            actor=preparer, organiser=world.client.organiser, approved_until=clock.today(), execution_date=clock.today()
        )
    except ValidationError:
        with shared.lock:
            shared.outcomes["nothing_to_pay"] += 1
        return False
    with shared.lock:
        shared.outcomes["prepared"] += 1
        if shared.approving:
            shared.batches_while_approving += 1
    if reject and not force_reject and rng.random() < 0.2:
        payments.payment_batch_cancel(actor=preparer, batch=batch, reason="Kilpailutesti")
        with shared.lock:
            shared.outcomes["cancelled"] += 1
        return True
    batch = payments.payment_batch_release(actor=releaser, batch=batch)
    lines = list(batch.lines.order_by("end_to_end_id"))
    rejected = {}
    if force_reject or (reject and rng.random() < 0.5):
        rejected = {rng.choice(lines).end_to_end_id: ("AC04", "Tili lopetettu")}
    document = status_report(
        bytes(batch.pain001), message_id=f"STS-{batch.number}", created_at=clock.now(), rejected=rejected
    )
    payments.payment_status_import(
        actor=releaser, organiser=world.client.organiser, filename="status.xml", content=document
    )
    with shared.lock:
        shared.outcomes["released"] += 1
        shared.outcomes["rejected_payments"] += len(rejected)
    return True


def _pay(seed: int, world, preparer, releaser, shared: Shared, *, own_connection: bool = True) -> None:
    rng = random.Random(seed)
    try:
        with clock.pinned(NOW):
            first = True
            while True:
                with shared.lock:
                    approving = shared.approving
                made = _cycle(rng, world, preparer, releaser, shared, force_reject=first)
                first = first and not made
                if not made and not approving:
                    break
                if own_connection:
                    time.sleep(rng.random() / 50)
    except Exception as exc:
        shared.errors.append(f"pay: {exc!r}")
    finally:
        if own_connection:
            connection.close()


@pytest.mark.django_db(transaction=True)
def test_payment_runs__racing_claim_approvals__pay_every_claim_exactly_once(on_postgres):
    with clock.pinned(NOW):
        world, claims = _world()
        client_user = client_user_for(world.client)
        third = make_user(Role.FINANCE)
    halves = [claims[0::2], claims[1::2]]
    shared = Shared()
    if on_postgres:
        threads = [threading.Thread(target=_approve, args=(n, halves[n], client_user, shared)) for n in (0, 1)]
        threads += [
            threading.Thread(target=_pay, args=(10, world, world.finance, world.finance2, shared)),
            threading.Thread(target=_pay, args=(11, world, world.finance2, third, shared)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert not any(thread.is_alive() for thread in threads)
    else:
        rng = random.Random(7)
        with clock.pinned(NOW):
            for start in range(0, len(claims), 5):
                for claim in claims[start : start + 5]:
                    claim_client_decide(actor=client_user, claim=claim, approve=True)
                    shared.outcomes["approved"] += 1
                _cycle(rng, world, world.finance, world.finance2, shared, force_reject=start == 0)
        shared.approving = 0
    close_old_connections()
    # Whatever the bank rejected or finance cancelled is paid by a last run that rejects nothing.
    with clock.pinned(NOW):
        while _cycle(random.Random(0), world, world.finance, world.finance2, shared, reject=False):
            pass

    assert shared.errors == []
    assert shared.outcomes["approved"] == len(claims)
    assert shared.outcomes["prepared"] >= 3, dict(shared.outcomes)
    assert shared.batches_while_approving > 0, dict(shared.outcomes)  # the runs really raced the approvals
    # Every claim is paid, by exactly one accepted payment and one payment transfer; nothing is left waiting.
    assert set(Claim.objects.filter(pk__in=[c.pk for c in claims]).values_list("status", flat=True)) == {"paid"}
    accepted = Counter(
        PaymentLineClaim.objects.filter(line__outcome=PaymentOutcome.ACCEPTED).values_list("claim_id", flat=True)
    )
    assert accepted == Counter({c.pk: 1 for c in claims})
    assert not PaymentLineClaim.objects.filter(line__outcome=PaymentOutcome.PENDING).exists()
    transfers = Counter(Transfer.objects.filter(code=TransferCode.PAYMENT).values_list("ref_id", flat=True))
    assert transfers == Counter({str(c.pk): 1 for c in claims})
    assert not Transfer.objects.filter(code=TransferCode.CORRECTION).exists()
    paid = system_total(organiser_id=world.client.organiser_id, unit=Unit.EUR, kind=PurseKind.PAID)
    assert paid["balance_posted"] == sum(
        Claim.objects.filter(pk__in=[c.pk for c in claims]).values_list("amount_cents", flat=True)
    )
    assert not PaymentBatch.objects.filter(state=PaymentBatchState.RELEASED).exists()
    assert shared.outcomes["rejected_payments"] > 0  # the rejected payments' claims were paid by a later run
    assert ledger_verify()[1] == []
    assert audit_verify()[1] == []
