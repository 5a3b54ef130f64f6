"""A deterministic synthetic region for the demo: both organisers, staff for every role, ~300 clients, casework at
every stage, (in ``services_data``) providers, agreements, six months of claims and payment batches, and (in
``mobility_data``) transport decisions in every model with a year of trip files in Länsi-Uusimaa.

Every identity code uses the 900–999 individual-number range reserved for test use. The same seed gives the same
people on every machine; running it again adds nothing that is already there.

Dates follow ``timeline.Timeline``: the decisions are valid for a year from the first day of the month seven
months before today, and the casework (and the people it needs) happens four weeks before that, with the clock
pinned there, so the ledger's history reads in order: money is granted before it is released, released before it
is spent. Replacing decisions are approved later, in the month before they take effect.
"""

import datetime as dt
import random
from dataclasses import dataclass, field

from django.db import transaction

from kukkaro.cases import services as case_services
from kukkaro.cases.models import BudgetCalculation, Decision, DeliveryMethod, RateTable
from kukkaro.core import clock
from kukkaro.core.actors import demo_builder
from kukkaro.core.identifiers import make_hetu
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.roles import Role
from kukkaro.demo import mobility_data, services_data
from kukkaro.demo.timeline import Timeline
from kukkaro.ledger.models import Unit
from kukkaro.people import services
from kukkaro.people.models import ApiToken, Client, ConsentMethod, User

SEED = 20261123
DEMO_PASSWORD = "Kukkaro-demo-2026"  # noqa: S105 - printed for the demo on purpose
CLIENT_COUNT = 300

FINNISH_FIRST = [
    "Aino",
    "Eino",
    "Helmi",
    "Väinö",
    "Sofia",
    "Juhani",
    "Maria",
    "Mikael",
    "Emilia",
    "Olavi",
    "Aada",
    "Onni",
    "Kaarina",
    "Tapio",
    "Liisa",
    "Matti",
    "Anneli",
    "Pekka",
    "Elina",
    "Jari",
    "Tuula",
    "Kari",
    "Sanna",
    "Timo",
    "Riikka",
    "Ville",
    "Hanna",
    "Antero",
    "Noora",
    "Petteri",
    "Iida",
    "Ilmari",
    "Marjatta",
    "Lauri",
    "Kerttu",
]
FINNISH_LAST = [
    "Korhonen",
    "Virtanen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
    "Jokinen",
    "Mattila",
]
SWEDISH_FIRST = [
    "Alva",
    "Elias",
    "Ebba",
    "Oskar",
    "Ella",
    "Anton",
    "Saga",
    "Hugo",
    "Linnea",
    "Axel",
    "Stina",
    "Henrik",
    "Ingrid",
    "Mats",
    "Astrid",
    "Johan",
    "Karin",
    "Fredrik",
    "Vera",
    "Rasmus",
]
SWEDISH_LAST = [
    "Lindholm",
    "Johansson",
    "Nyman",
    "Lindqvist",
    "Holmström",
    "Sjöblom",
    "Ekström",
    "Lindroos",
    "Forsman",
    "Westerlund",
    "Grönroos",
    "Åberg",
    "Söderström",
    "Backman",
    "Wikström",
]
STREETS = [
    "Koulukatu",
    "Rantatie",
    "Kirkkotie",
    "Puistokatu",
    "Asematie",
    "Myllytie",
    "Koivukuja",
    "Mäntytie",
]
# Rough weights: population and the share of Swedish speakers (Statistics Finland, rounded).
MUNICIPALITY_WEIGHTS = {
    "049": (60, 0.07),
    "235": (3, 0.33),
    "257": (10, 0.15),
    "444": (10, 0.04),
    "224": (2, 0.02),
    "927": (5, 0.02),
    "398": (30, 0.01),
    "098": (6, 0.01),
    "111": (5, 0.01),
    "560": (5, 0.01),
    "016": (2, 0.01),
    "081": (1, 0.01),
    "142": (2, 0.01),
    "316": (1, 0.01),
    "576": (1, 0.01),
    "781": (1, 0.01),
}
POSTAL = {
    "049": ("02100", "Espoo"),
    "235": ("02700", "Kauniainen"),
    "257": ("02400", "Kirkkonummi"),
    "444": ("08100", "Lohja"),
    "224": ("03600", "Karkkila"),
    "927": ("03100", "Nummela"),
    "398": ("15100", "Lahti"),
    "098": ("15870", "Hollola"),
    "111": ("18100", "Heinola"),
    "560": ("16300", "Orimattila"),
    "016": ("17200", "Vääksy"),
    "081": ("19600", "Hartola"),
    "142": ("47400", "Kausala"),
    "316": ("16600", "Järvelä"),
    "576": ("17500", "Padasjoki"),
    "781": ("19700", "Sysmä"),
}

