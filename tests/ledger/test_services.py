import datetime as dt
import uuid

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import translation

from kukkaro.core import clock
from kukkaro.core.models import Organiser
from kukkaro.core.roles import Role
from kukkaro.ledger import holds as ledger_holds
from kukkaro.ledger import services
from kukkaro.ledger.models import PeriodKind, Purse, PurseKind, RolloverRule, Transfer, TransferCode, Unit
from kukkaro.ledger.selectors import system_total
from kukkaro.ledger.verification import ledger_verify
from tests.databases import postgresql_only
from tests.factories import client_in, make_user
from tests.ledger.factories import NOW, in_an_hour, open_purse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _pinned_clock():
    with clock.pinned(NOW):
        yield


def _fresh(purse: Purse) -> Purse:
    return Purse.objects.get(pk=purse.pk)


def test_client_purse_open__once__allocates_and_releases_everything():
    purse = open_purse(amount=100_000)
    assert purse.available_now == 100_000
    assert _fresh(purse.scheduled).balance_posted == 0
    funding = system_total(organiser_id=purse.organiser_id, unit=Unit.EUR, kind=PurseKind.FUNDING)
    assert funding["balance_posted"] == -100_000
    assert ledger_verify()[1] == []


def test_client_purse_open__not_yet_released_purse__is_named_in_the_readers_language():
    purse = open_purse(amount=100_000)
    scheduled = _fresh(purse.scheduled)
    assert scheduled.label == purse.label == "test purse"
    with translation.override("fi"):
        assert str(scheduled) == "test purse (ei vielä vapautettu)"
    with translation.override("sv"):
        assert str(scheduled) == "test purse (ännu inte frigjord)"
    with translation.override("en"):
        assert str(scheduled) == "test purse (not yet released)"
        assert str(purse) == "test purse"


def test_client_purse_open__monthly__releases_only_begun_periods():
    purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY)
    # January, February and March have begun on 15 March; 9 months remain scheduled.
    assert purse.available_now == 3 * 18
    assert _fresh(purse.scheduled).balance_posted == 9 * 18


def test_hold__reduces_available_now_not_posted_balance():
    purse = open_purse(amount=10_000)
    services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=2_500, expires_at=in_an_hour())
    purse = _fresh(purse)
    assert (purse.available_now, purse.balance_posted, purse.debits_pending) == (7_500, 10_000, 2_500)


def test_hold__larger_than_available__is_refused_with_the_amounts():
    purse = open_purse(amount=10_000)
    services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=6_000, expires_at=in_an_hour())
    with pytest.raises(services.InsufficientFunds, match="5000 requested but only 4000 available"):
        services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=5_000, expires_at=in_an_hour())
    assert Transfer.objects.filter(code=TransferCode.HOLD).count() == 1


def test_hold_post__partial_amount__releases_remainder():
    purse = open_purse(amount=10_000)
    hold = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=4_000, expires_at=in_an_hour())
    services.hold_post(transfer_id=uuid.uuid4(), hold=hold, amount=3_000)
    purse = _fresh(purse)
    assert (purse.available_now, purse.debits_pending, purse.debits_posted) == (7_000, 0, 3_000)
    payables = system_total(organiser_id=purse.organiser_id, unit=Unit.EUR, kind=PurseKind.PAYABLES)
    assert (payables["credits_posted"], payables["credits_pending"]) == (3_000, 0)
    assert ledger_verify()[1] == []


def test_hold_post__more_than_held__is_refused():
    purse = open_purse(amount=10_000)
    hold = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=4_000, expires_at=in_an_hour())
    with pytest.raises(services.LedgerError, match="1–4000"):
        services.hold_post(transfer_id=uuid.uuid4(), hold=hold, amount=4_001)


def test_hold__posted_twice_or_voided_after_post__is_refused():
    purse = open_purse(amount=10_000)
    hold = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=4_000, expires_at=in_an_hour())
    services.hold_post(transfer_id=uuid.uuid4(), hold=hold)
    with pytest.raises(services.HoldNotOpen):
        services.hold_post(transfer_id=uuid.uuid4(), hold=hold)
    with pytest.raises(services.HoldNotOpen):
        services.hold_void(transfer_id=uuid.uuid4(), hold=hold)
    assert _fresh(purse).debits_posted == 4_000


