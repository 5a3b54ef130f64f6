"""A Länsi-Uusimaa transport world: a rate table with trip, work-trip, kilometre and euro transport lines, the
county's tariff file, and clients with approved transport decisions in each model, each with a transport card."""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kukkaro.cases import services as case_services
from kukkaro.cases.models import Decision, DecisionLine, Instrument, RateCategory, RateTable, ServiceUnit
from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Unit
from kukkaro.mobility import services, tariff_files
from kukkaro.mobility.models import ContractArea, EntitlementModel, TransportCard, TransportEntitlement
from kukkaro.people.models import Client, User
from tests.factories import client_in, make_user, organiser, system_actor

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
    (
        "transport-leasing",
        "Leasing-auto",
        "Leasingbil",
        "Leasing car",
        ServiceUnit.MONTH,
        100,
        Unit.EUR,
    ),  # quantity = euros a month
]


def transport_rate_table(organiser_code: str = "lansi-uusimaa") -> RateTable:
    """A rate table of transport categories; where the organiser already has a rate table (the casework tests'),
    the missing transport categories are added to it instead: an organiser has one rate table in force at a time."""
    table = RateTable.objects.filter(organiser__code=organiser_code).order_by("valid_from").first()
    if table is None:
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
    for code, fi, sv, en, unit, cost, purse_unit in TRANSPORT_CATEGORIES:
        RateCategory.objects.get_or_create(
            rate_table=table,
            code=code,
            defaults={
                "name_fi": fi,
                "name_sv": sv,
                "name_en": en,
                "service_unit": unit,
                "unit_cost_cents": cost,
                "purse_unit": purse_unit,
                "default_instrument": Instrument.PURCHASED,
            },
        )
    return table


def load_tariffs(organiser_code: str = "lansi-uusimaa") -> ContractArea:
    document = tariff_files.read_document(TARIFF_FILE.read_bytes(), TARIFF_FILE.name)
    area, _added = services.tariffs_load(
        actor=system_actor(organiser(organiser_code)),
        organiser=organiser(organiser_code),
        document=document,
        source=TARIFF_FILE.name,
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


@dataclass
class TripActivity:
    rider: Rider
    trip_import: Any
    review_leg: Any


def build_trip_activity(*, worker: User, approver: User) -> TripActivity:
    """A trip-quota client and an imported trip file of theirs: one leg accepted, one held for review (the fare
    is off), one rejected."""
    from kukkaro.mobility import trip_files
    from kukkaro.mobility.models import LegOutcome
    from tests.mobility.trips import OPERATOR, leg, trip_file
    from tests.services.world import approved_provider

    area = ContractArea.objects.filter(organiser__code="lansi-uusimaa").first() or load_tariffs()
    quota = rider(EntitlementModel.TRIP_QUOTA, area=area, worker=worker, approver=approver, first_names="Kyyti")
    if not approved_provider_exists(OPERATOR):
        approved_provider(
            organiser=organiser(), decision_maker=approver, business_id=OPERATOR, name="Taksi Oy", username="taksi"
        )
    year = clock.today().year
    day = f"{year}-03-04"
    content = trip_file(
        [
            leg(
                trip_id="A-1",
                client_number=quota.card.number,
                pickup_at=f"{day}T10:00:00+02:00",
                dropoff_at=f"{day}T10:25:00+02:00",
            ),
            leg(
                trip_id="A-2",
                client_number=quota.card.number,
                pickup_at=f"{day}T12:00:00+02:00",
                dropoff_at=f"{day}T12:25:00+02:00",
                fare_eur="99.00",
            ),
            leg(trip_id="A-3", client_number=quota.card.number, distance_km="-1"),
        ]
    )
    trip_import = trip_files.import_trips(
        actor=system_actor(organiser()), organiser=organiser(), filename="trips.csv", content=content
    )
    review = trip_import.legs.filter(outcome=LegOutcome.REVIEW).first()
    return TripActivity(rider=quota, trip_import=trip_import, review_leg=review)


def approved_provider_exists(business_id: str) -> bool:
    from kukkaro.services.models import Provider

    return Provider.objects.filter(organiser__code="lansi-uusimaa", business_id=business_id).exists()


def build_lease(client: Client, *, worker: User, approver: User, contract_number: str = "EL-TEST-1") -> Any:
    """A leasing car of ``client`` from this month, paid from a leasing line of a new transport decision, with
    its odometer read at delivery."""
    from kukkaro.mobility import leasing

    decision = approved_transport_decision(
        client, worker=worker, approver=approver, lines=[{"category": "transport-leasing", "quantity": 900}]
    )
    first = clock.today().replace(day=1)
    lease = leasing.leasing_create(
        actor=worker,
        decision=decision,
        line=decision.lines.get(category_code="transport-leasing"),
        lessor="Esteetön Leasing Oy",
        contract_number=contract_number,
        vehicle="Volkswagen Caddy Maxi",
        registration="AXE-100",
        modifications=["ramp"],
        starts_on=first,
        contract_months=36,
        monthly_price_cents=74_000,
        insurance_cents=8_500,
        servicing_cents=5_500,
        client_contribution_cents=15_000,
        included_km_per_year=15_000,
        excess_km_cents=15,
        client_drives=True,
        drivers=[],
    )
    leasing.odometer_record(actor=worker, contract=lease, read_on=first, km=12, kind="start")
    return lease
