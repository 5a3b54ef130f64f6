"""Real-time trip authorisation for the dispatch centre (issue 7): one answer per Idempotency-Key, holds priced
with the tariff, cancel, expiry, and no overdraft under concurrent requests."""

import datetime as dt
import io
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.test import Client as HttpClient
from django.utils import translation

from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse, Transfer
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import authorizations, judgement
from kukkaro.mobility.models import AuthorizationState, Tariff, TransportEntitlement, TripAuthorization
from kukkaro.people import services as people_services
from tests.databases import postgresql_only
from tests.factories import make_user, system_actor
from tests.mobility.test_trip_files import world  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC)
PICKUP = "2026-03-10T14:00:00+02:00"
URL = "/api/v1/dispatch/authorizations"


def _token(role: Role = Role.DISPATCH, organiser_code: str = "lansi-uusimaa") -> str:
    user = make_user(role, organiser_code=organiser_code)
    _row, token = people_services.api_token_create(actor=None, user=user, name="dispatch")
    return token


def _body(card: str, **values) -> dict:
    body = {
        "client_number": card,
        "pickup_at": PICKUP,
        "distance_km": "10.0",
        "duration_min": "20",
        "vehicle_class": "car",
        "purpose": "leisure",
        "origin_municipality": "049",
        "destination_municipality": "049",
    }
    body.update(values)
    return body


def _ask(http, token: str, body: dict, key: str):
    return http.post(
        URL,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key, "Accept-Language": "en"},
    )


def _purse(rider, line: str = "leisure_line") -> Purse:
    return Purse.objects.get(pk=getattr(rider.entitlement, line).purse_id)


def test_authorize__a_quota_trip_holds_one_trip_and_a_retry_holds_nothing_more(client, world):  # noqa: F811
    token = _token()
    purse = _purse(world["quota"])
    before = purse.available_now
    with clock.pinned(NOW):
        first = _ask(client, token, _body(world["quota"].card.number), "booking-0001")
        again = _ask(client, token, _body(world["quota"].card.number), "booking-0001")
    assert first.status_code == 201, first.content
    answer = first.json()
    assert answer["decision"] == "approved" and answer["reason"] is None
    assert answer["hold"]["unit"] == "TRIP" and answer["hold"]["amount"] == 1
    assert answer["available_after"] == before - 1
    assert answer["expected_price_cents"] == 4340 and answer["expected_self_share_cents"] == 300
    # The hold lasts until a week after the pickup's month (the monthly trip file has come by then).
    expires = dt.datetime.fromisoformat(answer["hold"]["expires_at"])
    assert expires == dt.datetime(2026, 4, 8, tzinfo=clock.HELSINKI)
    assert again.status_code == 200 and again.json() == answer
    purse.refresh_from_db()
    assert purse.available_now == before - 1
    assert Transfer.objects.filter(ref_type="trip_authorization").count() == 1


def test_authorize__the_same_key_with_another_trip_is_a_conflict(client, world):  # noqa: F811
    token = _token()
    with clock.pinned(NOW):
        _ask(client, token, _body(world["quota"].card.number), "booking-0002")
        other = _ask(client, token, _body(world["quota"].card.number, distance_km="12.0"), "booking-0002")
    assert other.status_code == 409
    assert TripAuthorization.objects.count() == 1


def test_authorize__a_euro_trip_holds_the_county_cost_priced_with_the_tariff(client, world):  # noqa: F811
    token = _token()
    terms = Tariff.objects.get(valid_from=dt.date(2026, 1, 1)).terms()
    pickup = dt.datetime(2026, 3, 14, 23, 30, tzinfo=clock.HELSINKI)  # a Saturday night: the other base fare
    leg = judgement.Leg(
        pickup_at=pickup,
        distance_km=Decimal("12.5"),
        ride_minutes=Decimal(18),
        waiting_minutes=Decimal(0),
        vehicle_class="wheelchair",
        supplements=("assist",),
    )
    price = judgement.leg_price_cents(leg, terms)
    # (11,40 + 12,5 × 1,92 + 18 × 1,06 + 19,90) = 11,40 + 24,00 + 19,08 + 19,90 = 74,38 €
    assert price == 7438
    body = _body(
        world["eur"].card.number,
        pickup_at=pickup.isoformat(),
        distance_km="12.5",
        duration_min="18",
        vehicle_class="wheelchair",
        supplements=["assist"],
    )
    with clock.pinned(NOW):
        answer = _ask(client, token, body, "booking-eur-1").json()
    assert answer["hold"] == {"unit": "EUR", "amount": 7438 - 300, "expires_at": answer["hold"]["expires_at"]}
    assert answer["expected_self_share_cents"] == 300


