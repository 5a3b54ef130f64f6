"""The transport world the mobility benchmarks share, made in bulk (what they measure is the import, the
authorisations or the comparison, not the set-up): Länsi-Uusimaa's tariff, a decision maker, the payables purses,
and clients with an approved transport decision line, a funded purse, an entitlement and a card each, in the
three models in turn."""

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("trip_quota", "km_purse", "eur_purse")
PASSWORD = "Bench-password-2026"  # noqa: S105 - scratch databases only


@dataclass(frozen=True)
class Rider:
    card: str
    model: str
    home: str  # municipality code


@dataclass(frozen=True)
class Setting:
    organiser: Any
    area: Any
    approver: Any


def bench_user(username: str, role: Any, organiser: Any) -> Any:
    """A user of the scratch database (made through the service, so it is a real one)."""
    from kukkaro.people.services import user_create

    return user_create(
        actor=None,
        username=username,
        role=role,
        first_name="B",
        last_name=username.rsplit(".", 1)[-1].title(),
        organiser=organiser,
        password=PASSWORD,
    )


def bench_decision(
    *,
    number: str,
    client: Any,
    organiser: Any,
    calculation: Any,
    approver: Any,
    valid_from: dt.date,
    valid_until: dt.date,
    start: dt.datetime,
) -> Any:
    """An approved decision (unsaved) that points at the bench calculation; the benchmarks never read its text."""
    from kukkaro.cases.models import Decision, DecisionState

    return Decision(
        number=number,
        client=client,
        organiser=organiser,
        state=DecisionState.APPROVED,
        language="fi",
        calculation=calculation,
        valid_from=valid_from,
        valid_until=valid_until,
        reasons="bench",
        preparer=calculation.created_by,
        created_at=start,
        approver=approver,
        approved_at=start,
        snapshot={"bench": True},
    )


def county_tariff() -> tuple[Any, Any]:
    """Migrate the scratch database and load the county's tariff file: (organiser, contract area)."""
    from django.core.management import call_command

    from kukkaro.core.actors import demo_builder
    from kukkaro.core.models import Organiser
    from kukkaro.mobility import services as mobility
    from kukkaro.mobility import tariff_files

    call_command("migrate", verbosity=0)
    organiser = Organiser.objects.get(code="lansi-uusimaa")
    tariff_path = ROOT / "kukkaro" / "mobility" / "tariffs" / "lansi-uusimaa.toml"
    area, _ = mobility.tariffs_load(
        actor=demo_builder(organiser),  # a scratch world built as the demo builds its own
        organiser=organiser,
        document=tariff_files.read_document(tariff_path.read_bytes(), tariff_path.name),
        source=tariff_path.name,
    )
    return organiser, area


def setting(start: dt.datetime) -> Setting:
    """Migrate, load the county's tariff, and make the decision maker and the payables purses."""
    from kukkaro.core import clock
    from kukkaro.core.roles import Role
    from kukkaro.ledger import services as ledger
    from kukkaro.ledger.models import SYSTEM_SHARDS, PurseKind, Unit

    organiser, area = county_tariff()
    with clock.pinned(start):
        approver = bench_user("bench.decision", Role.DECISION_MAKER, organiser)
        for unit in Unit.values:
            for shard in range(SYSTEM_SHARDS):
                ledger.system_purse(organiser=organiser, unit=unit, kind=PurseKind.PAYABLES, shard=shard)
    return Setting(organiser=organiser, area=area, approver=approver)


