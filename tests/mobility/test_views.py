"""The staff's transport pages: a trip file sent through the upload page, its results, the review queue and the
resolution of a leg, and a client's month of transport."""

import csv
import io
import itertools

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse, Transfer, TransferCode
from kukkaro.ledger.verification import ledger_verify
from kukkaro.mobility import trip_files
from kukkaro.mobility.models import TripImport, TripLeg
from tests.factories import make_user
from tests.mobility.test_trip_files import IMPORTED, _rows, world  # noqa: F401 - the fixture is used by name
from tests.mobility.trips import trip_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def _signed_in(client, role: Role, organiser_code: str = "lansi-uusimaa"):
    user = make_user(role, organiser_code=organiser_code)
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return user


def _upload(client, content: bytes, name: str = "march.csv"):
    with clock.pinned(IMPORTED):
        return client.post(
            reverse("mobility:trip_imports"), {"file": SimpleUploadedFile(name, content, content_type="text/csv")}
        )


@pytest.fixture
def imported(client, world):  # noqa: F811 - the fixture imported above
    _signed_in(client, Role.FINANCE)
    response = _upload(client, trip_file(_rows(world)))
    assert response.status_code == 302
    return TripImport.objects.get()


def test_upload_page__imports_the_file_and_shows_every_rows_result(client, world, imported, english):  # noqa: F811
    assert imported.imported_by.role == Role.FINANCE
    assert imported.counts == {"accepted": 4, "rejected": 7, "review": 7}
    page = client.get(reverse("mobility:trip_import_detail", kwargs={"import_id": imported.pk}))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Held for review (7)" in text and "Rejected (7)" in text
    assert "the drop-off is before the pickup" in text
    rejected = client.get(
        reverse("mobility:trip_import_detail", kwargs={"import_id": imported.pk}), {"outcome": "rejected"}
    )
    assert rejected.content.decode().count("<tr") == 1 + 7  # the header and the seven rejected rows
    listing = client.get(reverse("mobility:trip_imports")).content.decode()
    assert "march.csv" in listing


def test_upload_page__the_same_file_again_is_the_same_import(client, world, imported):  # noqa: F811
    response = _upload(client, trip_file(_rows(world)), name="again.csv")
    assert response.status_code == 302
    assert response["Location"] == reverse("mobility:trip_import_detail", kwargs={"import_id": imported.pk})
    assert TripImport.objects.count() == 1 and TripLeg.objects.count() == 18


def test_results_download__is_the_result_file_with_one_line_per_row(client, world, imported):  # noqa: F811
    response = client.get(reverse("mobility:trip_import_results", kwargs={"import_id": imported.pk}))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "march.results.csv" in response["Content-Disposition"]
    assert response.content == trip_files.results_csv(imported)
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(line["row"]) for line in lines] == list(range(2, 20))
    # Row 17 is row 3 sent again: it says so, and that it took nothing from the purse itself.
    again = lines[15]
    assert (again["row"], again["outcome"]) == ("17", "duplicate of row 3 of this file, already debited")
    assert (again["debit"], again["debit_unit"]) == ("", "")
    assert {line["outcome"] for line in lines if line is not again} == {"accepted", "rejected", "review"}


def test_import_page__a_duplicate_names_the_row_and_the_file_it_repeats(client, world, imported, english):  # noqa: F811
    url = reverse("mobility:trip_import_detail", kwargs={"import_id": imported.pk})
    text = client.get(url).content.decode()
    assert "duplicate of row 3 of this file, already debited" in text
    # The same legs in a later file: duplicates of rows of the first file, by its name and date.
    later = _upload(client, trip_file(_rows(world)[:2]), name="april.csv")
    assert later.status_code == 302
    second = TripImport.objects.get(filename="april.csv")
    text = client.get(reverse("mobility:trip_import_detail", kwargs={"import_id": second.pk})).content.decode()
    day = imported.started_at.astimezone(clock.HELSINKI)
    expected = f"duplicate of row 2 of the file march.csv imported on {day.day}.{day.month}.{day.year}, already debited"
    assert expected in text
    lines = list(csv.DictReader(io.StringIO(trip_files.results_csv(second).decode())))
    assert lines[0]["outcome"] == expected
    assert str(imported.pk) not in text