def test_hold_void__gives_everything_back():
    purse = open_purse(amount=10_000)
    hold = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=4_000, expires_at=in_an_hour())
    services.hold_void(transfer_id=uuid.uuid4(), hold=hold)
    assert _fresh(purse).available_now == 10_000
    assert ledger_verify()[1] == []


def _holds_on_three_purses(ref: str) -> list[Transfer]:
    holds = []
    for n, amount in enumerate((1_000, 2_500, 400)):
        purse = open_purse(amount=10_000)
        for k in range(n + 1):
            holds.append(
                services.hold_create(
                    transfer_id=services.derived_id(ref, n, k),
                    purse=purse,
                    amount=amount + k,
                    expires_at=in_an_hour(),
                    ref_type="trip_authorization",
                    ref_id=f"{ref}-{n}-{k}",
                )
            )
    return holds


def test_holds_void_many__writes_what_hold_void_would_and_moves_each_counter_once():
    holds = _holds_on_three_purses("many")
    staff = make_user(Role.FINANCE)
    pairs = [(services.derived_id(h.pk, "settled"), h.pk) for h in holds]
    assert services.holds_void_many(voids=pairs, actor=staff, memo="settled") == {h.pk for h in holds}
    assert set(Transfer.objects.filter(code=TransferCode.VOID).values_list("actor_id", "unit", "created_at")) == {
        (staff.pk, holds[0].unit, NOW)
    }
    assert all(p.debits_pending == 0 and p.credits_pending == 0 for p in Purse.objects.all())
    for (transfer_id, _hold_id), hold in zip(pairs, holds, strict=True):
        void = Transfer.objects.get(pk=transfer_id)
        assert (void.pending_id, void.amount, void.code, void.flag, void.memo) == (
            hold.pk,
            hold.amount,
            "void",
            "void_pending",
            "settled",
        )
        assert (void.debit_purse_id, void.credit_purse_id, void.ref_id) == (
            hold.debit_purse_id,
            hold.credit_purse_id,
            hold.ref_id,
        )
        # The same void asked for again one by one is recognised as a retry (same fingerprint), not a conflict.
        assert services.hold_void(transfer_id=transfer_id, hold=hold, memo="settled").pk == transfer_id
    assert Transfer.objects.filter(code=TransferCode.VOID).count() == len(holds)
    assert ledger_verify()[1] == []


def test_holds_void_many__leaves_a_hold_that_is_not_open_alone():
    holds = _holds_on_three_purses("left")
    services.hold_post(transfer_id=uuid.uuid4(), hold=holds[0])
    services.hold_void(transfer_id=uuid.uuid4(), hold=holds[1])
    released = services.holds_void_many(voids=[(services.derived_id(h.pk, "x"), h.pk) for h in holds])
    assert released == {h.pk for h in holds[2:]}
    assert sum(p.debits_pending for p in Purse.objects.all()) == 0
    assert ledger_verify()[1] == []


def test_holds_void_many__a_chunk_refused_by_the_database_is_voided_one_hold_at_a_time(monkeypatch):
    holds = _holds_on_three_purses("fallback")
    original = ledger_holds._write_voids
    calls = []

    def refused_once(requests, *, actor):
        calls.append(len(requests))
        original(requests, actor=actor)  # the voids and counters are written, then the chunk fails: all undone
        if len(calls) == 1:
            raise IntegrityError("ledger_hold_resolved_once")

    monkeypatch.setattr(ledger_holds, "_write_voids", refused_once)
    released = services.holds_void_many(voids=[(services.derived_id(h.pk, "f"), h.pk) for h in holds])
    assert released == {h.pk for h in holds} and calls == [len(holds)]
    assert Transfer.objects.filter(code=TransferCode.VOID).count() == len(holds)
    assert all(p.debits_pending == 0 and p.credits_pending == 0 for p in Purse.objects.all())
    assert ledger_verify()[1] == []


