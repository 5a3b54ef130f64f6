"""Real-time trip authorisation for the dispatch centre (issue 7): at booking time, does the client's purse cover
the trip? An approved trip holds its amount in the purse — one trip, the estimated metres, or the estimated county
cost in cents priced with the tariff — so two bookings can never spend the same money.

- **Exactly one answer per question.** The dispatch centre sends an ``Idempotency-Key``. The authorisation row
  is inserted first, under a unique constraint on (organiser, key): a concurrent retry waits for the first
  request's transaction and then reads its answer; a retry with other content is a conflict. The hold's
  transfer id is derived from the key as well, so not even a crash between the two can hold twice.
- **Life of a hold.** Cancel voids it. It expires (``holds_expire``) a configurable number of days after the end
  of the pickup's month (``KUKKARO_TRIP_HOLD_DAYS``, default 7: the monthly trip file has arrived by then).
  The trip file settles it (``settle_leg``): posted with the actual amount, the difference released.
- The judgement is the trip files' (``judgement``: limits, codes, prices, area, debit; ``trip_lookups``: card,
  decision in force, tariff) so that a trip approved here is judged the same way when it comes back in the file.
  On PostgreSQL the lookups are one prepared statement, built from the same rules.
- The bookings a trip file settles are ``trip_settlement``'s.
"""

import contextlib
import datetime as dt
import functools
import hashlib
import json
import re
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import JSONField
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kukkaro.core import clock
from kukkaro.core.actors import DAILY_JOB, Actor
from kukkaro.core.audit import audit_record, audit_record_many
from kukkaro.core.db import prepared_cursor, retry_on_lock_conflict
from kukkaro.core.identifiers import parse_hetu
from kukkaro.core.models import Organiser
from kukkaro.core.permissions import Action, authorize, visible
from kukkaro.ledger import bulk
from kukkaro.ledger import services as ledger
from kukkaro.ledger.models import Purse, Transfer, TransferFlag
from kukkaro.mobility import judgement
from kukkaro.mobility.models import (
    AuthorizationState,
    Tariff,
    TripAuthorization,
)
from kukkaro.mobility.trip_lookups import Context, price_and_share
from kukkaro.mobility.trip_settlement import closed_entry
from kukkaro.people.models import User

#: Why a trip is denied, in words the dispatch centre can read out to the client.
DENIAL_TEXTS = {
    judgement.UNKNOWN_CLIENT: gettext_lazy("No client has this transport card."),
    judgement.NO_DECISION: gettext_lazy("The client has no transport decision in force on the day of the trip."),
    judgement.OUTSIDE_AREA: gettext_lazy("The trip goes outside the area the client's decision allows."),
    judgement.NO_TARIFF: gettext_lazy("There is no taxi tariff in force on the day of the trip."),
    judgement.UNKNOWN_SUPPLEMENT: gettext_lazy("A supplement code is not in the tariff."),
    judgement.IMPOSSIBLE_SPEED: gettext_lazy(
        "The distance cannot be driven in the duration given: the average speed would be above the tariff's limit."
    ),
    judgement.INSUFFICIENT_FUNDS: gettext_lazy("The client's purse does not cover this trip."),
    judgement.PURSE_NOT_OPEN: gettext_lazy(
        "The client's purse cannot be used today: it is closed, or not yet or no longer valid."
    ),
}
#: A booking may be made for a trip starting at most this long ago (a trip already under way) …
PAST_TOLERANCE = dt.timedelta(hours=2)
#: … and at most this far ahead.
FUTURE_LIMIT = dt.timedelta(days=60)
KEY = re.compile(r"^[A-Za-z0-9._:/+=-]{8,100}$")
_CARD = re.compile(rf"\d{{{judgement.CARD_DIGITS[0]},{judgement.CARD_DIGITS[1]}}}")
_MUNICIPALITY = re.compile(rf"\d{{{judgement.MUNICIPALITY_DIGITS}}}")


class IdempotencyConflict(Exception):
    """The same Idempotency-Key with a different request."""