@pytest.mark.parametrize(
    ("who", "values", "reason"),
    [
        ("nobody", {}, "unknown_client"),
        ("card_only", {}, "no_decision"),
        ("quota", {"destination_municipality": "837"}, "outside_area"),
        ("km", {"distance_km": "900", "duration_min": "600"}, "insufficient_funds"),
    ],
)
def test_authorize__denied_with_a_specific_reason_and_nothing_held(client, world, who, values, reason):  # noqa: F811
    from stdnum import luhn

    cards = {
        "nobody": "99000000" + luhn.calc_check_digit("99000000"),
        "card_only": world["card_only"].number,
        "quota": world["quota"].card.number,
        "km": world["km"].card.number,
    }
    with clock.pinned(NOW):
        response = _ask(client, _token(), _body(cards[who], **values), f"denied-{who}")
    assert response.status_code == 201
    answer = response.json()
    assert (answer["decision"], answer["reason"], answer["hold"]) == ("denied", reason, None)
    assert answer["reason_text"]
    assert not Transfer.objects.filter(ref_type="trip_authorization").exists()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"closed_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)}, id="closed"),
        pytest.param({"valid_from": dt.date(2026, 4, 1)}, id="not-yet-valid"),
    ],
)
def test_authorize__a_purse_not_in_use_today_is_a_denial_not_an_error(client, world, change):  # noqa: F811
    """The ledger refuses a hold on a closed purse or one outside its validity today (for example a booking made
    before the purse of a new decision starts). That was a 500; it is a denial with its reason."""
    Purse.objects.filter(pk=_purse(world["km"]).pk).update(**change)
    with clock.pinned(NOW):
        response = _ask(client, _token(), _body(world["km"].card.number), "not-open-1")
    assert response.status_code == 201
    answer = response.json()
    assert (answer["decision"], answer["reason"], answer["hold"]) == ("denied", "purse_not_open", None)
    assert answer["reason_text"]
    assert not Transfer.objects.filter(ref_type="trip_authorization").exists()


def _replace(rider, lines: list[dict], *, starts: dt.date):
    """Replace the rider's transport decision from ``starts`` with one granting ``lines`` (issue 16, item 18)."""
    from kukkaro.cases import services as case_services

    worker, approver = make_user(Role.SOCIAL_WORKER), make_user(Role.DECISION_MAKER)
    indicative = case_services.calculation_create_indicative(actor=worker, client=rider.client, lines=lines)
    final = case_services.calculation_finalise(actor=worker, indicative=indicative, lines=lines)
    draft = case_services.decision_draft_create(
        actor=worker,
        calculation=final,
        valid_from=starts,
        valid_until=rider.decision.valid_until,
        reasons="Tarve muuttui.",
        replaces=rider.decision,
    )
    case_services.decision_propose(actor=worker, decision=draft)
    return case_services.decision_approve(actor=approver, decision=draft)


def test_authorize__after_the_transport_decision_was_replaced__the_entitlement_follows_its_lines(client, world):  # noqa: F811
    """The entitlement pointed at the replaced decision's line, whose purse had moved to the new line: a booking
    answered 500. The replacement moves the entitlement in its own transaction."""
    quota = world["quota"]
    with clock.pinned(NOW):
        replacement = _replace(
            quota,
            [{"category": "transport-trips", "quantity": 20}, {"category": "transport-work", "quantity": 44}],
            starts=dt.date(2026, 3, 5),
        )
        response = _ask(client, _token(), _body(quota.card.number), "after-replace-1")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["decision"] == "approved" and answer["hold"]["unit"] == "TRIP"
    entitlement = TransportEntitlement.objects.get(client=quota.client, state="active")
    assert entitlement.decision_id == replacement.pk
    assert entitlement.leisure_line.decision_id == replacement.pk
    hold = Transfer.objects.get(pk=TripAuthorization.objects.get().hold_id)
    assert hold.debit_purse_id == entitlement.leisure_line.purse_id  # the same purse, now under the new line
    assert ledger_verify()[1] == []