def test_holds_expire__releases_only_stale_holds_and_is_repeatable():
    purse = open_purse(amount=10_000)
    stale = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=1_000, expires_at=in_an_hour())
    services.hold_create(
        transfer_id=uuid.uuid4(), purse=purse, amount=2_000, expires_at=clock.now() + dt.timedelta(days=2)
    )
    later = clock.now() + dt.timedelta(hours=2)
    assert services.holds_expire(now=later) == 1
    assert services.holds_expire(now=later) == 0
    assert Transfer.objects.get(pending=stale).code == TransferCode.EXPIRE
    assert _fresh(purse).available_now == 8_000
    with clock.pinned(later), pytest.raises(services.HoldNotOpen):
        services.hold_post(transfer_id=uuid.uuid4(), hold=stale)


def test_hold_post__after_expiry_time__is_refused_even_before_the_job_runs():
    purse = open_purse(amount=10_000)
    hold = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=1_000, expires_at=in_an_hour())
    with clock.pinned(NOW + dt.timedelta(hours=2)), pytest.raises(services.HoldNotOpen, match="expired"):
        services.hold_post(transfer_id=uuid.uuid4(), hold=hold)


def test_transfer__same_id_same_content__returns_the_original():
    purse = open_purse(amount=10_000)
    transfer_id = uuid.uuid4()
    expires = in_an_hour()
    first = services.hold_create(transfer_id=transfer_id, purse=purse, amount=1_000, expires_at=expires)
    again = services.hold_create(transfer_id=transfer_id, purse=purse, amount=1_000, expires_at=expires)
    assert again.pk == first.pk
    assert _fresh(purse).debits_pending == 1_000


def test_transfer__same_id_other_content__is_a_conflict():
    purse = open_purse(amount=10_000)
    transfer_id = uuid.uuid4()
    expires = in_an_hour()
    services.hold_create(transfer_id=transfer_id, purse=purse, amount=1_000, expires_at=expires)
    with pytest.raises(services.TransferConflict):
        services.hold_create(transfer_id=transfer_id, purse=purse, amount=1_001, expires_at=expires)


def test_transfer__retry_after_funds_ran_out__still_returns_the_original():
    purse = open_purse(amount=10_000)
    transfer_id = uuid.uuid4()
    expires = in_an_hour()
    services.hold_create(transfer_id=transfer_id, purse=purse, amount=6_000, expires_at=expires)
    services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=4_000, expires_at=expires)
    again = services.hold_create(transfer_id=transfer_id, purse=purse, amount=6_000, expires_at=expires)
    assert again.amount == 6_000


def test_transfer__between_units__is_refused():
    eur = open_purse(unit=Unit.EUR)
    km = open_purse(unit=Unit.KM, client=eur.client)
    with pytest.raises(services.LedgerError, match="units differ"):
        services.transfer_post(transfer_id=uuid.uuid4(), debit=eur, credit=km, amount=1, code=TransferCode.ROLLOVER)


def test_transfer__refuses_floats_and_non_positive_amounts():
    purse = open_purse()
    with pytest.raises(TypeError):
        services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=1.5, expires_at=in_an_hour())  # type: ignore[arg-type]
    with pytest.raises(services.LedgerError):
        services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=0, expires_at=in_an_hour())


def test_hold__outside_validity__is_refused():
    purse = open_purse(valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 3, 1))
    with pytest.raises(services.LedgerError, match="valid"):
        services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=1, expires_at=in_an_hour())


def test_database__refuses_overdraft_even_past_the_service():
    purse = open_purse(amount=1_000)
    with pytest.raises(IntegrityError), transaction.atomic():
        Purse.objects.filter(pk=purse.pk).update(debits_posted=1_001)


def test_database__refuses_update_of_a_transfer(on_postgres):
    purse = open_purse(amount=1_000)
    transfer = Transfer.objects.filter(credit_purse=purse).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Transfer.objects.filter(pk=transfer.pk).update(memo="changed")
    if on_postgres:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM ledger_transfer WHERE id = %s", [transfer.pk])