@dataclass(frozen=True)
class TripRequest:
    client_number: str
    pickup_at: dt.datetime
    distance_km: Decimal
    duration_min: Decimal
    vehicle_class: str
    purpose: str
    origin_municipality: str
    destination_municipality: str
    supplements: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        values = asdict(self)
        values["pickup_at"] = self.pickup_at.astimezone(dt.UTC).isoformat()
        values["distance_km"] = str(self.distance_km.normalize())
        values["duration_min"] = str(self.duration_min.normalize())
        values["supplements"] = sorted(self.supplements)
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def _check_times(request: TripRequest) -> dict[str, str]:
    now = clock.now()
    if request.pickup_at.tzinfo is None:
        return {"pickup_at": _("The pickup time needs a UTC offset.")}
    if request.pickup_at < now - PAST_TOLERANCE:
        return {"pickup_at": _("The pickup time is in the past.")}
    if request.pickup_at > now + FUTURE_LIMIT:
        return {"pickup_at": _("The pickup time is more than 60 days ahead.")}
    return {}


def _check(request: TripRequest, key: str) -> None:
    errors = _check_times(request)
    if not KEY.fullmatch(key or ""):
        errors["idempotency_key"] = _("The Idempotency-Key must be 8–100 letters, digits or ._:/+=- characters.")
    if not _CARD.fullmatch(request.client_number):
        errors["client_number"] = _("The transport card number is %(fewest)s–%(most)s digits.") % {
            "fewest": judgement.CARD_DIGITS[0],
            "most": judgement.CARD_DIGITS[1],
        }
    if not (Decimal(0) < request.distance_km and not judgement.absurd("distance_km", request.distance_km)):
        errors["distance_km"] = _("The distance must be more than 0 and at most %(km)s km.") % {
            "km": number_format(judgement.MAX_DISTANCE_KM, force_grouping=True)
        }
    if not (Decimal(0) < request.duration_min and not judgement.absurd("duration_min", request.duration_min)):
        errors["duration_min"] = _("The duration must be more than 0 and at most %(minutes)s minutes.") % {
            "minutes": number_format(judgement.MAX_DURATION_MIN, force_grouping=True)
        }
    if request.vehicle_class not in judgement.VEHICLE_CLASSES:
        errors["vehicle_class"] = _("Unknown vehicle class.")
    if request.purpose not in judgement.PURPOSES:
        errors["purpose"] = _("Unknown purpose of the trip.")
    for name in ("origin_municipality", "destination_municipality"):
        if not _MUNICIPALITY.fullmatch(getattr(request, name)):
            errors[name] = _("A municipality code is three digits.")
    if errors:
        raise ValidationError(errors)


def hold_expiry(pickup_at: dt.datetime) -> dt.datetime:
    """When an unused hold lapses: ``KUKKARO_TRIP_HOLD_DAYS`` days after the end of the pickup's month."""
    local = pickup_at.astimezone(clock.HELSINKI)
    first = dt.datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=clock.HELSINKI)
    return first + dt.timedelta(days=settings.KUKKARO_TRIP_HOLD_DAYS)


def hold_id_for(organiser_id: int, key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"kukkaro/trip-authorization/{organiser_id}/{key}")


@dataclass
class _Judgement:
    reason: str = ""
    client: Any = None
    entitlement: Any = None
    purse: Any = None
    unit: str = ""
    amount: int | None = None
    price_cents: int | None = None
    self_share_cents: int | None = None
    available: int | None = None  # what the purse had available when it was read (the one-query judgement)


def _judge(request: TripRequest, organiser: Any) -> _Judgement:
    """The same lookups and prices as a leg of a trip file, for a trip not yet made."""
    context = Context(organiser)
    day = judgement.helsinki_day(request.pickup_at)
    result = _Judgement()
    result.client = context.client_for(request.client_number, request.pickup_at)
    if result.client is None:
        result.reason = judgement.UNKNOWN_CLIENT
        return result
    result.entitlement = entitlement = context.entitlement_for(result.client, day)
    if entitlement is None:
        result.reason = judgement.NO_DECISION
        return result
    if judgement.outside_area(
        entitlement, result.client, request.origin_municipality, request.destination_municipality
    ):
        result.reason = judgement.OUTSIDE_AREA
        return result
    tariff = context.tariff_for(entitlement.contract_area_id, day)
    if tariff is None:
        result.reason = judgement.NO_TARIFF
        return result
    result.reason = _refusal_by_tariff(request, tariff)
    if result.reason:
        return result
    _price_and_debit(request, context, client=result.client, entitlement=entitlement, tariff=tariff, result=result)
    return result


