import datetime as dt
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kukkaro.core import clock
from kukkaro.ledger import services
from kukkaro.ledger.models import PeriodKind, Purse, TransferCode, Unit
from kukkaro.ledger.selectors import purse_statement
from kukkaro.ledger.verification import ledger_verify
from tests.ledger.factories import open_purse

pytestmark = pytest.mark.django_db

JAN = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


def test_ledger_verify__a_counter_changed_behind_the_ledger__is_reported(capsys):
    with clock.pinned(JAN):
        purse = open_purse(amount=10_000)
    call_command("ledger_verify")
    assert "every counter matches" in capsys.readouterr().out
    Purse.objects.filter(pk=purse.pk).update(credits_posted=10_500)
    _count, problems = ledger_verify()
    assert any("credits_posted is 10500, transfers say 10000" in p.what for p in problems)
    assert any("does not balance" in p.what for p in problems)
    with pytest.raises(CommandError, match="does not verify"):
        call_command("ledger_verify")


def test_ledger_verify__a_deleted_transfer__is_reported(on_postgres):
    with clock.pinned(JAN):
        purse = open_purse(amount=10_000)
        hold = services.hold_create(
            transfer_id=uuid.uuid4(), purse=purse, amount=100, expires_at=clock.now() + dt.timedelta(hours=1)
        )
    with connection.cursor() as cursor:
        if on_postgres:
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM ledger_transfer WHERE id = %s", [hold.pk.hex if not on_postgres else hold.pk])
    assert ledger_verify()[1]


def test_purse_statement__opening_movements_closing_and_open_holds():
    with clock.pinned(JAN):
        purse = open_purse(amount=18, unit=Unit.TRIP, kind=PeriodKind.MONTHLY)
        first = services.hold_create(
            transfer_id=uuid.uuid4(), purse=purse, amount=5, expires_at=clock.now() + dt.timedelta(days=60)
        )
    with clock.pinned(dt.datetime(2026, 1, 20, tzinfo=dt.UTC)):
        services.hold_post(transfer_id=uuid.uuid4(), hold=first, amount=4)
        services.hold_create(
            transfer_id=uuid.uuid4(), purse=purse, amount=2, expires_at=clock.now() + dt.timedelta(days=60)
        )
    with clock.pinned(dt.datetime(2026, 2, 1, 8, 0, tzinfo=dt.UTC)):
        services.purse_release_due(purse=purse)

    january = purse_statement(purse=purse, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))
    assert january.opening_balance == 0
    assert [(m.transfer.code, m.amount, m.balance_after) for m in january.movements] == [
        (TransferCode.RELEASE, 18, 18),
        (TransferCode.POST, -4, 14),
    ]
    assert january.closing_balance == 14
    assert [h.amount for h in january.open_holds] == [2]

    february = purse_statement(purse=purse, start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 28))
    assert february.opening_balance == 14
    assert february.closing_balance == 32
    assert february.credits == 18
    assert february.debits == 0


def test_purse_statement__period_boundaries_are_helsinki_dates():
    # 22:30 UTC on 31 January is already 1 February in Helsinki.
    with clock.pinned(dt.datetime(2026, 1, 31, 22, 30, tzinfo=dt.UTC)):
        purse = open_purse(amount=500, valid_from=dt.date(2026, 2, 1), valid_until=dt.date(2026, 2, 28))
    assert purse_statement(purse=purse, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31)).movements == []
    assert purse_statement(purse=purse, start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 28)).closing_balance == 500