STAFF = [
    (Role.SOCIAL_WORKER, "social", ("Sari", "Sosiaalinen")),
    (Role.DECISION_MAKER, "decision", ("Paula", "Päättäjä")),
    (Role.FINANCE, "finance", ("Taneli", "Talous")),
    # A second finance person, so a payment batch can be prepared by one and released by the other.
    (Role.FINANCE, "finance2", ("Kaisa", "Kassanen")),
    (Role.ANALYST, "analyst", ("Anu", "Analyytikko")),
    (Role.ADMIN, "admin", ("Ari", "Ylläpitäjä")),
]
ORGANISER_PREFIX = {"lansi-uusimaa": "lu", "paijat-hame": "ph"}


@dataclass
class DemoSummary:
    staff: list[tuple[str, str, str]] = field(default_factory=list)  # username, role label, organiser
    api_tokens: list[tuple[str, str]] = field(default_factory=list)  # username, token
    identities: list[tuple[str, str, str, str]] = field(default_factory=list)  # hetu, first, last, what
    clients_total: int = 0
    clients_created: int = 0
    cases: dict[str, int] = field(default_factory=dict)  # stage -> clients newly taken there
    services: services_data.ServicesSummary | None = None
    mobility: mobility_data.MobilitySummary | None = None


def _person(rng: random.Random, swedish: bool) -> tuple[str, str]:
    first = rng.choice(SWEDISH_FIRST if swedish else FINNISH_FIRST)
    if rng.random() < 0.4:
        second = rng.choice(SWEDISH_FIRST if swedish else FINNISH_FIRST)
        if second != first:
            first = f"{first} {second}"
    return first, rng.choice(SWEDISH_LAST if swedish else FINNISH_LAST)


def _unique_hetu(rng: random.Random, used: set[str], *, born_from: int, born_to: int) -> str:
    while True:
        start = dt.date(born_from, 1, 1)
        born = start + dt.timedelta(days=rng.randrange((dt.date(born_to, 12, 31) - start).days))
        hetu = make_hetu(born, rng.randrange(900, 1000))
        if hetu not in used:
            used.add(hetu)
            return hetu


def _ensure_staff(username: str, role: Role, names: tuple[str, str], organiser: Organiser | None) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = services.user_create(
            actor=demo_builder(organiser),
            username=username,
            role=role,
            first_name=names[0],
            last_name=names[1],
            organiser=organiser,
            email=f"{username}@demo.kukkaro.invalid",
            password=DEMO_PASSWORD,
        )
    return user


def _ensure_token(user: User, token: str) -> None:
    if not ApiToken.objects.filter(user=user, name="demo").exists():
        services.api_token_create(actor=demo_builder(user.organiser), user=user, name="demo", token=token)