def _refusal_by_tariff(request: TripRequest, tariff: Any) -> str:
    """Why the tariff refuses the trip as asked, or '': a trip that cannot be made (by the tariff's limits, as the
    trip file judges its leg; a booking has no drop-off, so only its speed is judged), or a supplement the tariff
    does not know."""
    impossible = judgement.impossible(
        distance_km=request.distance_km,
        ride_minutes=request.duration_min,
        waiting_minutes=Decimal(0),
        span=None,
        limits=judgement.limits_of(tariff),
    )
    if impossible:
        return impossible[0]
    if judgement.unknown_supplements(request.supplements, tariff.supplements_cents):
        return judgement.UNKNOWN_SUPPLEMENT
    return ""


_TARIFF_FIELDS = [field.attname for field in Tariff._meta.concrete_fields]

#: PostgreSQL: everything ``_judge`` looks up, in one statement (the card in force at the pickup, its client and
#: home municipality, the entitlement in force on the pickup's day with its purses, the area's tariff on that day,
#: and for work and study trips the month's self-shares so far). The same choices as ``trip_lookups.Context``:
#: the newest entitlement in force, the newest tariff version; the same rules, from ``judgement``; the purses'
#: money as the ledger counts it (``bulk.sql_available``).
_JUDGE_SQL = f"""
SELECT cl.id AS client_id, cl.national_id, m.code AS home,
       e.id AS entitlement_id, e.model, e.allowed_area, e.contract_area_id, e.work_line_id,
       lp.id AS leisure_purse, lp.unit AS leisure_unit, lp.kind AS leisure_kind,
       lp.organiser_id AS leisure_organiser, lp.debits_must_not_exceed_credits AS leisure_guarded,
       {bulk.sql_available("lp")} AS leisure_available,
       wp.id AS work_purse, wp.unit AS work_unit, wp.kind AS work_kind,
       wp.organiser_id AS work_organiser, wp.debits_must_not_exceed_credits AS work_guarded,
       {bulk.sql_available("wp")} AS work_available,
       CASE WHEN %(work_study)s THEN (
           SELECT coalesce(sum(leg.self_share_cents), 0) FROM mobility_tripleg leg
           WHERE leg.client_id = cl.id AND {judgement.sql_counts_toward_cap("leg")}
             AND leg.pickup_at >= %(month_start)s AND leg.pickup_at < %(month_end)s
       ) END AS work_study_paid,
       {", ".join(f"t.{name}" for name in _TARIFF_FIELDS)}
FROM mobility_transportcard card
JOIN people_client cl ON cl.id = card.client_id
JOIN core_municipality m ON m.id = cl.municipality_id
LEFT JOIN mobility_transportentitlement e ON e.id = (
    SELECT x.id FROM mobility_transportentitlement x
    WHERE x.client_id = cl.id AND {judgement.sql_entitlement_in_force("x", "%(day)s")}
    ORDER BY {judgement.ENTITLEMENT_NEWEST_FIRST} LIMIT 1
)
LEFT JOIN cases_decisionline ll ON ll.id = e.leisure_line_id
LEFT JOIN {bulk.PURSE_TABLE} lp ON lp.id = ll.purse_id
LEFT JOIN cases_decisionline wl ON wl.id = e.work_line_id
LEFT JOIN {bulk.PURSE_TABLE} wp ON wp.id = wl.purse_id
LEFT JOIN mobility_tariff t ON t.id = (
    SELECT y.id FROM mobility_tariff y
    WHERE y.area_id = e.contract_area_id AND {judgement.sql_tariff_in_force("y", "%(day)s")}
    ORDER BY y.valid_from DESC LIMIT 1
)
WHERE card.number = %(number)s AND cl.organiser_id = %(organiser)s
  AND card.issued_at <= %(at)s AND (card.closed_at IS NULL OR card.closed_at > %(at)s)
LIMIT 1
"""  # noqa: S608 - column names from the model, values as parameters


