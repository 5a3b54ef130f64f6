"""The ledger's bulk service: many transfers posted at once with the checks of ``transfer_post`` (a trip file's
debits), all or nothing, and the counters right afterwards — on both databases."""

import datetime as dt
import uuid

import pytest
from django.db import connection, transaction

from kukkaro.core import clock
from kukkaro.ledger import bulk
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Purse, PurseKind, Transfer, TransferCode, Unit
from kukkaro.ledger.verification import ledger_verify
from tests.databases import postgresql_only
from tests.factories import organiser
from tests.ledger.factories import NOW, open_purse

pytestmark = pytest.mark.django_db


def _spending(purse: Purse, amount: int, memo: str = "") -> bulk.Spending:
    return bulk.Spending(transfer_id=uuid.uuid4(), purse_id=purse.pk, amount=amount, memo=memo)


def _post(spendings: list[bulk.Spending]) -> list[uuid.UUID]:
    return bulk.spendings_post_many(
        spendings=spendings, code=TransferCode.USAGE, ref_type="trip_file", ref_id="f" * 64, actor=None
    )


def test_spendings_post_many__debits_each_purse_and_credits_its_payables_shard():
    with clock.pinned(NOW):
        first, second = open_purse(amount=10_000), open_purse(amount=5_000)
        ids = _post([_spending(first, 2_500, "trips.csv: 3 legs"), _spending(second, 5_000, "trips.csv: 1 legs")])
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.debits_posted, first.available_now) == (2_500, 7_500)
    assert (second.debits_posted, second.available_now) == (5_000, 0)
    transfers = {t.pk: t for t in Transfer.objects.filter(pk__in=ids)}
    assert len(transfers) == 2
    for transfer_id, purse in zip(ids, (first, second), strict=True):
        transfer = transfers[transfer_id]
        assert transfer.credit_purse_id == ledger.payables_of(purse).pk
        assert (transfer.code, transfer.flag, transfer.unit) == (TransferCode.USAGE, "posted", Unit.EUR)
        assert (transfer.ref_type, transfer.ref_id) == ("trip_file", "f" * 64)
        # The fingerprint transfer_post would store: a later transfer_post with the same id is a retry of it.
        assert transfer.fingerprint == ledger.transfer_fingerprint(
            debit_purse_id=purse.pk,
            credit_purse_id=transfer.credit_purse_id,
            amount=transfer.amount,
            code=TransferCode.USAGE,
            ref_type="trip_file",
            ref_id="f" * 64,
            memo=transfer.memo,
        )
    assert ledger_verify()[1] == []


def test_spendings_post_many__the_same_as_transfer_post_one_by_one():
    """The batch leaves the purses, the payables and the transfer rows exactly as transfer_post would."""
    with clock.pinned(NOW):
        purses = [open_purse(amount=9_000) for _ in range(3)]
        for purse in purses:  # the payables shards exist before either run, so both credit the same rows
            ledger.payables_of(purse)
        spendings = [_spending(purse, 1_000 * (n + 1), f"memo {n}") for n, purse in enumerate(purses)]
        results = []
        for one_by_one in (True, False):
            with transaction.atomic():
                if one_by_one:
                    for spending, purse in zip(spendings, purses, strict=True):
                        ledger.transfer_post(
                            transfer_id=spending.transfer_id,
                            debit=purse,
                            credit=ledger.payables_of(purse),
                            amount=spending.amount,
                            code=TransferCode.USAGE,
                            ref_type="trip_file",
                            ref_id="f" * 64,
                            memo=spending.memo,
                        )
                else:
                    _post(spendings)
                results.append(
                    (
                        sorted(Purse.objects.values_list("pk", "debits_posted", "credits_posted", "debits_pending")),
                        sorted(
                            Transfer.objects.filter(code=TransferCode.USAGE).values_list(
                                "pk", "debit_purse_id", "credit_purse_id", "amount", "unit", "memo", "fingerprint"
                            )
                        ),
                    )
                )
                transaction.set_rollback(True)
    assert results[0] == results[1]


