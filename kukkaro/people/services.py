"""Writes about people: users and clients. Each runs in a transaction with its audit row."""

import hashlib
import secrets
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.actors import STRONG_IDENTIFICATION, Actor
from kukkaro.core.audit import audit_record
from kukkaro.core.identifiers import IdentifierError, parse_hetu
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.roles import IDENTIFIED_ROLES, ORGANISER_ROLES, PASSWORD_ROLES, Role
from kukkaro.people.models import ApiToken, Client, Guardian, SupporterGrant, User

CLIENT_AUDITED_FIELDS = (
    "first_names",
    "last_name",
    "national_id",
    "municipality_id",
    "language",
    "email",
    "phone",
    "street_address",
    "postal_code",
    "post_office",
)


def _snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}


def _validated_hetu(national_id: str) -> str:
    try:
        return parse_hetu(national_id).value
    except IdentifierError as exc:
        raise ValidationError({"national_id": _("Check the personal identity code.")}) from exc


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    role: Role,
    first_name: str,
    last_name: str,
    organiser: Organiser | None = None,
    email: str = "",
    password: str | None = None,
    national_id: str | None = None,
    language: str = "fi",
) -> User:
    """Create an account. Staff get a password; clients and supporters a personal identity code instead."""
    if role in ORGANISER_ROLES and organiser is None:
        raise ValidationError({"organiser": _("Staff must belong to an organiser.")})
    if role in IDENTIFIED_ROLES:
        if not national_id:
            raise ValidationError(
                {"national_id": _("Clients and supporters are identified by their personal identity code.")}
            )
        national_id = _validated_hetu(national_id)
    user = User(
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        organiser=organiser,
        email=email,
        national_id=national_id,
        language=language,
    )
    if password and role in PASSWORD_ROLES:
        validate_password(password, user)  # the AUTH_PASSWORD_VALIDATORS: length 12+, not common, not numeric
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    audit_record(
        action="user.create",
        actor=actor,
        target=user,
        organiser_id=user.organiser_id,
        after={"username": username, "role": role, "organiser_id": user.organiser_id, "active": True},
    )
    return user


@transaction.atomic
def user_set_active(*, actor: User, user: User, active: bool) -> User:
    before = {"active": user.is_active}
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit_record(
        action="user.activate" if active else "user.deactivate",
        actor=actor,
        target=user,
        organiser_id=user.organiser_id,
        before=before,
        after={"active": active},
    )
    return user


@transaction.atomic
def client_create(
    *,
    actor: Actor,
    organiser: Organiser,
    municipality: Municipality,
    national_id: str,
    first_names: str,
    last_name: str,
    language: str = "fi",
    email: str = "",
    phone: str = "",
    street_address: str = "",
    postal_code: str = "",
    post_office: str = "",
) -> Client:
    """Add a person to an organiser's client register."""
    if municipality.organiser_id != organiser.pk:
        raise ValidationError({"municipality": _("The municipality is not in this organiser's area.")})
    now = clock.now()
    client = Client(
        organiser=organiser,
        municipality=municipality,
        national_id=_validated_hetu(national_id),
        first_names=first_names.strip(),
        last_name=last_name.strip(),
        language=language,
        email=email,
        phone=phone,
        street_address=street_address,
        postal_code=postal_code,
        post_office=post_office,
        created_at=now,
        updated_at=now,
    )
    client.full_clean()
    client.save()
    audit_record(
        action="client.create",
        actor=actor,
        target=client,
        organiser_id=organiser.pk,
        data_subject_id=client.pk,
        after=_snapshot(client, CLIENT_AUDITED_FIELDS),
    )
    return client


@transaction.atomic
def client_update(*, actor: User, client: Client, **changes: Any) -> Client:
    """Change a client's details; the audit row keeps what changed, before and after."""
    unknown = set(changes) - set(CLIENT_AUDITED_FIELDS)
    if unknown:
        raise ValueError(f"not editable here: {sorted(unknown)}")
    client = Client.objects.select_for_update().get(pk=client.pk)
    before = _snapshot(client, CLIENT_AUDITED_FIELDS)
    if "national_id" in changes:
        changes["national_id"] = _validated_hetu(changes["national_id"])
    for name, value in changes.items():
        setattr(client, name, value)
    if client.municipality.organiser_id != client.organiser_id:
        raise ValidationError({"municipality": _("The municipality is not in this organiser's area.")})
    client.updated_at = clock.now()
    client.full_clean()
    client.save()
    after = _snapshot(client, CLIENT_AUDITED_FIELDS)
    changed = {k for k in after if after[k] != before[k]}
    audit_record(
        action="client.update",
        actor=actor,
        target=client,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        before={k: before[k] for k in sorted(changed)},
        after={k: after[k] for k in sorted(changed)},
    )
    return client


