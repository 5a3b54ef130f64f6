"""Mobility (the Länsi-Uusimaa model): transport entitlements as a trip quota, kilometre purse or euro purse; taxi
tariffs by contract area; transport cards; and trip files from the dispatch centre, each leg with exactly one
outcome. Money in integer cents, distances in integer metres, trips as integer counts. Debits go through the
ledger; this app only says which purse and how much."""

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kukkaro.core.models import Municipality, Organiser
from kukkaro.mobility import judgement
from kukkaro.mobility.judgement import (  # the judgement's vocabulary, stored in these models' fields
    AllowedArea,
    EntitlementModel,
    EntitlementState,
    LegOutcome,
    TariffTerms,
    TripPurpose,
    VehicleClass,
)
from kukkaro.people.models import Client


class ContractArea(models.Model):
    """An area of the county's taxi contract: the municipalities whose trips its tariff prices."""

    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="contract_areas")
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    municipalities = models.ManyToManyField(Municipality, related_name="contract_areas")

    class Meta:
        verbose_name = _("contract area")
        verbose_name_plural = _("contract areas")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Tariff(models.Model):
    """One version of a contract area's taxi tariff, by pickup date. Versions of an area never overlap."""

    area = models.ForeignKey(ContractArea, on_delete=models.PROTECT, related_name="tariffs")
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    base_day_cents = models.BigIntegerField(_("base fare, weekdays 06–20"))
    base_other_cents = models.BigIntegerField(_("base fare, other times"))
    per_km_car_cents = models.BigIntegerField(_("per km, car"))
    per_km_van_cents = models.BigIntegerField(_("per km, van"))
    per_km_wheelchair_cents = models.BigIntegerField(_("per km, wheelchair taxi"))
    per_km_stretcher_cents = models.BigIntegerField(_("per km, stretcher taxi"))
    per_minute_cents = models.BigIntegerField(_("per minute of the ride"))
    waiting_per_hour_cents = models.BigIntegerField(_("waiting per hour"))
    supplements_cents = models.JSONField(_("supplements"), default=dict, blank=True)  # {"assist": 1939, …}
    shared_discount_bp = models.PositiveIntegerField(_("shared-ride discount (basis points)"), default=0)
    self_share_adult_cents = models.BigIntegerField(_("self-share per trip, adult"))
    self_share_child_cents = models.BigIntegerField(_("self-share per trip, under 18"))
    work_study_monthly_cap_cents = models.BigIntegerField(_("monthly cap of self-shares for work and study"))
    fare_tolerance_cents = models.BigIntegerField(_("tolerance between the operator's fare and the price"), default=100)
    # What a leg can have been (kukkaro.mobility.judgement): faster than this over its ride minutes, or more
    # minutes billed than fit between its pickup and drop-off with this slack, and it is rejected.
    max_speed_kmh = models.PositiveIntegerField(
        _("highest possible average speed (km/h)"), default=judgement.DEFAULT_MAX_SPEED_KMH
    )
    billed_minutes_slack_min = models.PositiveIntegerField(
        _("minutes billed beyond the pickup-to-drop-off time that are still possible"),
        default=judgement.DEFAULT_BILLED_MINUTES_SLACK_MIN,
    )
    source = models.CharField(_("source"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["area", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="mobility_tariff_period_in_order",
            ),
            models.CheckConstraint(
                condition=Q(base_day_cents__gte=0)
                & Q(base_other_cents__gte=0)
                & Q(per_km_car_cents__gte=0)
                & Q(per_km_van_cents__gte=0)
                & Q(per_km_wheelchair_cents__gte=0)
                & Q(per_km_stretcher_cents__gte=0)
                & Q(per_minute_cents__gte=0)
                & Q(waiting_per_hour_cents__gte=0)
                & Q(self_share_adult_cents__gte=0)
                & Q(self_share_child_cents__gte=0)
                & Q(work_study_monthly_cap_cents__gte=0)
                & Q(fare_tolerance_cents__gte=0)
                & Q(shared_discount_bp__lte=10_000),
                name="mobility_tariff_amounts_sane",
            ),
            models.CheckConstraint(
                condition=Q(max_speed_kmh__range=judgement.MAX_SPEED_RANGE)
                & Q(billed_minutes_slack_min__range=judgement.SLACK_RANGE),
                name="mobility_tariff_limits_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area} {self.valid_from}"

    def terms(self) -> TariffTerms:
        return TariffTerms(
            base_day_cents=self.base_day_cents,
            base_other_cents=self.base_other_cents,
            per_km_cents={
                "car": self.per_km_car_cents,
                "van": self.per_km_van_cents,
                "wheelchair": self.per_km_wheelchair_cents,
                "stretcher": self.per_km_stretcher_cents,
            },
            per_minute_cents=self.per_minute_cents,
            waiting_per_hour_cents=self.waiting_per_hour_cents,
            supplements_cents=dict(self.supplements_cents),
            shared_discount_bp=self.shared_discount_bp,
            self_share_adult_cents=self.self_share_adult_cents,
            self_share_child_cents=self.self_share_child_cents,
            work_study_monthly_cap_cents=self.work_study_monthly_cap_cents,
        )


class TransportEntitlement(models.Model):
    """A transport decision's terms: which model, which budget lines (purses) pay for which trips, where and in
    what vehicle. The decision fixes the amounts; this says how trips are debited."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="transport_entitlements")
    decision = models.ForeignKey("cases.Decision", on_delete=models.PROTECT, related_name="+")
    model = models.CharField(_("model"), max_length=16, choices=EntitlementModel.choices)
    leisure_line = models.ForeignKey("cases.DecisionLine", on_delete=models.PROTECT, related_name="+")
    work_line = models.ForeignKey(
        "cases.DecisionLine", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    contract_area = models.ForeignKey(ContractArea, on_delete=models.PROTECT, related_name="+")
    allowed_area = models.CharField(_("allowed area"), max_length=16, choices=AllowedArea.choices)
    vehicle_class = models.CharField(_("vehicle needed"), max_length=16, choices=VehicleClass.choices)
    escort = models.BooleanField(_("escort"), default=False)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    state = models.CharField(max_length=16, choices=EntitlementState.choices, default=EntitlementState.ACTIVE)
    # When the purse buys fewer than 18 one-way trips a month: the figures (services.minimum_warning_text words them).
    minimum_shortfall = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("transport entitlement")
        verbose_name_plural = _("transport entitlements")
        ordering = ["-valid_from", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("valid_from")), name="mobility_entitlement_period_in_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} {self.model}"


class TransportCard(models.Model):
    """The client's transport card: the number the dispatch centre and the trip file use (``client_number``)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="transport_cards")
    number = models.CharField(_("card number"), max_length=20, unique=True)
    issued_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("transport card")
        verbose_name_plural = _("transport cards")

    def __str__(self) -> str:
        return self.number


class TripImportState(models.TextChoices):
    DONE = "done", pgettext_lazy("trip import state", "imported")


class TripImport(models.Model):
    """One trip file from the dispatch centre. The same bytes imported again are this import again."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict)  # outcome -> rows
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        verbose_name = _("trip file")
        verbose_name_plural = _("trip files")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["organiser", "sha256"], name="mobility_import_file_once"),
        ]

    def __str__(self) -> str:
        return self.filename


def _untied(to: Any, *, related_name: str = "+", null: bool = True) -> Any:
    """A reference from a trip leg without a database constraint or index of its own (ADR 0013)."""
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        null=null,
        blank=null,
        related_name=related_name,
        db_constraint=False,
        db_index=False,
    )


class TripLeg(models.Model):
    """One row of a trip file and its one outcome. The typed fields are empty where the row could not be read.

    A leg is identified by the operator and its trip id: the first row with that identity carries the debit
    (one first row per identity, a unique index; ``transfer_id`` names the file's one debit of the purse, or the
    leg's own transfer when it was accepted in review — ADR 0016); a later row with the
    same content is the same leg again (accepted, no new debit, ``same_as`` points at the first), and one with
    other content is held for review (``resent_changed``)."""

    # A trip file can hold a million legs. The references below carry no database foreign-key constraint (and no
    # index of their own): each would cost a lookup and a lock per row, and every id comes from a row the same
    # import read in its transaction, none of which is ever deleted (ADR 0013).
    id = models.BigAutoField(primary_key=True)
    trip_import = _untied(TripImport, related_name="legs", null=False)
    row_number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=LegOutcome.choices)
    reasons = models.JSONField(default=list)  # codes
    operator_id = models.CharField(max_length=20)
    trip_id = models.CharField(max_length=64)
    content_sha256 = models.CharField(max_length=64)
    same_as = _untied("self")
    client = _untied(Client)
    entitlement = _untied(TransportEntitlement, related_name="legs")
    provider = _untied("services.Provider")
    client_number = models.CharField(max_length=20, blank=True)
    authorization_id = models.CharField(max_length=64, blank=True)
    pickup_at = models.DateTimeField(null=True, blank=True)
    dropoff_at = models.DateTimeField(null=True, blank=True)
    origin_municipality = models.CharField(max_length=3, blank=True)
    destination_municipality = models.CharField(max_length=3, blank=True)
    distance_m = models.BigIntegerField(null=True, blank=True)
    duration_min = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    waiting_min = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    vehicle_class = models.CharField(max_length=16, blank=True)
    purpose = models.CharField(max_length=8, blank=True)
    escort = models.BooleanField(default=False)
    supplements = models.JSONField(default=list)
    shared_ride_id = models.CharField(max_length=64, blank=True)
    fare_cents = models.BigIntegerField(null=True, blank=True)
    self_share_collected_cents = models.BigIntegerField(null=True, blank=True)
    price_cents = models.BigIntegerField(null=True, blank=True)
    self_share_cents = models.BigIntegerField(null=True, blank=True)
    county_cost_cents = models.BigIntegerField(null=True, blank=True)
    debit_unit = models.CharField(max_length=4, blank=True)
    debit_amount = models.BigIntegerField(null=True, blank=True)
    purse = _untied("ledger.Purse")
    transfer_id = models.UUIDField(null=True, blank=True)
    resolved_outcome = models.CharField(max_length=16, choices=LegOutcome.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    # Indexed only where set: almost every leg is never resolved, and a million NULL entries cost a second of
    # every large import.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("trip")
        verbose_name_plural = _("trips")
        ordering = ["trip_import", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["trip_import", "row_number"], name="mobility_one_outcome_per_row"),
            # The first row of a leg's identity (the one that may carry a debit); later rows point at it.
            models.UniqueConstraint(
                fields=["operator_id", "trip_id"],
                condition=Q(same_as__isnull=True) & ~Q(outcome="rejected") & ~Q(resolved_outcome="rejected"),
                name="mobility_leg_identity_once",
            ),
        ]
        indexes = [
            models.Index(fields=["pickup_at"], condition=Q(outcome="review"), name="mobility_leg_review_queue"),
            models.Index(fields=["client", "pickup_at"], name="mobility_leg_client_time"),
            models.Index(
                fields=["resolved_by"], condition=Q(resolved_by__isnull=False), name="mobility_leg_resolved_by"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operator_id}/{self.trip_id}"


class AuthorizationState(models.TextChoices):
    APPROVED = "approved", pgettext_lazy("trip authorisation", "approved")
    DENIED = "denied", pgettext_lazy("trip authorisation", "denied")
    CANCELLED = "cancelled", pgettext_lazy("trip authorisation", "cancelled")
    EXPIRED = "expired", pgettext_lazy("trip authorisation", "expired")
    SETTLED = "settled", pgettext_lazy("trip authorisation", "settled")


class TripAuthorization(models.Model):
    """The dispatch centre's question at booking time — does the client's purse cover this trip? — and the answer.
    An approved trip holds its amount in the purse until the trip file settles it, the dispatch centre cancels it,
    or the hold expires. The dispatch centre's ``Idempotency-Key`` makes a retried question get the first answer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)  # sha256 of the request, to tell a retry from a conflict
    client_number = models.CharField(max_length=20)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    entitlement = models.ForeignKey(
        TransportEntitlement, on_delete=models.PROTECT, null=True, blank=True, related_name="authorizations"
    )
    pickup_at = models.DateTimeField()
    distance_m = models.BigIntegerField()
    duration_min = models.DecimalField(max_digits=8, decimal_places=2)
    vehicle_class = models.CharField(max_length=16, choices=VehicleClass.choices)
    purpose = models.CharField(max_length=8, choices=TripPurpose.choices)
    origin_municipality = models.CharField(max_length=3)
    destination_municipality = models.CharField(max_length=3)
    supplements = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=AuthorizationState.choices)
    reason = models.CharField(max_length=32, blank=True)  # why denied (a code)
    purse = models.ForeignKey("ledger.Purse", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    hold_id = models.UUIDField(null=True, blank=True)  # the ledger transfer holding the amount
    unit = models.CharField(max_length=4, blank=True)
    amount = models.BigIntegerField(null=True, blank=True)
    price_cents = models.BigIntegerField(null=True, blank=True)
    self_share_cents = models.BigIntegerField(null=True, blank=True)
    available_after = models.BigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)  # cancelled, expired or settled

    class Meta:
        verbose_name = _("trip authorisation")
        verbose_name_plural = _("trip authorisations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organiser", "idempotency_key"], name="mobility_authorization_key_once"),
            models.CheckConstraint(
                condition=~Q(state="approved") | Q(hold_id__isnull=False, amount__gt=0, purse__isnull=False),
                name="mobility_authorization_approved_holds",
            ),
        ]
        indexes = [models.Index(fields=["state", "expires_at"], name="mobility_authorization_open")]

    def __str__(self) -> str:
        return f"{self.client_number} {self.pickup_at:%Y-%m-%d %H:%M}"


class CarModification(models.TextChoices):
    RAMP = "ramp", _("ramp")
    LIFT = "lift", _("wheelchair lift")
    WHEELCHAIR_SECURING = "wheelchair_securing", _("wheelchair securing")
    HAND_CONTROLS = "hand_controls", _("hand controls")
    SWIVEL_SEAT = "swivel_seat", _("swivel seat")
    HOIST = "hoist", _("hoist")
    AUTOMATIC = "automatic", _("automatic gearbox")


class LeaseState(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("lease", "active")
    ENDED = "ended", pgettext_lazy("lease", "ended")


class LeasingContract(models.Model):
    """A leasing car instead of taxi trips (the Länsi-Uusimaa model's heavy users): the car and its modifications,
    the lease's terms, who drives, and the client's own monthly contribution. The county's monthly cost is paid
    from the decision's leasing line, posted to the ledger each month; a small taxi purse may go alongside."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="leasing_contracts")
    decision = models.ForeignKey("cases.Decision", on_delete=models.PROTECT, related_name="+")
    line = models.ForeignKey("cases.DecisionLine", on_delete=models.PROTECT, related_name="+")
    taxi_entitlement = models.ForeignKey(
        TransportEntitlement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lessor = models.CharField(_("lessor"), max_length=200)
    contract_number = models.CharField(_("contract number"), max_length=64)
    vehicle = models.CharField(_("vehicle"), max_length=200)
    registration = models.CharField(_("registration number"), max_length=10, blank=True)
    modifications = models.JSONField(_("modifications"), default=list, blank=True)
    starts_on = models.DateField(_("first month"))
    contract_months = models.PositiveSmallIntegerField(_("contract months"))
    monthly_price_cents = models.BigIntegerField(_("lease a month (cents)"))
    insurance_cents = models.BigIntegerField(_("insurance a month (cents)"))
    servicing_cents = models.BigIntegerField(_("servicing a month (cents)"))
    client_contribution_cents = models.BigIntegerField(_("client's contribution a month (cents)"))
    included_km_per_year = models.PositiveIntegerField(_("kilometres included a year"))
    excess_km_cents = models.PositiveIntegerField(_("price of an excess kilometre (cents)"))
    client_drives = models.BooleanField(_("the client drives"))
    drivers = models.JSONField(_("named drivers"), default=list, blank=True)
    state = models.CharField(max_length=8, choices=LeaseState.choices, default=LeaseState.ACTIVE)
    returned_on = models.DateField(_("returned on"), null=True, blank=True)  # the odometer's reading at return
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("leasing car contract")
        verbose_name_plural = _("leasing car contracts")
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["organiser", "contract_number"], name="mobility_lease_number_once"),
            models.CheckConstraint(
                condition=Q(monthly_price_cents__gte=0, insurance_cents__gte=0, servicing_cents__gte=0)
                & Q(client_contribution_cents__gte=0, contract_months__gte=1),
                name="mobility_lease_amounts_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.registration}".strip()

    @property
    def county_cost_cents(self) -> int:
        """What the county pays a month: the lease, insurance and servicing less the client's contribution."""
        return max(
            0,
            self.monthly_price_cents + self.insurance_cents + self.servicing_cents - self.client_contribution_cents,
        )

    @property
    def ends_on(self) -> dt.date:
        """The last day of the contract's last month."""
        index = self.starts_on.year * 12 + self.starts_on.month - 1 + self.contract_months
        return dt.date(index // 12, index % 12 + 1, 1) - dt.timedelta(days=1)

    @property
    def paid_until(self) -> dt.date:
        """The last day the county pays for: the contract's end, or the end of the month the car was returned in
        when it came back early."""
        if self.returned_on is None:
            return self.ends_on
        following = (self.returned_on.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return min(self.ends_on, following - dt.timedelta(days=1))


class ReadingKind(models.TextChoices):
    START = "start", pgettext_lazy("odometer reading", "at delivery")
    CHECK = "check", pgettext_lazy("odometer reading", "check")
    FINAL = "final", pgettext_lazy("odometer reading", "at return")


class OdometerReading(models.Model):
    """A leasing car's odometer, read on a day: at delivery, in between (to follow the pace), and at return, when
    the kilometres over the contract's allowance are charged to the county (``leasing.odometer_record``)."""

    id = models.BigAutoField(primary_key=True)
    contract = models.ForeignKey(LeasingContract, on_delete=models.PROTECT, related_name="readings")
    read_on = models.DateField(_("read on"))
    km = models.PositiveIntegerField(_("odometer (km)"))
    kind = models.CharField(_("reading"), max_length=8, choices=ReadingKind.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    excess_km = models.PositiveIntegerField(null=True, blank=True)  # set on the final reading
    excess_cents = models.BigIntegerField(null=True, blank=True)  # charged with the final reading
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()

    class Meta:
        verbose_name = _("odometer reading")
        verbose_name_plural = _("odometer readings")
        ordering = ["contract", "read_on", "km"]
        constraints = [
            models.UniqueConstraint(fields=["contract"], condition=Q(kind="start"), name="mobility_reading_one_start"),
            models.UniqueConstraint(fields=["contract"], condition=Q(kind="final"), name="mobility_reading_one_final"),
        ]

    def __str__(self) -> str:
        return f"{self.contract} {self.read_on}: {self.km} km"
