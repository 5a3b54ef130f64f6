"""The ledger: purses (accounts) and immutable transfers between them, after TigerBeetle.

A purse holds one unit — euro cents, metres or trips — and four counters. Every transfer debits one purse and
credits another of the same unit and organiser, so every unit is double-entry. Client purses carry the flag
that debits (pending + posted) may never exceed posted credits; a database constraint enforces it, whatever
the Python code does. The ledger knows nothing of decisions, claims or trips: they appear only as references.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from kukkaro.core.models import Organiser


class Unit(models.TextChoices):
    EUR = "EUR", _("euro cents")
    KM = "KM", _("metres")
    TRIP = "TRIP", _("trips")


class PurseKind(models.TextChoices):
    CLIENT = "client", _("client purse")  # what the client may spend now
    SCHEDULED = "scheduled", _("not yet released")  # the rest of a client's allocation
    FUNDING = "funding", _("funding source")  # the organiser's budget; goes negative as it funds purses
    PAYABLES = "payables", _("payables to providers")
    LAPSED = "lapsed", _("lapsed")
    VOIDED = "voided", _("voided")
    PAID = "paid", _("paid out")  # payables settled by a bank payment


SYSTEM_KINDS = frozenset({PurseKind.FUNDING, PurseKind.PAYABLES, PurseKind.LAPSED, PurseKind.VOIDED, PurseKind.PAID})
#: Each system purse is split into this many rows ("shards"); a client purse always meets the same shard.
#: Without it every hold of an organiser would queue for one row lock (see docs/ledger.md).
SYSTEM_SHARDS = 16


class PeriodKind(models.TextChoices):
    ONCE = "once", _("all at once")
    MONTHLY = "monthly", _("monthly")
    QUARTERLY = "quarterly", _("quarterly")
    YEARLY = "yearly", _("yearly")


class RolloverRule(models.TextChoices):
    ROLL = "roll", _("unspent rolls forward within the validity")
    LAPSE = "lapse", _("unspent lapses at the end of each period")
    ROLL_CAPPED = "roll_capped", _("unspent rolls forward up to a cap; the rest lapses")


class Purse(models.Model):
    """An account. Client purses come in pairs: the spendable CLIENT purse and its SCHEDULED twin that holds
    the part of the allocation not yet released."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(Organiser, on_delete=models.PROTECT, related_name="purses")
    unit = models.CharField(_("unit"), max_length=4, choices=Unit.choices)
    kind = models.CharField(_("kind"), max_length=16, choices=PurseKind.choices)
    shard = models.PositiveSmallIntegerField(default=0)  # system purses: which of SYSTEM_SHARDS rows
    client = models.ForeignKey("people.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="purses")
    # What funds it: a budget line or a transport entitlement ("budget_line:<uuid>"), set by the caller.
    funding_ref = models.CharField(_("funding reference"), max_length=100, blank=True)
    label = models.CharField(_("name"), max_length=200, blank=True)
    scheduled = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="spendable")
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)  # inclusive, Helsinki dates

    # Funding periods (client purses only). Static after creation except the two counters below.
    period_kind = models.CharField(max_length=16, choices=PeriodKind.choices, default=PeriodKind.ONCE)
    period_amount = models.BigIntegerField(default=0)  # released at the start of each period
    rollover_rule = models.CharField(max_length=16, choices=RolloverRule.choices, default=RolloverRule.ROLL)
    rollover_cap = models.BigIntegerField(default=0)  # ROLL_CAPPED: the most that may be carried forward
    borrow_limit = models.BigIntegerField(default=0)  # the most that may be borrowed from the next period
    current_period_start = models.DateField(null=True, blank=True)  # the last period released
    borrowed_ahead = models.BigIntegerField(default=0)  # borrowed from the period after the current one

    debits_must_not_exceed_credits = models.BooleanField(default=False)
    debits_pending = models.BigIntegerField(default=0)
    debits_posted = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)

    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("purse")
        verbose_name_plural = _("purses")
        constraints = [
            models.CheckConstraint(
                condition=Q(debits_must_not_exceed_credits=False)
                | Q(debits_pending__lte=F("credits_posted") - F("debits_posted")),
                name="ledger_purse_no_overdraft",
            ),
            models.CheckConstraint(
                condition=Q(debits_pending__gte=0)
                & Q(debits_posted__gte=0)
                & Q(credits_pending__gte=0)
                & Q(credits_posted__gte=0),
                name="ledger_purse_counters_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(borrowed_ahead__gte=0) & Q(borrowed_ahead__lte=F("borrow_limit")),
                name="ledger_purse_borrow_within_limit",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["client", "scheduled"], client__isnull=False)
                | (~Q(kind__in=["client", "scheduled"]) & Q(client__isnull=True)),
                name="ledger_purse_client_iff_client_kind",
            ),
            models.UniqueConstraint(
                fields=["organiser", "unit", "kind", "shard"],
                condition=Q(kind__in=sorted(SYSTEM_KINDS)),
                name="ledger_one_system_purse_per_shard",
            ),
            models.CheckConstraint(condition=Q(shard__lt=SYSTEM_SHARDS), name="ledger_purse_shard_in_range"),
        ]
        indexes = [models.Index(fields=["client", "unit"], name="ledger_purse_client_unit")]

    def __str__(self) -> str:
        label = self.label or f"{self.get_kind_display()} {self.get_unit_display()}"
        if self.kind == PurseKind.SCHEDULED:
            # Worded when shown, in the reader's language; the stored label is the same as the client purse's.
            return str(_("%(purse)s (not yet released)") % {"purse": label})
        return label

    @property
    def balance_posted(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available_now(self) -> int:
        """Released, not spent and not held: what a new hold may take. O(1)."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def available_in_period(self) -> int:
        """Available now plus what may still be borrowed from the next period. O(1)."""
        return self.available_now + max(0, self.borrow_limit - self.borrowed_ahead)


class TransferCode(models.TextChoices):
    ALLOCATION = "allocation", _("allocation")
    RELEASE = "release", _("release for a period")
    HOLD = "hold", _("hold")
    POST = "post", _("hold posted")
    VOID = "void", _("hold voided")
    EXPIRE = "expire", _("hold expired")
    CORRECTION = "correction", _("correction")
    ROLLOVER = "rollover", _("moved to a successor purse")
    BORROW = "borrow", _("borrowed from the next period")
    LAPSE = "lapse", _("lapsed")
    PAYMENT = "payment", _("paid")
    USAGE = "usage", _("used")  # a delivered service debited at once (a taxi leg)


class TransferFlag(models.TextChoices):
    POSTED = "posted", _("posted")
    PENDING = "pending", _("pending (hold)")
    POST_PENDING = "post_pending", _("posts a hold")
    VOID_PENDING = "void_pending", _("voids a hold")


class Transfer(models.Model):
    """One immutable movement. The caller chooses ``id``: a retry with the same id and content returns this
    row, the same id with other content is refused. Rows never change (a trigger on PostgreSQL refuses it);
    a mistake is corrected by a new transfer with code ``correction``."""

    id = models.UUIDField(primary_key=True, editable=False)
    # No single-column indexes on the purse and hold keys: the (purse, created_at) indexes and the unique
    # "resolved once" index already serve those lookups, and every index costs each transfer (ADR 0010).
    debit_purse = models.ForeignKey(Purse, on_delete=models.PROTECT, related_name="debits", db_index=False)
    credit_purse = models.ForeignKey(Purse, on_delete=models.PROTECT, related_name="credits", db_index=False)
    amount = models.BigIntegerField()
    unit = models.CharField(max_length=4, choices=Unit.choices)
    code = models.CharField(max_length=16, choices=TransferCode.choices)
    flag = models.CharField(max_length=16, choices=TransferFlag.choices, default=TransferFlag.POSTED)
    pending = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="resolutions", db_index=False
    )
    expires_at = models.DateTimeField(null=True, blank=True)  # holds only
    period_start = models.DateField(null=True, blank=True)  # releases, borrows, lapses: which funding period
    ref_type = models.CharField(max_length=32, blank=True)  # decision, agreement, claim, trip, …
    ref_id = models.CharField(max_length=64, blank=True)
    memo = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, db_index=False)
    request_id = models.CharField(max_length=64, blank=True)
    fingerprint = models.CharField(max_length=64)  # sha256 of the request, to tell a retry from a conflict
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_transfer_amount_positive"),
            models.CheckConstraint(
                condition=~Q(debit_purse=F("credit_purse")), name="ledger_transfer_two_different_purses"
            ),
            models.CheckConstraint(
                condition=Q(flag__in=["post_pending", "void_pending"], pending__isnull=False)
                | (Q(flag__in=["posted", "pending"]) & Q(pending__isnull=True)),
                name="ledger_transfer_resolution_names_its_hold",
            ),
            # A hold is resolved (posted, voided or expired) exactly once.
            models.UniqueConstraint(
                fields=["pending"], condition=Q(pending__isnull=False), name="ledger_hold_resolved_once"
            ),
            # Each funding period of a purse is released once and closed (lapsed) once.
            models.UniqueConstraint(
                fields=["credit_purse", "period_start"],
                condition=Q(code="release"),
                name="ledger_release_once_per_period",
            ),
            models.UniqueConstraint(
                fields=["debit_purse", "period_start"],
                condition=Q(code="lapse"),
                name="ledger_lapse_once_per_period",
            ),
        ]
        indexes = [
            models.Index(fields=["debit_purse", "created_at"], name="ledger_xfer_debit_time"),
            models.Index(fields=["credit_purse", "created_at"], name="ledger_xfer_credit_time"),
            models.Index(fields=["ref_type", "ref_id"], name="ledger_transfer_ref"),
            models.Index(fields=["expires_at"], condition=Q(flag="pending"), name="ledger_open_hold_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.amount} {self.unit}"


class PurseAmountStep(models.Model):
    """One step of a client purse's schedule: from ``effective_from`` on it gets ``period_amount`` per period
    (0 when its line ended), under a decision valid until ``until``. Steps are only ever added; a later one
    supersedes the earlier ones from its own date on, so the list is the purse's whole history of amounts.
    ``periods.period_amounts`` turns them into each period's amount."""

    purse = models.ForeignKey(Purse, on_delete=models.PROTECT, related_name="amount_steps")
    seq = models.PositiveIntegerField()
    effective_from = models.DateField()
    period_amount = models.BigIntegerField()
    until = models.DateField()
    ref = models.CharField(max_length=100, blank=True)  # what set it, e.g. "decision:<uuid>"
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("amount step")
        verbose_name_plural = _("amount steps")
        ordering = ["purse", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["purse", "seq"], name="ledger_amount_step_seq_unique"),
            models.CheckConstraint(condition=Q(period_amount__gte=0), name="ledger_amount_step_not_negative"),
            models.CheckConstraint(
                condition=Q(until__gte=F("effective_from")), name="ledger_amount_step_until_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purse_id} from {self.effective_from}: {self.period_amount}"
