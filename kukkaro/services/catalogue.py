"""Writes of the catalogue: service types, the organiser's price caps and each provider's prices, all versioned by
validity so that what applied on a day can always be read back (``cap_on``, ``price_on``)."""

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.core.models import Organiser
from kukkaro.core.permissions import Action, OfOrganiser, authorize
from kukkaro.people.models import User
from kukkaro.services.models import (
    PriceCap,
    Provider,
    ProviderPrice,
    ServiceType,
    ServiceUnit,
)
from kukkaro.services.providers import provider_of

# --- catalogue and prices ------------------------------------------------------------------------------------


def _assert_no_overlap(queryset: Any, valid_from: dt.date, valid_until: dt.date | None) -> None:
    overlapping = queryset.filter(valid_from__lte=valid_until or dt.date.max).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    )
    if overlapping.exists():
        raise ValidationError({"valid_from": _("Another version is valid in that period.")})


def _close_open_version(queryset: Any, valid_from: dt.date) -> None:
    """A new version from ``valid_from`` ends an open-ended earlier version the day before."""
    queryset.filter(valid_until__isnull=True, valid_from__lt=valid_from).update(
        valid_until=valid_from - dt.timedelta(days=1)
    )


@transaction.atomic
def service_type_save(
    *,
    actor: User,
    organiser: Organiser,
    code: str,
    name_fi: str,
    name_sv: str,
    name_en: str,
    unit: str,
    category_code: str,
) -> ServiceType:
    """Add a service to the organiser's catalogue, or rename one of it (its code, unit and budget line category
    stay once claims or prices may refer to it). Only that organiser's row changes, and the audit row is that
    organiser's: each organiser owns its catalogue (ADR 0022)."""
    authorize(actor, Action.CATALOGUE_MANAGE, OfOrganiser(organiser.pk))
    code = (code or "").strip()
    names = {"name_fi": name_fi.strip(), "name_sv": name_sv.strip(), "name_en": name_en.strip()}
    errors = {field: _("Give the name in every language.") for field, value in names.items() if not value}
    if unit not in ServiceUnit.values:
        errors["unit"] = _("Choose the unit.")
    if errors:
        raise ValidationError(errors)
    service_type = ServiceType.objects.select_for_update().filter(organiser=organiser, code=code).first()
    before = None
    if service_type is None:
        service_type = ServiceType(
            organiser=organiser, code=code, unit=unit, category_code=(category_code or "").strip()
        )
    else:
        before = {**{f: getattr(service_type, f) for f in names}, "unit": service_type.unit}
        if (unit, category_code.strip()) != (service_type.unit, service_type.category_code):
            raise ValidationError({"unit": _("The unit and the budget line of a service in use cannot change.")})
    for field, value in names.items():  # not `name` itself: modeltranslation maps it to the active language
        setattr(service_type, field, value)
    service_type.full_clean(validate_unique=before is None)
    service_type.save()
    audit_record(
        action="service_type.create" if before is None else "service_type.rename",
        actor=actor,
        target=service_type,
        organiser_id=service_type.organiser_id,
        before=before,
        after={**names, "code": code, "unit": unit, "category_code": service_type.category_code},
    )
    return service_type


@transaction.atomic
def price_cap_set(
    *,
    actor: User,
    organiser: Organiser,
    service_type: ServiceType,
    cap_cents: int,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
) -> PriceCap:
    """A new version of the county's price cap for a service type (from ``valid_from`` by date of service)."""
    authorize(actor, Action.CATALOGUE_MANAGE, OfOrganiser(organiser.pk))
    if service_type.organiser_id != organiser.pk:
        raise PermissionDenied("another organiser's service")
    # One version change at a time. FOR NO KEY UPDATE, not FOR UPDATE: a concurrent audit row or claim that refers to
    # the organiser takes FOR KEY SHARE on it at its commit, which FOR UPDATE would block (ADR 0023).
    Organiser.objects.select_for_update(no_key=True).get(pk=organiser.pk)
    if not isinstance(cap_cents, int) or cap_cents <= 0:
        raise ValidationError({"cap_cents": _("Give a price above zero.")})
    versions = PriceCap.objects.filter(organiser=organiser, service_type=service_type)
    _close_open_version(versions, valid_from)
    _assert_no_overlap(versions, valid_from, valid_until)
    cap = PriceCap(
        organiser=organiser,
        service_type=service_type,
        cap_cents=cap_cents,
        valid_from=valid_from,
        valid_until=valid_until,
        created_by=actor,
        created_at=clock.now(),
    )
    cap.full_clean()
    cap.save()
    audit_record(
        action="price_cap.set",
        actor=actor,
        target=cap,
        organiser_id=organiser.pk,
        after={"service": service_type.code, "cap_cents": cap_cents, "from": valid_from, "until": valid_until},
    )
    return cap


@transaction.atomic
def provider_price_set(
    *,
    actor: User,
    provider: Provider,
    service_type: ServiceType,
    price_cents: int,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
) -> ProviderPrice:
    """A provider publishes a new version of its price for a service type (by date of service)."""
    if provider_of(actor).pk != provider.pk:
        raise PermissionDenied("another provider")
    if service_type.organiser_id != provider.organiser_id:
        raise PermissionDenied("another organiser's service")
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    if not isinstance(price_cents, int) or price_cents <= 0:
        raise ValidationError({"price_cents": _("Give a price above zero.")})
    if valid_from < clock.today():
        raise ValidationError({"valid_from": _("A price cannot be changed for past dates.")})
    versions = ProviderPrice.objects.filter(provider=provider, service_type=service_type)
    _close_open_version(versions, valid_from)
    _assert_no_overlap(versions, valid_from, valid_until)
    price = ProviderPrice(
        provider=provider,
        service_type=service_type,
        price_cents=price_cents,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=clock.now(),
    )
    price.full_clean()
    price.save()
    audit_record(
        action="provider_price.set",
        actor=actor,
        target=price,
        organiser_id=provider.organiser_id,
        after={"service": service_type.code, "price_cents": price_cents, "from": valid_from, "until": valid_until},
    )
    return price


def _on(queryset: Any, day: dt.date) -> Any:
    return queryset.filter(valid_from__lte=day).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day)).first()


def cap_on(*, organiser_id: int, service_type: ServiceType, day: dt.date) -> PriceCap | None:
    return _on(PriceCap.objects.filter(organiser_id=organiser_id, service_type=service_type), day)


def price_on(*, provider: Provider, service_type: ServiceType, day: dt.date) -> ProviderPrice | None:
    return _on(ProviderPrice.objects.filter(provider=provider, service_type=service_type), day)


def own_share_cents(*, price_cents: int, cap_cents: int) -> int:
    """What the client pays per unit when the price exceeds the county's cap (omavastuu)."""
    return max(0, price_cents - cap_cents)