def test_authorize__a_transport_line_dropped_by_a_replacement__is_a_denial_with_its_reason(client, world):  # noqa: F811
    km = world["km"]
    with clock.pinned(NOW):
        _replace(km, [{"category": "transport-eur", "quantity": 300}], starts=dt.date(2026, 3, 5))
        response = _ask(client, _token(), _body(km.card.number), "after-drop-1")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert (answer["decision"], answer["reason"], answer["hold"]) == ("denied", "no_decision", None)
    assert answer["reason_text"] == "The client has no transport decision in force on the day of the trip."
    entitlement = TransportEntitlement.objects.get(client=km.client)
    assert (entitlement.state, entitlement.valid_until) == ("active", dt.date(2026, 3, 4))  # it paid until then
    assert not Transfer.objects.filter(ref_type="trip_authorization").exists()


def test_authorize__bad_input_is_refused_at_its_field(client, world):  # noqa: F811
    token = _token()
    with clock.pinned(NOW):
        past = _ask(client, token, _body(world["quota"].card.number, pickup_at="2026-03-01T10:00:00+02:00"), "bad-0001")
        vehicle = _ask(client, token, _body(world["quota"].card.number, vehicle_class="bus"), "bad-0002")
        short_key = _ask(client, token, _body(world["quota"].card.number), "k")
    assert past.status_code == 422 and past.json()["detail"][0]["field"] == "pickup_at"
    assert vehicle.status_code == 422 and vehicle.json()["detail"][0]["field"] == "vehicle_class"
    assert short_key.status_code == 422 and short_key.json()["detail"][0]["field"] == "idempotency_key"
    assert TripAuthorization.objects.count() == 0


def test_authorize__a_pickup_at_the_edge_of_the_calendar_is_refused_at_its_field(client, world):  # noqa: F811
    """Year 1 with a positive offset is before the smallest UTC time Python has: it was a 500 (schemathesis)."""
    body = _body(world["quota"].card.number, pickup_at="0001-01-01T00:00:00+03:04")
    with clock.pinned(NOW):
        response = _ask(client, _token(), body, "calendar-edge-1")
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["detail"]] == ["pickup_at"]


def test_authorize__a_nul_character_is_refused_at_its_field(client, world):  # noqa: F811
    body = _body(world["quota"].card.number, supplements=["assist\x00"])
    with clock.pinned(NOW):
        response = _ask(client, _token(), body, "nul-0001")
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["detail"]] == ["supplements"]
    assert not TripAuthorization.objects.exists()


def test_authorize__only_a_dispatch_centre_of_the_same_organiser(client, world):  # noqa: F811
    with clock.pinned(NOW):
        provider = _ask(
            client, _token(Role.PROVIDER, organiser_code=None), _body(world["quota"].card.number), "p-000001"
        )
        approved = _ask(client, _token(), _body(world["quota"].card.number), "lu-000001").json()
        other = client.get(
            f"{URL}/{approved['authorization_id']}",
            headers={"Authorization": f"Bearer {_token(organiser_code='paijat-hame')}"},
        )
        foreign = _ask(client, _token(organiser_code="paijat-hame"), _body(world["quota"].card.number), "ph-000001")
    assert provider.status_code == 403
    assert other.status_code == 404
    assert foreign.json()["reason"] == "unknown_client"  # Päijät-Häme's dispatch does not see this card