RATE_CATEGORIES = [
    (
        "personal-assistance",
        "Henkilökohtainen apu",
        "Personlig assistans",
        "Personal assistance",
        "hour",
        3250,
        Unit.EUR,
        "employer",
    ),
    ("day-activity", "Päivätoiminta", "Dagverksamhet", "Day activity", "day", 9800, Unit.EUR, "voucher"),
    ("home-help", "Kotiin annettava apu", "Hjälp i hemmet", "Help at home", "visit", 4600, Unit.EUR, "purchased"),
    (
        "transport-trips",
        "Kuljetuspalvelun matkat",
        "Färdtjänstresor",
        "Transport service trips",
        "trip",
        3000,
        Unit.TRIP,
        "purchased",
    ),
    ("transport-km", "Kilometrikukkaro", "Kilometerbudget", "Kilometre purse", "km", 180, Unit.KM, "purchased"),
    (
        "transport-work",
        "Työ- ja opiskelumatkat",
        "Arbets- och studieresor",
        "Work and study trips",
        "trip",
        3000,
        Unit.TRIP,
        "purchased",
    ),
    ("transport-eur", "Eurokukkaro", "Eurobudget", "Euro purse", "month", 100, Unit.EUR, "purchased"),
    ("transport-leasing", "Leasing-auto", "Leasingbil", "Leasing car", "month", 100, Unit.EUR, "purchased"),
]
# Cases at every stage, per organiser: how many clients reach each step. The clients printed as examples (and
# those the supporters help) come first, so they have a sent decision, a budget and services to look at.
STAGES = [
    ("sent", 14),
    ("approved", 14),
    ("replaced", 4),
    ("assessed", 6),
    ("planned", 6),
    ("indicative", 6),
    ("draft", 5),
    ("proposed", 5),
]
PLANS = [
    [
        {"category": "day-activity", "quantity": 8},
        {
            "category": "transport-trips",
            "quantity": 18,
            "borrow_limit": 4,
            "rollover_rule": "roll_capped",
            "rollover_cap": 4,
        },
    ],
    [{"category": "personal-assistance", "quantity": "40.5"}, {"category": "transport-km", "quantity": 180}],
    [{"category": "home-help", "quantity": 12}, {"category": "transport-trips", "quantity": 18}],
]
SUPPORTERS = 3


@dataclass
class Replacement:
    """A sent decision to be replaced later in the year (the need grew), with what its replacement needs."""

    decision: Decision
    indicative: BudgetCalculation
    plan: list[dict]


def _rate_table(organiser, admin) -> RateTable:
    table = RateTable.objects.filter(organiser=organiser).first()
    if table is None:
        year = clock.today().year
        table = case_services.rate_table_create(
            actor=admin,
            organiser=organiser,
            name=f"Yksikkökustannukset {year}",
            name_sv=f"Enhetskostnader {year}",
            name_en=f"Unit costs {year}",
            valid_from=dt.date(year - 1, 1, 1),  # the demo's transport decisions begin a year before today
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
                    "default_instrument": instrument,
                }
                for code, fi, sv, en, unit, cost, purse_unit, instrument in RATE_CATEGORIES
            ],
        )
    return table


def _featured_first(organisers: list[Organiser]) -> dict[int, list[Client]]:
    """Each organiser's clients, the examples printed by the demo and the clients the supporters help first."""
    featured: set = set()
    by_organiser = {o.pk: list(Client.objects.filter(organiser=o).order_by("national_id")) for o in organisers}
    for clients in by_organiser.values():
        for language in ("fi", "sv"):
            first = next((c for c in clients if c.language == language), None)
            if first is not None:
                featured.add(first.pk)
    for index in range(SUPPORTERS):
        featured.add(by_organiser[organisers[index % 2].pk][index].pk)
    return {
        pk: [c for c in clients if c.pk in featured] + [c for c in clients if c.pk not in featured]
        for pk, clients in by_organiser.items()
    }


