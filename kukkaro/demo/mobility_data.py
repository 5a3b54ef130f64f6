"""The demo's disability transport in Länsi-Uusimaa: the county's taxi tariff, three approved taxi operators,
transport decisions in every model (a trip quota, heavy work and study users with their own line, kilometre
purses, euro purses), a transport card each, and a year of the dispatch centre's monthly trip files — night and
holiday trips, shared rides, supplements, and a few bad rows — imported through the same code as the upload page
and the command, with some legs resolved in review and the latest month's still waiting.

Everything runs with the clock pinned to the day it happens, earliest first, and is derived from a seed, so the
demo is the same every time (relative to today). A second run finds the trip files imported and adds nothing.
"""

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db.models import Count

from kukkaro.cases import services as case_services
from kukkaro.cases.models import BudgetCalculation, DecisionLine
from kukkaro.core import clock
from kukkaro.core.actors import demo_builder
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.roles import Role
from kukkaro.demo.timeline import Timeline, add_months
from kukkaro.ledger import services as ledger
from kukkaro.mobility import authorizations, judgement, leasing, tariff_files, trip_files
from kukkaro.mobility import services as mobility
from kukkaro.mobility.models import (
    AllowedArea,
    ContractArea,
    EntitlementModel,
    LeasingContract,
    LegOutcome,
    ReadingKind,
    TransportEntitlement,
    TripAuthorization,
    TripImport,
    TripLeg,
)
from kukkaro.mobility.neighbours import allowed_municipalities
from kukkaro.people import services as people_services
from kukkaro.people.models import Client, User
from kukkaro.services import providers
from kukkaro.services.models import Provider, ProviderState

SEED = 20261201
ORGANISER = "lansi-uusimaa"
TARIFFS = Path(__file__).resolve().parents[1] / "mobility" / "tariffs"

# name, seven digits for the business ID (the next valid one is used), contact
OPERATORS = [
    ("Länsi-Taksi Oy", "2983110", ("Tero", "Taksinen")),
    ("Invakyyti Lohja Oy", "2983125", ("Inka", "Kyytinen")),
    ("Kirkkonummen Taksipalvelu Oy", "2983139", ("Kalle", "Kuski")),
]


@dataclass(frozen=True)
class Profile:
    """A kind of transport client: the model, the lines of the decision and how they travel."""

    model: str
    lines: tuple[dict, ...]
    vehicle: str
    area: str
    leisure_per_month: tuple[int, int]  # fewest, most
    work: bool = False  # two work or study trips each working day
    study: bool = False
    night_share: float = 0.08
    lease: tuple | None = None  # (vehicle, modifications, client drives) for a leasing car with a small taxi purse