def _purse(record: dict[str, Any], line: str) -> tuple[Purse | None, int | None]:
    """A line's purse as the ledger needs it, and what it has available (None: it may be overdrawn). The ledger
    is told the purse's fixed facts, so the hold does not read them again."""
    pk = record[f"{line}_purse"]
    if pk is None:
        return None, None
    unit, kind, organiser_id, guarded = (record[f"{line}_{name}"] for name in ("unit", "kind", "organiser", "guarded"))
    ledger.purse_facts_remember(pk, unit=unit, organiser_id=organiser_id, kind=kind, guarded=guarded)
    purse = Purse(pk=pk, unit=unit, kind=kind, organiser_id=organiser_id)
    return purse, record[f"{line}_available"] if guarded else None


def _judge_in_one_query(request: TripRequest, organiser: Any) -> _Judgement:
    """PostgreSQL: ``_judge`` with its lookups in one prepared statement instead of one query each (building
    those queries was most of a booking's time). The rules themselves are the same functions."""
    local = request.pickup_at.astimezone(clock.HELSINKI)
    month_start, month_end = judgement.helsinki_month(request.pickup_at)
    with connection.wrap_database_errors:
        cursor = prepared_cursor()
        cursor.execute(
            _JUDGE_SQL,
            {
                "work_study": request.purpose in judgement.WORK_OR_STUDY,
                "month_start": month_start,
                "month_end": month_end,
                "day": local.date(),
                "number": request.client_number,
                "organiser": organiser.pk,
                "at": request.pickup_at,
            },
            prepare=True,
        )
        row = cursor.fetchone()
        names = [column.name for column in cursor.description]
    result = _Judgement()
    if row is None:
        result.reason = judgement.UNKNOWN_CLIENT
        return result
    record = dict(zip(names, row, strict=True))
    # Plain records, not model instances: the rules below read a few attributes, and building the models was a
    # tenth of a booking's time.
    client = SimpleNamespace(
        pk=record["client_id"],
        birth_date=parse_hetu(record["national_id"]).birth_date,
        municipality=SimpleNamespace(code=record["home"]),
    )
    result.client = client
    if record["entitlement_id"] is None:
        result.reason = judgement.NO_DECISION
        return result
    leisure_purse, leisure_available = _purse(record, "leisure")
    work_purse, work_available = _purse(record, "work")
    entitlement = SimpleNamespace(
        pk=record["entitlement_id"],
        model=record["model"],
        allowed_area=record["allowed_area"],
        contract_area_id=record["contract_area_id"],
        leisure_line=SimpleNamespace(purse=leisure_purse),
        work_line=None if record["work_line_id"] is None else SimpleNamespace(purse=work_purse),
    )
    result.entitlement = entitlement
    if judgement.outside_area(entitlement, client, request.origin_municipality, request.destination_municipality):
        result.reason = judgement.OUTSIDE_AREA
        return result
    if record["id"] is None:  # the tariff's id
        result.reason = judgement.NO_TARIFF
        return result
    values = [
        json.loads(value) if isinstance(field, JSONField) and isinstance(value, str) else value
        for field, value in zip(Tariff._meta.concrete_fields, row[len(row) - len(_TARIFF_FIELDS) :], strict=True)
    ]
    tariff = Tariff.from_db(connection.alias, _TARIFF_FIELDS, values)
    result.reason = _refusal_by_tariff(request, tariff)
    if result.reason:
        return result
    context = Context(organiser)
    if record["work_study_paid"] is not None:
        context.work_study_paid_known(client, request.pickup_at, record["work_study_paid"])
    _price_and_debit(request, context, client=client, entitlement=entitlement, tariff=tariff, result=result)
    result.available = leisure_available if result.purse is leisure_purse else work_available
    return result


