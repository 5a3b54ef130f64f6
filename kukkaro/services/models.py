"""Choice and spending (the PSOP model): providers, the catalogue and prices, service agreements, claims and
payment batches. Money in integer cents, quantities in hundredths of a unit. Claims move money only through the
ledger (a hold when a claim is accepted, a post when it is approved, a payment transfer when the bank accepts its
payment)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kukkaro.core.models import Municipality, Organiser
from kukkaro.people.models import Client
from kukkaro.services.payment_files import Problem


class ServiceUnit(models.TextChoices):
    HOUR = "hour", _("hour")
    DAY = "day", _("day")
    VISIT = "visit", _("visit")
    KM = "km", _("kilometre")
    TRIP = "trip", _("trip")
    ITEM = "item", _("item")


class ServiceType(models.Model):
    """A kind of service on one organiser's catalogue, paid from budget lines of one of that organiser's rate
    categories (``category_code``). Each organiser owns its catalogue: the same code in two counties is two rows,
    so renaming one county's service changes nothing of another's (ADR 0022). Caps, prices, agreements and claims
    refer only to service types of their own organiser."""

    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="service_types")
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=200)  # fi/sv/en through modeltranslation
    unit = models.CharField(_("unit"), max_length=8, choices=ServiceUnit.choices)
    category_code = models.SlugField(_("budget line category"), max_length=40)

    class Meta:
        verbose_name = _("service type")
        verbose_name_plural = _("service types")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["organiser", "code"], name="services_service_code_per_organiser")
        ]

    def __str__(self) -> str:
        return self.name


class PriceCap(models.Model):
    """The county's highest price for a service type, by date of service. Versions never overlap."""

    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    service_type = models.ForeignKey(ServiceType, on_delete=models.PROTECT, related_name="caps")
    cap_cents = models.BigIntegerField(_("price cap (cents)"))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("price cap")
        verbose_name_plural = _("price caps")
        constraints = [
            models.CheckConstraint(condition=Q(cap_cents__gt=0), name="services_cap_positive"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="services_cap_period_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_type} ≤ {self.cap_cents}"


class SpendingPolicy(models.Model):
    """An organiser's settings for claims and payments."""

    organiser = models.OneToOneField(Organiser, on_delete=models.PROTECT, related_name="spending_policy")
    #: Claims above this need the client's approval even from a provider the client has endorsed.
    approval_threshold_cents = models.BigIntegerField(_("approval threshold (cents)"), default=50_000)
    #: Days the client has to approve or dispute before a waiting claim is approved automatically.
    dispute_window_days = models.PositiveSmallIntegerField(_("dispute window (days)"), default=7)
    #: Payment batches: the organiser's account the payments leave from.
    debtor_name = models.CharField(_("payer name"), max_length=70, blank=True)
    debtor_iban = models.CharField(_("payer IBAN"), max_length=34, blank=True)
    debtor_bic = models.CharField(_("payer BIC"), max_length=11, blank=True)
    payment_day = models.PositiveSmallIntegerField(_("payment day of the month"), default=15)

    class Meta:
        verbose_name = _("spending policy")
        verbose_name_plural = _("spending policies")

    def __str__(self) -> str:
        return str(self.organiser)


class ProviderState(models.TextChoices):
    APPLIED = "applied", pgettext_lazy("provider state", "applied")
    APPROVED = "approved", pgettext_lazy("provider state", "approved")
    SUSPENDED = "suspended", pgettext_lazy("provider state", "suspended")
    ENDED = "ended", pgettext_lazy("provider state", "ended")
    REJECTED = "rejected", _("application rejected")


class Language(models.TextChoices):
    FI = "fi", _("Finnish")
    SV = "sv", _("Swedish")
    EN = "en", _("English")
    SE = "se", _("Sámi")
    FIT = "fsl", _("Finnish Sign Language")
    RU = "ru", _("Russian")
    ET = "et", _("Estonian")
    AR = "ar", _("Arabic")
    SO = "so", _("Somali")


class Accessibility(models.TextChoices):
    STEP_FREE = "step_free", _("step-free access")
    ACCESSIBLE_TOILET = "toilet", _("accessible toilet")
    HEARING_LOOP = "hearing_loop", _("hearing loop")
    EASY_LANGUAGE = "easy_language", _("easy-to-read language")
    SIGN_LANGUAGE = "sign_language", _("sign language")
    AAC = "aac", _("augmentative and alternative communication")
    HOME_VISITS = "home_visits", _("comes to the client's home")
    WHEELCHAIR_VEHICLE = "wheelchair_vehicle", _("wheelchair-accessible vehicle")


class Provider(models.Model):
    """A service provider registered with one organiser (the county approves providers, Act 569/2009)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="providers")
    name = models.CharField(_("name"), max_length=200)
    business_id = models.CharField(_("business ID"), max_length=9)
    soteri_number = models.CharField(_("Soteri registration number"), max_length=40)
    contact_name = models.CharField(_("contact person"), max_length=200)
    email = models.EmailField(_("email"))
    phone = models.CharField(_("phone"), max_length=40)
    address = models.CharField(_("address"), max_length=300, blank=True)
    municipalities = models.ManyToManyField(Municipality, related_name="providers", verbose_name=_("municipalities"))
    languages = models.JSONField(_("languages served"), default=list, blank=True)
    accessibility = models.JSONField(_("accessibility"), default=list, blank=True)
    description = models.TextField(_("description"), blank=True)
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11)
    state = models.CharField(_("state"), max_length=16, choices=ProviderState.choices, default=ProviderState.APPLIED)
    rulebook_version = models.CharField(_("rulebook version accepted"), max_length=20)
    rulebook_accepted_at = models.DateTimeField(_("rulebook accepted"))
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organiser", "business_id"], name="services_provider_once_per_organiser")
        ]

    def __str__(self) -> str:
        return self.name


class ProviderStateChange(models.Model):
    """The provider's life cycle as history: the state on any date is the last change on or before it."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="state_changes")
    state = models.CharField(max_length=16, choices=ProviderState.choices)
    effective_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        verbose_name = _("change of a provider's approval")
        verbose_name_plural = _("changes of providers' approval")
        ordering = ["effective_at", "pk"]

    def __str__(self) -> str:
        return f"{self.provider} {self.state} {self.effective_at:%Y-%m-%d}"


class ProviderUser(models.Model):
    """Which provider a provider user works for."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provider_link")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="users")

    class Meta:
        verbose_name = _("provider's user")
        verbose_name_plural = _("providers' users")

    def __str__(self) -> str:
        return f"{self.user} @ {self.provider}"


class BankAccountChangeState(models.TextChoices):
    PENDING = "pending", _("waiting for approval")
    APPROVED = "approved", pgettext_lazy("bank account change", "approved")
    REJECTED = "rejected", pgettext_lazy("bank account change", "rejected")


class BankAccountChange(models.Model):
    """A new bank account takes effect only when a second person approves it."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="bank_changes")
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11)
    state = models.CharField(max_length=16, choices=BankAccountChangeState.choices, default="pending")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    #: Why it was rejected (required then), or a note on the approval.
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("bank account change")
        verbose_name_plural = _("bank account changes")
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="services_bank_change_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(state="rejected") | ~Q(reason=""), name="services_bank_change_rejection_has_reason"
            ),
            models.UniqueConstraint(
                fields=["provider"], condition=Q(state="pending"), name="services_one_pending_bank_change"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.iban} ({self.state})"