def test_transfer_correct__reverses_and_names_the_original():
    purse = open_purse(amount=10_000)
    hold = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=4_000, expires_at=in_an_hour())
    posted = services.hold_post(transfer_id=uuid.uuid4(), hold=hold)
    correction = services.transfer_correct(
        transfer_id=uuid.uuid4(), original=posted, actor=None, memo="provider billed twice", amount=1_000
    )
    assert (correction.debit_purse_id, correction.credit_purse_id) == (posted.credit_purse_id, purse.pk)
    assert correction.ref_id == str(posted.pk)
    assert _fresh(purse).available_now == 7_000
    assert ledger_verify()[1] == []


def test_periods__lapse_rule__lapses_unspent_at_each_boundary():
    with clock.pinned(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY, rule=RolloverRule.LAPSE)
        services.hold_create(
            transfer_id=uuid.uuid4(), purse=purse, amount=5, expires_at=clock.now() + dt.timedelta(days=60)
        )
    assert services.purse_release_due(purse=purse, today=dt.date(2026, 2, 1)) == 1
    purse = _fresh(purse)
    # January left 13 unheld trips: they lapse; the 5 held stay held; February brings 18.
    assert (purse.available_now, purse.debits_pending) == (18, 5)
    lapse = Transfer.objects.get(code=TransferCode.LAPSE, debit_purse=purse)
    assert (lapse.amount, lapse.period_start) == (13, dt.date(2026, 1, 1))


def test_periods__capped_rollover__saves_up_to_the_cap():
    with clock.pinned(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY, rule=RolloverRule.ROLL_CAPPED, cap=4)
    services.purse_release_due(purse=purse, today=dt.date(2026, 2, 3))
    assert _fresh(purse).available_now == 18 + 4


def test_periods__release_is_idempotent_and_late_jobs_catch_up():
    with clock.pinned(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        purse = open_purse(amount=10, unit=Unit.TRIP, kind=PeriodKind.MONTHLY)
    assert services.purse_release_due(purse=purse, today=dt.date(2026, 4, 2)) == 3
    assert services.purse_release_due(purse=purse, today=dt.date(2026, 4, 2)) == 0
    assert _fresh(purse).available_now == 40


def test_borrow__takes_from_next_period_within_limit():
    with clock.pinned(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY, borrow_limit=4)
        assert purse.available_in_period == 18 + 4
        services.purse_borrow(transfer_id=uuid.uuid4(), purse=purse, amount=3)
        with pytest.raises(services.LedgerError, match="at most 1 more"):
            services.purse_borrow(transfer_id=uuid.uuid4(), purse=purse, amount=2)
        assert _fresh(purse).available_now == 21
        assert _fresh(purse).available_in_period == 22
    services.purse_release_due(purse=purse, today=dt.date(2026, 2, 1))
    purse = _fresh(purse)
    assert purse.available_now == 21 + 15
    assert purse.borrowed_ahead == 0
    assert ledger_verify()[1] == []


def test_borrow__in_the_last_period__is_refused():
    with clock.pinned(dt.datetime(2026, 12, 10, tzinfo=dt.UTC)):
        purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY, borrow_limit=4)
        with pytest.raises(services.LedgerError, match="no next period"):
            services.purse_borrow(transfer_id=uuid.uuid4(), purse=purse, amount=1)


