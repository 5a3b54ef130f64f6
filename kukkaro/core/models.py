from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organiser(models.Model):
    """A wellbeing services county (hyvinvointialue): the organiser that grants budgets and employs staff."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)  # fi/sv/en via modeltranslation
    business_id = models.CharField(_("business ID"), max_length=9, unique=True)
    # Where requests for correction (oikaisuvaatimus) and other mail go; printed on every decision.
    registry_address = models.CharField(_("registry address"), max_length=300, blank=True)  # fi/sv/en
    registry_email = models.EmailField(_("registry email"), blank=True)

    class Meta:
        verbose_name = _("organiser")
        verbose_name_plural = _("organisers")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Municipality(models.Model):
    """A municipality by its Statistics Finland code, within one organiser's area."""

    code = models.CharField(_("municipality code"), max_length=3, unique=True)
    name = models.CharField(_("name"), max_length=100)  # fi/sv/en via modeltranslation
    organiser = models.ForeignKey(
        Organiser, on_delete=models.PROTECT, related_name="municipalities", verbose_name=_("organiser")
    )

    class Meta:
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=r"^[0-9]{3}$"), name="core_municipality_code_three_digits"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class AuditEvent(models.Model):
    """One append-only, hash-chained event: a state change, a read of client data, or a sign-in.

    ``seq`` is contiguous from 1 and ``hash`` is an HMAC-SHA256, under the key named by ``key_id``, of every
    column plus the previous hash, so an edited, inserted, reordered or deleted row breaks the chain and nobody
    without the key can recompute it (see ``kukkaro.core.audit.audit_verify`` and ADR 0020). Rows written before
    the chain was keyed have an empty ``key_id`` and a plain SHA-256. The table refuses UPDATE and DELETE by
    trigger on PostgreSQL and UPDATE on SQLite.
    """

    class Kind(models.TextChoices):
        CHANGE = "change", _("change")
        READ = "read", _("read")
        AUTH = "auth", _("sign-in")

    seq = models.BigIntegerField(_("sequence"), unique=True)
    occurred_at = models.DateTimeField(_("time"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    action = models.CharField(_("action"), max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    # A snapshot of who the actor was (name, role, organisation) so the log reads right after changes.
    actor_label = models.CharField(_("actor"), max_length=300, blank=True)
    actor_role = models.CharField(_("role"), max_length=32, blank=True)
    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organiser"),
    )
    # The client whose personal data this event concerns (a plain id: core knows nothing of clients).
    data_subject_id = models.UUIDField(_("data subject"), null=True, blank=True)
    target_type = models.CharField(_("target type"), max_length=64, blank=True)
    target_id = models.CharField(_("target"), max_length=64, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    purpose = models.CharField(_("purpose"), max_length=64, blank=True)
    request_id = models.CharField(_("request ID"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Which of AUDIT_HMAC_KEYS sealed the row; empty for the unkeyed rows written before ADR 0020.
    key_id = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["data_subject_id", "occurred_at"], name="core_audit_subject_time"),
            models.Index(fields=["organiser", "occurred_at"], name="core_audit_org_time"),
            models.Index(fields=["action", "occurred_at"], name="core_audit_action_time"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(seq__gte=1), name="core_auditevent_seq_positive")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditChainHead(models.Model):
    """Where the audit chain ends, sealed with a key: one row, replaced in the transaction of every append.

    A chain alone cannot show that rows were cut off its end; this row can, because nobody without the key can
    seal an earlier end. ``unkeyed_until_seq`` marks how far the unkeyed rows of an upgraded deployment reach:
    after it, every row must be keyed. See ADR 0020.

    Replaced by a delete and an insert, not an update: the newest row is found by the primary key from the top,
    so dead versions left behind (a long transaction, a backup's snapshot) never slow the lookup down, where
    one row updated over and over would make every append walk all of its versions.
    """

    seq = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16)
    mac = models.CharField(max_length=64)
    unkeyed_until_seq = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")

    def __str__(self) -> str:
        return f"head #{self.seq}"
