import datetime as dt
import uuid

from kukkaro.core import clock
from kukkaro.ledger import services
from kukkaro.ledger.models import PeriodKind, Purse, RolloverRule, Unit
from tests.factories import client_in

NOW = dt.datetime(2026, 3, 15, 10, 0, tzinfo=dt.UTC)


def open_purse(
    *,
    unit: Unit = Unit.EUR,
    amount: int = 100_000,
    kind: PeriodKind = PeriodKind.ONCE,
    rule: RolloverRule = RolloverRule.ROLL,
    cap: int = 0,
    borrow_limit: int = 0,
    valid_from: dt.date = dt.date(2026, 1, 1),
    valid_until: dt.date = dt.date(2026, 12, 31),
    client=None,
) -> Purse:
    client = client or client_in("lansi-uusimaa")
    return services.client_purse_open(
        organiser=client.organiser,
        client=client,
        unit=unit,
        valid_from=valid_from,
        valid_until=valid_until,
        period_amount=amount,
        period_kind=kind,
        rollover_rule=rule,
        rollover_cap=cap,
        borrow_limit=borrow_limit,
        funding_ref=f"test:{uuid.uuid4()}",
        label="test purse",
    )


def in_an_hour() -> dt.datetime:
    return clock.now() + dt.timedelta(hours=1)
