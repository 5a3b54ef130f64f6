"""When each thing of the services story happens: its plan, as ``services_data._Story`` schedules it.

``StoryPlan`` is the first half of the story: from the specification (``services_specs``) and the clients'
decisions it works out which providers apply and when, which client chooses whom (``AgreementPlan``), what each
provider bills in each month and how (``Row``), what is disputed, and when finance pays; each of these goes on the
story's schedule as a step. The steps themselves, each a call to the services as the person in the story would
make it, and the state they share are the other half, ``services_data._Story``, which is a ``StoryPlan``.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from kukkaro.cases.models import DecisionLine
from kukkaro.core import clock
from kukkaro.demo.services_specs import (
    BANK_CHANGE_APPROVED,
    BANK_CHANGE_PENDING,
    CAP_CHANGES,
    CAPS,
    CATEGORY,
    PRICE_RISES,
    PROVIDERS,
    UNIT,
    ProviderSpec,
)
from kukkaro.demo.timeline import add_months, month_end
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Unit
from kukkaro.people.models import Client, SupporterGrant
from kukkaro.services import catalogue, claims
from kukkaro.services.models import ClaimSource, ProviderState


@dataclass
class AgreementPlan:
    key: str
    organiser: str
    client: Client
    category: str
    provider: str  # a ProviderSpec slug
    service: str
    quantity: int  # hundredths per month
    endorsed: bool
    standing: bool
    valid_from: dt.date
    create_on: dt.date
    ends_on: dt.date | None = None
    late: bool = False  # its last month is billed late, so it is still waiting at the end


@dataclass
class Row:
    """One claim as a provider would send it; ``agreement`` is a plan key, resolved to the number when sent."""

    invoice: str
    service: str
    day: dt.date
    quantity: int | None  # hundredths; None: more than the budget has (worked out when sent)
    agreement: str = ""
    agreement_number: str = ""  # a number that is no agreement of the provider
    price: int | None = None  # cents; None: the agreed price


class StoryPlan:
    """The plan of ``services_data._Story`` (see the module docstring)."""

    # --- the plan -------------------------------------------------------------------------------------------

    def plan(self) -> None:
        t = self.timeline
        self.schedule.add(t.at(t.casework_on + dt.timedelta(days=1), 9), self.catalogue)
        for code in sorted(self.organisers):
            self.schedule.add(t.at(t.casework_on + dt.timedelta(days=1), 10), lambda code=code: self.setup(code))
        self.plan_providers()
        self.plan_jobs()
        self.plan_agreements()
        self.plan_claims()
        self.plan_payments()
        self.schedule.add(t.now, self.daily)  # today's jobs, last

    def plan_providers(self) -> None:
        t, add = self.timeline, self.schedule.add
        for index, spec in enumerate(PROVIDERS):
            if spec.life == "applied":
                days = 9 if spec.organiser == "lansi-uusimaa" else 4
                add(t.at(t.today - dt.timedelta(days=days), 11), lambda s=spec: self.apply(s))
                continue
            if spec.life == "rejected":
                add(t.at(t.months[1] + dt.timedelta(days=2), 13), lambda s=spec: self.apply(s))
                add(
                    t.at(t.months[1] + dt.timedelta(days=16), 14),
                    lambda s=spec: self.set_state(
                        s, ProviderState.REJECTED, "Palveluntuottajaa ja sen palveluja ei löydy Soteri-rekisteristä."
                    ),
                )
                continue
            applied = t.casework_on + dt.timedelta(days=2 + index % 6)
            add(t.at(applied, 10 + index % 5), lambda s=spec: self.apply(s))
            add(
                t.at(applied + dt.timedelta(days=5), 14),
                lambda s=spec: self.set_state(s, ProviderState.APPROVED),
            )
            add(t.at(applied + dt.timedelta(days=6), 9), lambda s=spec: self.set_prices(s))
        for slug, (service, price) in PRICE_RISES.items():
            add(
                t.at(t.months[3] - dt.timedelta(days=14), 11),
                lambda slug=slug, service=service, price=price: catalogue.provider_price_set(
                    actor=self.users[slug],
                    provider=self.providers[slug],
                    service_type=self.types[self.specs[slug].organiser, service],
                    price_cents=price,
                    valid_from=t.months[3],
                ),
            )
        for code, (service, cap) in CAP_CHANGES.items():
            add(
                t.at(t.months[3] - dt.timedelta(days=20), 9),
                lambda code=code, service=service, cap=cap: catalogue.price_cap_set(
                    actor=self.staff(code, "admin"),
                    organiser=self.organisers[code],
                    service_type=self.types[code, service],
                    cap_cents=cap,
                    valid_from=t.months[3],
                ),
            )
        suspended = next(s for s in PROVIDERS if s.life == "suspended")
        add(
            t.at(t.months[4] + dt.timedelta(days=14), 11),
            lambda: self.set_state(
                suspended,
                ProviderState.SUSPENDED,
                "Valvontakäynnillä havaittiin puutteita henkilöstömitoituksessa; toiminta keskeytetään "
                "selvityksen ajaksi.",
            ),
        )
        ended = next(s for s in PROVIDERS if s.life == "ended")
        add(
            t.at(t.months[3], 9),
            lambda: self.set_state(ended, ProviderState.ENDED, "Yhdistys lopetti palvelutoimintansa."),
        )
        slug, bank, account = BANK_CHANGE_APPROVED
        add(t.at(t.months[2] + dt.timedelta(days=4), 11), lambda: self.bank_change(slug, bank, account))
        add(t.at(t.months[2] + dt.timedelta(days=6), 10), lambda: self.bank_change_approve(slug))
        pending = BANK_CHANGE_PENDING
        add(t.now - dt.timedelta(hours=5), lambda: self.bank_change(*pending))

    def plan_jobs(self) -> None:
        """The daily jobs, on the days they matter: release and reserve on the 1st, expire reservations after
        their month, approve after the dispute window."""
        t, add = self.timeline, self.schedule.add
        for month in (t.valid_from, *t.months, t.this_month):
            add(t.at(month, 1), self.daily)
            add(t.at(month + dt.timedelta(days=9), 1), ledger.holds_expire, optional=True)
            add(t.at(month + dt.timedelta(days=14), 2), claims.claims_auto_approve, optional=True)

    def plan_agreements(self) -> None:
        """Choose providers for a good share of the effective euro lines (everyone printed as an example, and
        everyone a supporter helps, among them)."""
        t = self.timeline
        featured = set(SupporterGrant.objects.values_list("client_id", flat=True))
        for organiser in self.organisers.values():
            for language in ("fi", "sv"):
                first = Client.objects.filter(organiser=organiser, language=language).order_by("national_id").first()
                if first is not None:
                    featured.add(first.pk)
        for code in sorted(self.organisers):
            specs = [s for s in PROVIDERS if s.organiser == code and s.life in ("approved", "suspended", "ended")]
            lines = (
                DecisionLine.objects.filter(decision__organiser__code=code, effective=True, purse_unit=Unit.EUR)
                .select_related("client__municipality", "decision__calculation")
                .order_by("client__national_id", "category_code")
            )
            index = 0
            for line in lines:
                keep = self.rng.random() < 0.8
                if (keep or line.client.pk in featured) and self._plan_line(code, specs, line, index):
                    index += 1
            self._plan_change_of_provider(code, specs)
            self._plan_late(code)
        for order, plan in enumerate(self.plans):
            when = t.at(plan.create_on, 9 + order % 8, (order * 7) % 60)
            self.schedule.add(when, lambda plan=plan: self.agreement(plan))

    def _plan_line(self, code: str, specs: list[ProviderSpec], line: DecisionLine, index: int) -> bool:
        """The client's choice for one budget line, sometimes split between two providers; False if no provider
        serves the client's municipality (a barrier the reports can show)."""
        t, client = self.timeline, line.client
        # The line's own service first (a therapist does not take the whole assistance budget).
        candidates = [s for s in self._candidates(specs, client, line.category_code) if line.category_code in s.prices]
        if not candidates:
            return False
        spec = self._choose(candidates, client)
        quantity = line.decision.calculation.lines.get(category_code=line.category_code).quantity_hundredths
        service = line.category_code
        second = None
        roll = self.rng.random()
        if service == "home-help" and "housing-support" in spec.prices and roll < 0.3:
            service = "housing-support"
            quantity = line.amount_per_period // min(spec.prices[service], CAPS[code][service]) * 100
        elif service == "day-activity" and roll < 0.3:
            respite = [s for s in self._candidates(specs, client, "day-activity") if "respite-care" in s.prices]
            if respite:  # a day of respite care a month instead of two days of day activity
                second = (self.rng.choice(respite), "respite-care", 100)
                quantity -= 200
        elif service == "personal-assistance" and roll < 0.35:
            therapy = [
                s
                for s in self._candidates(specs, client, "personal-assistance")
                if "occupational-therapy" in s.prices and s.life == "approved"
            ]
            if therapy:  # two hours of therapy a month instead of six hours of assistance
                second = (self.rng.choice(therapy), self.rng.choice(["occupational-therapy", "music-therapy"]), 200)
                quantity -= 600
        first_of_demo = spec.demo_user and not any(p.provider == spec.slug for p in self.plans)
        create_on = t.valid_from + dt.timedelta(days=3 + index % 20)
        self.plans.append(
            AgreementPlan(
                key=f"{code}-{index}",
                organiser=code,
                client=client,
                category=line.category_code,
                provider=spec.slug,
                service=service,
                quantity=quantity,
                endorsed=index % 3 != 0 and not first_of_demo,
                standing=index % 4 == 1 and spec.life != "ended" and not first_of_demo,
                valid_from=t.months[0],
                create_on=create_on,
            )
        )
        if second is not None:
            other, other_service, other_quantity = second
            self.plans.append(
                AgreementPlan(
                    key=f"{code}-{index}-2",
                    organiser=code,
                    client=client,
                    category=line.category_code,
                    provider=other.slug,
                    service=other_service,
                    quantity=other_quantity,
                    endorsed=True,
                    standing=False,
                    valid_from=t.months[0],
                    create_on=create_on,
                )
            )
        return True

    def _candidates(self, specs: list[ProviderSpec], client: Client, category: str) -> list[ProviderSpec]:
        return [
            s
            for s in specs
            if client.municipality.code in s.municipalities and any(CATEGORY[c] == category for c in s.prices)
        ]

    def _choose(self, candidates: list[ProviderSpec], client: Client) -> ProviderSpec:
        """Every provider gets a first client where it can; then the client's language and the demo provider
        weigh in."""
        for spec in candidates:
            if not any(p.provider == spec.slug for p in self.plans):
                return spec
        weights = [
            (4 if client.language == "sv" and "sv" in s.languages else 1) * (3 if s.demo_user else 1)
            for s in candidates
        ]
        return self.rng.choices(candidates, weights)[0]

    def _plan_change_of_provider(self, code: str, specs: list[ProviderSpec]) -> None:
        """The provider that closes down: its agreements end after the third month and the clients choose
        another provider from the fourth."""
        t = self.timeline
        ended = [s.slug for s in specs if s.life == "ended"]
        for plan in [p for p in self.plans if p.organiser == code and p.provider in ended]:
            plan.ends_on = month_end(t.months[2])
            others = [
                s
                for s in self._candidates(specs, plan.client, plan.category)
                if s.life == "approved" and plan.service in s.prices
            ]
            new = None
            if others:
                spec = self.rng.choice(others)
                new = AgreementPlan(
                    key=f"{plan.key}-new",
                    organiser=code,
                    client=plan.client,
                    category=plan.category,
                    provider=spec.slug,
                    service=plan.service,
                    quantity=plan.quantity,
                    endorsed=True,
                    standing=False,
                    valid_from=t.months[3],
                    create_on=t.months[2] + dt.timedelta(days=19),
                )
            self.schedule.add(
                t.at(t.months[2] + dt.timedelta(days=19), 13), lambda plan=plan, new=new: self.change(plan, new)
            )

    def _plan_late(self, code: str) -> None:
        """A few agreements whose last month is billed late: their claims wait for the client at the end."""
        late = [
            p
            for p in self.plans
            if p.organiser == code
            and not p.endorsed
            and not p.standing
            and p.ends_on is None
            and self.specs[p.provider].life == "approved"
        ]
        demo = [p for p in late if self.specs[p.provider].demo_user][:1]
        for plan in (demo + [p for p in late if p not in demo])[:4]:
            plan.late = True

    # --- claims ---------------------------------------------------------------------------------------------

    def invoice(self, slug: str, month: dt.date, suffix: str = "") -> str:
        self.numbers[(slug, month)] += 1
        return f"{self.specs[slug].prefix}-{month:%y%m}-{self.numbers[(slug, month)]:03d}{suffix}"

    def rows_for(self, plan: AgreementPlan, month: dt.date) -> list[Row]:
        """A month of service as the provider bills it: assistance twice a month, the rest monthly; now and
        then less than agreed (illness, holidays)."""
        factor = self.rng.choice([100, 100, 100, 100, 75, 50])
        step = 50 if UNIT[plan.service] == "hour" else 100
        quantity = max(step, plan.quantity * factor // 100 // step * step)
        last = weekday_on_or_before(month_end(month))
        if plan.service == "personal-assistance":
            half = max(step, quantity // 2 // step * step)
            days = [weekday_on_or_before(month.replace(day=15)), last]
            return [Row(self.invoice(plan.provider, month), plan.service, day, half, plan.key) for day in days]
        return [Row(self.invoice(plan.provider, month), plan.service, last, quantity, plan.key)]

    def plan_claims(self) -> None:
        t = self.timeline
        for k, month in enumerate(t.months):
            billing = add_months(month, 1)
            for code in sorted(self.organisers):
                by_provider: dict[str, list[Row]] = {}
                late: dict[str, list[Row]] = {}
                for plan in [p for p in self.plans if p.organiser == code]:
                    if plan.valid_from > month or (plan.ends_on is not None and plan.ends_on < month):
                        continue
                    spec = self.specs[plan.provider]
                    if spec.life == "suspended" and k == 5:
                        continue  # suspended: it bills nothing more
                    rows = self.rows_for(plan, month)
                    target = late if plan.late and k == 5 else by_provider
                    target.setdefault(plan.provider, []).extend(rows)
                self.invoices[(code, k)] = [row.invoice for rows in by_provider.values() for row in rows]
                self._scenarios(code, k, month, by_provider)
                for order, (slug, rows) in enumerate(sorted(by_provider.items())):
                    when = t.at(billing + dt.timedelta(days=1 + order % 4), 9 + order % 7, (order * 13) % 60)
                    self._plan_submission(when, slug, month, k, rows)
                for order, (slug, rows) in enumerate(sorted(late.items())):
                    when = t.now - dt.timedelta(days=3, hours=order)
                    latest = weekday_on_or_before(when.astimezone(clock.HELSINKI).date() - dt.timedelta(days=1))
                    for row in rows:
                        row.day = max(month, min(row.day, latest))
                    self.schedule.add(when, lambda slug=slug, rows=rows: self.submit(slug, rows, ClaimSource.FORM))
                decide_on = billing + dt.timedelta(days=6)
                self.schedule.add(t.at(decide_on, 12), lambda code=code, k=k: self.client_decisions(code, k))
                if k in (1, 2, 3):
                    self.schedule.add(
                        t.at(decide_on + dt.timedelta(days=5), 10),
                        lambda code=code, k=k: self.resolve(code, k, approve=k == 1),
                    )
                if k == 5 and late:
                    self.schedule.add(t.now - dt.timedelta(days=1), lambda code=code: self.dispute_late(code))

    def _plan_submission(self, when: dt.datetime, slug: str, month: dt.date, k: int, rows: list[Row]) -> None:
        spec = self.specs[slug]
        rise = PRICE_RISES.get(slug)
        channel = spec.channel
        bad: list[str] = []
        if spec.demo_user and k == 4:
            channel = ClaimSource.CSV  # the demo provider tries a spreadsheet, with mistakes
            service, last, number = rows[0].service, fi_date(month_end(month)), f"{spec.prefix}-{month:%y%m}"
            bad = [
                f"{{agreement}};{service};31.6.{month.year};1;{{price}};{number}-901",  # June has 30 days
                f"{{agreement}};{service};{last};1;{{price}};",
                f"{{agreement}};{service};{last};0;{{price}};{number}-902",
                f"{{agreement}};{service};{last};1;neljäkymmentä;{number}-903",
                "{duplicate}",  # a row of last month's file again: recognised, not paid twice
            ]
            # a service date in the future (typed the wrong month)
            future = when.date() + dt.timedelta(days=20)
            rows = [*rows, Row(self.invoice(slug, month), rows[0].service, future, 100, rows[0].agreement)]
        if channel == ClaimSource.CSV and k == 0 and slug == "paivapaja":
            number = f"{spec.prefix}-{month:%y%m}"
            bad = [
                f"{{agreement}};day-activity;30.2.{month.year};1;{{price}};{number}-901",  # no such day
                f"{{agreement}};day-activity;{fi_date(month_end(month))};1;{{price}};{number}-902;lisätieto",
            ]
        if rise is not None and k == 3:
            service, price = rise
            first = [r for r in rows if r.service == service][: max(1, len(rows) // 2)]
            wrong = [Row(r.invoice, r.service, r.day, r.quantity, r.agreement, price=price) for r in first]
            rows = wrong + [r for r in rows if r not in first]
            corrected = [Row(f"{r.invoice}K", r.service, r.day, r.quantity, r.agreement) for r in first]
            self.invoices[(spec.organiser, k)] += [r.invoice for r in corrected]
            self.schedule.add(
                when + dt.timedelta(days=2),
                lambda: self.submit(slug, corrected, channel, f"laskutus-{month:%Y-%m}-korjaus.csv"),
            )
        self.schedule.add(when, lambda: self.submit(slug, rows, channel, f"laskutus-{month:%Y-%m}.csv", bad_lines=bad))

    def _scenarios(self, code: str, k: int, month: dt.date, by_provider: dict[str, list[Row]]) -> None:
        """Claims the checks refuse, each for a reason a real provider runs into."""
        t = self.timeline
        plans = [p for p in self.plans if p.organiser == code]
        transport = next(s for s in PROVIDERS if s.organiser == code and "accessible-taxi-trip" in s.prices)
        if k == 0 and code == "lansi-uusimaa":
            demo = next((p for p in plans if self.specs[p.provider].demo_user), None)
            if demo is not None:  # a visit before the agreement began
                by_provider.setdefault(demo.provider, []).append(
                    Row(
                        self.invoice(demo.provider, month),
                        demo.service,
                        t.valid_from + dt.timedelta(days=9),
                        100,
                        demo.key,
                    )
                )
        if k == 1:  # a taxi company bills a trip on the platform, with its own order number
            by_provider.setdefault(transport.slug, []).append(
                Row(
                    self.invoice(transport.slug, month),
                    "accessible-taxi-trip",
                    weekday_on_or_before(month + dt.timedelta(days=11)),
                    100,
                    agreement_number=f"KP-{month:%y}-0412",
                    price=transport.prices["accessible-taxi-trip"],
                )
            )
        if k == 2:  # the wrong service on an agreement
            wrong = next(
                (
                    p
                    for p in plans
                    if p.service == "home-help"
                    and "housing-support" in self.specs[p.provider].prices
                    and p.ends_on is None
                    and p.provider in by_provider
                ),
                None,
            )
            if wrong is not None:
                by_provider[wrong.provider].append(
                    Row(
                        self.invoice(wrong.provider, month),
                        "housing-support",
                        weekday_on_or_before(month.replace(day=20)),
                        100,
                        wrong.key,
                        price=self.specs[wrong.provider].prices["housing-support"],
                    )
                )
            short = next(
                (
                    p
                    for p in plans
                    if not p.endorsed
                    and not p.standing
                    and not self.specs[p.provider].demo_user
                    and self.specs[p.provider].life == "approved"
                    and p.provider in by_provider
                ),
                None,
            )
            if short is not None:  # a whole quarter billed at once: more than the budget has
                by_provider[short.provider].append(
                    Row(
                        self.invoice(short.provider, month, "L"),
                        short.service,
                        weekday_on_or_before(month_end(month)),
                        None,
                        short.key,
                    )
                )
        if k == 3:  # the provider that closed bills a visit after its last day
            for plan in plans:
                if plan.ends_on is not None:
                    by_provider.setdefault(plan.provider, []).append(
                        Row(
                            self.invoice(plan.provider, month),
                            plan.service,
                            weekday_on_or_before(month + dt.timedelta(days=6)),
                            100,
                            plan.key,
                        )
                    )
                    break

    def plan_payments(self) -> None:
        """Two payment runs per county, each prepared by finance and released by the second finance person: the
        first answered by the bank's status report (one payment rejected, its claims paid in the next run), the
        latest released and waiting for the bank's answer."""
        t = self.timeline
        paid_on = t.months[4] + dt.timedelta(days=9)
        latest = t.now - dt.timedelta(days=1)
        for code in sorted(self.organisers):
            self.schedule.add(
                t.at(paid_on, 10), lambda code=code: self.batch(code, paid_on.replace(day=15), answered=True)
            )
            latest_day = latest.astimezone(clock.HELSINKI).date()
            execution = latest_day.replace(day=15)
            if latest_day.day >= 15:
                execution = add_months(latest_day, 1).replace(day=15)
            self.schedule.add(
                latest, lambda code=code, execution=execution: self.batch(code, execution, answered=False)
            )


def weekday_on_or_before(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def fi_date(day: dt.date) -> str:
    return f"{day.day}.{day.month}.{day.year}"


def decimal_text(hundredths: int) -> str:
    return f"{Decimal(hundredths) / 100:.2f}".replace(".", ",")