def test_validity_end__lapses_the_rest_of_both_purses():
    with clock.pinned(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        purse = open_purse(
            amount=100, unit=Unit.KM, kind=PeriodKind.MONTHLY, valid_until=dt.date(2026, 3, 31), borrow_limit=0
        )
    services.purse_release_due(purse=purse, today=dt.date(2026, 4, 1))
    purse = _fresh(purse)
    assert purse.available_now == 0
    assert _fresh(purse.scheduled).balance_posted == 0
    assert system_total(organiser_id=purse.organiser_id, unit=Unit.KM, kind=PurseKind.LAPSED)["balance_posted"] == 300
    assert ledger_verify()[1] == []


def test_system_purses__one_per_organiser_unit_kind_and_shard():
    client = client_in("lansi-uusimaa")
    a = services.system_purse(organiser=client.organiser, unit=Unit.EUR, kind=PurseKind.PAYABLES, shard=3)
    b = services.system_purse(organiser=client.organiser, unit=Unit.EUR, kind=PurseKind.PAYABLES, shard=3)
    c = services.system_purse(organiser=client.organiser, unit=Unit.EUR, kind=PurseKind.PAYABLES, shard=4)
    assert a.pk == b.pk
    assert c.pk != a.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        Purse.objects.filter(pk=c.pk).update(shard=16)


def test_hold_post__fake_hold_object__every_check_uses_the_stored_hold():
    purse = open_purse(amount=10_000)
    real = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=1_000, expires_at=in_an_hour())
    fake = Transfer(
        pk=real.pk,
        amount=9_000,
        debit_purse_id=purse.pk,
        credit_purse_id=real.credit_purse_id,
        expires_at=clock.now() + dt.timedelta(days=365),
    )
    with pytest.raises(services.LedgerError, match="1–1000"):
        services.hold_post(transfer_id=uuid.uuid4(), hold=fake, amount=5_000)
    with clock.pinned(NOW + dt.timedelta(hours=3)), pytest.raises(services.HoldNotOpen, match="expired"):
        services.hold_post(transfer_id=uuid.uuid4(), hold=fake, amount=500)
    services.hold_post(transfer_id=uuid.uuid4(), hold=fake, amount=1_000)
    assert _fresh(purse).debits_posted == 1_000


def test_hold__only_on_client_purses():
    purse = open_purse(amount=10_000)
    with pytest.raises(services.LedgerError, match="client purses"):
        services.hold_create(transfer_id=uuid.uuid4(), purse=purse.scheduled, amount=1, expires_at=in_an_hour())


def test_client_purse_open__client_of_another_organiser__is_refused():
    client = client_in("lansi-uusimaa")
    with pytest.raises(services.LedgerError, match="another organiser"):
        services.client_purse_open(
            organiser=Organiser.objects.get(code="paijat-hame"),
            client=client,
            unit=Unit.EUR,
            valid_from=dt.date(2026, 1, 1),
            valid_until=dt.date(2026, 12, 31),
            period_amount=1,
        )


def test_hold_create__retry_after_the_hold_expired__returns_the_original():
    purse = open_purse(amount=10_000)
    transfer_id, expires = uuid.uuid4(), in_an_hour()
    first = services.hold_create(transfer_id=transfer_id, purse=purse, amount=1_000, expires_at=expires)
    with clock.pinned(NOW + dt.timedelta(hours=2)):
        assert (
            services.hold_create(transfer_id=transfer_id, purse=purse, amount=1_000, expires_at=expires).pk == first.pk
        )


def test_transfer_correct__never_undoes_more_than_the_original():
    purse = open_purse(amount=10_000)
    hold = services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=4_000, expires_at=in_an_hour())
    posted = services.hold_post(transfer_id=uuid.uuid4(), hold=hold)
    services.transfer_correct(transfer_id=uuid.uuid4(), original=posted, actor=None, memo="a", amount=3_000)
    with pytest.raises(services.LedgerError, match="1000 of transfer"):
        services.transfer_correct(transfer_id=uuid.uuid4(), original=posted, actor=None, memo="again")
    services.transfer_correct(transfer_id=uuid.uuid4(), original=posted, actor=None, memo="rest", amount=1_000)
    assert _fresh(purse).available_now == 10_000
    assert ledger_verify()[1] == []


def test_borrow__same_id_twice__borrows_once():
    with clock.pinned(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY, borrow_limit=4)
        transfer_id = uuid.uuid4()
        services.purse_borrow(transfer_id=transfer_id, purse=purse, amount=3)
        services.purse_borrow(transfer_id=transfer_id, purse=purse, amount=3)
    assert _fresh(purse).borrowed_ahead == 3
    assert ledger_verify()[1] == []


def test_borrow__unused_borrowing_goes_back_to_the_next_period_not_to_lapse():
    with clock.pinned(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY, rule=RolloverRule.LAPSE, borrow_limit=4)
        services.purse_borrow(transfer_id=uuid.uuid4(), purse=purse, amount=4)
    services.purse_release_due(purse=purse, today=dt.date(2026, 2, 1))
    assert _fresh(purse).available_now == 18  # 18 of January lapse; the 4 borrowed come back with February
    assert ledger_verify()[1] == []


