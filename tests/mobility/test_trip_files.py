"""A trip file mixing good legs and every kind of bad leg: one outcome per row, prices to the cent, and a ledger
that no re-import changes (issue 6)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from stdnum import luhn

from kukkaro.core import clock
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse, Transfer, TransferCode
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import judgement, services, trip_files
from kukkaro.mobility.models import EntitlementModel, TripImport, TripLeg
from kukkaro.services.models import ProviderState
from kukkaro.services.providers import provider_set_state
from tests.factories import client_in, make_user, organiser, system_actor
from tests.mobility.trips import OPERATOR, leg, trip_file
from tests.mobility.world import load_tariffs, rider
from tests.services.world import approved_provider
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db

BUILT = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
IMPORTED = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)


def _build_world() -> dict:
    worker, approver = make_user(Role.SOCIAL_WORKER), make_user(Role.DECISION_MAKER)
    area = load_tariffs()
    quota = rider(EntitlementModel.TRIP_QUOTA, area=area, worker=worker, approver=approver)
    km = rider(EntitlementModel.KM_PURSE, area=area, worker=worker, approver=approver)
    euros = rider(EntitlementModel.EUR_PURSE, area=area, worker=worker, approver=approver)
    no_decision = client_in("lansi-uusimaa", first_names="Vailla")
    card_only = services.card_issue(actor=worker, client=no_decision)
    operator, _user = approved_provider(
        organiser=organiser(), decision_maker=approver, business_id=OPERATOR, name="Taksi Oy", username="taksi"
    )
    return {"quota": quota, "km": km, "eur": euros, "card_only": card_only, "operator": operator, "worker": worker}


#: Built once on 1 March and shared (tests/worlds.py); the other trip test modules import it.
world = shared_world("world", _build_world, at=BUILT)


def _price(**kwargs) -> int:
    from kukkaro.mobility.models import Tariff

    terms = Tariff.objects.get(valid_from=dt.date(2026, 1, 1)).terms()
    values = {
        "pickup_at": dt.datetime(2026, 3, 4, 10, 0, tzinfo=clock.HELSINKI),
        "distance_km": Decimal(10),
        "ride_minutes": Decimal(20),
        "waiting_minutes": Decimal(0),
        "vehicle_class": "car",
    }
    values.update(kwargs)
    return judgement.leg_price_cents(judgement.Leg(**values), terms)


def _eur(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _rows(w) -> list[dict[str, str]]:
    q, k, e = w["quota"].card.number, w["km"].card.number, w["eur"].card.number
    far = _price(distance_km=Decimal(900), ride_minutes=Decimal(600))
    night = _price(
        pickup_at=dt.datetime(2026, 3, 7, 23, 30, tzinfo=clock.HELSINKI),
        distance_km=Decimal("12.345"),
        ride_minutes=Decimal("17.5"),
        waiting_minutes=Decimal(7),
        vehicle_class="wheelchair",
        supplements=("assist", "stairs"),
        shared=True,
    )
    return [
        leg(trip_id="G-1", client_number=q),  # 2: accepted, one trip
        leg(trip_id="G-2", client_number=k, distance_km="12.3456", fare_eur="46.64"),  # 3: accepted, 12 346 m
        leg(  # 4: accepted, a Saturday night wheelchair ride, shared, with waiting and supplements
            trip_id="G-3",
            client_number=e,
            pickup_at="2026-03-07T23:30:00+02:00",
            dropoff_at="2026-03-07T23:55:00+02:00",
            distance_km="12.345",
            duration_min="17.5",
            waiting_min="7",
            vehicle_class="wheelchair",
            supplements="assist;stairs",
            shared_ride_id="S-1",
            fare_eur=_eur(night),
        ),
        leg(trip_id="B-1", client_number=q, dropoff_at="2026-03-04T09:00:00+02:00"),  # 5: drop-off before pickup
        leg(trip_id="B-2", client_number=q, distance_km="-3"),  # 6: negative distance
        leg(trip_id="B-3", client_number=q, distance_km="5000"),  # 7: absurd distance
        leg(trip_id="B-4", client_number=q, vehicle_class="bus"),  # 8: unknown vehicle class
        leg(trip_id="B-5", client_number=q, supplements="karaoke"),  # 9: unknown supplement
        leg(trip_id="B-6", client_number=q, pickup_at="2026-03-04 10:00"),  # 10: no offset
        leg(trip_id="R-1", client_number=NOBODY),  # 11: a valid number nobody has
        leg(trip_id="R-2", client_number=w["card_only"].number),  # 12: a card but no decision
        leg(trip_id="R-3", client_number=q, origin_municipality="049", destination_municipality="837"),  # 13
        leg(trip_id="R-4", client_number=q, operator_id="7654321-2"),  # 14: not an approved operator
        leg(trip_id="R-5", client_number=q, fare_eur="48.40"),  # 15: the fare is 5 € off
        leg(trip_id="G-1", client_number=q, distance_km="11.0"),  # 16: G-1 again with other content
        leg(trip_id="G-2", client_number=k, distance_km="12.3456", fare_eur="46.64"),  # 17: G-2 again, the same
        leg(  # 18: 900 km from a 200 km purse
            trip_id="R-6",
            client_number=k,
            distance_km="900",
            duration_min="600",
            dropoff_at="2026-03-04T20:05:00+02:00",
            fare_eur=_eur(far),
        ),
        leg(trip_id="B-7", client_number=q, operator_id="1234567-0"),  # 19: a malformed business ID
    ]


NOBODY = "990000000" + luhn.calc_check_digit("990000000")


def _outcomes(trip_import: TripImport) -> dict[int, tuple[str, list[str]]]:
    return {leg.row_number: (leg.outcome, leg.reasons) for leg in trip_import.legs.all()}


def test_import_trips__every_row_gets_one_outcome_with_its_reasons(world):
    content = trip_file(_rows(world))
    with clock.pinned(IMPORTED):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="march.csv", content=content
        )
    outcomes = _outcomes(done)
    assert sorted(outcomes) == list(range(2, 20))
    assert done.rows == 18
    assert {n: o[0] for n, o in outcomes.items() if o[0] == "accepted"} == {
        2: "accepted",
        3: "accepted",
        4: "accepted",
        17: "accepted",
    }
    assert outcomes[5] == ("rejected", ["dropoff_before_pickup"])
    assert outcomes[6] == ("rejected", ["distance_invalid"])
    assert outcomes[7] == ("rejected", ["distance_absurd"])
    assert outcomes[8] == ("rejected", ["unknown_vehicle_class"])
    assert outcomes[9] == ("rejected", ["unknown_supplement"])
    assert outcomes[10][0] == "rejected" and "pickup_at_invalid" in outcomes[10][1]
    assert outcomes[11] == ("review", ["unknown_client"])
    assert outcomes[12] == ("review", ["no_decision"])
    assert outcomes[13] == ("review", ["outside_area"])
    assert outcomes[14] == ("review", ["operator_not_approved"])
    assert outcomes[15] == ("review", ["fare_mismatch"])
    assert outcomes[16] == ("review", ["resent_changed"])
    assert outcomes[18] == ("review", ["insufficient_funds"])
    assert outcomes[19] == ("rejected", ["operator_id_invalid"])
    assert done.counts == {"accepted": 4, "rejected": 7, "review": 7}


def test_import_trips__prices_self_shares_and_debits_to_the_cent(world):
    with clock.pinned(IMPORTED):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="m.csv", content=trip_file(_rows(world))
        )
    legs = {leg.row_number: leg for leg in done.legs.all()}
    # 2: 8,40 + 10 × 1,38 + 20 × 1,06 = 43,40; self-share 3,00; one trip from the leisure line
    assert (legs[2].price_cents, legs[2].self_share_cents, legs[2].county_cost_cents) == (4340, 300, 4040)
    assert (legs[2].debit_unit, legs[2].debit_amount) == ("TRIP", 1)
    # 3: 12,3456 km → 12 346 m; price 8,40 + 12,3456 × 1,38 + 21,20 = 46,636928 → 46,64
    assert (legs[3].price_cents, legs[3].debit_unit, legs[3].debit_amount) == (4664, "KM", 12346)
    # 4: Saturday night: (11,40 + 12,345 × 1,92 + 17,5 × 1,06 + 7 × 63,60 / 60 + 19,90 + 25,60) × 0,8
    #  = (11,40 + 23,7024 + 18,55 + 7,42 + 45,50) × 0,8 = 106,5724 × 0,8 = 85,25792 → 85,26; the euro purse pays 82,26
    assert (legs[4].price_cents, legs[4].self_share_cents, legs[4].debit_amount) == (8526, 300, 8226)
    # 17 is 3 again: accepted, no second debit
    assert legs[17].same_as_id == legs[3].pk and legs[17].transfer_id is None
    usage = Transfer.objects.filter(code=TransferCode.USAGE)
    assert sorted(usage.values_list("amount", flat=True)) == [1, 8226, 12346]
    quota_purse = Purse.objects.get(pk=world["quota"].entitlement.leisure_line.purse_id)
    assert quota_purse.debits_posted == 1
    assert ledger_verify()[1] == []


def test_import_trips__debits_each_purse_once_with_the_sum_of_its_legs(world):
    k = world["km"].card.number
    distances = ("10.0", "2.5", "7.0")
    rows = [
        leg(
            trip_id=f"K-{n}",
            client_number=k,
            distance_km=distance,
            pickup_at=f"2026-03-0{n + 2}T10:00:00+02:00",
            dropoff_at=f"2026-03-0{n + 2}T10:25:00+02:00",
            fare_eur="",
        )
        for n, distance in enumerate(distances)
    ]
    for row in rows:
        row["fare_eur"] = _eur(_price(distance_km=Decimal(row["distance_km"])))
    with clock.pinned(IMPORTED):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="km.csv", content=trip_file(rows)
        )
    legs = list(done.legs.order_by("row_number"))
    assert [leg.debit_amount for leg in legs] == [10_000, 2_500, 7_000]
    (transfer,) = Transfer.objects.filter(ref_type=trip_files.FILE_REF_TYPE)
    assert (transfer.amount, transfer.ref_id, transfer.memo) == (19_500, done.sha256, "km.csv: 3 legs")
    assert transfer.debit_purse_id == legs[0].purse_id
    assert {leg.transfer_id for leg in legs} == {transfer.pk}
    assert Purse.objects.get(pk=legs[0].purse_id).debits_posted == 19_500
    assert ledger_verify()[1] == []


def test_import_trips__the_same_file_again_and_the_same_legs_in_another_file_change_nothing(world):
    rows = _rows(world)
    with clock.pinned(IMPORTED):
        first = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="m.csv", content=trip_file(rows)
        )
        snapshot = sorted(Transfer.objects.values_list("id", "amount"))
        again = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="m.csv", content=trip_file(rows)
        )
        assert again.pk == first.pk and TripLeg.objects.count() == 18
        shuffled = list(reversed(rows[:3]))
        other = trip_files.import_trips(
            actor=system_actor(organiser()),
            organiser=organiser(),
            filename="again.csv",
            content=trip_file(shuffled, columns=tuple(reversed(trip_files.COLUMNS))),
        )
    assert other.pk != first.pk
    assert {leg.outcome for leg in other.legs.all()} == {"accepted"}
    assert all(leg.same_as_id and leg.transfer_id is None for leg in other.legs.all())
    assert sorted(Transfer.objects.values_list("id", "amount")) == snapshot
    assert ledger_verify()[1] == []


def test_import_trips__work_trips_stop_costing_the_client_at_the_monthly_cap(world):
    q = world["quota"].card.number
    rows = []
    for n in range(1, 25):
        pickup = dt.datetime(2026, 3, n + 1, 7, 30, tzinfo=clock.HELSINKI)
        rows.append(
            leg(
                trip_id=f"W-{n}",
                client_number=q,
                purpose="work",
                pickup_at=pickup.isoformat(),
                dropoff_at=(pickup + dt.timedelta(minutes=25)).isoformat(),
                fare_eur=_eur(_price(pickup_at=pickup)),
            )
        )
    with clock.pinned(IMPORTED):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="work.csv", content=trip_file(rows)
        )
    shares = [leg.self_share_cents for leg in done.legs.order_by("pickup_at") if leg.self_share_cents is not None]
    # 2026 cap 69,00 €: 23 trips × 3,00 = 69,00, then nothing.
    assert sum(shares) == 6900
    assert shares[:23] == [300] * 23 and all(s == 0 for s in shares[23:])
    legs = {leg.trip_id: leg for leg in done.legs.all()}
    assert legs["W-1"].purse_id == world["quota"].entitlement.work_line.purse_id


def test_import_trips__a_work_trip_refused_in_review_does_not_count_towards_the_cap(world):
    q = world["quota"].card.number

    def work(n: int, **values: str) -> dict[str, str]:
        pickup = dt.datetime(2026, 3, n + 1, 7, 30, tzinfo=clock.HELSINKI)
        return leg(
            trip_id=f"W-{n}",
            client_number=q,
            purpose="work",
            pickup_at=pickup.isoformat(),
            dropoff_at=(pickup + dt.timedelta(minutes=25)).isoformat(),
            fare_eur=values.pop("fare_eur", _eur(_price(pickup_at=pickup))),
            **values,
        )

    reviewer = make_user(Role.SOCIAL_WORKER)
    with clock.pinned(IMPORTED):
        first = trip_files.import_trips(
            actor=system_actor(organiser()),
            organiser=organiser(),
            filename="a.csv",
            content=trip_file([work(1, fare_eur="99.00")]),
        )
        (held,) = first.legs.all()
        assert (held.outcome, held.reasons, held.self_share_cents) == ("review", ["fare_mismatch"], 300)
        services.leg_resolve(actor=reviewer, leg_id=held.pk, resolution="reject", note="Not this client's trip.")
        done = trip_files.import_trips(
            actor=system_actor(organiser()),
            organiser=organiser(),
            filename="b.csv",
            content=trip_file([work(n) for n in range(2, 25)]),
        )
    shares = [leg.self_share_cents for leg in done.legs.order_by("pickup_at")]
    # 2026 cap 69,00 €: the refused trip's 3,00 is not counted, so all 23 trips of the second file cost 3,00.
    assert shares == [300] * 23


def test_import_trips__a_child_pays_the_reduced_self_share(world):
    with clock.pinned(BUILT):
        from kukkaro.core.identifiers import make_hetu

        child = rider(
            EntitlementModel.TRIP_QUOTA,
            area=world["quota"].entitlement.contract_area,
            worker=world["worker"],
            approver=make_user(Role.DECISION_MAKER),
            national_id=make_hetu(dt.date(2010, 5, 5), 951),
        )
    with clock.pinned(IMPORTED):
        done = trip_files.import_trips(
            actor=system_actor(organiser()),
            organiser=organiser(),
            filename="c.csv",
            content=trip_file([leg(trip_id="C-1", client_number=child.card.number)]),
        )
    assert done.legs.get().self_share_cents == 150


def test_import_trips__an_operator_suspended_before_the_pickup_is_held(world):
    with clock.pinned(dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC)):
        provider_set_state(
            actor=make_user(Role.DECISION_MAKER), provider=world["operator"], state=ProviderState.SUSPENDED, reason="x"
        )
    rows = [
        leg(
            trip_id="E-1",
            client_number=world["quota"].card.number,
            pickup_at="2026-03-02T10:00:00+02:00",
            dropoff_at="2026-03-02T10:20:00+02:00",
        ),
        leg(trip_id="E-2", client_number=world["quota"].card.number),
    ]
    with clock.pinned(IMPORTED):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="s.csv", content=trip_file(rows)
        )
    outcomes = {leg.trip_id: leg.outcome for leg in done.legs.all()}
    assert outcomes == {"E-1": "accepted", "E-2": "review"}


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00", b"operator_id,trip_id\n1,2\n"],
    ids=["empty", "not-utf8", "columns-missing"],
)
def test_import_trips__a_file_that_is_not_a_trip_file_is_refused_whole(world, content):
    with clock.pinned(IMPORTED), pytest.raises(ValidationError) as refused:
        trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="x.csv", content=content
        )
    assert "file" in refused.value.message_dict
    assert not TripImport.objects.exists() and not TripLeg.objects.exists()


def test_import__a_nul_character_rejects_its_row_and_the_rest_is_imported(world):
    """PostgreSQL cannot store NUL: the import used to fail whole there. Now the row is rejected for the column
    that has it, the same on both databases, and the other rows are judged as usual."""
    card = world["km"].card.number
    rows = [
        leg(trip_id="N\x00-1", client_number=card),
        leg(trip_id="N-2", client_number=card, distance_km="10\x00.0"),
        leg(trip_id="N-3", client_number=card, pickup_at="2026-03-04T10:00:00+02:00\x00"),
        leg(trip_id="N-4", client_number=card),
    ]
    with clock.pinned(dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)):
        done = trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="nul.csv", content=trip_file(rows)
        )
    outcomes = [(leg.row_number, leg.outcome, leg.reasons) for leg in done.legs.order_by("row_number")]
    assert outcomes == [
        (2, "rejected", ["trip_id_invalid"]),
        (3, "rejected", ["distance_invalid"]),
        (4, "rejected", ["pickup_at_invalid"]),
        (5, "accepted", []),
    ]


# --- a file that is not a trip file: one clear message, nothing stored (issue 16, item 8) ---------------------


def _refused(content: bytes) -> str:
    from django.utils import translation

    with clock.pinned(IMPORTED), translation.override("en"), pytest.raises(ValidationError) as refused:
        trip_files.import_trips(
            actor=system_actor(organiser()), organiser=organiser(), filename="x.csv", content=content
        )
    assert not TripImport.objects.exists() and not TripLeg.objects.exists()
    (message,) = refused.value.message_dict["file"]
    return message


def test_import__a_windows_1252_file_is_refused_naming_the_line_the_byte_and_what_it_looks_like(world):
    rows = [leg(trip_id="E-1"), leg(trip_id="E-2", supplements="avustaja")]
    content = trip_file(rows).replace(b"avustaja", "avustaja-ä".encode("cp1252"))
    message = _refused(content)
    offset = content.index(b"\xe4")
    assert f"line 3, byte {offset + 1} of the file (0xE4) is not UTF-8" in message
    assert "Windows-1252 or Latin-1" in message and "“ä”" in message


def test_import__a_utf16_file_is_refused_as_utf16(world):
    message = _refused(trip_file([leg()]).decode().encode("utf-16"))
    assert "line 1, byte 1 of the file (0xFF) is not UTF-8" in message and "UTF-16" in message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (";".join(trip_files.COLUMNS), "separated by semicolons (;), not commas"),
        ("\t".join(trip_files.COLUMNS), "separated by tabs, not commas"),
        (",".join(c.upper() if c in ("trip_id", "fare_eur") else c for c in trip_files.COLUMNS), "TRIP_ID → trip_id"),
        ("\u00ef\u00bb\u00bf" + ",".join(trip_files.COLUMNS), "byte-order mark that was saved as text"),
        (",".join((*trip_files.COLUMNS, "trip_id")), "names these columns twice: trip_id"),
        (
            ",".join(c.replace("distance_km", "distance") for c in trip_files.COLUMNS if c != "fare_eur"),
            "lacks the columns: distance_km, fare_eur. It has columns that are not in the contract: "
            "distance (perhaps distance_km).",
        ),
    ],
    ids=["semicolons", "tabs", "upper-case", "bom-as-text", "twice", "missing-and-unknown"],
)
def test_import__a_header_that_does_not_match_names_the_likely_cause(world, header, expected):
    values = ",".join(leg().values())
    message = _refused(f"{header}\r\n{values}\r\n".encode())
    assert expected in message, message