def _price_and_debit(
    request: TripRequest, context: Context, *, client: Any, entitlement: Any, tariff: Any, result: _Judgement
) -> None:
    leg = judgement.Leg(
        pickup_at=request.pickup_at,
        distance_km=request.distance_km,
        ride_minutes=request.duration_min,
        waiting_minutes=Decimal(0),
        vehicle_class=request.vehicle_class,
        supplements=request.supplements,
    )
    price, share = price_and_share(context, client, tariff, leg, request.purpose)
    result.price_cents, result.self_share_cents = price, share
    result.unit, result.amount, result.purse = judgement.debit_target(
        entitlement, request.purpose, request.distance_km, price - share
    )
    if result.purse is None:  # the line that would pay has no purse (any more): nothing in force to pay from
        result.reason = judgement.NO_DECISION


def _existing(organiser_id: int, key: str, fingerprint: str) -> TripAuthorization | None:
    found = TripAuthorization.objects.filter(organiser_id=organiser_id, idempotency_key=key).first()
    if found is not None and found.fingerprint != fingerprint:
        raise IdempotencyConflict(key)
    return found


def _retry_of(organiser_id: int, key: str, request: TripRequest) -> TripAuthorization | None:
    if request.pickup_at.tzinfo is None or not KEY.fullmatch(key or ""):
        return None
    try:
        fingerprint = request.fingerprint()
    except OverflowError:  # a pickup at the edge of the calendar (year 1 with an offset): never asked before
        return None
    return _existing(organiser_id, key, fingerprint)


class _Organiser:
    def __init__(self, organiser_id: int) -> None:
        self.organiser_id = organiser_id


class _AlreadyAsked(Exception):
    """The key has an answer already (the fast path found it taken and rolled back)."""


def trip_authorize(*, actor: User, idempotency_key: str, request: TripRequest) -> tuple[TripAuthorization, bool]:
    """Approve (holding the amount) or deny a booking. Returns the authorisation and whether it is new; a retry
    with the same key and request returns the first answer, with another request raises IdempotencyConflict.
    A booking PostgreSQL aborted for a lock conflict is asked again under its key (it cannot hold twice);
    ``LockConflict`` if it keeps failing."""
    authorize(actor, Action.TRIP_AUTHORIZE, _Organiser(actor.staff_organiser_id))
    return retry_on_lock_conflict(
        "trip authorisation", lambda: _authorize(actor=actor, idempotency_key=idempotency_key, request=request)
    )


def _authorize(*, actor: User, idempotency_key: str, request: TripRequest) -> tuple[TripAuthorization, bool]:
    try:
        _check(request, idempotency_key)
    except ValidationError:
        # A retry of a booking made earlier gets its first answer even when the request would no longer be taken
        # as new (the pickup has meanwhile passed).
        found = _retry_of(actor.staff_organiser_id, idempotency_key, request)
        if found is None:
            raise
        return found, False
    fingerprint = request.fingerprint()
    if connection.vendor == "postgresql":
        judged = _judge_in_one_query(request, Organiser(pk=actor.organiser_id))
        try:
            return _authorize_at_once(
                actor=actor, key=idempotency_key, request=request, fingerprint=fingerprint, judged=judged
            ), True
        except (_AlreadyAsked, ledger.LedgerError, DatabaseError):
            pass  # rolled back: a retry, a refusal or a race, which the step-by-step path tells apart
    return _authorize_step_by_step(actor=actor, key=idempotency_key, request=request, fingerprint=fingerprint)


def _new_authorization(
    *, actor: User, key: str, request: TripRequest, fingerprint: str, now: dt.datetime
) -> TripAuthorization:
    return TripAuthorization(
        organiser_id=actor.staff_organiser_id,
        requested_by=actor,
        idempotency_key=key,
        fingerprint=fingerprint,
        client_number=request.client_number,
        pickup_at=request.pickup_at,
        distance_m=judgement.metres(request.distance_km),
        duration_min=request.duration_min,
        vehicle_class=request.vehicle_class,
        purpose=request.purpose,
        origin_municipality=request.origin_municipality,
        destination_municipality=request.destination_municipality,
        supplements=list(request.supplements),
        state=AuthorizationState.DENIED,
        reason="pending",
        created_at=now,
    )