def test_cancel__releases_the_hold_and_cancelling_again_answers_the_same(client, world):  # noqa: F811
    token = _token()
    purse = _purse(world["km"])
    before = purse.available_now
    headers = {"Authorization": f"Bearer {token}"}
    with clock.pinned(NOW):
        approved = _ask(client, token, _body(world["km"].card.number, distance_km="12.345"), "cancel-001").json()
        assert approved["hold"] == {"unit": "KM", "amount": 12345, "expires_at": approved["hold"]["expires_at"]}
        url = f"{URL}/{approved['authorization_id']}/cancel"
        cancelled = client.post(url, headers=headers)
        again = client.post(url, headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert again.json() == cancelled.json()
    purse.refresh_from_db()
    assert purse.available_now == before
    assert ledger_verify()[1] == []


def test_cancel__a_lock_conflict_answers_503_to_send_again_never_500_and_changes_nothing(
    client,
    world,  # noqa: F811
    monkeypatch,
):
    import psycopg.errors
    from django.db import OperationalError

    token = _token()
    with clock.pinned(NOW):
        approved = _ask(client, token, _body(world["km"].card.number), "cancel-busy-1").json()

    def deadlocked(**_kwargs):
        raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected("deadlock detected")

    monkeypatch.setattr(authorizations, "_cancel", deadlocked)
    with clock.pinned(NOW):
        busy = client.post(
            f"{URL}/{approved['authorization_id']}/cancel",
            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
        )
    assert busy.status_code == 503 and busy["Retry-After"] == "1"
    assert "send the same request again" in busy.json()["detail"]
    assert TripAuthorization.objects.get(pk=approved["authorization_id"]).state == AuthorizationState.APPROVED
    monkeypatch.undo()
    with clock.pinned(NOW):
        again = client.post(
            f"{URL}/{approved['authorization_id']}/cancel", headers={"Authorization": f"Bearer {token}"}
        )
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_authorize__a_trip_faster_than_the_tariffs_limit_is_denied_in_words(client, world):  # noqa: F811
    token = _token()
    card = world["km"].card.number
    purse = _purse(world["km"])
    before = purse.available_now
    with clock.pinned(NOW):
        # 150 km/h over 20 minutes is 50 km: at the limit, and just above it.
        at = _ask(client, token, _body(card, distance_km="50", duration_min="20"), "speed-at-01")
        above = _ask(client, token, _body(card, distance_km="50.001", duration_min="20"), "speed-above-01")
        flying = _ask(client, token, _body(card, distance_km="90", duration_min="1"), "speed-90-in-1")
    assert at.json()["decision"] == "approved"
    for answer in (above.json(), flying.json()):
        assert (answer["decision"], answer["reason"]) == ("denied", "impossible_speed")
        assert answer["hold"] is None
        assert "average speed would be above the tariff's limit" in answer["reason_text"]
    purse.refresh_from_db()
    assert purse.available_now == before - 50_000


def test_expiry__an_unused_hold_lapses_after_its_time(client, world):  # noqa: F811
    token = _token()
    purse = _purse(world["quota"])
    before = purse.available_now
    with clock.pinned(NOW):
        approved = _ask(client, token, _body(world["quota"].card.number), "expire-001").json()
    assert authorizations.authorizations_expire(now=dt.datetime(2026, 4, 7, 20, 59, tzinfo=dt.UTC)) == 0
    out = io.StringIO()
    with clock.pinned(dt.datetime(2026, 4, 7, 21, 0, tzinfo=dt.UTC)):
        call_command("mobility_daily", stdout=out)  # the daily job
    assert "Expired 1 trip authorisation" in out.getvalue()
    authorization = TripAuthorization.objects.get(pk=approved["authorization_id"])
    assert authorization.state == AuthorizationState.EXPIRED
    purse.refresh_from_db()
    assert purse.available_now == before
    with clock.pinned(dt.datetime(2026, 4, 8, tzinfo=dt.UTC)):
        late = client.post(f"{URL}/{authorization.pk}/cancel", headers={"Authorization": f"Bearer {token}"})
    assert late.status_code == 422
    assert ledger_verify()[1] == []


def _fire(bodies_and_keys: list[tuple[dict, str]], token: str, answers: list, errors: list) -> None:
    http = HttpClient()
    try:
        with clock.pinned(NOW):
            for body, key in bodies_and_keys:
                response = _ask(http, token, body, key)
                answers.append((response.status_code, response.json()))
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()


def _run_threads(work: list[list[tuple[dict, str]]], token: str) -> tuple[list, list]:
    answers: list = []
    errors: list = []
    threads = [threading.Thread(target=_fire, args=(chunk, token, answers, errors)) for chunk in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    close_old_connections()
    return answers, errors


@pytest.mark.django_db(transaction=True)
def test_authorize__the_same_key_fired_concurrently_holds_once(world):  # noqa: F811
    postgresql_only("concurrency is PostgreSQL's to prove; SQLite has one writer")
    token = _token()
    body = _body(world["quota"].card.number)
    answers, errors = _run_threads([[(body, "same-key-0001")] for _ in range(8)], token)
    assert errors == []
    assert sorted(status for status, _answer in answers) == [200] * 7 + [201]
    assert len({answer["authorization_id"] for _status, answer in answers}) == 1
    assert TripAuthorization.objects.count() == 1
    assert Transfer.objects.filter(ref_type="trip_authorization").count() == 1
    assert ledger_verify()[1] == []


@pytest.mark.django_db(transaction=True)
def test_authorize__concurrent_bookings_drive_a_purse_to_zero_and_never_below(world):  # noqa: F811
    postgresql_only("concurrency is PostgreSQL's to prove; SQLite has one writer")
    token = _token()
    purse = _purse(world["km"])
    metres = purse.available_now
    trips_that_fit = metres // 10_000
    total = trips_that_fit + 20
    card = world["km"].card.number
    work = [[(_body(card), f"drain-{t:02d}-{n:04d}") for n in range(total // 8 + 1)] for t in range(8)]
    answers, errors = _run_threads(work, token)
    assert errors == []
    decisions = [answer["decision"] for _status, answer in answers]
    assert decisions.count("approved") == trips_that_fit
    assert {answer["reason"] for _s, answer in answers if answer["decision"] == "denied"} == {"insufficient_funds"}
    purse.refresh_from_db()
    assert purse.available_now == metres - trips_that_fit * 10_000 >= 0
    assert purse.debits_pending + purse.debits_posted <= purse.credits_posted
    assert ledger_verify()[1] == []


def _file_leg(card: str, authorization_id: str, **values) -> bytes:
    from tests.mobility.test_trip_files import _eur, _price
    from tests.mobility.trips import leg, trip_file

    km = Decimal(values.get("distance_km", "12.3"))
    minutes = Decimal(values.get("duration_min", "20"))
    fare = _price(
        pickup_at=dt.datetime(2026, 3, 10, 14, 0, tzinfo=clock.HELSINKI), distance_km=km, ride_minutes=minutes
    )
    row = leg(
        trip_id="AUTH-1",
        client_number=card,
        authorization_id=authorization_id,
        pickup_at=PICKUP,
        dropoff_at=(dt.datetime.fromisoformat(PICKUP) + dt.timedelta(minutes=int(minutes) + 5)).isoformat(),
        fare_eur=_eur(fare),
        **values,
    )
    return trip_file([row])


@pytest.mark.parametrize(("distance", "minutes", "outcome"), [("12.3", "20", "accepted"), ("900", "600", "review")])
def test_trip_file__settles_the_booking_with_the_actual_distance(client, world, distance, minutes, outcome):  # noqa: F811
    from kukkaro.mobility import trip_files
    from tests.factories import organiser

    token = _token()
    purse = _purse(world["km"])
    before = purse.available_now
    card = world["km"].card.number
    with clock.pinned(NOW):
        approved = _ask(client, token, _body(card), "settle-0001").json()
    purse.refresh_from_db()
    assert purse.available_now == before - 10_000
    content = _file_leg(card, approved["authorization_id"], distance_km=distance, duration_min=minutes)
    with clock.pinned(dt.datetime(2026, 4, 3, 6, 0, tzinfo=dt.UTC)):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="april.csv", content=content
        )
        again = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="april.csv", content=content
        )
    assert again.pk == done.pk
    leg = done.legs.get()
    authorization = TripAuthorization.objects.get(pk=approved["authorization_id"])
    assert authorization.state == AuthorizationState.SETTLED
    purse.refresh_from_db()
    if outcome == "accepted":
        # Posted with the actual 12,3 km; the 10 km held are released, so the purse paid 12 300 m once.
        assert (leg.outcome, leg.debit_amount) == ("accepted", 12_300)
        assert purse.available_now == before - 12_300
    else:
        # 900 km is more than the purse has: held for review, and the booking's hold is back in the purse.
        assert (leg.outcome, leg.reasons) == ("review", ["insufficient_funds"])
        assert purse.available_now == before
    assert purse.debits_pending == 0
    assert ledger_verify()[1] == []


def test_trip_file__settles_many_bookings_together_and_audits_each(client, world):  # noqa: F811
    from kukkaro.core.models import AuditEvent
    from kukkaro.mobility import trip_files
    from tests.factories import organiser
    from tests.mobility.test_trip_files import _eur, _price
    from tests.mobility.trips import leg, trip_file

    token = _token()
    riders = [world["quota"], world["km"], world["eur"]]
    booked = []
    with clock.pinned(NOW):
        for n, rider in enumerate(riders * 2):
            pickup = dt.datetime(2026, 3, 10, 14, n, tzinfo=clock.HELSINKI).isoformat()
            answer = _ask(client, token, _body(rider.card.number, pickup_at=pickup), f"many-{n:04d}").json()
            assert answer["decision"] == "approved", answer
            booked.append((rider, pickup, answer["authorization_id"]))
    held = {rider.card.number: _purse(rider).debits_pending for rider in riders}
    assert all(held.values())
    rows = []
    for n, (rider, pickup, authorization_id) in enumerate(booked):
        card = rider.card.number
        rows.append(
            leg(
                trip_id=f"MANY-{n}",
                client_number=card,
                # The last row names the first booking, with another client's card: that row does not settle it
                # (the first row does), and the last booking, named by no row, stays open.
                authorization_id=authorization_id if n < 5 else booked[0][2],
                pickup_at=pickup,
                dropoff_at=(dt.datetime.fromisoformat(pickup) + dt.timedelta(minutes=25)).isoformat(),
                fare_eur=_eur(_price(pickup_at=dt.datetime.fromisoformat(pickup))),
            )
        )
    with clock.pinned(dt.datetime(2026, 4, 3, 6, 0, tzinfo=dt.UTC)):
        trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="many.csv", content=trip_file(rows)
        )
    states = [TripAuthorization.objects.get(pk=a).state for _r, _p, a in booked]
    assert states == [AuthorizationState.SETTLED] * 5 + [AuthorizationState.APPROVED]
    settled = AuditEvent.objects.filter(action="trips.authorization_settle")
    assert sorted(settled.values_list("target_id", flat=True)) == sorted(a for _r, _p, a in booked[:5])
    assert {e.data_subject_id for e in settled} == {r.client.pk for r in riders}
    # Only the open booking still holds anything.
    assert (
        sum(_purse(rider).debits_pending for rider in riders) == TripAuthorization.objects.get(pk=booked[5][2]).amount
    )
    assert ledger_verify()[1] == []


def test_authorize__a_retry_after_the_pickup_gets_the_first_answer(client, world):  # noqa: F811
    token = _token()
    body = _body(world["quota"].card.number)
    with clock.pinned(NOW):
        first = _ask(client, token, body, "late-retry-01").json()
    with clock.pinned(NOW + dt.timedelta(days=2)):  # the pickup is long past: as a new booking it would be refused
        again = _ask(client, token, body, "late-retry-01")
        fresh = _ask(client, token, body, "late-retry-02")
    assert again.status_code == 200 and again.json() == first
    assert fresh.status_code == 422 and fresh.json()["detail"][0]["field"] == "pickup_at"
    assert Transfer.objects.filter(ref_type="trip_authorization").count() == 1


# --- the PostgreSQL fast path (ADR 0015) ----------------------------------------------------------------------


def test_authorize__common_answers_need_no_second_attempt_on_postgres(client, world, monkeypatch):  # noqa: F811
    """Approvals and denials (even for too little money) are answered in one transaction: the step-by-step path,
    which a refusal or a retry falls back to, is never taken for them. (SQLite always takes it.)"""
    postgresql_only("the one-transaction path is PostgreSQL's")

    def refuse(**_kwargs):
        raise AssertionError("took the step-by-step path")

    monkeypatch.setattr(authorizations, "_authorize_step_by_step", refuse)
    token = _token()
    cards = {name: world[name].card.number for name in ("quota", "km", "eur")}
    asks = [
        (cards["quota"], {}, "approved", None),
        (cards["km"], {"purpose": "work"}, "approved", None),
        (cards["eur"], {"vehicle_class": "wheelchair"}, "approved", None),
        (cards["km"], {"distance_km": "900", "duration_min": "600"}, "denied", "insufficient_funds"),
        (cards["quota"], {"destination_municipality": "837"}, "denied", "outside_area"),
        (world["card_only"].number, {}, "denied", "no_decision"),
    ]
    with clock.pinned(NOW):
        for index, (card, values, decision, reason) in enumerate(asks):
            answer = _ask(client, token, _body(card, **values), f"fast-{index:04d}").json()
            assert (answer["decision"], answer["reason"]) == (decision, reason), answer
    from kukkaro.core.audit import audit_verify

    assert audit_verify()[1] == []
    assert ledger_verify()[1] == []
    stored = TripAuthorization.objects.get(idempotency_key="fast-0003")
    # Denied on what the purse had: the figures the dispatch centre is told, and nothing held.
    assert (stored.unit, stored.amount, stored.hold_id) == ("KM", 900_000, None)
    assert stored.available_after == _purse(world["km"]).available_now


def test_authorize__a_retry_on_postgres_gets_the_first_answer_through_the_careful_path(client, world):  # noqa: F811
    token = _token()
    body = _body(world["km"].card.number, distance_km="900", duration_min="600")
    with clock.pinned(NOW):
        first = _ask(client, token, body, "retry-denied-1")
        again = _ask(client, token, body, "retry-denied-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert TripAuthorization.objects.filter(idempotency_key="retry-denied-1").count() == 1


def _judgement_facts(judged) -> tuple:
    return (
        judged.reason,
        getattr(judged.client, "pk", None),
        getattr(judged.entitlement, "pk", None),
        getattr(judged.purse, "pk", None),
        judged.unit,
        judged.amount,
        judged.price_cents,
        judged.self_share_cents,
    )


def test_judge__the_one_query_agrees_with_the_lookups_one_by_one(world):  # noqa: F811
    """Every reason the judgement of a booking declares (``judgement.BOOKING_JUDGE_REASONS``) and every model, day
    and night, work and leisure, with supplements, the speed limit just below, at and just above it, and a work
    trip after earlier ones this month brought the self-shares near the month's cap: the same answer both ways."""
    postgresql_only("the one-query judgement is PostgreSQL's")
    from stdnum import luhn

    from kukkaro.core.models import Organiser
    from kukkaro.mobility import trip_files
    from tests.factories import organiser
    from tests.mobility.test_trip_files import _eur, _price
    from tests.mobility.trips import leg, trip_file

    # Two earlier work legs of the kilometre client this month (3 € each), and a cap of 7 €: 1 € is left. The
    # tariff ends with November: a December trip has none.
    Tariff.objects.update(work_study_monthly_cap_cents=700)
    Tariff.objects.filter(valid_from=dt.date(2026, 1, 1)).update(valid_until=dt.date(2026, 11, 30))
    fare = _eur(_price(pickup_at=dt.datetime(2026, 3, 4, 10, 0, tzinfo=clock.HELSINKI)))
    rows = [leg(trip_id=f"W-{n}", client_number=world["km"].card.number, purpose="work", fare_eur=fare) for n in (1, 2)]
    with clock.pinned(dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)):
        trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="m.csv", content=trip_file(rows)
        )
    nobody = "99000000" + luhn.calc_check_digit("99000000")
    cards = [world[name].card.number for name in ("quota", "km", "eur")] + [world["card_only"].number, nobody]
    variants = [
        {},
        {"purpose": "work"},
        {"purpose": "study", "vehicle_class": "wheelchair", "supplements": ("assist",)},
        {"pickup_at": dt.datetime(2026, 3, 14, 23, 30, tzinfo=clock.HELSINKI)},  # a Saturday night
        {"destination_municipality": "837"},
        {"supplements": ("no-such-code",)},
        {"distance_km": Decimal(900), "duration_min": Decimal(600)},
        {"distance_km": Decimal("50.001"), "duration_min": Decimal(20)},  # just above 150 km/h
        {"distance_km": Decimal(50), "duration_min": Decimal(20)},  # at it
        {"distance_km": Decimal("49.999"), "duration_min": Decimal(20)},  # just below it
        {"pickup_at": dt.datetime(2026, 12, 2, 10, 0, tzinfo=clock.HELSINKI)},  # no tariff in force
    ]
    compared = set()
    for card in cards:
        for values in variants:
            request = authorizations.TripRequest(
                client_number=card,
                pickup_at=values.get("pickup_at", dt.datetime(2026, 3, 10, 14, 0, tzinfo=clock.HELSINKI)),
                distance_km=values.get("distance_km", Decimal("10.0")),
                duration_min=values.get("duration_min", Decimal(20)),
                vehicle_class=values.get("vehicle_class", "car"),
                purpose=values.get("purpose", "leisure"),
                origin_municipality="049",
                destination_municipality=values.get("destination_municipality", "049"),
                supplements=values.get("supplements", ()),
            )
            one_by_one = authorizations._judge(request, Organiser.objects.get(code="lansi-uusimaa"))
            in_one = authorizations._judge_in_one_query(request, Organiser.objects.get(code="lansi-uusimaa"))
            assert _judgement_facts(in_one) == _judgement_facts(one_by_one), (card, values)
            compared.add(one_by_one.reason)
            if card == world["km"].card.number and values == {"purpose": "work"}:
                assert one_by_one.self_share_cents == 100  # only what the cap leaves
    # Every reason the judgement of a booking can give, compared — and no other ("": approved).
    assert compared == {"", *judgement.BOOKING_JUDGE_REASONS}


def test_authorize__every_answer_on_postgres_is_the_step_by_step_answer(world):  # noqa: F811
    """PostgreSQL answers a booking in one transaction, judged in one query (``_authorize_at_once``); the
    step-by-step path (SQLite's, and the reference) must give the same answer, figures and hold for every reason a
    booking can be denied for (``judgement.BOOKING_REASONS``: one added without a case here fails)."""
    postgresql_only("the one-transaction path is PostgreSQL's")
    from django.db import transaction
    from stdnum import luhn

    dispatcher = make_user(Role.DISPATCH, organiser_code="lansi-uusimaa")
    Tariff.objects.filter(valid_from=dt.date(2026, 1, 1)).update(valid_until=dt.date(2026, 3, 11))
    closed = _purse(world["eur"])
    Purse.objects.filter(pk=closed.pk).update(closed_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    nobody = "99000000" + luhn.calc_check_digit("99000000")
    cases = [
        (world["quota"].card.number, {}),
        (world["km"].card.number, {"purpose": "work"}),
        (nobody, {}),  # unknown_client
        (world["card_only"].number, {}),  # no_decision
        (world["quota"].card.number, {"destination_municipality": "837"}),  # outside_area
        (world["quota"].card.number, {"pickup_at": dt.datetime(2026, 3, 12, 10, 0, tzinfo=clock.HELSINKI)}),
        (world["quota"].card.number, {"distance_km": Decimal("50.001")}),  # impossible_speed
        (world["quota"].card.number, {"supplements": ("no-such-code",)}),  # unknown_supplement
        (world["km"].card.number, {"distance_km": Decimal(900), "duration_min": Decimal(600)}),  # insufficient
        (world["eur"].card.number, {}),  # purse_not_open: the euro purse is closed
    ]

    def answer(authorization) -> tuple:
        return (
            authorization.state,
            authorization.reason,
            authorization.client_id,
            authorization.entitlement_id,
            authorization.purse_id,
            authorization.unit,
            authorization.amount,
            authorization.price_cents,
            authorization.self_share_cents,
            authorization.available_after,
            authorization.expires_at,
            authorization.hold_id is not None,
        )

    compared = set()
    with clock.pinned(NOW):
        for n, (card, values) in enumerate(cases):
            request = authorizations.TripRequest(
                client_number=card,
                pickup_at=values.get("pickup_at", dt.datetime(2026, 3, 10, 14, 0, tzinfo=clock.HELSINKI)),
                distance_km=values.get("distance_km", Decimal("10.0")),
                duration_min=values.get("duration_min", Decimal(20)),
                vehicle_class="car",
                purpose=values.get("purpose", "leisure"),
                origin_municipality="049",
                destination_municipality=values.get("destination_municipality", "049"),
                supplements=values.get("supplements", ()),
            )
            answers = []
            for path in ("at once", "step by step"):
                with transaction.atomic():
                    key = f"both-ways-{n:04d}"
                    if path == "at once":
                        authorization, _new = authorizations.trip_authorize(
                            actor=dispatcher, idempotency_key=key, request=request
                        )
                    else:
                        authorization, _new = authorizations._authorize_step_by_step(
                            actor=dispatcher, key=key, request=request, fingerprint=request.fingerprint()
                        )
                    answers.append(answer(authorization))
                    assert ledger_verify()[1] == []
                    transaction.set_rollback(True)
            assert answers[0] == answers[1], (card, values)
            compared.add(answers[0][1])
    assert compared == {"", *judgement.BOOKING_REASONS}


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("distance_km", ("999.999", "1000", "1000.001")),  # judgement.MAX_DISTANCE_KM
        ("duration_min", ("1439.99", "1440", "1440.01")),  # judgement.MAX_DURATION_MIN
    ],
)
def test_authorize__the_judgements_limits_bound_a_booking_at_just_below_and_just_above(world, field, values):  # noqa: F811
    from django.core.exceptions import ValidationError

    limit = {"distance_km": judgement.MAX_DISTANCE_KM, "duration_min": judgement.MAX_DURATION_MIN}[field]
    below, at, above = (Decimal(value) for value in values)
    assert below < at == limit < above
    refused = {}
    with clock.pinned(NOW), translation.override("en"):
        for value in (below, at, above):
            values = {"distance_km": Decimal("10.0"), "duration_min": Decimal(20), field: value}
            request = authorizations.TripRequest(
                client_number=world["quota"].card.number,
                pickup_at=dt.datetime(2026, 3, 10, 14, 0, tzinfo=clock.HELSINKI),
                vehicle_class="car",
                purpose="leisure",
                origin_municipality="049",
                destination_municipality="049",
                **values,
            )
            try:
                authorizations._check(request, "limits-0001")
            except ValidationError as error:
                refused[value] = error.message_dict
            else:
                refused[value] = {}
    assert refused[below] == refused[at] == {}
    # The words name the limit, as they did when it was written into them.
    words = {
        "distance_km": "The distance must be more than 0 and at most 1,000 km.",
        "duration_min": "The duration must be more than 0 and at most 1,440 minutes.",
    }
    assert refused[above] == {field: [words[field]]}