def test_upload_page__a_file_without_the_columns_is_refused_at_the_field_and_stores_nothing(
    client,
    world,  # noqa: F811
    english,
):
    _signed_in(client, Role.FINANCE)
    response = _upload(client, b"operator_id,trip_id\n2222222-9,T-1\n")
    assert response.status_code == 200
    assert "The header row lacks the columns" in response.content.decode()
    assert TripImport.objects.count() == 0 and TripLeg.objects.count() == 0


def test_upload_page__a_database_that_stays_busy_asks_to_send_the_file_again(
    client,
    world,  # noqa: F811
    english,
    monkeypatch,
):
    from kukkaro.core.db import LockConflict

    def busy(**_kwargs):
        raise LockConflict("trip import")

    _signed_in(client, Role.FINANCE)
    monkeypatch.setattr(trip_files, "import_trips", busy)
    response = _upload(client, trip_file(_rows(world)))
    assert response.status_code == 200
    assert "The database was busy and nothing was imported" in response.content.decode()
    assert TripImport.objects.count() == 0


def test_trip_files__another_organisers_import_is_not_found(client, world, imported):  # noqa: F811
    _signed_in(client, Role.FINANCE, organiser_code="paijat-hame")
    response = client.get(reverse("mobility:trip_import_detail", kwargs={"import_id": imported.pk}))
    assert response.status_code == 404
    assert "march.csv" not in client.get(reverse("mobility:trip_imports")).content.decode()


def _leg(trip_id: str) -> TripLeg:
    return TripLeg.objects.get(trip_id=trip_id, same_as__isnull=True, outcome="review")


def test_review_queue__lists_the_waiting_trips_filters_by_reason_and_logs_the_clients_shown(
    client,
    world,  # noqa: F811
    imported,
    english,
):
    worker = _signed_in(client, Role.SOCIAL_WORKER)
    page = client.get(reverse("mobility:review_queue")).content.decode()
    assert "7 trips waiting" in page
    assert "no client has this transport card" in page
    filtered = client.get(reverse("mobility:review_queue"), {"reason": "fare_mismatch"}).content.decode()
    assert "1 trip waiting" in filtered and "R-5" in filtered and "R-6" not in filtered
    reads = AuditEvent.objects.filter(actor_id=worker.pk, kind="read", action="trip.read", purpose="trips")
    assert reads.filter(data_subject_id=world["quota"].client.pk).exists()


def test_leg_resolve__accepting_a_fare_mismatch_debits_the_purse_once(client, world, imported, english):  # noqa: F811
    _signed_in(client, Role.SOCIAL_WORKER)
    leg = _leg("R-5")
    purse = Purse.objects.get(pk=world["quota"].entitlement.leisure_line.purse_id)
    used_before = purse.debits_posted
    url = reverse("mobility:leg_detail", kwargs={"leg_id": leg.pk})
    assert "the operator&#x27;s fare differs" in client.get(url).content.decode()
    response = client.post(url, {"resolution": "accept", "note": "The operator's meter was right; agreed by phone."})
    assert response.status_code == 302
    leg.refresh_from_db()
    purse.refresh_from_db()
    assert (leg.outcome, leg.resolved_outcome, leg.debit_unit, leg.debit_amount) == ("review", "accepted", "TRIP", 1)
    assert purse.debits_posted == used_before + 1
    assert Transfer.objects.filter(pk=leg.transfer_id, code=TransferCode.USAGE, amount=1).exists()
    again = client.post(url, {"resolution": "accept", "note": "again"}, follow=True)
    assert "already been resolved" in again.content.decode()
    purse.refresh_from_db()
    assert purse.debits_posted == used_before + 1
    assert AuditEvent.objects.filter(action="trips.leg_resolve", target_id=str(leg.pk)).count() == 1
    assert ledger_verify()[1] == []