_INSERT_FIELDS = [field for field in TripAuthorization._meta.concrete_fields if field.attname != "available_after"]
#: PostgreSQL: the answer in one statement, unless the key has one already; what the purse has available after
#: the hold is read in the same statement (the purse row is this transaction's, locked by the hold).
# A concrete field always has a column; the stubs type every field's column as str | None.
_INSERT_COLUMNS = ", ".join(f.column for f in _INSERT_FIELDS)  # type: ignore[misc]
_INSERT_SQL = (
    f"INSERT INTO mobility_tripauthorization ({_INSERT_COLUMNS}, available_after) "  # noqa: S608 - column names from the model
    f"VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))}, "
    f"(SELECT {bulk.sql_available(bulk.PURSE_TABLE)} FROM {bulk.PURSE_TABLE} WHERE id = %s)) "
    "ON CONFLICT ON CONSTRAINT mobility_authorization_key_once DO NOTHING RETURNING available_after"
)


def _authorize_at_once(
    *, actor: User, key: str, request: TripRequest, fingerprint: str, judged: _Judgement
) -> TripAuthorization:
    """PostgreSQL, the common case: judged already, one transaction without savepoints — the hold (its id derived
    from the key, so a twin's hold collides with it), the answer's row (refused if the key has one), the audit
    row. Anything unusual raises, the transaction rolls back, and the caller takes the step-by-step path."""
    now = clock.now()
    authorization = _new_authorization(actor=actor, key=key, request=request, fingerprint=fingerprint, now=now)
    authorization.client_id = getattr(judged.client, "pk", None)
    authorization.entitlement_id = getattr(judged.entitlement, "pk", None)
    authorization.price_cents, authorization.self_share_cents = judged.price_cents, judged.self_share_cents
    authorization.reason = judged.reason
    with transaction.atomic():
        if not judged.reason:
            authorization.purse, authorization.unit = judged.purse, judged.unit
            authorization.state = AuthorizationState.APPROVED
            if judged.amount and judged.available is not None and judged.amount > judged.available:
                # The purse did not have it a moment ago: a denial, as the hold would have been refused. Trying
                # anyway would mean a rollback, and a rollback makes psycopg forget every prepared statement of
                # the connection (ADR 0015). Only a denial is ever decided on the read; the hold decides an approval.
                authorization.state, authorization.reason = AuthorizationState.DENIED, judgement.INSUFFICIENT_FUNDS
                authorization.amount = judged.amount
            elif judged.amount:
                hold, expires_at = _place_hold(
                    actor=actor,
                    key=key,
                    request=request,
                    authorization=authorization,
                    judged=judged,
                    savepoint=False,
                )
                authorization.amount, authorization.hold_id, authorization.expires_at = (
                    judged.amount,
                    hold.pk,
                    expires_at,
                )
            else:  # a euro-purse trip the self-share covers whole: nothing to hold
                authorization.closed_at = now
        params = [field.get_db_prep_save(getattr(authorization, field.attname), connection) for field in _INSERT_FIELDS]
        with connection.wrap_database_errors:
            cursor = prepared_cursor()
            cursor.execute(_INSERT_SQL, [*params, authorization.purse_id], prepare=True)
            row = cursor.fetchone()
        if row is None:
            raise _AlreadyAsked(key)
        authorization.available_after = row[0]
        authorization._state.adding = False
        _audit_answer(actor, authorization)
    return authorization


