"""Casework: service need assessment, the client's own support plan, the budget calculation and (later in this
app) HB decisions. Assessments, plans and calculations are versioned: a change is a new row, never an edit."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kukkaro.core.models import Organiser
from kukkaro.ledger.models import PeriodKind, RolloverRule, Unit
from kukkaro.people.models import Client, SupporterGrant


class LifeArea(models.TextChoices):
    DAILY_LIVING = "daily_living", _("daily living")
    HOUSING = "housing", _("housing")
    WORK_STUDY = "work_study", _("work and study")
    LEISURE = "leisure", _("leisure and participation")
    MOBILITY = "mobility", _("mobility")
    COMMUNICATION = "communication", _("communication")
    OTHER = "other", _("other")


class NeedLevel(models.IntegerChoices):
    NONE = 0, _("no need for support")
    LIGHT = 1, _("occasional support")
    MODERATE = 2, _("regular support")
    HIGH = 3, _("daily support")
    VERY_HIGH = 4, _("support around the clock")


class SupportMethod(models.TextChoices):
    DISCUSSION = "discussion", _("discussion")
    EASY_READ = "easy_read", _("easy-read material and pictures")
    AAC = "aac", _("augmentative and alternative communication")
    INTERPRETER = "interpreter", _("interpreter")
    OTHER = "other", _("other")


class SupportRecord(models.Model):
    """How a decision of the client's was supported: who supported, how, when. Attached to plans and choices."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="support_records")
    grant = models.ForeignKey(SupporterGrant, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    supporter_name = models.CharField(_("supporter"), max_length=200)
    method = models.CharField(_("method"), max_length=16, choices=SupportMethod.choices)
    supported_on = models.DateField(_("date"))
    note = models.TextField(_("note"), blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("support record")
        verbose_name_plural = _("support records")

    def __str__(self) -> str:
        return f"{self.supporter_name} {self.supported_on}"


class Assessment(models.Model):
    """One version of a client's service need assessment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="assessments")
    version = models.PositiveIntegerField()
    summary = models.TextField(_("summary"), blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("service need assessment")
        verbose_name_plural = _("service need assessments")
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["client", "version"], name="cases_assessment_version_unique")]

    def __str__(self) -> str:
        return f"{self.client} v{self.version}"


class AssessmentArea(models.Model):
    """The need in one life area: the worker's observations and, separately, the client's own view."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="areas")
    area = models.CharField(_("life area"), max_length=16, choices=LifeArea.choices)
    need_level = models.PositiveSmallIntegerField(_("need for support"), choices=NeedLevel.choices)
    observations = models.TextField(_("worker's observations"), blank=True)
    client_view = models.TextField(_("the client's own view"), blank=True)

    class Meta:
        verbose_name = _("life area")
        verbose_name_plural = _("life areas")
        constraints = [
            models.UniqueConstraint(fields=["assessment", "area"], name="cases_assessment_area_unique"),
            models.CheckConstraint(condition=models.Q(need_level__lte=4), name="cases_need_level_range"),
        ]

    def __str__(self) -> str:
        return f"{self.area}: {self.need_level}"


class SupportPlan(models.Model):
    """One version of the client's own support plan, in the client's own words."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="support_plans")
    version = models.PositiveIntegerField()
    goals = models.TextField(_("goals and wishes"))
    what_works = models.TextField(_("what works now"), blank=True)
    what_should_change = models.TextField(_("what should change"), blank=True)
    who_helped = models.CharField(_("who helped write the plan"), max_length=300, blank=True)
    support_record = models.ForeignKey(SupportRecord, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("own support plan")
        verbose_name_plural = _("own support plans")
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["client", "version"], name="cases_plan_version_unique")]

    def __str__(self) -> str:
        return f"{self.client} v{self.version}"


class ServiceUnit(models.TextChoices):
    HOUR = "hour", _("hour")
    DAY = "day", _("day")
    VISIT = "visit", _("visit")
    TRIP = "trip", _("trip")
    KM = "km", _("kilometre")
    MONTH = "month", _("month")


class Instrument(models.TextChoices):
    VOUCHER = "voucher", _("service voucher")
    PURCHASED = "purchased", _("purchased service")
    OWN = "own", _("own service")
    EMPLOYER = "employer", _("employer model")


class RateTable(models.Model):
    """An organiser's unit costs for a validity period (from the cost of its own production)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="rate_tables")
    name = models.CharField(_("name"), max_length=200)  # in Finnish
    name_sv = models.CharField(_("name in Swedish"), max_length=200, blank=True)
    name_en = models.CharField(_("name in English"), max_length=200, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("rate table")
        verbose_name_plural = _("rate tables")
        ordering = ["-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True) | models.Q(valid_until__gte=models.F("valid_from")),
                name="cases_ratetable_valid_range",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def name_in(self, language: str) -> str:
        """The name in ``language``, or the Finnish name where the table has none in it."""
        return {"sv": self.name_sv, "en": self.name_en}.get(language) or self.name


class RateCategory(models.Model):
    """A service category in a rate table: what one unit of it costs, and in which unit its purse is kept."""

    rate_table = models.ForeignKey(RateTable, on_delete=models.PROTECT, related_name="categories")
    code = models.SlugField(_("code"), max_length=40)
    name_fi = models.CharField(_("name in Finnish"), max_length=200)
    name_sv = models.CharField(_("name in Swedish"), max_length=200)
    name_en = models.CharField(_("name in English"), max_length=200)
    service_unit = models.CharField(_("unit"), max_length=8, choices=ServiceUnit.choices)
    unit_cost_cents = models.BigIntegerField(_("unit cost (cents)"))
    purse_unit = models.CharField(_("purse unit"), max_length=4, choices=Unit.choices, default=Unit.EUR)
    default_instrument = models.CharField(max_length=16, choices=Instrument.choices, default=Instrument.VOUCHER)

    class Meta:
        verbose_name = _("service category")
        verbose_name_plural = _("service categories")
        constraints = [
            models.UniqueConstraint(fields=["rate_table", "code"], name="cases_ratecategory_code_unique"),
            models.CheckConstraint(condition=models.Q(unit_cost_cents__gte=0), name="cases_ratecategory_cost_positive"),
        ]

    def __str__(self) -> str:
        return self.code

    def name_in(self, language: str) -> str:
        return {"sv": self.name_sv, "en": self.name_en}.get(language, self.name_fi)


class CalculationStage(models.TextChoices):
    INDICATIVE = "indicative", _("indicative")
    FINAL = "final", _("final")


class BudgetCalculation(models.Model):
    """A budget calculation, stored with everything it was computed from (``snapshot``) so that it can be
    explained and reproduced after rates change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="calculations")
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(_("stage"), max_length=16, choices=CalculationStage.choices)
    based_on = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    rate_table = models.ForeignKey(RateTable, on_delete=models.PROTECT, related_name="+")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    period_kind = models.CharField(max_length=16, choices=PeriodKind.choices, default=PeriodKind.MONTHLY)
    snapshot = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("budget calculation")
        verbose_name_plural = _("budget calculations")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stage="indicative", based_on__isnull=True)
                | models.Q(stage="final", based_on__isnull=False),
                name="cases_final_calculation_names_its_indicative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} {self.client}"


class BudgetLine(models.Model):
    """One line of a calculation: granted quantity × unit cost per period, any adjustment with its reason, and
    how its purse behaves in the ledger."""

    calculation = models.ForeignKey(BudgetCalculation, on_delete=models.CASCADE, related_name="lines")
    category = models.ForeignKey(RateCategory, on_delete=models.PROTECT, related_name="+")
    category_code = models.SlugField(max_length=40)
    # Quantities may be fractional (12.5 hours): kept in hundredths so floats never enter.
    quantity_hundredths = models.BigIntegerField(_("quantity per period (hundredths)"))
    unit_cost_cents = models.BigIntegerField()
    computed_amount = models.BigIntegerField()  # in the purse unit: cents, metres or trips
    adjustment = models.BigIntegerField(default=0)
    adjustment_reason = models.TextField(blank=True)
    amount_per_period = models.BigIntegerField()
    purse_unit = models.CharField(max_length=4, choices=Unit.choices)
    rollover_rule = models.CharField(max_length=16, choices=RolloverRule.choices, default=RolloverRule.ROLL)
    rollover_cap = models.BigIntegerField(default=0)
    borrow_limit = models.BigIntegerField(default=0)
    flexibility_group = models.CharField(_("flexibility group"), max_length=40, blank=True)
    instrument = models.CharField(_("instrument"), max_length=16, choices=Instrument.choices)

    class Meta:
        verbose_name = _("budget line")
        verbose_name_plural = _("budget lines")
        constraints = [
            models.UniqueConstraint(fields=["calculation", "category_code"], name="cases_budgetline_one_per_category"),
            models.CheckConstraint(
                condition=models.Q(amount_per_period__gte=0), name="cases_budgetline_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_per_period=models.F("computed_amount") + models.F("adjustment")),
                name="cases_budgetline_amount_adds_up",
            ),
            models.CheckConstraint(
                condition=models.Q(adjustment=0) | ~models.Q(adjustment_reason=""),
                name="cases_budgetline_adjustment_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category_code}: {self.amount_per_period} {self.purse_unit}"


class DecisionState(models.TextChoices):
    DRAFT = "draft", _("draft")
    PROPOSED = "proposed", _("proposed")
    APPROVED = "approved", _("approved")
    SENT = "sent", _("sent")
    ANNULLED = "annulled", _("annulled")
    REPLACED = "replaced", _("replaced")


EFFECTIVE_STATES = frozenset({DecisionState.APPROVED, DecisionState.SENT})


class DeliveryMethod(models.TextChoices):
    POST = "post", _("by post")
    ELECTRONIC = "electronic", _("electronically")
    IN_PERSON = "in_person", _("handed over in person")


class Decision(models.Model):
    """An HB decision. A state machine: draft → proposed → approved (by someone other than the preparer) →
    sent; then annulled or replaced. From approval on, its content never changes: ``snapshot`` holds what was
    decided, and a change is a new decision that replaces this one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(_("decision number"), max_length=32, unique=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="decisions")
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(_("state"), max_length=16, choices=DecisionState.choices, default=DecisionState.DRAFT)
    language = models.CharField(_("language"), max_length=2, choices=[("fi", "suomi"), ("sv", "svenska")])
    calculation = models.ForeignKey(BudgetCalculation, on_delete=models.PROTECT, related_name="decisions")
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    reasons = models.TextField(_("reasons"))
    preparer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    proposed_at = models.DateTimeField(null=True, blank=True)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivery_method = models.CharField(max_length=16, choices=DeliveryMethod.choices, blank=True)
    received_on = models.DateField(_("received on"), null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    replaces = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by")
    change_summary = models.JSONField(default=list, blank=True)
    snapshot = models.JSONField(null=True, blank=True)
    # The decision document as sent: rendered once at approval, kept byte for byte so a reprint is identical.
    document_pdf = models.BinaryField(null=True, blank=True, editable=False)
    document_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gte=models.F("valid_from")), name="cases_decision_valid_range"
            ),
            models.CheckConstraint(condition=~models.Q(approver=models.F("preparer")), name="cases_decision_four_eyes"),
            models.CheckConstraint(
                condition=models.Q(state__in=["draft", "proposed"])
                | (
                    models.Q(approver__isnull=False)
                    & models.Q(approved_at__isnull=False)
                    & models.Q(snapshot__isnull=False)
                ),
                name="cases_decision_approved_has_approver_and_snapshot",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_effective(self) -> bool:
        return self.state in EFFECTIVE_STATES


class DecisionLine(models.Model):
    """A budget line as decided. Client, validity and "effective" are copied here so that PostgreSQL can refuse
    two effective decisions of one client overlapping on one line (an exclusion constraint, migration 0003).
    When the decision is replaced, its lines stay effective until the day before the replacement starts
    (``valid_until`` is cut to it; the decision's snapshot keeps what was decided), and a line that continues
    hands its purse to the replacing decision's line."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="lines")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    category_code = models.SlugField(max_length=40)
    name_fi = models.CharField(max_length=200)
    name_sv = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    purse_unit = models.CharField(max_length=4, choices=Unit.choices)
    amount_per_period = models.BigIntegerField()
    period_kind = models.CharField(max_length=16, choices=PeriodKind.choices)
    rollover_rule = models.CharField(max_length=16, choices=RolloverRule.choices)
    rollover_cap = models.BigIntegerField(default=0)
    borrow_limit = models.BigIntegerField(default=0)
    flexibility_group = models.CharField(max_length=40, blank=True)
    instrument = models.CharField(max_length=16, choices=Instrument.choices)
    valid_from = models.DateField()
    valid_until = models.DateField()
    effective = models.BooleanField(default=False)
    purse = models.OneToOneField(
        "ledger.Purse", on_delete=models.PROTECT, null=True, blank=True, related_name="decision_line"
    )

    class Meta:
        verbose_name = _("decided budget line")
        verbose_name_plural = _("decided budget lines")
        constraints = [
            models.UniqueConstraint(fields=["decision", "category_code"], name="cases_decisionline_one_per_category"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.category_code}"

    def name_in(self, language: str) -> str:
        return {"sv": self.name_sv, "en": self.name_en}.get(language, self.name_fi)
