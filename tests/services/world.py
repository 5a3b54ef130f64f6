"""A small PSOP world: an approved decision with a day-activity line (a euro purse), the catalogue with caps,
an approved provider with prices and a user, and the organiser's paying account."""

import datetime as dt
from dataclasses import dataclass

from kukkaro.cases import services as case_services
from kukkaro.cases.models import DecisionLine
from kukkaro.core import clock
from kukkaro.core.models import Municipality
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse
from kukkaro.people.models import Client, User
from kukkaro.services import agreements, catalogue, claims, payments, providers
from kukkaro.services.models import Provider, ServiceAgreement, ServiceType, SpendingPolicy
from tests.cases.world import build_case
from tests.factories import client_in, client_user_for, make_user

#: Valid test business IDs (check digits computed by the Y-tunnus rule).
BUSINESS_IDS = ["1234567-1", "7654321-2", "2222222-9", "3333333-8", "4444444-7", "5555555-6"]
IBANS = [("FI2112345600000785", "NDEAFIHH"), ("FI5542345670000081", "ITELFIHH")]


@dataclass
class World:
    client: Client
    line: DecisionLine
    purse: Purse
    worker: User
    decision_maker: User
    finance: User
    finance2: User
    provider: Provider
    provider_user: User
    day_activity: ServiceType
    agreement: ServiceAgreement | None = None


def service_types(organiser) -> dict[str, ServiceType]:
    """The organiser's own catalogue (each organiser owns its service types)."""
    made = {}
    for code, fi, sv, en, unit, category in [
        ("day-activity", "Päivätoiminta", "Dagverksamhet", "Day activity", "day", "day-activity"),
        (
            "personal-assistance",
            "Henkilökohtainen apu",
            "Personlig assistans",
            "Personal assistance",
            "hour",
            "personal-assistance",
        ),
    ]:
        made[code], _created = ServiceType.objects.get_or_create(
            organiser=organiser,
            code=code,
            defaults={"name_fi": fi, "name_sv": sv, "name_en": en, "name": fi, "unit": unit, "category_code": category},
        )
    return made


def approved_provider(
    *,
    organiser,
    decision_maker: User,
    business_id: str = BUSINESS_IDS[0],
    name: str = "Päiväpaikka Oy",
    municipality_codes=("049",),
    username: str | None = None,
) -> tuple[Provider, User]:
    user = make_user(Role.PROVIDER, organiser_code=None, username=username)
    iban, bic = IBANS[0]
    provider = providers.provider_apply(
        actor=user,
        organiser=organiser,
        name=name,
        business_id=business_id,
        soteri_number="SOTERI-123",
        contact_name="Pirkko Palvelu",
        email="info@example.fi",
        phone="+358401234567",
        municipalities=list(Municipality.objects.filter(code__in=municipality_codes)),
        languages=["fi", "sv"],
        accessibility=["step_free"],
        iban=iban,
        bic=bic,
        rulebook_version=providers.RULEBOOK_VERSION,
    )
    provider = providers.provider_set_state(actor=decision_maker, provider=provider, state="approved")
    return provider, user


def build_world(*, endorsed: bool = True, standing_hold: bool = False, price_cents: int = 9_000) -> World:
    client = client_in("lansi-uusimaa")
    organiser = client.organiser
    worker = make_user(Role.SOCIAL_WORKER)
    decision_maker = make_user(Role.DECISION_MAKER)
    case = build_case(client, worker=worker)
    decision = case_services.decision_approve(actor=decision_maker, decision=case.decision)
    line = decision.lines.get(category_code="day-activity")
    types = service_types(organiser)
    admin = make_user(Role.ADMIN)
    for service_type in types.values():
        catalogue.price_cap_set(
            actor=admin,
            organiser=organiser,
            service_type=service_type,
            cap_cents=10_000,
            valid_from=dt.date(2020, 1, 1),
        )
    provider, provider_user = approved_provider(organiser=organiser, decision_maker=decision_maker)
    catalogue.provider_price_set(
        actor=provider_user,
        provider=provider,
        service_type=types["day-activity"],
        price_cents=price_cents,
        valid_from=clock.today(),
    )
    SpendingPolicy.objects.update_or_create(
        organiser=organiser,
        defaults={
            "debtor_name": "Länsi-Uudenmaan hyvinvointialue",
            "debtor_iban": IBANS[1][0],
            "debtor_bic": IBANS[1][1],
        },
    )
    world = World(
        client=client,
        line=line,
        purse=line.purse,
        worker=worker,
        decision_maker=decision_maker,
        finance=make_user(Role.FINANCE),
        finance2=make_user(Role.FINANCE),
        provider=provider,
        provider_user=provider_user,
        day_activity=types["day-activity"],
    )
    world.agreement = agreements.agreement_create(
        actor=worker,
        line=line,
        provider=provider,
        service_type=types["day-activity"],
        quantity_hundredths=800,
        valid_from=clock.today(),
        valid_until=line.valid_until,
        endorsed=endorsed,
        standing_hold=standing_hold,
    )
    return world


@dataclass
class Activity:
    """Something on every spending page: an approved claim in a batch prepared by one finance person and released
    by the other, a waiting and a disputed claim, a file of claims, and a change of bank account waiting for its
    second person."""

    approved: object
    waiting: object
    disputed: object
    upload: object
    batch: object
    bank_change: object


def add_activity(world: World) -> Activity:
    """Claims, a file, a payment batch and a pending bank change for ``world`` (all dated today)."""
    from kukkaro.services.claim_files import claims_upload

    today = clock.today()

    def claim(invoice: str, quantity: int = 100):
        made, _created = claims.claim_submit(
            actor=world.provider_user,
            provider=world.provider,
            agreement_number=world.agreement.number,
            service_code="day-activity",
            service_date=today,
            quantity_hundredths=quantity,
            unit_price_cents=world.agreement.agreed_price_cents,
            invoice_number=invoice,
        )
        return made

    approved = claim("A-1")
    batch = payments.payment_batch_prepare(
        actor=world.finance, organiser=world.client.organiser, approved_until=today, execution_date=today
    )
    batch = payments.payment_batch_release(actor=world.finance2, batch=batch)
    world.agreement.endorsed = False
    world.agreement.save(update_fields=["endorsed"])
    waiting = claim("W-1")
    disputed = claim("D-1")
    client_user = client_user_for(world.client)
    disputed = claims.claim_client_decide(actor=client_user, claim=disputed, approve=False, reason="En ollut paikalla")
    content = (
        "agreement;service;service_date;quantity;unit_price;invoice_number\n"
        f"{world.agreement.number};day-activity;{today.isoformat()};1;90,00;F-1\n"
        f"{world.agreement.number};day-activity;not-a-date;1;90,00;F-2\n"
    ).encode()
    upload = claims_upload(actor=world.provider_user, provider=world.provider, filename="claims.csv", content=content)
    bank_change = providers.bank_account_change_request(
        actor=world.provider_user, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    return Activity(
        approved=approved, waiting=waiting, disputed=disputed, upload=upload, batch=batch, bank_change=bank_change
    )