def _demo_cases(
    rng: random.Random, organiser, clients: list[Client], timeline: Timeline
) -> tuple[dict[str, int], list[Replacement]]:
    """Take clients of the organiser through casework, each as far as its stage says. Clients who already have
    a case are left as they are, so running the demo again adds nothing. Returns the counts per stage and the
    decisions to replace later (``_replace_decisions``)."""
    prefix = ORGANISER_PREFIX[organiser.code]
    worker = User.objects.get(username=f"{prefix}.social")
    approver = User.objects.get(username=f"{prefix}.decision")
    _rate_table(organiser, User.objects.get(username=f"{prefix}.admin"))
    counts: dict[str, int] = {}
    replacements: list[Replacement] = []
    index = 0
    for stage, how_many in STAGES:
        for _ in range(how_many):
            client = clients[index]
            index += 1
            if client.assessments.exists():
                continue
            plan = PLANS[index % len(PLANS)]
            case_services.assessment_create(
                actor=worker,
                client=client,
                areas={
                    "daily_living": {
                        "need_level": rng.randint(1, 4),
                        "observations": "Tarvitsee apua arjen askareissa.",
                    },
                    "mobility": {"need_level": rng.randint(2, 4), "client_view": "Haluan päästä itse harrastuksiin."},
                    "leisure": {
                        "need_level": rng.randint(0, 3),
                        "client_view": "Uinti ja kuoro ovat minulle tärkeitä.",
                    },
                },
            )
            counts[stage] = counts.get(stage, 0) + 1
            if stage == "assessed":
                continue
            case_services.support_plan_create(
                actor=worker,
                client=client,
                goals="Haluan käydä uimassa ja kuorossa joka viikko.",
                who_helped="Tukihenkilö",
            )
            if stage == "planned":
                continue
            indicative = case_services.calculation_create_indicative(actor=worker, client=client, lines=plan)
            if stage == "indicative":
                continue
            final = case_services.calculation_finalise(actor=worker, indicative=indicative, lines=plan)
            decision = case_services.decision_draft_create(
                actor=worker,
                calculation=final,
                valid_from=timeline.valid_from,
                valid_until=timeline.valid_until,
                reasons="Budjetti perustuu palvelutarpeen arviointiin ja asiakkaan omaan tukisuunnitelmaan.",
            )
            if stage == "draft":
                continue
            decision = case_services.decision_propose(actor=worker, decision=decision)
            if stage == "proposed":
                continue
            decision = case_services.decision_approve(actor=approver, decision=decision)
            if stage == "approved":
                continue
            decision = case_services.decision_send(
                actor=worker, decision=decision, method=DeliveryMethod.POST, sent_on=clock.today()
            )
            if stage == "replaced":
                replacements.append(Replacement(decision=decision, indicative=indicative, plan=plan))
    return counts, replacements


def _replace_decisions(replacements: list[Replacement], timeline: Timeline) -> None:
    """The need grew: a replacing decision with more of each line from ``timeline.replacement_from``, approved in
    the month before, so the purse keeps what was released and spent and only later periods change."""
    starts = timeline.replacement_from
    for job in replacements:
        prefix = ORGANISER_PREFIX[job.decision.organiser.code]
        worker = User.objects.get(username=f"{prefix}.social")
        approver = User.objects.get(username=f"{prefix}.decision")
        more = [dict(line, quantity=int(float(line["quantity"])) + 2) for line in job.plan]
        final = case_services.calculation_finalise(actor=worker, indicative=job.indicative, lines=more)
        replacement = case_services.decision_draft_create(
            actor=worker,
            calculation=final,
            valid_from=starts,
            valid_until=job.decision.valid_until,
            reasons=f"Tarve kasvoi: palveluja lisätään {starts.day}.{starts.month}.{starts.year} alkaen.",
            replaces=job.decision,
        )
        case_services.decision_propose(actor=worker, decision=replacement)
        replacement = case_services.decision_approve(actor=approver, decision=replacement)
        case_services.decision_send(actor=worker, decision=replacement, method=DeliveryMethod.ELECTRONIC)


#: The replacement of issue 16: a decision for next year replaced from 1 March by one that drops three lines and
#: lowers help at home from 980 € to 115 € a month. Its client has a fixed identity code (outside the seeded
#: draw), so the scenario is the same on every machine and is made once.
NEXT_YEAR_CLIENT = ("Raili", "Vaihdos", dt.date(1961, 5, 17), 987)
NEXT_YEAR_LINES = [
    {"category": "home-help", "quantity": 21, "adjustment": 1400, "adjustment_reason": "Yksi siivouskerta lisää."},
    {"category": "personal-assistance", "quantity": 20},
    {"category": "day-activity", "quantity": 4},
    {"category": "transport-trips", "quantity": 18},
]
NEXT_YEAR_REPLACEMENT = [{"category": "home-help", "quantity": "2.5"}]  # 2,5 visits × 46 € = 115 €