PROFILES = [
    # The classic 18 trips a month (four may be borrowed from the next month), some use them all.
    *[
        Profile(
            EntitlementModel.TRIP_QUOTA,
            ({"category": "transport-trips", "quantity": 18, "borrow_limit": 4},),
            vehicle,
            AllowedArea.NEIGHBOURS,
            (8, 19),
        )
        for vehicle in ("car", "car", "wheelchair", "van")
    ],
    # Heavy users: work or study trips on their own line, leisure on the quota.
    Profile(
        EntitlementModel.TRIP_QUOTA,
        ({"category": "transport-trips", "quantity": 18}, {"category": "transport-work", "quantity": 44}),
        "wheelchair",
        AllowedArea.NEIGHBOURS,
        (6, 12),
        work=True,
    ),
    Profile(
        EntitlementModel.TRIP_QUOTA,
        ({"category": "transport-trips", "quantity": 18}, {"category": "transport-work", "quantity": 44}),
        "car",
        AllowedArea.NEIGHBOURS,
        (6, 12),
        study=True,
    ),
    # Kilometre purses: 200 km a month, used for longer trips; one sometimes runs out.
    *[
        Profile(
            EntitlementModel.KM_PURSE,
            ({"category": "transport-km", "quantity": km},),
            vehicle,
            AllowedArea.NEIGHBOURS,
            (8, 14),
        )
        for vehicle, km in (("car", 200), ("car", 200), ("wheelchair", 160), ("car", 240))
    ],
    # Euro purses: usable anywhere (also beyond the neighbours), for any trip.
    *[
        Profile(
            EntitlementModel.EUR_PURSE,
            ({"category": "transport-eur", "quantity": euros},),
            vehicle,
            AllowedArea.UNLIMITED,
            (5, 8),
            night_share=0.15,
        )
        for vehicle, euros in (("car", 400), ("car", 350), ("wheelchair", 550), ("van", 500))
    ],
    # Leasing cars: heavy users who now drive (or are driven) in an adapted car, with a small euro purse for taxis.
    *[
        Profile(
            EntitlementModel.EUR_PURSE,
            ({"category": "transport-leasing", "quantity": 900}, {"category": "transport-eur", "quantity": 120}),
            "car",
            AllowedArea.UNLIMITED,
            (1, 3),
            lease=lease,
        )
        for lease in (
            ("Volkswagen Caddy Maxi", ("ramp", "wheelchair_securing"), False),
            ("Toyota Proace City Verso", ("hand_controls", "swivel_seat", "automatic"), True),
        )
    ],
]
FAR_AWAY = ("091", "092", "543", "106")  # Helsinki, Vantaa, Nurmijärvi, Hyvinkää


@dataclass
class Rider:
    client: Client
    profile: Profile
    card: str
    home: str
    born: dt.date


@dataclass
class MobilitySummary:
    built: bool = False
    riders: int = 0
    files: int = 0
    legs: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    resolved: int = 0
    leases: int = 0
    authorizations: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        counts = ", ".join(f"{key} {value}" for key, value in sorted(self.legs.items()))
        return (
            f"Transport: {self.riders} clients with transport decisions, {self.files} monthly trip files, "
            f"{sum(self.legs.values())} legs ({counts}); {self.resolved} resolved in review, {self.waiting} waiting; "
            f"{self.leases} leasing cars; trip authorisations: "
            + (", ".join(f"{key} {value}" for key, value in sorted(self.authorizations.items())) or "none")
            + "."
        )