class ProviderPrice(models.Model):
    """A provider's price for a service type, by date of service. Versions never overlap."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="prices")
    service_type = models.ForeignKey(ServiceType, on_delete=models.PROTECT, related_name="+")
    price_cents = models.BigIntegerField(_("price (cents)"))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.CheckConstraint(condition=Q(price_cents__gt=0), name="services_price_positive"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="services_price_period_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.service_type_id} {self.price_cents}"


class AgreementState(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("agreement state", "active")
    ENDED = "ended", pgettext_lazy("agreement state", "ended")


class ServiceAgreement(models.Model):
    """The client's choice: this provider delivers this service from this purse at this price."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(_("agreement number"), max_length=32, unique=True)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="service_agreements")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="agreements")
    purse = models.ForeignKey("ledger.Purse", on_delete=models.PROTECT, related_name="+")
    category_code = models.SlugField(max_length=40)
    service_type = models.ForeignKey(ServiceType, on_delete=models.PROTECT, related_name="+")
    quantity_hundredths = models.BigIntegerField(_("quantity per month (hundredths)"))
    agreed_price_cents = models.BigIntegerField(_("agreed price (cents)"))
    own_share_cents = models.BigIntegerField(_("client's own share per unit (cents)"), default=0)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    endorsed = models.BooleanField(_("claims need no approval by the client"), default=False)
    standing_hold = models.BooleanField(_("reserve the monthly amount"), default=False)
    state = models.CharField(max_length=16, choices=AgreementState.choices, default=AgreementState.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(_("reason for ending"), blank=True)

    class Meta:
        verbose_name = _("service agreement")
        verbose_name_plural = _("service agreements")
        constraints = [
            models.CheckConstraint(condition=Q(agreed_price_cents__gt=0), name="services_agreement_price_positive"),
            models.CheckConstraint(condition=Q(quantity_hundredths__gt=0), name="services_agreement_quantity"),
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("valid_from")), name="services_agreement_period_in_order"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class StandingHold(models.Model):
    """The month's reservation of an agreement: the ledger hold currently open for it and its remaining amount."""

    agreement = models.ForeignKey(ServiceAgreement, on_delete=models.PROTECT, related_name="standing_holds")
    month = models.DateField()  # first day of the month
    hold_id = models.UUIDField(null=True, blank=True)  # the open ledger hold, none once used up
    remaining_cents = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("standing hold")
        verbose_name_plural = _("standing holds")
        constraints = [models.UniqueConstraint(fields=["agreement", "month"], name="services_standing_hold_month")]

    def __str__(self) -> str:
        return f"{self.agreement} {self.month:%Y-%m}"


class ClaimSource(models.TextChoices):
    FORM = "form", _("form")
    CSV = "csv", _("CSV file")
    API = "api", _("API")


class ClaimStatus(models.TextChoices):
    WAITING = "waiting", _("waiting for the client's approval")
    APPROVED = "approved", pgettext_lazy("claim status", "approved")
    DISPUTED = "disputed", pgettext_lazy("claim status", "disputed")
    REJECTED = "rejected", pgettext_lazy("claim status", "rejected")
    PAID = "paid", pgettext_lazy("claim status", "paid")


class RejectReason(models.TextChoices):
    PROVIDER_NOT_APPROVED = "provider_not_approved", _("the provider was not approved on the service date")
    NO_AGREEMENT = "no_agreement", _("no such service agreement for this provider")
    AGREEMENT_NOT_ACTIVE = "agreement_not_active", _("the agreement was not in force on the service date")
    WRONG_SERVICE = "wrong_service", _("the service is not the one agreed")
    PRICE_ABOVE_AGREEMENT = "price_above_agreement", _("the unit price is above the agreed price")
    NO_CAP = "no_cap", _("the county has no price cap for this service on the service date")
    INSUFFICIENT_FUNDS = "insufficient_funds", _("the budget does not have the funds")
    # The ledger's other refusals, each in its own words (services.reject_reason_for maps them).
    BUDGET_ENDED = "budget_ended", _("the budget has ended: its decision ended, was annulled or was replaced")
    BUDGET_NOT_BEGUN = "budget_not_begun", _("the budget has not begun yet")
    BUDGET_CLOSED = "budget_closed", _("the budget is closed")
    NO_BUDGET = "no_budget", _("the agreement has no budget to pay from")
    RESERVATION_GONE = "reservation_gone", _("the reservation on the budget was already used, released or expired")
    LEDGER_REFUSED = "ledger_refused", _("the budget refused the reservation for a technical reason; ask the county")
    FUTURE_DATE = "future_date", _("the service date is in the future")
    DISPUTE_UPHELD = "dispute_upheld", _("the client's dispute was upheld")


class ClaimUpload(models.Model):
    """One CSV file of claims and the result of each of its rows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="uploads")
    filename = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("file of claims")
        verbose_name_plural = _("files of claims")
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.filename


class Claim(models.Model):
    """A provider's report of a delivered service, checked before any money moves. Never deleted: a rejected
    claim stays with its reasons."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="claims")
    agreement = models.ForeignKey(
        ServiceAgreement, on_delete=models.PROTECT, null=True, blank=True, related_name="claims"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    service_type = models.ForeignKey(ServiceType, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    service_date = models.DateField(_("service date"))
    quantity_hundredths = models.BigIntegerField(_("quantity (hundredths)"))
    unit_price_cents = models.BigIntegerField(_("unit price (cents)"))
    amount_cents = models.BigIntegerField(_("paid from the budget (cents)"))
    own_share_cents = models.BigIntegerField(_("the client's own share (cents)"), default=0)
    invoice_number = models.CharField(_("invoice number"), max_length=40)
    source = models.CharField(max_length=8, choices=ClaimSource.choices)
    upload = models.ForeignKey(ClaimUpload, on_delete=models.PROTECT, null=True, blank=True, related_name="claims")
    row_number = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=ClaimStatus.choices)
    reasons = models.JSONField(default=list, blank=True)  # RejectReason codes
    hold_id = models.UUIDField(null=True, blank=True)
    dispute_deadline = models.DateField(null=True, blank=True)
    dispute_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey(
        "PaymentBatchLine", on_delete=models.PROTECT, null=True, blank=True, related_name="claims"
    )
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-created_at"]
        constraints = [
            # Nothing is claimed twice: one live claim per provider and invoice number.
            models.UniqueConstraint(
                fields=["provider", "invoice_number"],
                condition=~Q(status="rejected"),
                name="services_claim_invoice_once",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["waiting", "approved", "disputed", "paid"])
                | (Q(agreement__isnull=False) & Q(hold_id__isnull=False) & Q(amount_cents__gt=0)),
                name="services_live_claim_is_held",
            ),
        ]
        indexes = [models.Index(fields=["organiser", "status"], name="services_claim_queue")]

    def __str__(self) -> str:
        return f"{self.provider} {self.invoice_number}"


class ClaimUploadRow(models.Model):
    """Exactly one result per CSV row: the claim it became, or why it could not become one."""

    upload = models.ForeignKey(ClaimUpload, on_delete=models.CASCADE, related_name="results")
    row_number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16)  # a ClaimStatus, or "invalid"
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reasons = models.JSONField(default=list)  # [{"field": …, "code": …, "message": …}]

    class Meta:
        verbose_name = _("row of a claim file")
        verbose_name_plural = _("rows of claim files")
        ordering = ["row_number"]
        constraints = [models.UniqueConstraint(fields=["upload", "row_number"], name="services_one_result_per_row")]

    def __str__(self) -> str:
        return f"{self.upload} #{self.row_number}"