def test_leg_resolve__an_unknown_client_can_only_be_refused_with_a_reason(client, world, imported, english):  # noqa: F811
    _signed_in(client, Role.FINANCE)
    leg = _leg("R-1")
    url = reverse("mobility:leg_detail", kwargs={"leg_id": leg.pk})
    page = client.get(url).content.decode()
    assert 'value="accept"' not in page and 'value="reject"' in page
    refused = client.post(url, {"resolution": "accept", "note": "try"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    no_reason = client.post(url, {"resolution": "reject", "note": ""})
    assert no_reason.status_code == 200
    leg.refresh_from_db()
    assert leg.resolved_outcome == ""
    transfers = Transfer.objects.count()
    client.post(url, {"resolution": "reject", "note": "No such card; the operator was told."})
    leg.refresh_from_db()
    assert leg.resolved_outcome == "rejected" and leg.resolution_note.startswith("No such card")
    assert Transfer.objects.count() == transfers


def test_leg_resolve__a_refused_trip_may_be_sent_again_under_its_own_id(client, world, imported, english):  # noqa: F811
    from tests.mobility.trips import leg as row

    _signed_in(client, Role.SOCIAL_WORKER)
    refused = _leg("R-5")  # the operator's fare was 5 € off
    url = reverse("mobility:leg_detail", kwargs={"leg_id": refused.pk})
    client.post(url, {"resolution": "reject", "note": "Wrong fare; the operator will send the trip again."})
    purse = Purse.objects.get(pk=world["quota"].entitlement.leisure_line.purse_id)
    used_before = purse.debits_posted
    corrected = row(trip_id="R-5", client_number=world["quota"].card.number, fare_eur="43.40")
    _signed_in(client, Role.FINANCE)
    assert _upload(client, trip_file([corrected]), name="corrected.csv").status_code == 302
    (resent,) = TripImport.objects.get(filename="corrected.csv").legs.all()
    assert (resent.outcome, resent.same_as_id, resent.debit_amount) == ("accepted", None, 1)
    refused.refresh_from_db()
    assert (refused.outcome, refused.resolved_outcome) == ("review", "rejected")
    # The corrected trip is now the leg of its identity: sent once more, it is the same leg and debits nothing.
    assert _upload(client, trip_file([corrected, row(trip_id="X-1")]), name="again.csv").status_code == 302
    again = TripImport.objects.get(filename="again.csv").legs.get(trip_id="R-5")
    assert (again.outcome, again.same_as_id) == ("accepted", resent.pk)
    purse.refresh_from_db()
    assert purse.debits_posted == used_before + 1
    assert ledger_verify()[1] == []


def test_leg_resolve__accepting_more_than_the_purse_holds_is_refused_and_changes_nothing(
    client,
    world,  # noqa: F811
    imported,
    english,
):
    _signed_in(client, Role.SOCIAL_WORKER)
    leg = _leg("R-6")  # 900 km from a 200 km purse
    url = reverse("mobility:leg_detail", kwargs={"leg_id": leg.pk})
    response = client.post(url, {"resolution": "accept", "note": "A long trip to hospital."})
    assert response.status_code == 200
    assert "does not have enough left" in response.content.decode()
    leg.refresh_from_db()
    assert leg.resolved_outcome == "" and leg.transfer_id is None


def test_leg_detail__another_organisers_leg_is_not_found(client, world, imported):  # noqa: F811
    _signed_in(client, Role.SOCIAL_WORKER, organiser_code="paijat-hame")
    response = client.get(reverse("mobility:leg_detail", kwargs={"leg_id": _leg("R-5").pk}))
    assert response.status_code == 404


def test_client_month__shows_trips_money_self_shares_and_what_is_left(client, world, imported, english):  # noqa: F811
    _signed_in(client, Role.SOCIAL_WORKER)
    quota = world["quota"].client
    url = reverse("mobility:client_month", kwargs={"client_id": quota.pk})
    with clock.pinned(IMPORTED):
        page = client.get(url, {"month": "2026-03"}).content.decode()
    # The quota client's March: G-1 accepted (43,40 €, self-share 3,00 €); held for review.
    assert "Transport of" in page and "March 2026" in page
    assert "€43.40" in page and "€3.00" in page and "€40.40" in page
    assert "3 trips of this month are still held for review" in page
    assert "53 trips" in page  # January to March released at approval (3 × 18), one used
    # Trips by pickup date and the ledger's debits by posting date, each under its own label.
    assert "Trips picked up this month" in page and "Taken from the purse this month" in page
    assert AuditEvent.objects.filter(data_subject_id=quota.pk, purpose="trips", kind="read").exists()
    bad = client.get(url, {"month": "March"})
    assert bad.status_code == 200 and "for example 2026-03" in bad.content.decode()


def test_client_month__another_organisers_worker_gets_not_found(client, world, imported):  # noqa: F811
    _signed_in(client, Role.SOCIAL_WORKER, organiser_code="paijat-hame")
    url = reverse("mobility:client_month", kwargs={"client_id": world["quota"].client.pk})
    assert client.get(url).status_code == 404


LATER = IMPORTED.replace(month=4, day=10)


def test_client_comparison__compares_the_models_by_the_clients_own_trips(client, world, imported, english):  # noqa: F811
    _signed_in(client, Role.SOCIAL_WORKER)
    url = reverse("mobility:client_comparison", kwargs={"client_id": world["quota"].client.pk})
    with clock.pinned(LATER):
        page = client.get(url).content.decode()
    # One trip in March (40,40 € to the county) over 12 months: the quota is cheapest and the client's model now.
    assert "Recommendation" in page and "This is the model the client has now." in page
    for name in ("Trip quota (now) (recommended)", "Euro purse", "Kilometre purse", "Leasing car"):
        assert name in page
    assert "€3.37" in page  # 40,40 € / 12 months, rounded half up
    assert "<script" not in page.split("<footer")[0].split('class="chart-image"')[1]
    assert AuditEvent.objects.filter(data_subject_id=world["quota"].client.pk, purpose="trips").exists()


def test_client_comparison__by_a_pattern_the_worker_enters(client, world, imported, english):  # noqa: F811
    _signed_in(client, Role.SOCIAL_WORKER)
    url = reverse("mobility:client_comparison", kwargs={"client_id": world["km"].client.pk})
    with clock.pinned(LATER):
        page = client.get(
            url, {"trips_per_month": "44", "work_trips_per_month": "40", "km_per_trip": "15", "can_drive": "yes"}
        ).content.decode()
        half = client.get(url, {"trips_per_month": "44"}).content.decode()
    assert "Compared by the pattern you entered" in page
    assert "Leasing car (recommended)" in page
    assert "give both the trips a month and the kilometres" in half


def test_cohort_comparison__ranks_clients_and_exports_csv(client, world, imported, english):  # noqa: F811
    decision_maker = _signed_in(client, Role.DECISION_MAKER)
    with clock.pinned(LATER):
        page = client.get(reverse("mobility:cohort_comparison")).content.decode()
        export = client.get(reverse("mobility:cohort_comparison_csv"), {"months": "12"})
    assert "Clients compared" in page and world["quota"].client.full_name in page
    lines = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {line["client_id"] for line in lines} >= {str(world["quota"].client.pk), str(world["km"].client.pk)}
    assert [int(line["rank"]) for line in lines] == list(range(1, len(lines) + 1))
    assert all(int(a["saving_cents"]) >= int(b["saving_cents"]) for a, b in itertools.pairwise(lines))
    assert AuditEvent.objects.filter(actor_id=decision_maker.pk, action="transport.comparison_export").count() == 1
    _signed_in(client, Role.SOCIAL_WORKER)
    assert client.get(reverse("mobility:cohort_comparison")).status_code == 403
