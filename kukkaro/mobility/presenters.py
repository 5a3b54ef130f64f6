"""How mobility's facts read on staff pages: reason codes in words, units, legs as table rows."""

from typing import Any

from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from kukkaro.core.money import format_cents
from kukkaro.core.permissions import allowed_url
from kukkaro.core.presenters import datetime_text
from kukkaro.core.tables import Cell, Table
from kukkaro.ledger.models import Unit
from kukkaro.mobility import judgement
from kukkaro.mobility.models import LegOutcome

#: Every reason code of a trip leg (``judgement.LEG_REASONS``) in words; a limit is named from the judgement.
REASON_TEXTS = {
    # held for review
    judgement.UNKNOWN_CLIENT: gettext_lazy("no client has this transport card"),
    judgement.NO_DECISION: gettext_lazy("no transport decision in force on the day"),
    judgement.NO_TARIFF: gettext_lazy("no tariff in force on the day"),
    judgement.OPERATOR_NOT_APPROVED: gettext_lazy("the operator was not an approved provider on the day"),
    judgement.OUTSIDE_AREA: gettext_lazy("the trip went outside the allowed area"),
    judgement.FARE_MISMATCH: gettext_lazy("the operator's fare differs from the tariff price more than allowed"),
    judgement.INSUFFICIENT_FUNDS: gettext_lazy("not enough left in the purse"),
    judgement.RESENT_CHANGED: gettext_lazy("the same trip id was sent again with other content"),
    # rejected
    judgement.OPERATOR_ID_INVALID: gettext_lazy("the operator's business ID is not valid"),
    judgement.TRIP_ID_INVALID: gettext_lazy("the trip id is not valid"),
    judgement.CLIENT_NUMBER_INVALID: gettext_lazy("the transport card number is not valid"),
    judgement.AUTHORIZATION_ID_INVALID: gettext_lazy("the authorisation id is not valid"),
    judgement.SHARED_RIDE_ID_INVALID: gettext_lazy("the shared ride id is not valid"),
    judgement.PICKUP_AT_INVALID: gettext_lazy("the pickup time is not a valid time with an offset"),
    judgement.DROPOFF_AT_INVALID: gettext_lazy("the drop-off time is not a valid time with an offset"),
    judgement.DROPOFF_BEFORE_PICKUP: gettext_lazy("the drop-off is before the pickup"),
    judgement.MUNICIPALITY_INVALID: gettext_lazy("a municipality code is not three digits"),
    judgement.DISTANCE_INVALID: gettext_lazy("the distance is not a number"),
    judgement.DISTANCE_ABSURD: gettext_lazy("the distance is over %(km)s km"),
    judgement.DURATION_INVALID: gettext_lazy("the duration is not a number"),
    judgement.DURATION_ABSURD: gettext_lazy("the duration is over %(hours)s hours"),
    judgement.WAITING_INVALID: gettext_lazy("the waiting time is not a number"),
    judgement.WAITING_ABSURD: gettext_lazy("the waiting time is over %(hours)s hours"),
    judgement.UNKNOWN_VEHICLE_CLASS: gettext_lazy("unknown vehicle class"),
    judgement.UNKNOWN_PURPOSE: gettext_lazy("unknown purpose of the trip"),
    judgement.ESCORT_INVALID: gettext_lazy("the escort value is not 0 or 1"),
    judgement.UNKNOWN_SUPPLEMENT: gettext_lazy("unknown supplement code"),
    judgement.IMPOSSIBLE_SPEED: gettext_lazy(
        "the distance cannot have been driven in the ride minutes billed (faster than the tariff's limit)"
    ),
    judgement.IMPOSSIBLE_DURATION: gettext_lazy(
        "more ride and waiting minutes were billed than fit between the pickup and the drop-off"
    ),
    judgement.FARE_INVALID: gettext_lazy("the fare is not an amount in euros"),
    judgement.FARE_ABSURD: gettext_lazy("the fare is over %(euros)s euros"),
    judgement.SELF_SHARE_INVALID: gettext_lazy("the self-share is not an amount in euros"),
    judgement.COLUMN_COUNT: gettext_lazy("the row has too many or too few values"),
}

PURPOSE_TEXTS = {
    judgement.TripPurpose.LEISURE: gettext_lazy("errands and leisure"),
    judgement.TripPurpose.WORK: gettext_lazy("work"),
    judgement.TripPurpose.STUDY: gettext_lazy("study"),
}