def _next_year_replacement(summary: DemoSummary, timeline: Timeline) -> None:
    """A client whose decision for next year (1.1.–31.12.) is already replaced from 1.3.: the purses show January
    and February at the old amounts, home help 115 € a month from March, and the dropped lines end on 28.2."""
    first_names, last_name, born, individual = NEXT_YEAR_CLIENT
    hetu = make_hetu(born, individual)
    summary.identities.append((hetu, first_names, last_name, "client, a decision replaced from 1.3. next year"))
    organiser = Organiser.objects.get(code="lansi-uusimaa")
    if Client.objects.filter(organiser=organiser, national_id=hetu).exists():
        return
    worker = User.objects.get(username="lu.social")
    approver = User.objects.get(username="lu.decision")
    client = services.client_create(
        actor=demo_builder(organiser),
        organiser=organiser,
        municipality=Municipality.objects.get(code="049"),
        national_id=hetu,
        first_names=first_names,
        last_name=last_name,
        language="fi",
        street_address="Koulukatu 12",
        postal_code="02100",
        post_office="Espoo",
    )
    summary.clients_created += 1
    summary.clients_total += 1
    case_services.assessment_create(
        actor=worker,
        client=client,
        areas={"daily_living": {"need_level": 3, "observations": "Tarvitsee apua kotona joka päivä."}},
    )
    case_services.support_plan_create(actor=worker, client=client, goals="Haluan asua omassa kodissani.")
    plain = [{k: v for k, v in line.items() if not k.startswith("adjustment")} for line in NEXT_YEAR_LINES]
    indicative = case_services.calculation_create_indicative(actor=worker, client=client, lines=plain)
    year = timeline.today.year + 1
    first = _decide(
        worker,
        approver,
        case_services.calculation_finalise(actor=worker, indicative=indicative, lines=NEXT_YEAR_LINES),
        valid=(dt.date(year, 1, 1), dt.date(year, 12, 31)),
        reasons="Budjetti perustuu palvelutarpeen arviointiin ja asiakkaan omaan tukisuunnitelmaan.",
    )
    _decide(
        worker,
        approver,
        case_services.calculation_finalise(actor=worker, indicative=indicative, lines=NEXT_YEAR_REPLACEMENT),
        valid=(dt.date(year, 3, 1), dt.date(year, 12, 31)),
        reasons=f"Asiakas muuttaa palvelutaloon 1.3.{year}: kotiin annettavaa apua tarvitaan vähemmän, ja "
        "henkilökohtainen apu, päivätoiminta ja kuljetukset järjestetään palvelutalon kautta.",
        replaces=first,
    )


def _decide(worker, approver, calculation, *, valid, reasons, replaces=None) -> Decision:
    decision = case_services.decision_draft_create(
        actor=worker,
        calculation=calculation,
        valid_from=valid[0],
        valid_until=valid[1],
        reasons=reasons,
        replaces=replaces,
    )
    case_services.decision_propose(actor=worker, decision=decision)
    decision = case_services.decision_approve(actor=approver, decision=decision)
    return case_services.decision_send(actor=worker, decision=decision, method=DeliveryMethod.ELECTRONIC)


def _people(rng: random.Random, summary: DemoSummary, organisers: dict[str, Organiser]) -> set[str]:
    """Staff, the provider user and the clients; returns the identity codes used."""
    municipalities = {m.code: m for m in Municipality.objects.select_related("organiser")}
    for code, organiser in sorted(organisers.items()):
        prefix = ORGANISER_PREFIX[code]
        for role, suffix, names in STAFF:
            user = _ensure_staff(f"{prefix}.{suffix}", role, names, organiser)
            summary.staff.append((user.username, str(role.label), organiser.name))
        dispatch = _ensure_staff(f"{prefix}.dispatch", Role.DISPATCH, ("Kulku", "Keskus"), organiser)
        token = f"kk_demo_dispatch_{prefix}_0123456789"
        _ensure_token(dispatch, token)
        summary.api_tokens.append((dispatch.username, token))
    provider = _ensure_staff("provider.demo", Role.PROVIDER, ("Pia", "Palveluntuottaja"), None)
    summary.staff.append((provider.username, str(Role.PROVIDER.label), "–"))
    _ensure_token(provider, "kk_demo_provider_0123456789")
    summary.api_tokens.append((provider.username, "kk_demo_provider_0123456789"))

    used: set[str] = set()
    codes = list(MUNICIPALITY_WEIGHTS)
    weights = [MUNICIPALITY_WEIGHTS[c][0] for c in codes]
    existing = set(Client.objects.values_list("organiser_id", "national_id"))
    for _ in range(CLIENT_COUNT):
        municipality = municipalities[rng.choices(codes, weights)[0]]
        swedish = rng.random() < MUNICIPALITY_WEIGHTS[municipality.code][1]
        first, last = _person(rng, swedish)
        hetu = _unique_hetu(rng, used, born_from=1946, born_to=2008)
        postal_code, post_office = POSTAL[municipality.code]
        street = f"{rng.choice(STREETS)} {rng.randrange(1, 60)}"
        phone = f"+358 40 {rng.randrange(100, 1000)} {rng.randrange(1000, 10000)}"
        if (municipality.organiser_id, hetu) in existing:
            continue
        services.client_create(
            actor=demo_builder(municipality.organiser),
            organiser=municipality.organiser,
            municipality=municipality,
            national_id=hetu,
            first_names=first,
            last_name=last,
            language="sv" if swedish else "fi",
            phone=phone,
            street_address=street,
            postal_code=postal_code,
            post_office=post_office,
        )
        summary.clients_created += 1
    summary.clients_total = Client.objects.count()
    return used