class PaymentBatchState(models.TextChoices):
    PREPARED = "prepared", pgettext_lazy("payment batch", "prepared, waiting for release")
    RELEASED = "released", pgettext_lazy("payment batch", "released, waiting for the bank's answer")
    CONFIRMED = "confirmed", pgettext_lazy("payment batch", "answered by the bank")
    CANCELLED = "cancelled", pgettext_lazy("payment batch", "cancelled")


class PaymentBatch(models.Model):
    """Approved claims of one organiser, grouped per provider, as one bank file.

    Two people and the bank: one finance user *prepares* the batch (the file is made but cannot be downloaded),
    a second one *releases* it (the file may now go to the bank), and the bank's status report (pain.002) or a
    manual confirmation by someone other than the preparer *confirms* each payment as accepted or rejected. A
    prepared batch may be cancelled. The file never changes once made."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(_("batch number"), max_length=32, unique=True)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateField(_("claims approved from"))
    period_end = models.DateField(_("claims approved until"))
    execution_date = models.DateField(_("payment date"))
    state = models.CharField(max_length=16, choices=PaymentBatchState.choices, default=PaymentBatchState.PREPARED)
    total_cents = models.BigIntegerField()
    pain001 = models.BinaryField(editable=False)
    pain001_sha256 = models.CharField(max_length=64)
    accounting_csv = models.BinaryField(editable=False)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField()
    # Empty on a batch released before two-person release existed (it was "exported" when it was made).
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    #: Set only when a person confirmed the payments by hand (with a reason); a status report names itself.
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmation_reason = models.TextField(blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)

    class Meta:
        verbose_name = _("payment batch")
        verbose_name_plural = _("payment batches")
        ordering = ["-prepared_at"]
        constraints = [
            # Four eyes, as for a change of bank account: whoever prepared a batch neither releases it nor
            # confirms it by hand. (Who approved a bank account the batch pays to is refused by a trigger, see
            # migration services.0011: a CHECK cannot look at other tables.)
            models.CheckConstraint(
                condition=Q(released_by__isnull=True) | ~Q(released_by=models.F("prepared_by")),
                name="services_batch_release_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True) | ~Q(confirmed_by=models.F("prepared_by")),
                name="services_batch_confirm_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True) | ~Q(confirmation_reason=""),
                name="services_batch_manual_confirmation_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["prepared", "cancelled"]) | Q(released_at__isnull=False),
                name="services_batch_released_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="prepared") | (Q(released_by__isnull=True) & Q(released_at__isnull=True)),
                name="services_batch_prepared_is_not_released",
            ),
            models.CheckConstraint(
                condition=~Q(state="confirmed") | Q(confirmed_at__isnull=False),
                name="services_batch_confirmed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="cancelled")
                | (Q(cancelled_at__isnull=False) & Q(released_at__isnull=True) & ~Q(cancel_reason="")),
                name="services_batch_cancelled_before_release_with_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def file_available(self) -> bool:
        """The bank file may be downloaded only once a second person has released the batch."""
        return self.state in (PaymentBatchState.RELEASED, PaymentBatchState.CONFIRMED)


class PaymentOutcome(models.TextChoices):
    PENDING = "pending", pgettext_lazy("payment", "waiting for the bank")
    ACCEPTED = "accepted", pgettext_lazy("payment", "accepted by the bank")
    REJECTED = "rejected", pgettext_lazy("payment", "rejected by the bank")
    CANCELLED = "cancelled", pgettext_lazy("payment", "batch cancelled")


class PaymentStatusReport(models.Model):
    """A status report from the bank (ISO 20022 pain.002) on one released batch, kept as it was imported.
    The same file twice is one report (unique on the batch and the file's SHA-256)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="status_reports")
    message_name = models.CharField(max_length=35)  # pain.002.001.10 …
    message_id = models.CharField(max_length=35)  # the bank's GrpHdr/MsgId
    created_in_file = models.DateTimeField(null=True, blank=True)  # GrpHdr/CreDtTm
    group_status = models.CharField(max_length=4, blank=True)
    filename = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField(editable=False)
    accepted = models.PositiveIntegerField(default=0)  # payments this report accepted
    rejected = models.PositiveIntegerField(default=0)  # … rejected
    unchanged = models.PositiveIntegerField(default=0)  # … reported again as they already were, or not final
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["imported_at"]
        constraints = [models.UniqueConstraint(fields=["batch", "sha256"], name="services_status_report_once")]

    def __str__(self) -> str:
        return f"{self.batch} {self.message_id}"


class PaymentBatchLine(models.Model):
    """One payment to one provider in a batch, with its structured (RF) reference and what the bank said."""

    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="lines")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    iban = models.CharField(max_length=34)
    bic = models.CharField(max_length=11)
    amount_cents = models.BigIntegerField()
    reference = models.CharField(max_length=25)
    end_to_end_id = models.CharField(max_length=35)
    outcome = models.CharField(max_length=16, choices=PaymentOutcome.choices, default=PaymentOutcome.PENDING)
    status_code = models.CharField(max_length=4, blank=True)  # the bank's status: ACSC, RJCT…
    reason_code = models.CharField(max_length=35, blank=True)  # ISO external status reason: AC04, AM04…
    reason_text = models.TextField(blank=True)  # the bank's additional information, or a person's reason
    decided_at = models.DateTimeField(null=True, blank=True)
    status_report = models.ForeignKey(
        PaymentStatusReport, on_delete=models.PROTECT, null=True, blank=True, related_name="lines"
    )
    decided_by = models.ForeignKey(  # a person who confirmed it by hand
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(fields=["batch", "provider"], name="services_one_payment_per_provider"),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="services_payment_positive"),
            models.CheckConstraint(
                condition=Q(outcome__in=["pending", "cancelled"]) | Q(decided_at__isnull=False),
                name="services_payment_outcome_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch} {self.name}"


class PaymentLineClaim(models.Model):
    """Which claims a payment paid, kept after the claim has left it (a rejected payment's claims go back to
    the next batch; ``Claim.payment`` then points elsewhere, this row stays)."""

    line = models.ForeignKey(PaymentBatchLine, on_delete=models.PROTECT, related_name="items")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="payment_items")
    amount_cents = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["line", "claim"], name="services_claim_once_per_payment")]

    def __str__(self) -> str:
        return f"{self.line} {self.claim_id}"