def test_purse_end__of_a_purse_that_has_not_begun__lapses_everything():
    purse = open_purse(amount=500, valid_from=dt.date(2026, 6, 1), valid_until=dt.date(2026, 12, 31))
    services.purse_end(purse=purse, actor=None, ref="test")
    assert _fresh(purse.scheduled).available_now == 0
    with pytest.raises(services.LedgerError):
        services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=1, expires_at=in_an_hour())
    assert ledger_verify()[1] == []


@pytest.mark.django_db(transaction=True)
def test_transfer__refused_outside_any_transaction__leaves_nothing_behind():
    # On PostgreSQL a transfer outside a caller's transaction is one autocommitted statement; when its second
    # UPDATE does not match, the first one must be undone with it.
    purse = open_purse(amount=10_000)
    assert not connection.in_atomic_block
    services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=6_000, expires_at=in_an_hour())
    with pytest.raises(services.InsufficientFunds):
        services.hold_create(transfer_id=uuid.uuid4(), purse=purse, amount=5_000, expires_at=in_an_hour())
    payables_id = services.system_purse_id(
        organiser_id=purse.organiser_id, unit=purse.unit, kind=PurseKind.PAYABLES, shard=services.shard_of(purse.pk)
    )
    Purse.objects.filter(pk=payables_id).update(closed_at=clock.now())
    refused_id = uuid.uuid4()
    with pytest.raises(services.LedgerError) as refused:
        services.hold_create(transfer_id=refused_id, purse=purse, amount=1_000, expires_at=in_an_hour())
    assert refused.value.reason == "purse_closed"
    purse = _fresh(purse)
    assert (purse.debits_pending, purse.available_now) == (6_000, 4_000)
    assert not Transfer.objects.filter(pk=refused_id).exists()
    assert Transfer.objects.filter(code=TransferCode.HOLD).count() == 1
    Purse.objects.filter(pk=payables_id).update(closed_at=None)
    assert ledger_verify()[1] == []


def test_database__transfer_indexes_are_the_ones_the_ledger_relies_on():
    """Migration ledger.0004 drops four covered indexes by name (ADR 0010); the unique 'resolved once' index, the
    time indexes and the append-only trigger must survive it on both databases."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "ledger_transfer")
    indexed = {name for name, info in constraints.items() if info["index"] or info["unique"]}
    assert {"ledger_hold_resolved_once", "ledger_xfer_debit_time", "ledger_xfer_credit_time"} <= indexed
    assert constraints["ledger_hold_resolved_once"]["unique"]
    single_fk_indexes = {
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and info["columns"] in (["debit_purse_id"], ["credit_purse_id"], ["pending_id"], ["actor_id"])
    }
    assert single_fk_indexes == set()


@pytest.mark.django_db(transaction=True)
def test_purses_lock__holds_writers_off_the_purses_and_their_payables_but_not_foreign_key_checks():
    """The lock order's up-front lock (docs/mobility.md, "Locks"): another writer of a locked purse waits, but
    another transaction's foreign-key check of a row referencing it (FOR KEY SHARE, at its commit) does not —
    FOR UPDATE made a cancel's commit wait for a whole trip import."""
    postgresql_only("row lock modes are PostgreSQL's; SQLite locks the whole database for a writer")
    import threading

    purse = open_purse(amount=1_000)
    payables = services.payables_of(purse)
    locked, release, errors = threading.Event(), threading.Event(), []

    def hold_the_locks() -> None:
        try:
            with transaction.atomic():
                services.purses_lock(purse_ids={purse.pk}, with_payables=True)
                locked.set()
                release.wait(30)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    other = threading.Thread(target=hold_the_locks)
    other.start()
    try:
        assert locked.wait(30)
        with connection.cursor() as cursor:
            for pk in (purse.pk, payables.pk):
                with transaction.atomic():
                    cursor.execute("SELECT 1 FROM ledger_purse WHERE id = %s FOR KEY SHARE NOWAIT", [pk])
                with pytest.raises(DatabaseError), transaction.atomic():
                    cursor.execute("SELECT 1 FROM ledger_purse WHERE id = %s FOR NO KEY UPDATE NOWAIT", [pk])
    finally:
        release.set()
        other.join(30)
    assert errors == []