def _supporters(rng: random.Random, used: set[str], summary: DemoSummary, organisers: dict[str, Organiser]) -> None:
    """People clients have named as supporters; the first may also approve claims for the client."""
    for index in range(SUPPORTERS):
        first, last = _person(rng, swedish=False)
        hetu = _unique_hetu(rng, used, born_from=1960, born_to=1995)
        user = User.objects.filter(username=f"supporter.{index + 1}").first()
        if user is None:
            user = services.user_create(
                actor=demo_builder(),
                username=f"supporter.{index + 1}",
                role=Role.SUPPORTER,
                first_name=first,
                last_name=last,
                national_id=hetu,
            )
        named_by = Client.objects.filter(organiser__code=sorted(organisers)[index % 2]).order_by("national_id")[index]
        if not user.supporter_grants.exists():
            services.supporter_grant_create(
                actor=User.objects.get(username=f"{ORGANISER_PREFIX[named_by.organiser.code]}.social"),
                client=named_by,
                supporter=user,
                consent_given_on=clock.today(),
                consent_method=ConsentMethod.IN_PERSON,
                valid_from=clock.today(),
                can_help_choose=index != 1,
                can_approve_claims=index == 0,
            )
        summary.identities.append(
            (user.national_id, user.first_name, user.last_name, f"supporter of {named_by.full_name}")
        )


@transaction.atomic
def build_demo() -> DemoSummary:
    rng = random.Random(SEED)
    summary = DemoSummary()
    timeline = Timeline.around(clock.now())
    organisers = {o.code: o for o in Organiser.objects.all()}
    ordered = sorted(organisers.values(), key=lambda o: o.code)

    replacements: list[Replacement] = []
    with clock.pinned(timeline.casework_at()):
        used = _people(rng, summary, organisers)
        clients = _featured_first(ordered)
        for organiser in ordered:
            counts, replacing = _demo_cases(rng, organiser, clients[organiser.pk], timeline)
            replacements += replacing
            for stage, count in counts.items():
                summary.cases[stage] = summary.cases.get(stage, 0) + count
        # Example clients to sign in as (the first Finnish and Swedish speaker of each organiser).
        for organiser in ordered:
            for language in ("fi", "sv"):
                client = Client.objects.filter(organiser=organiser, language=language).order_by("national_id").first()
                if client:
                    summary.identities.append(
                        (client.national_id, client.first_names, client.last_name, f"client, {organiser.name}")
                    )
        _supporters(rng, used, summary, organisers)

    replace_at = timeline.at(timeline.replacement_from - dt.timedelta(days=12), 13)
    summary.services = services_data.build_services(
        timeline=timeline, before=[(replace_at, lambda: _replace_decisions(replacements, timeline))]
    )
    summary.mobility = mobility_data.build_mobility(timeline)
    with clock.pinned(timeline.now):
        _next_year_replacement(summary, timeline)
    if summary.services.demo_provider:
        summary.staff = [
            (u, role, summary.services.demo_provider if u == "provider.demo" else org) for u, role, org in summary.staff
        ]
    return summary