class LeftOutReason(models.TextChoices):
    """Why a provider with approved claims is not in a batch; its claims wait for the next one."""

    BANK_CHANGE_PENDING = "bank_change_pending", _("a change of its bank account is waiting for approval")
    NAME_CONTROL_CHARACTER = (
        Problem.NAME_CONTROL_CHARACTER,
        _("its name contains a control character, which a bank file cannot carry"),
    )
    NAME_TOO_LONG = Problem.NAME_TOO_LONG, _("its name is longer than the 70 characters a bank payment allows")
    NAME_EMPTY = Problem.NAME_EMPTY, _("its name is empty")
    INVALID_IBAN = Problem.INVALID_IBAN, _("its stored IBAN is not valid")
    INVALID_BIC = Problem.INVALID_BIC, _("its stored BIC is not valid")
    AMOUNT_TOO_LARGE = Problem.AMOUNT_TOO_LARGE, _("the amount is above the largest single SEPA payment")
    FILE_REFUSED = "file_refused", _("its data could not be written into the bank file")


class PaymentLeftOut(models.Model):
    """A provider whose approved claims a batch left for later, and why (shown on the batch's page)."""

    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="left_out")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    reasons = models.JSONField(default=list)  # LeftOutReason codes
    detail = models.TextField(blank=True)  # what the file builder said, for support
    claims = models.PositiveIntegerField()
    amount_cents = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "provider"], name="services_left_out_once")]

    def __str__(self) -> str:
        return f"{self.batch} {self.provider_id}"