def _place_hold(
    *,
    actor: User,
    key: str,
    request: TripRequest,
    authorization: TripAuthorization,
    judged: _Judgement,
    savepoint: bool = True,
) -> tuple[Transfer, dt.datetime]:
    """Hold the judged amount until the hold's expiry; the transfer's id comes from the key (ADR 0014)."""
    assert judged.amount is not None  # the callers hold only an amount that was judged
    expires_at = hold_expiry(request.pickup_at)
    hold = ledger.hold_create(
        transfer_id=hold_id_for(actor.staff_organiser_id, key),
        purse=judged.purse,
        amount=judged.amount,
        expires_at=expires_at,
        actor=actor,
        ref_type="trip_authorization",
        ref_id=str(authorization.pk),
        memo=(
            f"{request.pickup_at.astimezone(clock.HELSINKI):%Y-%m-%d %H:%M} "
            f"{request.origin_municipality}-{request.destination_municipality}"
        ),
        savepoint=savepoint,
    )
    return hold, expires_at


def _audit_answer(actor: User, authorization: TripAuthorization) -> None:
    audit_record(
        action="trips.authorize",
        actor=actor,
        target=authorization,
        organiser_id=actor.organiser_id,
        data_subject_id=authorization.client_id,
        after={
            "state": authorization.state,
            "reason": authorization.reason,
            "unit": authorization.unit,
            "amount": authorization.amount,
        },
    )


@transaction.atomic
def _authorize_step_by_step(
    *, actor: User, key: str, request: TripRequest, fingerprint: str
) -> tuple[TripAuthorization, bool]:
    """The row first under its unique key (a concurrent twin waits for this transaction, then reads its answer),
    then the judgement and the hold in a savepoint, so a refusal is recorded as a denial with its reason."""
    now = clock.now()
    # No read first: the unique key answers a retry (IntegrityError, then the first answer is read), and a new
    # request, by far the common case, costs one statement less.
    try:
        with transaction.atomic():  # the unique key: a concurrent twin waits here for this transaction
            authorization = _new_authorization(actor=actor, key=key, request=request, fingerprint=fingerprint, now=now)
            authorization.save(force_insert=True)
    except IntegrityError:
        found = _existing(actor.staff_organiser_id, key, fingerprint)
        if found is None:  # pragma: no cover - the twin rolled back; the caller may simply retry
            raise
        return found, False
    # The organiser by its id only: the lookups filter by it, and reading the row would cost a query.
    judge = _judge_in_one_query if connection.vendor == "postgresql" else _judge
    judged = judge(request, Organiser(pk=actor.organiser_id))
    authorization.client_id = getattr(judged.client, "pk", None)
    authorization.entitlement_id = getattr(judged.entitlement, "pk", None)
    authorization.price_cents, authorization.self_share_cents = judged.price_cents, judged.self_share_cents
    authorization.reason = judged.reason
    if not judged.reason:
        authorization.purse, authorization.unit, authorization.amount = (
            judged.purse,
            judged.unit,
            judged.amount,
        )
        if judged.amount:
            try:
                hold, expires_at = _place_hold(
                    actor=actor, key=key, request=request, authorization=authorization, judged=judged
                )
            except ledger.InsufficientFunds:
                authorization.reason = judgement.INSUFFICIENT_FUNDS
            except ledger.LedgerError as exc:
                if exc.reason not in {"purse_closed", "not_valid_now"}:
                    raise
                authorization.reason = judgement.PURSE_NOT_OPEN
            else:
                authorization.state, authorization.hold_id, authorization.expires_at = (
                    AuthorizationState.APPROVED,
                    hold.pk,
                    expires_at,
                )
        else:  # a euro-purse trip the self-share covers whole: nothing to hold
            authorization.state, authorization.closed_at = AuthorizationState.APPROVED, now
            authorization.amount = None
    if authorization.purse is not None:
        authorization.available_after = Purse.objects.get(pk=authorization.purse.pk).available_now
    authorization.save()
    _audit_answer(actor, authorization)
    return authorization, True


def _hold(authorization: TripAuthorization) -> Transfer | None:
    if authorization.hold_id is None:
        return None
    return Transfer.objects.filter(pk=authorization.hold_id, flag=TransferFlag.PENDING).first()


