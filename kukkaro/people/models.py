import datetime
import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import PermissionDenied
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from kukkaro.core.identifiers import parse_hetu
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.roles import ORGANISER_ROLES, PERSON_ROLE_CHOICES, Role


class Language(models.TextChoices):
    FINNISH = "fi", _("Finnish")
    SWEDISH = "sv", _("Swedish")


class User(AbstractUser):
    """Everyone who signs in. One role per account; staff belong to exactly one organiser.

    Clients and supporters have no password: they are found by the personal identity code that strong
    identification returns (``national_id``).
    """

    role = models.CharField(_("role"), max_length=32, choices=PERSON_ROLE_CHOICES)
    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("organiser"),
    )
    national_id = models.CharField(_("personal identity code"), max_length=11, null=True, blank=True, unique=True)
    language = models.CharField(
        _("language"),
        max_length=2,
        choices=[("fi", "suomi"), ("sv", "svenska"), ("en", "English")],
        default="fi",
    )

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["last_name", "first_name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role__in=sorted(ORGANISER_ROLES)) | models.Q(organiser__isnull=False),
                name="people_user_staff_have_organiser",
            ),
            models.CheckConstraint(
                condition=~models.Q(role__in=[Role.CLIENT, Role.SUPPORTER]) | models.Q(national_id__isnull=False),
                name="people_user_identified_have_national_id",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def staff_organiser(self) -> Organiser:
        """The organiser a staff member works for. Staff always have one (people_user_staff_have_organiser);
        anyone else who reaches staff-only code is refused."""
        if self.organiser is None:
            raise PermissionDenied("this user works for no organiser")
        return self.organiser

    @property
    def staff_organiser_id(self) -> int:
        """The id of ``staff_organiser``, without loading it."""
        if self.organiser_id is None:
            raise PermissionDenied("this user works for no organiser")
        return self.organiser_id


class Client(models.Model):
    """A person in the client register of one organiser."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organiser = models.ForeignKey(
        Organiser, on_delete=models.PROTECT, related_name="clients", verbose_name=_("organiser")
    )
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="clients", verbose_name=_("municipality")
    )
    national_id = models.CharField(_("personal identity code"), max_length=11)
    first_names = models.CharField(_("first names"), max_length=150)
    last_name = models.CharField(_("last name"), max_length=150)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.FINNISH)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    street_address = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=5, blank=True)
    post_office = models.CharField(_("post office"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["last_name", "first_names"]
        constraints = [
            models.UniqueConstraint(fields=["organiser", "national_id"], name="people_client_unique_per_organiser"),
        ]
        indexes = [models.Index(fields=["organiser", "last_name", "first_names"], name="people_client_org_name")]

    def __str__(self) -> str:
        return self.full_name

    def get_absolute_url(self) -> str:
        return reverse("people:client_detail", kwargs={"client_id": self.pk})

    @property
    def full_name(self) -> str:
        return f"{self.first_names} {self.last_name}"

    @property
    def birth_date(self) -> datetime.date:
        return parse_hetu(self.national_id).birth_date


class ApiToken(models.Model):
    """A bearer token for machine clients (the dispatch centre, providers' systems). Only its SHA-256 is kept;
    the token itself is shown once when it is created."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=8)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Guardian(models.Model):
    """A legal guardian (edunvalvoja) appointed for a client: not a supporter, and decides within the scope
    the appointment gives (e.g. financial matters)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="guardians", verbose_name=_("client"))
    name = models.CharField(_("name"), max_length=200)
    scope = models.CharField(_("scope of the appointment"), max_length=300)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("email"), blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("guardian")
        verbose_name_plural = _("guardians")
        ordering = ["valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True) | models.Q(valid_until__gte=models.F("valid_from")),
                name="people_guardian_valid_range",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ConsentMethod(models.TextChoices):
    IN_PERSON = "in_person", _("in person")
    WRITTEN = "written", _("in writing")
    PHONE = "phone", _("by phone")
    PORTAL = "portal", _("in the portal")


class SupporterGrant(models.Model):
    """A person the client has named to support their decision-making, and what the client lets them do.
    The supporter helps the client form and express their own will; they never decide for the client."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="supporter_grants", verbose_name=_("client")
    )
    supporter = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="supporter_grants", verbose_name=_("supporter")
    )
    can_view = models.BooleanField(_("may see the budget and its use"), default=True)
    can_help_choose = models.BooleanField(_("may help choose providers"), default=False)
    can_approve_claims = models.BooleanField(_("may approve claims with the client"), default=False)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    consent_given_on = models.DateField(_("consent given on"))
    consent_method = models.CharField(_("how consent was given"), max_length=16, choices=ConsentMethod.choices)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by"))
    created_at = models.DateTimeField(_("created"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason for revoking"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("supporter")
        verbose_name_plural = _("supporters")
        ordering = ["valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True) | models.Q(valid_until__gte=models.F("valid_from")),
                name="people_supportergrant_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supporter} → {self.client}"

    def active_on(self, day: datetime.date) -> bool:
        return (
            self.revoked_at is None and self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)
        )