def _summary(organiser: Organiser, built: bool) -> MobilitySummary:
    legs = TripLeg.objects.filter(trip_import__organiser=organiser)
    return MobilitySummary(
        built=built,
        riders=TransportEntitlement.objects.filter(organiser=organiser).values("client").distinct().count(),
        files=TripImport.objects.filter(organiser=organiser).count(),
        legs=dict(legs.values_list("outcome").annotate(n=Count("pk")).values_list("outcome", "n")),
        waiting=legs.filter(outcome=LegOutcome.REVIEW, resolved_outcome="").count(),
        resolved=legs.exclude(resolved_outcome="").count(),
        leases=LeasingContract.objects.filter(organiser=organiser).count(),
        authorizations=dict(
            TripAuthorization.objects.filter(organiser=organiser)
            .values_list("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        ),
    )


def build_mobility(timeline: Timeline) -> MobilitySummary:
    organiser = Organiser.objects.get(code=ORGANISER)
    if TripImport.objects.filter(organiser=organiser).exists():
        return _summary(organiser, built=False)
    story = _Story(timeline, organiser)
    story.tell()
    return _summary(organiser, built=True)


class _Story:
    def __init__(self, timeline: Timeline, organiser: Organiser) -> None:
        self.timeline = timeline
        self.organiser = organiser
        self.rng = random.Random(SEED)
        self.first_month = add_months(timeline.this_month, -12)
        self.worker = User.objects.get(username="lu.social")
        self.approver = User.objects.get(username="lu.decision")
        self.finance = User.objects.get(username="lu.finance")
        self.dispatch = User.objects.get(username="lu.dispatch")
        self.riders: list[Rider] = []
        self.operators: list[str] = []
        self.area: ContractArea | None = None
        self.sent: list[dict[str, str]] = []  # rows sent in earlier files (to resend one with other content)

    def at(self, when: dt.datetime) -> dt.datetime:
        """Never later than the moment the demo was started (nothing is dated in the future)."""
        return min(when, self.timeline.now)

    def tell(self) -> None:
        with clock.pinned(self.at(self.timeline.at(self.first_month - dt.timedelta(days=21), 9))):
            self.tariffs()
            self.approve_operators()
            self.decide()
        for month in (add_months(self.first_month, n) for n in range(12)):
            with clock.pinned(self.at(self.timeline.at(month, 0, 30))):
                self.release()
                leasing.leasing_post_due()
            with clock.pinned(self.at(self.timeline.at(month, 10))):
                self.read_odometers(month)
            rows = self.month_of_legs(month)
            imported_at = self.at(self.timeline.at(add_months(month, 1) + dt.timedelta(days=2), 6))
            with clock.pinned(imported_at):
                trip_import = trip_files.import_trips(
                    actor=self.finance,
                    organiser=self.organiser,
                    filename=f"matkat-{month:%Y-%m}.csv",
                    content=_csv(rows),
                )
            if month < add_months(self.timeline.this_month, -1):
                with clock.pinned(self.at(imported_at + dt.timedelta(days=3, hours=3))):
                    self.review(trip_import)
        with clock.pinned(self.at(self.timeline.at(self.timeline.this_month, 0, 30))):
            self.release()
            leasing.leasing_post_due()
        self.authorizations()

    # --- set-up, three weeks before the first month ------------------------------------------------------------

    def tariffs(self) -> None:
        for name, code in (("lansi-uusimaa.toml", ORGANISER), ("paijat-hame.json", "paijat-hame")):
            path = TARIFFS / name
            document = tariff_files.read_document(path.read_bytes(), path.name)
            organiser = Organiser.objects.get(code=code)
            area, _added = mobility.tariffs_load(
                actor=demo_builder(organiser), organiser=organiser, document=document, source=path.name
            )
            if organiser == self.organiser:
                self.area = area

    def approve_operators(self) -> None:
        from kukkaro.demo.services_data import bank_account, business_id

        lohja = Municipality.objects.filter(organiser=self.organiser)
        for name, base, (first, last) in OPERATORS:
            number = business_id(base)
            self.operators.append(number)
            if Provider.objects.filter(organiser=self.organiser, business_id=number).exists():
                continue
            user = people_services.user_create(
                actor=demo_builder(self.organiser),
                username=f"provider.taxi{base[-3:]}",
                role=Role.PROVIDER,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}@taksi{base[-3:]}.example",
            )
            iban, bic = bank_account("405", base)
            provider = providers.provider_apply(
                actor=user,
                organiser=self.organiser,
                name=name,
                business_id=number,
                soteri_number=f"1.2.246.10.{number.replace('-', '')}.10.1",
                contact_name=f"{first} {last}",
                email=f"ajojarjestely@taksi{base[-3:]}.example",
                phone=f"+358 9 {base[1:4]} {base[4:]}",
                address="Asemakatu 1, 08100 Lohja",
                municipalities=list(lohja),
                languages=["fi", "sv"],
                accessibility=[],
                iban=iban,
                bic=bic,
                rulebook_version=providers.RULEBOOK_VERSION,
                description="Taksi- ja invataksiliikennettä Länsi-Uudellamaalla.",
            )
            providers.provider_set_state(actor=self.approver, provider=provider, state=ProviderState.APPROVED)

    def decide(self) -> None:
        """Transport decisions for clients who have no other case, valid 18 months from the first month."""
        taken = BudgetCalculation.objects.values("client_id")
        clients = list(
            Client.objects.filter(organiser=self.organiser)
            .exclude(pk__in=taken)
            .select_related("municipality")
            .order_by("national_id")[: len(PROFILES)]
        )
        valid_until = add_months(self.first_month, 18) - dt.timedelta(days=1)
        for client, profile in zip(clients, PROFILES, strict=False):
            lines = [dict(line) for line in profile.lines]
            indicative = case_services.calculation_create_indicative(actor=self.worker, client=client, lines=lines)
            final = case_services.calculation_finalise(actor=self.worker, indicative=indicative, lines=lines)
            decision = case_services.decision_draft_create(
                actor=self.worker,
                calculation=final,
                valid_from=self.first_month,
                valid_until=valid_until,
                reasons="Vammaispalvelulain mukainen liikkumisen tuki kuljetuspalveluna.",
            )
            decision = case_services.decision_propose(actor=self.worker, decision=decision)
            decision = case_services.decision_approve(actor=self.approver, decision=decision)
            by_category = {line.category_code: line for line in DecisionLine.objects.filter(decision=decision)}
            if profile.lease is not None:
                self.lease(decision, by_category["transport-leasing"], profile, len(self.riders))
            leisure = next(c for c in ("transport-trips", "transport-km", "transport-eur") if c in by_category)
            mobility.entitlement_create(
                actor=self.worker,
                decision=decision,
                model=profile.model,
                leisure_line=by_category[leisure],
                work_line=by_category.get("transport-work"),
                contract_area=self.area,
                allowed_area=profile.area,
                vehicle_class=profile.vehicle,
                escort=profile.vehicle == "van",
            )
            card = mobility.card_issue(actor=self.worker, client=client)
            self.riders.append(Rider(client, profile, card.number, client.municipality.code, client.birth_date))

    def lease(self, decision, line, profile: Profile, number: int) -> None:
        vehicle, modifications, drives = profile.lease
        leasing.leasing_create(
            actor=self.worker,
            decision=decision,
            line=line,
            lessor="Esteetön Leasing Oy",
            contract_number=f"EL-{self.first_month:%Y}-{number:04d}",
            vehicle=vehicle,
            registration=f"KUK-{number:03d}",
            modifications=list(modifications),
            starts_on=add_months(self.first_month, 1),
            contract_months=48,
            monthly_price_cents=74_000,
            insurance_cents=8_500,
            servicing_cents=5_500,
            client_contribution_cents=15_000,
            included_km_per_year=15_000,
            excess_km_cents=15,
            client_drives=drives,
            drivers=[] if drives else ["Marja Lähde"],
        )

    def read_odometers(self, month: dt.date) -> None:
        """The leasing cars' odometers: read at delivery, then every third month. One car is driven a little
        more than its allowance (its page projects the excess), the other less."""
        for n, contract in enumerate(
            LeasingContract.objects.filter(organiser=self.organiser).order_by("contract_number")
        ):
            months = (month.year - contract.starts_on.year) * 12 + month.month - contract.starts_on.month
            if months < 0 or months % 3 or clock.today() < month:
                continue
            pace = (1_380, 1_050)[n % 2]  # km a month; the allowance is 1 250
            leasing.odometer_record(
                actor=self.worker,
                contract=contract,
                read_on=month,
                km=8 + months * pace,
                kind=ReadingKind.START if months == 0 else ReadingKind.CHECK,
                note="luettu huollossa" if months else "luovutettaessa",
            )

    def release(self) -> None:
        for rider in self.riders:
            for line in DecisionLine.objects.filter(client=rider.client, effective=True).select_related("purse"):
                if line.purse is not None:
                    ledger.purse_release_due(purse=line.purse)

    # --- a month of legs ---------------------------------------------------------------------------------------

    def month_of_legs(self, month: dt.date) -> list[dict[str, str]]:
        rng = self.rng
        end = add_months(month, 1)
        days = [month + dt.timedelta(days=n) for n in range((end - month).days)]
        holidays = set(judgement.finnish_holidays(month.year))
        working = [d for d in days if d.weekday() < 5 and d not in holidays]
        rows: list[dict[str, str]] = []
        counter = 0

        def trip_id(operator: str) -> str:
            nonlocal counter
            counter += 1
            return f"{operator[:4]}-{month:%y%m}-{counter:05d}"

        for rider in self.riders:
            profile = rider.profile
            count = rng.randint(*profile.leisure_per_month)
            for _ in range(count):
                day = rng.choice(days)
                hour = rng.choice([22, 23, 0, 1]) if rng.random() < profile.night_share else rng.randint(8, 20)
                pickup = self.timeline.at(day, hour, rng.choice([0, 10, 15, 30, 45, 50]))
                rows.append(self.leg(rider, pickup, "leisure", trip_id))
            # Somebody always travels on the feast days (Christmas Eve, Midsummer Eve, New Year's Eve).
            for holiday in sorted(d for d in holidays if d.month == month.month):
                if rng.random() < 0.3:
                    rows.append(self.leg(rider, self.timeline.at(holiday, rng.randint(10, 18)), "leisure", trip_id))
            if profile.work or profile.study:
                purpose = "work" if profile.work else "study"
                for day in working:
                    if rng.random() < 0.9:
                        rows.append(self.leg(rider, self.timeline.at(day, 7, 30), purpose, trip_id, commute=True))
                        rows.append(self.leg(rider, self.timeline.at(day, 16, 15), purpose, trip_id, commute=True))
        self.share_rides(rows)
        self.book_ahead(rows)
        rows.sort(key=lambda r: r["pickup_at"])
        rows += self.bad_rows(month, trip_id)
        self.sent.extend(r for r in rows[:50])
        return rows

    def leg(self, rider: Rider, pickup: dt.datetime, purpose: str, trip_id, *, commute: bool = False) -> dict:
        rng = self.rng
        profile = rider.profile
        allowed = sorted(allowed_municipalities(rider.home))
        if commute:  # to the same workplace or school every day, in a neighbouring municipality if there is one
            destination, km = next((c for c in allowed if c != rider.home), rider.home), Decimal("11.4")
        elif profile.area == AllowedArea.UNLIMITED and rng.random() < 0.1:
            destination, km = rng.choice(FAR_AWAY), Decimal(rng.randint(250, 600)) / 10
        else:
            destination = rider.home if rng.random() < 0.6 else rng.choice(allowed)
            km = Decimal(rng.randint(25, 180 if destination == rider.home else 320)) / 10
        minutes = (km * Decimal("1.6") + 4).quantize(Decimal(1))
        waiting = Decimal(rng.choice([0, 0, 0, 0, 5, 10])) if not commute else Decimal(0)
        supplements: list[str] = []
        if profile.vehicle in ("wheelchair", "van") and rng.random() < 0.5:
            supplements.append("assist")
        if profile.vehicle == "van" and rng.random() < 0.2:
            supplements.append("stairs")
        operator = rng.choice(self.operators)
        return {
            "operator_id": operator,
            "trip_id": trip_id(operator),
            "client_number": rider.card,
            "authorization_id": "",
            "pickup": pickup,
            "pickup_at": pickup.isoformat(),
            "dropoff_at": (pickup + dt.timedelta(minutes=int(minutes) + int(waiting))).isoformat(),
            "origin_municipality": rider.home,
            "destination_municipality": destination,
            "distance_km": f"{km:.1f}",
            "duration_min": str(minutes),
            "waiting_min": "" if not waiting else str(waiting),
            "vehicle_class": profile.vehicle,
            "purpose": purpose,
            "escort": "1" if profile.vehicle == "van" else "0",
            "supplements": ";".join(supplements),
            "shared_ride_id": "",
            "rider": rider,
        }

    def book_ahead(self, rows: list[dict]) -> None:
        """Some trips were booked through the dispatch centre, which asked for an authorisation an hour ahead;
        the trip file's leg carries its id and settles it."""
        for rider in self.riders[:4]:
            row = next((r for r in rows if r["rider"] is rider and r["purpose"] == "leisure"), None)
            if row is None:
                continue
            with clock.pinned(row["pickup"] - dt.timedelta(hours=1)):
                booked = self.ask(
                    f"demo-{row['trip_id']}",
                    rider.card,
                    row["pickup"],
                    distance_km=Decimal(row["distance_km"]),
                    duration_min=Decimal(row["duration_min"]),
                    vehicle_class=row["vehicle_class"],
                    origin_municipality=row["origin_municipality"],
                    destination_municipality=row["destination_municipality"],
                )
            if booked.state == "approved":
                row["authorization_id"] = str(booked.pk)

    def share_rides(self, rows: list[dict]) -> None:
        """About one leisure leg in ten shares the car with another client's leg from the same municipality at
        the same time (the dispatch centre combines them); each is priced with the shared-ride discount."""
        rng = self.rng
        leisure = [r for r in rows if r["purpose"] == "leisure" and r["vehicle_class"] in ("car", "van")]
        rng.shuffle(leisure)
        for n, (a, b) in enumerate(zip(leisure[0::2], leisure[1::2], strict=False)):
            if rng.random() > 0.2 or a["rider"] is b["rider"] or a["origin_municipality"] != b["origin_municipality"]:
                continue
            ride = f"S-{a['pickup']:%y%m}-{n:04d}"
            for row in (a, b):
                row["shared_ride_id"] = ride
            # Picked up together; each is dropped off after its own ride (a leg's billed minutes fit its span).
            b["pickup"], b["pickup_at"] = a["pickup"], a["pickup_at"]
            minutes = int(Decimal(b["duration_min"])) + int(Decimal(b["waiting_min"] or 0))
            b["dropoff_at"] = (a["pickup"] + dt.timedelta(minutes=minutes)).isoformat()
            b["operator_id"] = a["operator_id"]
        for row in rows:
            self.price(row)

    def price(self, row: dict) -> None:
        tariff = mobility.tariff_on(area_id=self.area.pk, day=row["pickup"].astimezone(clock.HELSINKI).date())
        terms = tariff.terms()
        price = judgement.leg_price_cents(
            judgement.Leg(
                pickup_at=row["pickup"],
                distance_km=Decimal(row["distance_km"]),
                ride_minutes=Decimal(row["duration_min"]),
                waiting_minutes=Decimal(row["waiting_min"] or 0),
                vehicle_class=row["vehicle_class"],
                supplements=tuple(c for c in row["supplements"].split(";") if c),
                shared=bool(row["shared_ride_id"]),
            ),
            terms,
        )
        child = judgement.is_child(row["rider"].born, row["pickup"].date())
        share = judgement.self_share_cents(price_cents=price, terms=terms, child=child, purpose="leisure")
        row["fare_eur"], row["self_share_eur"] = _euros(price), _euros(share)

    def bad_rows(self, month: dt.date, trip_id) -> list[dict]:
        """What goes wrong in a real month: a few rows that cannot be true or need a person."""
        rng = self.rng
        rider = rng.choice(self.riders)
        pickup = self.timeline.at(month + dt.timedelta(days=rng.randint(0, 27)), 12)
        good = [self.leg(rider, pickup + dt.timedelta(minutes=n), "leisure", trip_id) for n in range(5)]
        for row in good:
            self.price(row)
        swapped, negative, bus, stranger, dearer = good
        swapped["dropoff_at"] = (pickup - dt.timedelta(minutes=20)).isoformat()
        negative["distance_km"] = "-4.0"
        bus["vehicle_class"] = "bus"
        stranger["client_number"] = "999999998"  # a valid number (Luhn) that is on no card
        dearer["fare_eur"] = _euros(int(Decimal(dearer["fare_eur"]) * 100) + 650)
        rows = [swapped, negative, bus, stranger, dearer][: 2 + month.month % 4]
        if self.sent and month.month % 3 == 0:
            again = dict(rng.choice(self.sent))
            again["distance_km"] = f"{Decimal(again['distance_km']) + 2:.1f}"  # the same trip id, other content
            rows.append(again)
        return rows

    # --- the dispatch centre's questions ------------------------------------------------------------------------

    def ask(self, key: str, rider_card: str, pickup: dt.datetime, **changes) -> TripAuthorization:
        values = {
            "client_number": rider_card,
            "pickup_at": pickup,
            "distance_km": Decimal("9.5"),
            "duration_min": Decimal(19),
            "vehicle_class": "car",
            "purpose": "leisure",
            "origin_municipality": "049",
            "destination_municipality": "049",
        }
        values.update(changes)
        authorization, _new = authorizations.trip_authorize(
            actor=self.dispatch, idempotency_key=key, request=authorizations.TripRequest(**values)
        )
        return authorization

    def authorizations(self) -> None:
        """Bookings in every state: approved for tomorrow, cancelled, denied for three reasons, expired from two
        months ago (settled ones come with the trip files, ``book_ahead``)."""
        t = self.timeline
        two_months_ago = t.at(add_months(t.this_month, -2) + dt.timedelta(days=9), 9)
        with clock.pinned(self.at(two_months_ago)):
            for n, rider in enumerate(self.riders[:3]):
                home = {"origin_municipality": rider.home, "destination_municipality": rider.home}
                self.ask(f"demo-expired-{n}", rider.card, two_months_ago + dt.timedelta(hours=5), **home)
        with clock.pinned(t.now):
            authorizations.authorizations_expire()
            tomorrow = t.at(t.today + dt.timedelta(days=1), 10)
            for n, rider in enumerate(self.riders[:8]):
                home = {"origin_municipality": rider.home, "destination_municipality": rider.home}
                approved = self.ask(f"demo-booking-{n}", rider.card, tomorrow + dt.timedelta(minutes=20 * n), **home)
                if n == 7 and approved.state == "approved":
                    authorizations.trip_authorization_cancel(actor=self.dispatch, authorization_id=approved.pk)
            km = next(r for r in self.riders if r.profile.model == EntitlementModel.KM_PURSE)
            limited = next(r for r in self.riders if r.profile.area == AllowedArea.NEIGHBOURS)
            self.ask("demo-denied-card", "999999998", tomorrow)
            self.ask(
                "demo-denied-area",
                limited.card,
                tomorrow,
                origin_municipality=limited.home,
                destination_municipality="853",
            )
            self.ask(
                "demo-denied-funds",
                km.card,
                tomorrow,
                origin_municipality=km.home,
                destination_municipality=km.home,
                distance_km=Decimal(900),
                duration_min=Decimal(600),
            )

    # --- review, a few days after each import ----------------------------------------------------------------

    def review(self, trip_import: TripImport) -> None:
        """The social worker accepts what the operator got right (a fare the client agreed to, a purse topped
        up) and refuses the rest with a reason."""
        for leg in trip_import.legs.filter(outcome=LegOutcome.REVIEW).order_by("row_number"):
            if set(leg.reasons) == {"fare_mismatch"} and mobility.leg_may_be_accepted(leg):
                resolution, note = mobility.Resolution.ACCEPT, "Liikennöitsijä toimitti kuitin lisäodotuksesta."
            elif "unknown_client" in leg.reasons:
                resolution, note = mobility.Resolution.REJECT, "Korttia ei ole myönnetty; ilmoitettu liikennöitsijälle."
            elif "resent_changed" in leg.reasons:
                resolution, note = mobility.Resolution.REJECT, "Matka on jo laskutettu alkuperäisillä tiedoilla."
            else:
                continue
            try:
                mobility.leg_resolve(actor=self.worker, leg_id=leg.pk, resolution=resolution, note=note)
            except ValidationError:  # a purse that ran out leaves the leg for a person
                continue


def _euros(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(trip_files.COLUMNS), lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode()
