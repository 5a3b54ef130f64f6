"""A Länsi-Uusimaa transport world: a rate table with trip, work-trip, kilometre and euro transport lines, the
county's tariff file, and clients with approved transport decisions in each model, each with a transport card."""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from kukkaro.cases import services as case_services
from kukkaro.cases.models import Decision, DecisionLine, Instrument, RateTable, ServiceUnit
from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Unit
from kukkaro.mobility import services, tariff_files
from kukkaro.mobility.models import ContractArea, EntitlementModel, TransportCard, TransportEntitlement
from kukkaro.people.models import Client, User
from tests.factories import client_in, make_user, organiser

TARIFF_FILE = Path(__file__).resolve().parents[2] / "kukkaro" / "mobility" / "tariffs" / "lansi-uusimaa.toml"

TRANSPORT_CATEGORIES = [
    (
        "transport-trips",
        "Kuljetuspalvelun matkat",
        "Färdtjänstresor",
        "Transport trips",
        ServiceUnit.TRIP,
        3000,
        Unit.TRIP,
    ),
    (
        "transport-work",
        "Työ- ja opiskelumatkat",
        "Arbets- och studieresor",
        "Work and study trips",
        ServiceUnit.TRIP,
        3000,
        Unit.TRIP,
    ),
    ("transport-km", "Kilometrikukkaro", "Kilometerbudget", "Kilometre purse", ServiceUnit.KM, 180, Unit.KM),
    (
        "transport-eur",
        "Eurokukkaro",
        "Eurobudget",
        "Euro purse",
        ServiceUnit.MONTH,
        100,
        Unit.EUR,
    ),  # quantity = euros a month
]


def transport_rate_table(organiser_code: str = "lansi-uusimaa") -> RateTable:
    existing = RateTable.objects.filter(organiser__code=organiser_code, name="Kuljetus").first()
    if existing:
        return existing
    return case_services.rate_table_create(
        actor=make_user(Role.ADMIN, organiser_code=organiser_code),
        organiser=organiser(organiser_code),
        name="Kuljetus",
        valid_from=dt.date(2020, 1, 1),
        valid_until=None,
        categories=[
            {
                "code": code,
                "name_fi": fi,
                "name_sv": sv,
                "name_en": en,
                "service_unit": unit,
                "unit_cost_cents": cost,
                "purse_unit": purse_unit,
                "default_instrument": Instrument.PURCHASED,
            }
            for code, fi, sv, en, unit, cost, purse_unit in TRANSPORT_CATEGORIES
        ],
    )


def load_tariffs(organiser_code: str = "lansi-uusimaa") -> ContractArea:
    document = tariff_files.read_document(TARIFF_FILE.read_bytes(), TARIFF_FILE.name)
    area, _added = services.tariffs_load(
        actor=None, organiser=organiser(organiser_code), document=document, source=TARIFF_FILE.name
    )
    return area


@dataclass
class Rider:
    client: Client
    decision: Decision
    entitlement: TransportEntitlement
    card: TransportCard
    lines: dict[str, DecisionLine] = field(default_factory=dict)


def approved_transport_decision(client: Client, *, worker: User, approver: User, lines: list[dict]) -> Decision:
    """A decision with only transport lines, valid this calendar year, approved (its purses funded)."""
    transport_rate_table(client.organiser.code)
    indicative = case_services.calculation_create_indicative(actor=worker, client=client, lines=lines)
    final = case_services.calculation_finalise(actor=worker, indicative=indicative, lines=lines)
    year = clock.today().year
    decision = case_services.decision_draft_create(
        actor=worker,
        calculation=final,
        valid_from=dt.date(year, 1, 1),
        valid_until=dt.date(year, 12, 31),
        reasons="Kuljetuspalvelu.",
    )
    decision = case_services.decision_propose(actor=worker, decision=decision)
    return case_services.decision_approve(actor=approver, decision=decision)


MODEL_LINES = {
    EntitlementModel.TRIP_QUOTA: [
        {"category": "transport-trips", "quantity": 18, "borrow_limit": 4},
        {"category": "transport-work", "quantity": 44},
    ],
    EntitlementModel.KM_PURSE: [{"category": "transport-km", "quantity": 200}],
    EntitlementModel.EUR_PURSE: [{"category": "transport-eur", "quantity": 600}],
}
LEISURE_CATEGORY = {
    EntitlementModel.TRIP_QUOTA: "transport-trips",
    EntitlementModel.KM_PURSE: "transport-km",
    EntitlementModel.EUR_PURSE: "transport-eur",
}


def rider(
    model: str,
    *,
    area: ContractArea,
    worker: User,
    approver: User,
    municipality_code: str = "049",
    lines: list[dict] | None = None,
    allowed_area: str = "neighbours",
    **client_kwargs,
) -> Rider:
    client = client_in("lansi-uusimaa", **client_kwargs) if municipality_code == "049" else None
    if client is None:  # pragma: no cover - other municipalities are made the same way
        from tests.factories import ClientFactory

        client = ClientFactory(municipality_code=municipality_code, **client_kwargs)
    decision = approved_transport_decision(client, worker=worker, approver=approver, lines=lines or MODEL_LINES[model])
    by_category = {line.category_code: line for line in decision.lines.all()}
    entitlement = services.entitlement_create(
        actor=worker,
        decision=decision,
        model=model,
        leisure_line=by_category[LEISURE_CATEGORY[model]],
        work_line=by_category.get("transport-work"),
        contract_area=area,
        allowed_area=allowed_area,
        vehicle_class="car",
    )
    card = services.card_issue(actor=worker, client=client)
    return Rider(client=client, decision=decision, entitlement=entitlement, card=card, lines=by_category)