@transaction.atomic
def user_for_identity(*, claims: Any) -> User | None:
    """The account of a strongly identified person: an existing client or supporter account, or a new client
    account when the identity code is in some organiser's client register. ``None`` if neither."""
    user = User.objects.filter(national_id=claims.national_id).first()
    if user is not None:
        return user if user.role in IDENTIFIED_ROLES and user.is_active else None
    client = Client.objects.filter(national_id=claims.national_id).order_by("created_at").first()
    if client is None:
        return None
    return user_create(
        actor=STRONG_IDENTIFICATION,
        username=f"client-{client.pk}",
        role=Role.CLIENT,
        first_name=claims.given_names,
        last_name=claims.last_name,
        national_id=claims.national_id,
        language=client.language,
    )


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, actor: Actor, user: User, name: str, expires_at: Any = None, token: str | None = None
) -> tuple[ApiToken, str]:
    """Issue a token; returns the row and the token text, which is never stored or shown again.
    ``token`` lets the demo hand out a memorable one; everything else lets it be generated."""
    token = token or f"kk_{secrets.token_urlsafe(32)}"
    if len(token) < 16:
        raise ValidationError({"token": "API tokens are at least 16 characters"})
    row = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=token[:8],
        digest=_token_digest(token),
        created_at=clock.now(),
        expires_at=expires_at,
    )
    audit_record(
        action="api_token.create",
        actor=actor,
        target=row,
        organiser_id=user.organiser_id,
        after={"user_id": user.pk, "name": name, "prefix": row.prefix},
    )
    return row, token


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    token.revoked_at = clock.now()
    token.save(update_fields=["revoked_at"])
    audit_record(action="api_token.revoke", actor=actor, target=token, organiser_id=token.user.organiser_id)
    return token


_TOKEN_USER_SQL = (
    f"SELECT u.* FROM {User._meta.db_table} u JOIN {ApiToken._meta.db_table} t ON t.user_id = u.id "  # noqa: S608
    "WHERE t.digest = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > %s) AND u.is_active"
)


def api_token_user(*, token: str) -> User | None:
    """The active user behind a bearer token, or None (unknown, revoked, expired, or user not in use). Every API
    request asks, so this is one plain statement rather than a query the ORM builds each time."""
    now = connection.ops.adapt_datetimefield_value(clock.now())
    for user in User.objects.raw(_TOKEN_USER_SQL, [_token_digest(token), now]):
        return user
    return None


GRANT_AUDITED_FIELDS = (
    "supporter_id",
    "can_view",
    "can_help_choose",
    "can_approve_claims",
    "valid_from",
    "valid_until",
    "consent_given_on",
    "consent_method",
)


@transaction.atomic
def guardian_add(
    *,
    actor: User,
    client: Client,
    name: str,
    scope: str,
    valid_from: Any,
    valid_until: Any = None,
    phone: str = "",
    email: str = "",
    address: str = "",
) -> Guardian:
    """Record a legal guardian (edunvalvoja) appointed for the client."""
    guardian = Guardian(
        client=client,
        name=name.strip(),
        scope=scope.strip(),
        phone=phone,
        email=email,
        address=address,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=clock.now(),
    )
    guardian.full_clean()
    guardian.save()
    audit_record(
        action="guardian.add",
        actor=actor,
        target=guardian,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"name": guardian.name, "scope": guardian.scope, "valid_from": valid_from, "valid_until": valid_until},
    )
    return guardian


@transaction.atomic
def supporter_grant_create(
    *,
    actor: User,
    client: Client,
    supporter: User,
    consent_given_on: Any,
    consent_method: str,
    valid_from: Any,
    valid_until: Any = None,
    can_view: bool = True,
    can_help_choose: bool = False,
    can_approve_claims: bool = False,
) -> SupporterGrant:
    """Record a supporter the client has named, with the client's consent and what the supporter may do."""
    if supporter.role != Role.SUPPORTER:
        raise ValidationError({"supporter": _("Only a person with a supporter account can be named as a supporter.")})
    if supporter.national_id and supporter.national_id == client.national_id:
        raise ValidationError({"supporter": _("A client cannot be their own supporter.")})
    if consent_given_on > clock.today():
        raise ValidationError({"consent_given_on": _("Consent cannot be given in the future.")})
    grant = SupporterGrant(
        client=client,
        supporter=supporter,
        can_view=can_view,
        can_help_choose=can_help_choose,
        can_approve_claims=can_approve_claims,
        valid_from=valid_from,
        valid_until=valid_until,
        consent_given_on=consent_given_on,
        consent_method=consent_method,
        recorded_by=actor,
        created_at=clock.now(),
    )
    grant.full_clean()
    grant.save()
    audit_record(
        action="supporter.grant",
        actor=actor,
        target=grant,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after=_snapshot(grant, GRANT_AUDITED_FIELDS),
    )
    return grant


@transaction.atomic
def supporter_grant_revoke(*, actor: User, grant: SupporterGrant, reason: str) -> SupporterGrant:
    """End a supporter's rights at once (the client withdrew consent, or the support ended)."""
    if not reason.strip():
        raise ValidationError({"revoked_reason": _("Say why the support ends.")})
    grant = SupporterGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.revoked_at is not None:
        return grant
    grant.revoked_at = clock.now()
    grant.revoked_reason = reason.strip()
    grant.save(update_fields=["revoked_at", "revoked_reason"])
    audit_record(
        action="supporter.revoke",
        actor=actor,
        target=grant,
        organiser_id=grant.client.organiser_id,
        data_subject_id=grant.client_id,
        after={"reason": grant.revoked_reason},
    )
    return grant


@transaction.atomic
def supporter_account_for(*, actor: User, national_id: str, first_name: str, last_name: str) -> User:
    """The supporter account of a person, created on first naming (they sign in with identification)."""
    code = _validated_hetu(national_id)
    existing = User.objects.filter(national_id=code).first()
    if existing is not None:
        if existing.role != Role.SUPPORTER:
            raise ValidationError(
                {"national_id": _("This person has another kind of account and cannot be named here.")}
            )
        return existing
    return user_create(
        actor=actor,
        username=f"supporter-{secrets.token_hex(6)}",
        role=Role.SUPPORTER,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        national_id=code,
    )