def test_spendings_post_many__overdraft_is_refused_and_nothing_is_written():
    with clock.pinned(NOW):
        rich, poor = open_purse(amount=10_000), open_purse(amount=1_000)
        ledger.payables_of(rich), ledger.payables_of(poor)
        before = sorted(Purse.objects.values_list("pk", "debits_posted", "credits_posted"))
        with pytest.raises(ledger.InsufficientFunds):
            _post([_spending(rich, 500), _spending(poor, 600), _spending(poor, 600)])  # 1 200 from 1 000
    assert sorted(Purse.objects.values_list("pk", "debits_posted", "credits_posted")) == before
    assert not Transfer.objects.filter(code=TransferCode.USAGE).exists()


def test_spendings_post_many__at_the_purses_money_is_taken_whole():
    with clock.pinned(NOW):
        purse = open_purse(amount=1_000)
        _post([_spending(purse, 400), _spending(purse, 600)])
    purse.refresh_from_db()
    assert purse.available_now == 0


def test_spendings_post_many__a_closed_purse_is_refused():
    with clock.pinned(NOW):
        purse = open_purse(amount=1_000)
        Purse.objects.filter(pk=purse.pk).update(closed_at=NOW)
        with pytest.raises(ledger.LedgerError) as refused:
            _post([_spending(purse, 100)])
    assert refused.value.reason == "purse_closed"
    assert not Transfer.objects.filter(code=TransferCode.USAGE).exists()


@pytest.mark.parametrize(("amount", "error"), [(0, ledger.LedgerError), (-5, ledger.LedgerError), (1.5, TypeError)])
def test_transfers_post_many__amounts_are_positive_integers(amount, error):
    with clock.pinned(NOW):
        purse = open_purse(amount=1_000)
        with pytest.raises(error):
            _post([bulk.Spending(transfer_id=uuid.uuid4(), purse_id=purse.pk, amount=amount)])


def test_transfers_post_many__units_and_organisers_must_match_and_ids_be_unique():
    with clock.pinned(NOW):
        euros, kilometres = open_purse(amount=1_000), open_purse(unit=Unit.KM, amount=1_000)
        other = ledger.system_purse(organiser=organiser("paijat-hame"), unit=Unit.EUR, kind=PurseKind.PAYABLES)
        cases = [
            ([bulk.Posting(uuid.uuid4(), euros.pk, kilometres.pk, 10)], "unit_mismatch"),
            ([bulk.Posting(uuid.uuid4(), euros.pk, other.pk, 10)], "organiser_mismatch"),
            ([bulk.Posting(uuid.UUID(int=1), euros.pk, ledger.payables_of(euros).pk, 10)] * 2, "id_conflict"),
            ([bulk.Posting(uuid.uuid4(), uuid.uuid4(), ledger.payables_of(euros).pk, 10)], "no_purse"),
        ]
        for postings, reason in cases:
            with pytest.raises(ledger.LedgerError) as refused:
                bulk.transfers_post_many(postings=postings, code=TransferCode.USAGE)
            assert refused.value.reason == reason
    assert not Transfer.objects.filter(code=TransferCode.USAGE).exists()


def test_transfers_post_many__nothing_to_post_is_nothing():
    assert bulk.transfers_post_many(postings=[], code=TransferCode.USAGE) == []


def test_purses_spendable__available_now_and_nothing_from_a_closed_purse():
    with clock.pinned(NOW):
        open_one, closed = open_purse(amount=1_000), open_purse(amount=2_000)
        ledger.hold_create(transfer_id=uuid.uuid4(), purse=open_one, amount=300, expires_at=NOW + dt.timedelta(days=1))
        Purse.objects.filter(pk=closed.pk).update(closed_at=NOW)
    assert bulk.purses_spendable(purse_ids=[open_one.pk, closed.pk]) == {open_one.pk: 700, closed.pk: 0}


def test_sql_available__counts_as_available_now():
    postgresql_only("the expression is read by PostgreSQL statements (the booking's one-query judgement)")
    with clock.pinned(NOW):
        purse = open_purse(amount=1_000)
        ledger.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=250, expires_at=NOW + dt.timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {bulk.sql_available('p')} FROM {bulk.PURSE_TABLE} p WHERE p.id = %s",  # noqa: S608
            [purse.pk],
        )
        assert cursor.fetchone()[0] == Purse.objects.get(pk=purse.pk).available_now == 750