def trip_authorization_cancel(*, actor: User, authorization_id: uuid.UUID) -> TripAuthorization:
    """The booking was cancelled: void the hold. Cancelling twice answers the same; a settled or expired
    authorisation cannot be cancelled. Locks the authorisation, then its purse (through the void), then the
    audit chain: the lock order of docs/mobility.md. A cancel PostgreSQL aborted for a lock conflict is asked
    again (the void's id is derived from the hold, so it cannot release twice); ``LockConflict`` if it keeps
    failing."""
    authorize(actor, Action.TRIP_AUTHORIZE, _Organiser(actor.staff_organiser_id))
    return retry_on_lock_conflict(
        "trip authorisation cancel", lambda: _cancel(actor=actor, authorization_id=authorization_id)
    )


@transaction.atomic
def _cancel(*, actor: User, authorization_id: uuid.UUID) -> TripAuthorization:
    authorizations = visible(TripAuthorization.objects.all(), actor, Action.TRIP_AUTHORIZE)
    authorization = authorizations.select_for_update().get(pk=authorization_id)
    if authorization.state == AuthorizationState.CANCELLED:
        return authorization
    if authorization.state != AuthorizationState.APPROVED or authorization.closed_at is not None:
        raise ValidationError(
            {
                "state": _("Only an approved trip that is still open can be cancelled (this one is %(state)s).")
                % {"state": authorization.get_state_display()}
            }
        )
    _close(authorization, AuthorizationState.CANCELLED, actor=actor, at=clock.now(), release=("cancel", "cancelled"))
    return authorization


def _close(
    authorization: TripAuthorization, state: str, *, actor: Actor, at: dt.datetime, release: tuple[str, str]
) -> None:
    """Release the authorisation's hold if it is still open (``release``: the void's id suffix and memo) and close
    the authorisation in ``state``, with its audit row. The caller holds the row locked."""
    hold = _hold(authorization)
    if hold is not None:
        suffix, memo = release
        with contextlib.suppress(ledger.HoldNotOpen):  # released meanwhile: the money is back either way
            ledger.hold_void(transfer_id=ledger.derived_id(hold.pk, suffix), hold=hold, actor=actor, memo=memo)
    authorization.state, authorization.closed_at = state, at
    fields = ["state", "closed_at"]
    if state == AuthorizationState.CANCELLED:  # the dispatch centre is told what the purse has again
        assert authorization.purse_id is not None  # only an approved authorisation is cancelled: it has a purse
        authorization.available_after = Purse.objects.get(pk=authorization.purse_id).available_now
        fields.append("available_after")
    authorization.save(update_fields=fields)
    audit_record_many(
        [
            closed_entry(
                authorization.pk,
                state,
                organiser_id=authorization.organiser_id,
                client_id=authorization.client_id,
                actor=actor,
            )
        ]
    )


def authorizations_expire(*, now: dt.datetime | None = None) -> int:
    """The daily job: release holds whose time is up (the ledger's own expiry) and mark their authorisations
    expired."""
    now = now or clock.now()
    ledger.holds_expire(now=now)
    count = 0
    stale = TripAuthorization.objects.filter(
        state=AuthorizationState.APPROVED, closed_at__isnull=True, expires_at__lte=now
    ).values_list("pk", flat=True)
    for pk in list(stale):
        count += retry_on_lock_conflict("trip authorisation expiry", functools.partial(_expire, pk, now))
    return count


@transaction.atomic
def _expire(pk: uuid.UUID, now: dt.datetime) -> int:
    """One authorisation expired (1), or found closed meanwhile (0): the authorisation locked first, then its purse
    through the void, as a cancel does."""
    authorization = TripAuthorization.objects.select_for_update().get(pk=pk)
    if authorization.state != AuthorizationState.APPROVED or authorization.closed_at is not None:
        return 0
    # The hold was normally released by holds_expire above.
    _close(
        authorization,
        AuthorizationState.EXPIRED,
        actor=DAILY_JOB,
        at=now,
        release=("authorization-expired", "authorisation expired"),
    )
    return 1


def denial_text(reason: str) -> str:
    return str(DENIAL_TEXTS.get(reason, reason))