def riders(
    where: Setting,
    *,
    clients: int,
    seed: int,
    start: dt.datetime,
    valid_from: dt.date,
    valid_until: dt.date,
    amount_for: Callable[[int, str], int],
    prefix: str,
) -> list[Rider]:
    """``clients`` clients, each with an approved decision line funding a purse of ``amount_for(index, model)``
    (once, for the whole validity), an entitlement and a card whose number starts with ``prefix`` (two digits)."""
    from stdnum import luhn

    from kukkaro.cases.models import Decision, DecisionLine, Instrument
    from kukkaro.core.identifiers import make_hetu
    from kukkaro.core.models import Municipality
    from kukkaro.ledger import services as ledger
    from kukkaro.ledger.models import RolloverRule, Unit
    from kukkaro.mobility.models import TransportCard, TransportEntitlement
    from kukkaro.people.models import Client

    organiser = where.organiser
    rng = random.Random(seed)
    homes = list(Municipality.objects.filter(organiser=organiser).order_by("code"))
    people: list = []
    used: set = set()
    while len(people) < clients:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
        hetu = make_hetu(born, rng.randrange(900, 1000))
        if hetu in used:
            continue
        used.add(hetu)
        people.append(
            Client(
                organiser=organiser,
                municipality=homes[len(people) % len(homes)],
                national_id=hetu,
                first_names="Bench",
                last_name=f"Client {len(people)}",
                language="fi",
                created_at=start,
                updated_at=start,
            )
        )
    Client.objects.bulk_create(people, batch_size=2000)
    people = list(Client.objects.filter(organiser=organiser).select_related("municipality").order_by("pk"))
    calculation = bench_calculation(people[0], organiser, start)
    units = {"trip_quota": Unit.TRIP, "km_purse": Unit.KM, "eur_purse": Unit.EUR}
    decisions, lines, cards, out = [], [], [], []
    for index, client in enumerate(people):
        model = MODELS[index % 3]
        amount = amount_for(index, model)
        purse = ledger.client_purse_open(
            organiser=organiser,
            client=client,
            unit=units[model],
            valid_from=valid_from,
            valid_until=valid_until,
            period_amount=amount,
            rollover_rule=RolloverRule.ROLL,
            label="bench",
        )
        decision = bench_decision(
            number=f"B{prefix}-{index:06d}",
            client=client,
            organiser=organiser,
            calculation=calculation,
            approver=where.approver,
            valid_from=valid_from,
            valid_until=valid_until,
            start=start,
        )
        decisions.append(decision)
        lines.append(
            DecisionLine(
                decision=decision,
                client=client,
                category_code="transport",
                name_fi="Kuljetus",
                name_sv="Färdtjänst",
                name_en="Transport",
                purse_unit=units[model],
                amount_per_period=amount,
                period_kind="once",
                rollover_rule="roll",
                instrument=Instrument.PURCHASED,
                valid_from=valid_from,
                valid_until=valid_until,
                effective=True,
                purse=purse,
            )
        )
        number = f"{prefix}{index + 1:07d}"
        number += luhn.calc_check_digit(number)
        cards.append(TransportCard(client=client, number=number, issued_at=start))
        out.append(Rider(card=number, model=model, home=client.municipality.code))
    Decision.objects.bulk_create(decisions, batch_size=2000)
    DecisionLine.objects.bulk_create(lines, batch_size=2000)
    entitlements = [
        TransportEntitlement(
            organiser=organiser,
            client=client,
            decision=line.decision,
            model=MODELS[index % 3],
            leisure_line=line,
            contract_area=where.area,
            allowed_area="neighbours",
            vehicle_class="car",
            valid_from=valid_from,
            valid_until=valid_until,
            created_by=where.approver,
            created_at=start,
        )
        for index, (client, line) in enumerate(zip(people, lines, strict=True))
    ]
    TransportEntitlement.objects.bulk_create(entitlements, batch_size=2000)
    TransportCard.objects.bulk_create(cards, batch_size=2000)
    return out


def bench_calculation(client: Any, organiser: Any, at: dt.datetime) -> Any:
    """One final budget calculation, made through the services, that the bench decisions point at (a decision
    needs one; the benchmarks never read it)."""
    from kukkaro.cases import services as cases
    from kukkaro.cases.models import Instrument, ServiceUnit
    from kukkaro.core import clock
    from kukkaro.core.roles import Role
    from kukkaro.ledger.models import Unit

    with clock.pinned(at):
        admin = bench_user("bench.admin", Role.ADMIN, organiser)
        worker = bench_user("bench.social", Role.SOCIAL_WORKER, organiser)
        cases.rate_table_create(
            actor=admin,
            organiser=organiser,
            name="Bench",
            valid_from=dt.date(2025, 1, 1),
            valid_until=None,
            categories=[
                {
                    "code": "transport",
                    "name_fi": "Kuljetus",
                    "name_sv": "Färdtjänst",
                    "name_en": "Transport",
                    "service_unit": ServiceUnit.TRIP,
                    "unit_cost_cents": 3000,
                    "purse_unit": Unit.TRIP,
                    "default_instrument": Instrument.PURCHASED,
                }
            ],
        )
        lines = [{"category": "transport", "quantity": 18}]
        indicative = cases.calculation_create_indicative(actor=worker, client=client, lines=lines)
        return cases.calculation_finalise(actor=worker, indicative=indicative, lines=lines)