#: What the words of a reason over a limit say it is over.
_LIMIT_WORDS = {
    judgement.DISTANCE_ABSURD: lambda: {"km": number_format(judgement.MAX_DISTANCE_KM, force_grouping=True)},
    judgement.DURATION_ABSURD: lambda: {"hours": number_format(judgement.MAX_DURATION_MIN / 60, force_grouping=True)},
    judgement.WAITING_ABSURD: lambda: {"hours": number_format(judgement.MAX_WAITING_MIN / 60, force_grouping=True)},
    judgement.FARE_ABSURD: lambda: {"euros": number_format(judgement.MAX_FARE_CENTS // 100, force_grouping=True)},
}


def reason_text(code: str) -> str:
    text = str(REASON_TEXTS.get(code, code))
    return text % _LIMIT_WORDS[code]() if code in _LIMIT_WORDS else text


def reasons_text(codes: list[str]) -> str:
    return "; ".join(reason_text(code) for code in codes) or "–"


def amount_text(amount: int | None, unit: str) -> str:
    """An amount of a purse's unit for people: euros, kilometres (from metres) or trips."""
    if amount is None:
        return "–"
    if unit == Unit.EUR:
        return format_cents(amount)
    if unit == Unit.KM:
        return _("%(km)s km") % {"km": number_format(amount / 1000, decimal_pos=1, use_l10n=True)}
    return ngettext("%(count)s trip", "%(count)s trips", amount) % {"count": amount}


def km_text(metres: int | None) -> str:
    return "–" if metres is None else amount_text(metres, Unit.KM)


def money_text(cents: int | None) -> str:
    return "–" if cents is None else format_cents(cents)


def is_duplicate(leg: Any) -> bool:
    """Is the row a trip sent again with the same content: the same leg as an earlier row, which it takes its
    outcome from, debited (if at all) only there."""
    return leg.same_as_id is not None and leg.same_as.content_sha256 == leg.content_sha256


def duplicate_text(leg: Any) -> str:
    """A duplicate's outcome in words: which row of which import (by file name and date) it repeats, and what
    became of that row — never "accepted" with a debit, which it does not make."""
    first = leg.same_as
    if first.trip_import_id == leg.trip_import_id:
        where = _("row %(row)s of this file") % {"row": first.row_number}
    else:
        imported = first.trip_import
        where = _("row %(row)s of the file %(file)s imported on %(date)s") % {
            "row": first.row_number,
            "file": imported.filename,
            "date": date_format(localtime(imported.started_at), "SHORT_DATE_FORMAT"),
        }
    if first.resolved_outcome == LegOutcome.ACCEPTED or (first.outcome == LegOutcome.ACCEPTED and first.debit_amount):
        return _("duplicate of %(where)s, already debited") % {"where": where}
    if first.outcome == LegOutcome.ACCEPTED:
        return _("duplicate of %(where)s, already accepted (nothing to debit)") % {"where": where}
    if first.resolved_outcome == LegOutcome.REJECTED:
        return _("duplicate of %(where)s, which was refused in review") % {"where": where}
    return _("duplicate of %(where)s, which is held for review") % {"where": where}


def debit_text(leg: Any) -> str:
    """What this row took from the purse: nothing for a duplicate (its first row did)."""
    if not leg.debit_unit or is_duplicate(leg):
        return "–"
    return amount_text(leg.debit_amount, leg.debit_unit)


def leg_state_text(leg: Any) -> str:
    """The leg's outcome, and a person's resolution of it where there is one; a duplicate says which row it
    repeats."""
    if is_duplicate(leg):
        return duplicate_text(leg)
    if leg.resolved_outcome == LegOutcome.ACCEPTED:
        return _("accepted in review")
    if leg.resolved_outcome == LegOutcome.REJECTED:
        return _("refused in review")
    return str(LegOutcome(leg.outcome).label)


def route_text(leg: Any) -> str:
    return f"{leg.origin_municipality or '–'} → {leg.destination_municipality or '–'}"


def review_table(legs: list[Any], *, caption: str) -> Table:
    table = Table(
        caption=caption,
        columns=[_("Pickup"), _("Client"), _("Operator and trip"), _("Route"), _("Price"), _("Reasons")],
        empty_text=_("No trips are waiting for review."),
        numeric_columns=frozenset({4}),
        id="review",
    )
    for leg in legs:
        table.add(
            Cell(datetime_text(leg.pickup_at), href=reverse("mobility:leg_detail", kwargs={"leg_id": leg.pk})),
            leg.client.full_name if leg.client_id else leg.client_number or "–",
            f"{leg.operator_id} / {leg.trip_id}",
            route_text(leg),
            Cell(money_text(leg.price_cents), numeric=True),
            reasons_text(leg.reasons),
        )
    return table


def import_rows_table(legs: list[Any], *, caption: str, user: Any) -> Table:
    table = Table(
        caption=caption,
        columns=[_("Row"), _("Trip id"), _("Result"), _("Reasons"), _("Price"), _("Self-share"), _("Debit")],
        empty_text=_("No rows."),
        numeric_columns=frozenset({0, 4, 5, 6}),
        id="rows",
    )
    for leg in legs:
        href = allowed_url(user, "mobility:leg_detail", leg_id=leg.pk) if leg.outcome == LegOutcome.REVIEW else ""
        first = Cell(leg.trip_id or "–", href=href)
        table.add(
            Cell(leg.row_number, numeric=True),
            first,
            leg_state_text(leg),
            reasons_text(leg.reasons),
            Cell(money_text(leg.price_cents), numeric=True),
            Cell(money_text(leg.self_share_cents), numeric=True),
            Cell(debit_text(leg), numeric=True),
        )
    return table


def month_legs_table(legs: list[Any], *, caption: str, user: Any) -> Table:
    table = Table(
        caption=caption,
        columns=[
            _("Pickup"),
            _("Route"),
            _("Purpose"),
            _("Distance"),
            _("Price"),
            _("Self-share"),
            _("County paid"),
            _("Taken from the purse"),
            _("State"),
        ],
        empty_text=_("No trips this month."),
        numeric_columns=frozenset({3, 4, 5, 6, 7}),
        id="month-legs",
    )
    for leg in legs:
        href = allowed_url(user, "mobility:leg_detail", leg_id=leg.pk)
        table.add(
            Cell(datetime_text(leg.pickup_at), href=href),
            route_text(leg),
            str(PURPOSE_TEXTS.get(leg.purpose, leg.purpose)),
            Cell(km_text(leg.distance_m), numeric=True),
            Cell(money_text(leg.price_cents), numeric=True),
            Cell(money_text(leg.self_share_cents), numeric=True),
            Cell(money_text(leg.county_cost_cents), numeric=True),
            Cell(amount_text(leg.debit_amount, leg.debit_unit) if leg.debit_unit else "–", numeric=True),
            leg_state_text(leg),
        )
    return table
