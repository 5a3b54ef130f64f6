"""What judging a trip looks up — the operator's approval, the card's client, the entitlement in force, the tariff
on the day and the month's work and study self-shares so far — cached for one trip file or one booking. The row-wise
import and the step-by-step booking ask here; the set-based import and the one-query booking ask the same questions
in SQL (``trip_import_sql``, ``authorizations``), built from the same rules (``judgement``)."""

import datetime as dt
import uuid
from typing import Any

from django.db.models import Sum

from kukkaro.core.clock import HELSINKI
from kukkaro.core.models import Organiser
from kukkaro.core.provider_register import provider_register
from kukkaro.mobility import judgement
from kukkaro.mobility.models import EntitlementState, TransportCard, TransportEntitlement, TripLeg
from kukkaro.mobility.services import tariff_on


class Context:
    """What judging rows needs to look up, cached for one file."""

    def __init__(self, organiser: Organiser) -> None:
        self.organiser = organiser
        self._providers: dict[str, uuid.UUID | None] = {}
        self._approved: dict[tuple, bool] = {}
        self._cards: dict[str, list] = {}
        self._entitlements: dict[int, list] = {}
        self._tariffs: dict[tuple, Any] = {}
        self.cap_paid: dict[tuple, int] = {}  # (client id, year, month) -> work/study self-shares so far
        self.first_legs: dict[tuple, Any] = {}  # (operator, trip) -> the identity's first leg in this file

    def provider_id(self, business_id: str) -> uuid.UUID | None:
        """The organiser's provider with this business ID (the register of ``services``), or None."""
        if business_id not in self._providers:
            self._providers[business_id] = provider_register().provider_id(
                organiser_id=self.organiser.pk, business_id=business_id
            )
        return self._providers[business_id]

    def operator_approved(self, provider_id: uuid.UUID, day: dt.date) -> bool:
        key = (provider_id, day)
        if key not in self._approved:
            self._approved[key] = provider_register().approved_on(provider_id=provider_id, day=day)
        return self._approved[key]

    def client_for(self, number: str, at: dt.datetime) -> Any:
        if number not in self._cards:
            self._cards[number] = list(
                TransportCard.objects.filter(number=number, client__organiser=self.organiser).select_related(
                    "client__municipality"
                )
            )
        for card in self._cards[number]:
            if card.issued_at <= at and (card.closed_at is None or card.closed_at > at):
                return card.client
        return None

    def entitlement_for(self, client: Any, day: dt.date) -> Any:
        """The entitlement in force on the day: the newest (``TransportEntitlement.Meta.ordering``)."""
        if client.pk not in self._entitlements:
            self._entitlements[client.pk] = list(
                TransportEntitlement.objects.filter(client=client).select_related(
                    "leisure_line__purse", "work_line__purse", "contract_area"
                )
            )
        for entitlement in self._entitlements[client.pk]:
            if entitlement.valid_from <= day <= entitlement.valid_until and (
                entitlement.state == EntitlementState.ACTIVE
            ):
                return entitlement
        return None

    def tariff_for(self, area_id: int, day: dt.date) -> Any:
        key = (area_id, day)
        if key not in self._tariffs:
            self._tariffs[key] = tariff_on(area_id=area_id, day=day)
        return self._tariffs[key]

    @staticmethod
    def _month(client: Any, pickup_at: dt.datetime) -> tuple:
        local = pickup_at.astimezone(HELSINKI)
        return (client.pk, local.year, local.month)

    def work_study_paid(self, client: Any, pickup_at: dt.datetime) -> int:
        """What the client has paid in work and study self-shares in the pickup's month (Helsinki), so far."""
        key = self._month(client, pickup_at)
        if key not in self.cap_paid:
            start, following = judgement.helsinki_month(pickup_at)
            self.cap_paid[key] = (
                TripLeg.objects.filter(judgement.counts_toward_cap(), client=client)
                .filter(pickup_at__gte=start, pickup_at__lt=following)
                .aggregate(total=Sum("self_share_cents"))["total"]
                or 0
            )
        return self.cap_paid[key]

    def work_study_paid_known(self, client: Any, pickup_at: dt.datetime, cents: int) -> None:
        """What the month's work and study self-shares are, read elsewhere (the one-query booking)."""
        self.cap_paid[self._month(client, pickup_at)] = cents

    def work_study_paid_add(self, client: Any, pickup_at: dt.datetime, cents: int) -> None:
        """A leg of this file paid ``cents`` of work and study self-share: later legs of the month see it."""
        key = self._month(client, pickup_at)
        self.cap_paid[key] = self.cap_paid.get(key, 0) + cents


def price_and_share(context: Context, client: Any, tariff: Any, leg: judgement.Leg, purpose: str) -> tuple[int, int]:
    """A leg's price by the tariff and the client's self-share of it (child or adult on the pickup date, and within
    the month's cap of work and study self-shares)."""
    terms = tariff.terms()
    price = judgement.leg_price_cents(leg, terms)
    paid = context.work_study_paid(client, leg.pickup_at) if purpose in judgement.WORK_OR_STUDY else 0
    share = judgement.self_share_cents(
        price_cents=price,
        terms=terms,
        child=judgement.is_child(client.birth_date, judgement.helsinki_day(leg.pickup_at)),
        purpose=purpose,
        paid_this_month_cents=paid,
    )
    return price, share
