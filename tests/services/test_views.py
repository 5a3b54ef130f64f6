"""Staff and provider pages of choice and spending: who may do what, what each page shows, and that bad input
comes back as an error at the field instead of being lost. The rules themselves are tested with the services."""

import csv
import datetime as dt
import html
import io

import pytest
from django.urls import reverse

from kukkaro.core import clock
from kukkaro.core.models import AuditEvent, Municipality
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Purse
from kukkaro.services import agreements, catalogue, claims, payments, providers
from kukkaro.services.models import (
    BankAccountChange,
    Claim,
    ClaimStatus,
    PaymentBatch,
    PaymentBatchState,
    PriceCap,
    Provider,
    ProviderState,
    ServiceAgreement,
    SpendingPolicy,
)
from kukkaro.services.payment_files import validate_pain001
from tests.factories import make_user, organiser
from tests.services.world import BUSINESS_IDS, IBANS, add_activity, approved_provider, build_world
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db

MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

#: The worlds built once on MARCH and shared by the tests that start from them (tests/worlds.py).
world = shared_world("world", build_world, at=MARCH)


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(MARCH):
        yield


@pytest.fixture(autouse=True)
def _in_english(client, settings):
    """The pages answer in English here, so the assertions can read the messages (Finnish is the default)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def _other_organiser_provider() -> Provider:
    decision_maker = make_user(Role.DECISION_MAKER, organiser_code="paijat-hame")
    provider, _user = approved_provider(
        organiser=organiser("paijat-hame"),
        decision_maker=decision_maker,
        business_id=BUSINESS_IDS[3],
        name="Lahden Palvelu Oy",
        municipality_codes=("398",),
    )
    return provider


# --- providers -----------------------------------------------------------------------------------------------


def test_provider_list__shows_own_organisers_providers_only(client, world):
    other = _other_organiser_provider()
    client.force_login(world.finance)
    response = client.get(reverse("services:provider_list"))
    assert response.status_code == 200
    assert world.provider.name in response.text
    assert other.name not in response.text
    detail = client.get(reverse("services:provider_detail", kwargs={"provider_id": other.pk}))
    assert detail.status_code == 404


def test_provider_list__filters_by_state_and_name(client, world):
    client.force_login(world.worker)
    assert world.provider.name in client.get(reverse("services:provider_list"), {"state": "approved"}).text
    assert world.provider.name not in client.get(reverse("services:provider_list"), {"state": "applied"}).text
    assert world.provider.name not in client.get(reverse("services:provider_list"), {"q": "Olematon"}).text


def test_provider_state__decision_maker_suspends_with_a_reason_and_the_history_shows_it(client, world):
    client.force_login(world.decision_maker)
    url = reverse("services:provider_state", kwargs={"provider_id": world.provider.pk})
    refused = client.post(url, {"state": ProviderState.SUSPENDED, "reason": ""}, follow=True)
    assert Provider.objects.get(pk=world.provider.pk).state == ProviderState.APPROVED
    assert "Give the reason." in refused.text
    client.post(url, {"state": ProviderState.SUSPENDED, "reason": "Valvira's inspection"})
    assert Provider.objects.get(pk=world.provider.pk).state == ProviderState.SUSPENDED
    page = client.get(reverse("services:provider_detail", kwargs={"provider_id": world.provider.pk}))
    assert "Valvira&#x27;s inspection" in page.text


def test_provider_state__social_worker_may_not(client, world):
    client.force_login(world.worker)
    url = reverse("services:provider_state", kwargs={"provider_id": world.provider.pk})
    assert client.post(url, {"state": ProviderState.SUSPENDED, "reason": "x"}).status_code == 403
    assert Provider.objects.get(pk=world.provider.pk).state == ProviderState.APPROVED


def test_bank_change__the_person_who_asked_cannot_approve_but_a_second_person_can(client, world):
    change = providers.bank_account_change_request(
        actor=world.finance, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    url = reverse("services:bank_change_decide", kwargs={"change_id": change.pk})
    client.force_login(world.finance)
    listing = client.get(reverse("services:bank_change_list"))
    assert IBANS[1][0] in listing.text
    answer = client.post(url, {"approve": "1"}, follow=True)
    assert "cannot approve it" in answer.text
    assert Provider.objects.get(pk=world.provider.pk).iban == IBANS[0][0]
    client.force_login(world.finance2)
    client.post(url, {"approve": "1"})
    assert Provider.objects.get(pk=world.provider.pk).iban == IBANS[1][0]
    assert BankAccountChange.objects.get(pk=change.pk).state == "approved"


def test_bank_change__rejecting_without_a_reason__is_an_error_at_the_field_and_the_page_keeps_the_history(
    client, world
):
    change = providers.bank_account_change_request(
        actor=world.provider_user, provider=world.provider, iban=IBANS[1][0], bic=IBANS[1][1]
    )
    detail = reverse("services:bank_change_detail", kwargs={"change_id": change.pk})
    decide = reverse("services:bank_change_decide", kwargs={"change_id": change.pk})
    client.force_login(world.finance)
    assert detail in client.get(reverse("services:bank_change_list")).text
    page = client.get(detail)
    assert page.status_code == 200 and "Why is the change rejected?" in page.text
    refused = client.post(decide, {"approve": "0", "reason": " "})
    assert refused.status_code == 200 and "id_reason-error" in refused.text
    assert BankAccountChange.objects.get(pk=change.pk).state == "pending"
    client.post(decide, {"approve": "0", "reason": "Tili ei ole yrityksen nimissä"})
    history = client.get(detail).text
    assert "rejected" in history and "Tili ei ole yrityksen nimissä" in history
    assert world.provider_user.get_full_name() in history and world.finance.get_full_name() in history
    assert "Approve the new account" not in history  # decided: no more buttons
    # The provider is told why.
    client.force_login(world.provider_user)
    assert "Tili ei ole yrityksen nimissä" in client.get(reverse("provider:home")).text


def test_bank_change__of_another_organiser__is_not_found(client, world):
    other = _other_organiser_provider()
    ph_finance = make_user(Role.FINANCE, organiser_code="paijat-hame")
    change = providers.bank_account_change_request(actor=ph_finance, provider=other, iban=IBANS[1][0], bic=IBANS[1][1])
    client.force_login(world.finance)
    response = client.post(reverse("services:bank_change_decide", kwargs={"change_id": change.pk}), {"approve": "1"})
    assert response.status_code == 404
    assert BankAccountChange.objects.get(pk=change.pk).state == "pending"


# --- catalogue -------------------------------------------------------------------------------------------------


def test_cap_new__saves_a_version_and_refuses_a_bad_amount_at_the_field(client, world):
    client.force_login(world.finance)
    url = reverse("services:cap_new")
    bad = client.post(url, {"service_type": world.day_activity.pk, "cap": "sata", "valid_from": "2026-04-01"})
    assert bad.status_code == 200
    assert 'aria-invalid="true"' in bad.text and "id_cap-error" in bad.text
    client.post(url, {"service_type": world.day_activity.pk, "cap": "105,50", "valid_from": "2026-04-01"})
    cap = PriceCap.objects.get(
        organiser=world.client.organiser, service_type=world.day_activity, valid_from="2026-04-01"
    )
    assert cap.cap_cents == 10_550
    catalogue = client.get(reverse("services:catalogue"))
    assert "€105.50" in catalogue.text


def test_catalogue__provider_user_sees_its_organisers_caps_but_may_not_change_them(client, world):
    client.force_login(world.provider_user)
    page = client.get(reverse("services:catalogue"))
    assert page.status_code == 200 and "€100.00" in page.text
    assert client.get(reverse("services:cap_new")).status_code == 403


# --- the client's choice -----------------------------------------------------------------------------------------


def test_choice__compares_providers_with_the_clients_own_share_and_records_the_choice(client, world):
    dear, _user = approved_provider(
        organiser=world.client.organiser,
        decision_maker=world.decision_maker,
        business_id=BUSINESS_IDS[1],
        name="Kallis Päivä Oy",
        username="kallis",
    )
    catalogue.provider_price_set(
        actor=_user, provider=dear, service_type=world.day_activity, price_cents=12_500, valid_from=clock.today()
    )
    client.force_login(world.worker)
    url = reverse("services:choice", kwargs={"line_id": world.line.pk})
    page = client.get(url)
    assert page.status_code == 200
    text = page.text
    assert "Kallis Päivä Oy" in text and world.provider.name in text
    assert text.index(world.provider.name) < text.index("Kallis Päivä Oy")  # no own share first
    assert "€25.00" in text  # 125.00 − cap 100.00
    missing = client.post(url, {"quantity": "4", "valid_from": "2026-03-02", "valid_until": "2026-12-31"})
    assert "Choose one of the providers" in missing.text
    client.post(
        url,
        {
            "choice": f"{dear.pk}|{world.day_activity.pk}",
            "quantity": "4.5",
            "valid_from": "2026-03-02",
            "valid_until": str(world.line.valid_until),
        },
    )
    agreement = ServiceAgreement.objects.get(provider=dear)
    assert (agreement.quantity_hundredths, agreement.own_share_cents) == (450, 2_500)
    services_page = client.get(reverse("services:client_services", kwargs={"client_id": world.client.pk}))
    assert agreement.number in services_page.text


def test_choice__budget_line_of_another_organiser__is_not_found(client, world):
    client.force_login(make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame"))
    assert client.get(reverse("services:choice", kwargs={"line_id": world.line.pk})).status_code == 404


def test_choice__is_logged_as_a_read_of_the_client(client, world):
    client.force_login(world.worker)
    client.get(reverse("services:choice", kwargs={"line_id": world.line.pk}))
    assert AuditEvent.objects.filter(
        data_subject_id=world.client.pk, kind="read", actor_id=world.worker.pk, purpose="casework"
    ).exists()


def test_agreement_end__ends_it_and_a_later_claim_is_rejected(client, world):
    client.force_login(world.worker)
    url = reverse("services:agreement_end", kwargs={"agreement_id": world.agreement.pk})
    blank = client.post(url, {"last_day": "2026-03-10", "reason": ""})
    assert blank.status_code == 200 and "id_reason-error" in blank.text
    client.post(url, {"last_day": "2026-03-10", "reason": "Asiakas vaihtoi palveluntuottajaa"})
    agreement = ServiceAgreement.objects.get(pk=world.agreement.pk)
    assert (agreement.state, agreement.valid_until) == ("ended", dt.date(2026, 3, 10))
    with clock.pinned(dt.datetime(2026, 3, 20, 9, tzinfo=dt.UTC)):
        claim, _created = claims.claim_submit(
            actor=world.provider_user,
            provider=world.provider,
            agreement_number=agreement.number,
            service_code="day-activity",
            service_date=dt.date(2026, 3, 11),
            quantity_hundredths=100,
            unit_price_cents=9_000,
            invoice_number="AFTER-END",
        )
    assert claim.status == ClaimStatus.REJECTED and "agreement_not_active" in claim.reasons


# --- claims ----------------------------------------------------------------------------------------------------


def test_claim_queue__shows_each_state_and_logs_the_clients_it_shows(client, world):
    activity = add_activity(world)
    client.force_login(world.worker)
    disputed = client.get(reverse("services:claim_queue"), {"status": "disputed"})
    assert activity.disputed.invoice_number in disputed.text
    assert activity.waiting.invoice_number not in disputed.text
    waiting = client.get(reverse("services:claim_queue"), {"status": "waiting"})
    assert activity.waiting.invoice_number in waiting.text
    assert client.get(reverse("services:claim_queue"), {"status": "paid"}).status_code == 404
    assert AuditEvent.objects.filter(
        data_subject_id=world.client.pk, action="claim.read", purpose="claims", actor_id=world.worker.pk
    ).exists()


def test_claim_resolve__upholding_the_dispute_rejects_the_claim_and_frees_the_money(client, world):
    activity = add_activity(world)
    before = Purse.objects.get(pk=world.purse.pk).available_now
    client.force_login(world.worker)
    url = reverse("services:claim_resolve", kwargs={"claim_id": activity.disputed.pk})
    client.post(url, {"approve": "0", "reason": "Palvelua ei annettu"})
    claim = Claim.objects.get(pk=activity.disputed.pk)
    assert claim.status == ClaimStatus.REJECTED and "dispute_upheld" in claim.reasons
    assert Purse.objects.get(pk=world.purse.pk).available_now == before + claim.amount_cents


def test_claim_detail__of_another_organiser__is_not_found(client, world):
    activity = add_activity(world)
    client.force_login(make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame"))
    response = client.get(reverse("services:claim_detail", kwargs={"claim_id": activity.disputed.pk}))
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(data_subject_id=world.client.pk, action="claim.read").exists()


# --- payments --------------------------------------------------------------------------------------------------


def _submit(world, invoice, quantity=200):
    claim, _created = claims.claim_submit(
        actor=world.provider_user,
        provider=world.provider,
        agreement_number=world.agreement.number,
        service_code="day-activity",
        service_date=clock.today(),
        quantity_hundredths=quantity,
        unit_price_cents=9_000,
        invoice_number=invoice,
    )
    return claim


def _text(response) -> str:
    """The page's text as people read it (entities such as &#x27; unescaped)."""
    return html.unescape(response.content.decode())


def _upload(client, url, document, name="status.xml"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(url, {"file": SimpleUploadedFile(name, document, content_type="application/xml")})


def test_payment_batch__prepared_released_by_a_second_person_and_answered_by_the_bank_through_the_pages(client, world):
    from kukkaro.demo.bank import status_report

    claim = _submit(world, "P-1")
    client.force_login(world.finance)
    listing = client.get(reverse("services:payment_batch_list"))
    assert "€180.00" in listing.text  # the approved claim waits for payment
    past = client.post(
        reverse("services:payment_batch_list"), {"approved_until": "2026-03-02", "execution_date": "2026-03-01"}
    )
    assert past.status_code == 200 and "id_execution_date-error" in past.text
    made = client.post(
        reverse("services:payment_batch_list"), {"approved_until": "2026-03-02", "execution_date": "2026-03-05"}
    )
    batch = PaymentBatch.objects.get()
    detail = reverse("services:payment_batch_detail", kwargs={"batch_id": batch.pk})
    assert made.status_code == 302 and made["Location"] == detail
    xml_url = reverse("services:payment_batch_pain001", kwargs={"batch_id": batch.pk})
    csv_url = reverse("services:payment_batch_csv", kwargs={"batch_id": batch.pk})
    # Prepared: nothing can be downloaded, nothing says it went to the bank, and its preparer cannot release it.
    page = _text(client.get(detail))
    assert "has not been released" in page and "bank's answer" not in page and xml_url not in page
    assert "You prepared this batch" in page
    assert client.get(xml_url).status_code == 404 and client.get(csv_url).status_code == 404
    client.post(reverse("services:payment_batch_release", kwargs={"batch_id": batch.pk}))
    assert PaymentBatch.objects.get().state == PaymentBatchState.PREPARED

    client.force_login(world.finance2)
    assert "Release the batch" in _text(client.get(detail))
    client.post(reverse("services:payment_batch_release", kwargs={"batch_id": batch.pk}))
    batch.refresh_from_db()
    assert (batch.state, batch.released_by) == (PaymentBatchState.RELEASED, world.finance2)
    xml = client.get(xml_url)
    validate_pain001(xml.content)
    assert xml["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(client.get(csv_url).content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][4] == "P-1" and rows[1][10] == "180,00"
    assert "waiting for the bank's answer" in _text(client.get(detail))

    line = batch.lines.get()
    document = status_report(
        xml.content,
        message_id="BANK-1",
        created_at=MARCH + dt.timedelta(days=3),
        rejected={line.end_to_end_id: ("AC04", "Account closed")},
    )
    imported = _upload(client, reverse("services:payment_batch_status_import", kwargs={"batch_id": batch.pk}), document)
    assert imported.status_code == 302
    page = _text(client.get(detail))
    assert "rejected by the bank: the account is closed (AC04)" in page and "Account closed" in page
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.APPROVED
    assert PaymentBatch.objects.get().state == PaymentBatchState.CONFIRMED
    # The same file again: nothing changes, and the page says so.
    again = _upload(client, reverse("services:payment_status_import"), document)
    assert again.status_code == 302 and "imported already" in _text(client.get(again["Location"]))
    # The claim's page shows what happened to its payment.
    client.force_login(world.worker)
    claim_page = _text(client.get(reverse("services:claim_detail", kwargs={"claim_id": claim.pk})))
    assert batch.number in claim_page and "the account is closed (AC04)" in claim_page


def test_payment_batch__a_provider_stored_with_a_control_character__is_listed_as_left_out_not_a_500(client, world):
    _submit(world, "VT-1")
    Provider.objects.filter(pk=world.provider.pk).update(name="Päivä\x0bpaikka Oy")
    client.force_login(world.finance)
    answer = client.post(
        reverse("services:payment_batch_list"), {"approved_until": "2026-03-02", "execution_date": "2026-03-05"}
    )
    assert answer.status_code == 200 and "id_approved_until-error" in answer.text
    assert "control character" in answer.text
    assert not PaymentBatch.objects.exists()
    # With another provider to pay, the batch is made and its page says who was left out and why.
    other, other_user = approved_provider(
        organiser=world.client.organiser,
        decision_maker=world.decision_maker,
        business_id=BUSINESS_IDS[1],
        name="Toinen Päivä Oy",
        username="toinen-paiva-page",
    )
    catalogue.provider_price_set(
        actor=other_user, provider=other, service_type=world.day_activity, price_cents=9_000, valid_from=clock.today()
    )
    agreement = agreements.agreement_create(
        actor=world.worker,
        line=world.line,
        provider=other,
        service_type=world.day_activity,
        quantity_hundredths=400,
        valid_from=clock.today(),
        valid_until=world.line.valid_until,
        endorsed=True,
    )
    claims.claim_submit(
        actor=other_user,
        provider=other,
        agreement_number=agreement.number,
        service_code="day-activity",
        service_date=clock.today(),
        quantity_hundredths=100,
        unit_price_cents=9_000,
        invoice_number="OK-1",
    )
    made = client.post(
        reverse("services:payment_batch_list"), {"approved_until": "2026-03-02", "execution_date": "2026-03-05"}
    )
    assert made.status_code == 302
    page = _text(client.get(made["Location"]))
    assert "Left out of this batch" in page and "Päivä\ufffdpaikka Oy" in page and "control character" in page
    assert "\x0b" not in page


def test_payment_batch__cancel_and_confirm_without_a_reason__are_errors_at_the_field(client, world):
    _submit(world, "P-1")
    batch = payments.payment_batch_prepare(
        actor=world.finance,
        organiser=world.client.organiser,
        approved_until=clock.today(),
        execution_date=clock.today(),
    )
    client.force_login(world.finance)
    cancel = reverse("services:payment_batch_cancel", kwargs={"batch_id": batch.pk})
    refused = client.post(cancel, {"reason": ""})
    assert refused.status_code == 200 and "id_reason-error" in refused.text
    assert PaymentBatch.objects.get().state == PaymentBatchState.PREPARED
    payments.payment_batch_release(actor=world.finance2, batch=batch)
    confirm = reverse("services:payment_batch_confirm", kwargs={"batch_id": batch.pk})
    assert (
        "Confirm by hand"
        not in client.get(reverse("services:payment_batch_detail", kwargs={"batch_id": batch.pk})).text
    )
    client.force_login(world.finance2)
    refused = client.post(confirm, {"reason": ""})
    assert refused.status_code == 200 and "id_reason-error" in refused.text
    client.post(confirm, {"reason": "Verkkopankissa maksetut 5.3."})
    assert PaymentBatch.objects.get().state == PaymentBatchState.CONFIRMED
    assert Claim.objects.get(invoice_number="P-1").status == ClaimStatus.PAID


def test_payment_status_import__a_file_it_cannot_read__is_an_error_and_changes_nothing(client, world):
    activity = add_activity(world)
    client.force_login(world.finance2)
    answer = _upload(client, reverse("services:payment_status_import"), b"<Document>not a report")
    assert answer.status_code == 302
    assert "not readable XML" in client.get(answer["Location"]).text
    assert not activity.batch.status_reports.exists()


def test_payment_batch__other_organisers_batch__is_not_found_and_social_worker_is_refused(client, world):
    activity = add_activity(world)
    client.force_login(make_user(Role.FINANCE, organiser_code="paijat-hame"))
    url = reverse("services:payment_batch_pain001", kwargs={"batch_id": activity.batch.pk})
    assert client.get(url).status_code == 404
    client.force_login(world.worker)
    assert client.get(reverse("services:payment_batch_list")).status_code == 403


def test_spending_policy__saves_and_refuses_an_invalid_iban_at_the_field(client, world):
    client.force_login(world.finance)
    url = reverse("services:spending_policy")
    data = {
        "approval_threshold": "300,00",
        "dispute_window_days": "10",
        "payment_day": "20",
        "debtor_name": "Länsi-Uudenmaan hyvinvointialue",
        "debtor_iban": "FI00 1234",
        "debtor_bic": "ITELFIHH",
    }
    bad = client.post(url, data)
    assert bad.status_code == 200 and "id_debtor_iban-error" in bad.text
    client.post(url, {**data, "debtor_iban": IBANS[1][0]})
    policy = SpendingPolicy.objects.get(organiser=world.client.organiser)
    assert (policy.approval_threshold_cents, policy.dispute_window_days, policy.payment_day) == (30_000, 10, 20)


# --- provider pages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["provider:home", "provider:edit", "provider:prices", "provider:agreements", "provider:claims"]
)
def test_provider_pages__user_without_a_provider__is_shown_how_to_apply(client, name):
    client.force_login(make_user(Role.PROVIDER, organiser_code=None))
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert reverse("provider:apply") in response.text


def test_provider_apply__through_the_form_and_errors_at_the_fields(client):
    user = make_user(Role.PROVIDER, organiser_code=None)
    client.force_login(user)
    data = {
        "organiser": organiser().pk,
        "name": "Uusi Apu Oy",
        "business_id": "1234567-2",  # wrong check digit
        "soteri_number": "S-1",
        "contact_name": "Anna",
        "email": "anna@example.fi",
        "phone": "0401234567",
        "municipalities": ["049", "235"],
        "languages": ["fi"],
        "iban": IBANS[0][0],
        "bic": IBANS[0][1],
        "accept_rulebook": "on",
    }
    bad = client.post(reverse("provider:apply"), data)
    assert bad.status_code == 200 and "id_business_id-error" in bad.text
    assert not Provider.objects.exists()
    client.post(reverse("provider:apply"), {**data, "business_id": BUSINESS_IDS[2]})
    provider = Provider.objects.get(business_id=BUSINESS_IDS[2])
    assert provider.state == ProviderState.APPLIED
    assert set(provider.municipalities.values_list("code", flat=True)) == {"049", "235"}
    assert provider.users.get().user == user


def test_provider_claim_new__by_form_and_the_same_invoice_again_shows_the_first(client, world):
    client.force_login(world.provider_user)
    data = {
        "agreement": world.agreement.number,
        "service_date": "2026-03-02",
        "quantity": "1",
        "unit_price": "90,00",
        "invoice_number": "FORM-1",
    }
    first = client.post(reverse("provider:claim_new"), data)
    claim = Claim.objects.get(invoice_number="FORM-1")
    assert first.status_code == 302 and first["Location"].endswith(f"/claims/{claim.pk}/")
    again = client.post(reverse("provider:claim_new"), data, follow=True)
    assert "claimed before" in again.text
    assert Claim.objects.filter(invoice_number="FORM-1").count() == 1


def test_provider_upload__results_page_and_csv_give_one_result_per_row(client, world):
    client.force_login(world.provider_user)
    content = (
        "agreement;service;service_date;quantity;unit_price;invoice_number\n"
        f"{world.agreement.number};day-activity;2026-03-02;1;90,00;U-1\n"
        f"{world.agreement.number};day-activity;2.3.2026;1;95,00;U-2\n"
        f"{world.agreement.number};day-activity;eilen;1;90,00;U-3\n"
    ).encode()
    upload_file = io.BytesIO(content)
    upload_file.name = "claims.csv"
    response = client.post(reverse("provider:uploads"), {"file": upload_file}, follow=True)
    assert response.status_code == 200
    assert "service_date: Give the date" in response.text
    upload = world.provider.uploads.get()
    result = client.get(reverse("provider:upload_results_csv", kwargs={"upload_id": upload.pk}))
    rows = list(csv.reader(io.StringIO(result.content.decode("utf-8-sig")), delimiter=";"))
    assert [r[0] for r in rows[1:]] == ["2", "3", "4"]
    assert [r[1] for r in rows[1:]] == ["approved", "rejected", "invalid"]
    assert rows[2][6] == "price_above_agreement" and rows[3][5] == "service_date"


def test_provider_upload__unreadable_file__is_an_error_at_the_field_and_stores_nothing(client, world):
    client.force_login(world.provider_user)
    upload_file = io.BytesIO(b"just;some;text\n1;2;3\n")
    upload_file.name = "bad.csv"
    response = client.post(reverse("provider:uploads"), {"file": upload_file})
    assert response.status_code == 200 and "id_file-error" in response.text
    assert not world.provider.uploads.exists()


def test_provider_pages__another_providers_claim_and_upload__are_not_found(client, world):
    activity = add_activity(world)
    _other, other_user = approved_provider(
        organiser=world.client.organiser,
        decision_maker=world.decision_maker,
        business_id=BUSINESS_IDS[4],
        name="Toinen Oy",
        username="toinen",
    )
    client.force_login(other_user)
    assert client.get(reverse("provider:claim_detail", kwargs={"claim_id": activity.approved.pk})).status_code == 404
    assert client.get(reverse("provider:upload_detail", kwargs={"upload_id": activity.upload.pk})).status_code == 404
    url = reverse("provider:upload_results_csv", kwargs={"upload_id": activity.upload.pk})
    assert client.get(url).status_code == 404
    agreements = client.get(reverse("provider:agreements"))
    assert world.agreement.number not in agreements.text
    assert not AuditEvent.objects.filter(actor_id=other_user.pk, data_subject_id=world.client.pk).exists()


def test_provider_agreements__show_the_clients_name_and_log_the_read(client, world):
    client.force_login(world.provider_user)
    page = client.get(reverse("provider:agreements"))
    assert world.agreement.number in page.text and world.client.full_name in page.text
    assert world.client.national_id not in page.text
    assert AuditEvent.objects.filter(
        actor_id=world.provider_user.pk, data_subject_id=world.client.pk, action="agreement.read", purpose="claims"
    ).exists()


def test_provider_update__changes_public_data_and_prices_by_form(client, world):
    client.force_login(world.provider_user)
    client.post(
        reverse("provider:edit"),
        {
            "contact_name": "Uusi Yhteyshenkilö",
            "email": "uusi@example.fi",
            "phone": "0407654321",
            "municipalities": ["049", "257"],
            "languages": ["fi", "sv", "en"],
            "accessibility": ["step_free", "hearing_loop"],
        },
    )
    provider = Provider.objects.get(pk=world.provider.pk)
    assert provider.contact_name == "Uusi Yhteyshenkilö" and provider.languages == ["en", "fi", "sv"]
    assert set(provider.municipalities.values_list("code", flat=True)) == {"049", "257"}
    assert Municipality.objects.filter(code="257").exists()
    client.post(
        reverse("provider:prices"),
        {"service_type": world.day_activity.pk, "price": "92,00", "valid_from": "2026-04-01"},
    )
    assert (
        catalogue.price_on(provider=provider, service_type=world.day_activity, day=dt.date(2026, 4, 2)).price_cents
        == 9_200
    )


def test_service_type__added_and_renamed_through_the_catalogue_pages(client, world):
    client.force_login(world.finance)
    new = reverse("services:service_type_new")
    page = client.get(new)
    assert 'value="day-activity"' in page.text  # the rate table's categories to choose from
    data = {
        "code": "respite",
        "name_fi": "Lyhytaikainen hoito",
        "name_sv": "Korttidsvård",
        "name_en": "Respite care",
        "unit": "day",
        "category_code": "day-activity",
    }
    client.post(new, {**data, "name_sv": ""})
    assert not world.day_activity.__class__.objects.filter(code="respite").exists()
    client.post(new, data)
    edit = reverse("services:service_type_edit", kwargs={"service_code": "respite"})
    assert edit in client.get(reverse("services:catalogue")).text
    client.post(edit, {**data, "name_en": "Short-term care"})
    respite = world.day_activity.__class__.objects.get(code="respite")
    assert (respite.name_en, respite.unit, respite.category_code) == ("Short-term care", "day", "day-activity")
    client.force_login(world.worker)
    assert client.get(new).status_code == 403


# --- each county its own catalogue -------------------------------------------------------------------------------

HOME_HELP = {
    "code": "home-help",
    "name_fi": "Kotiin annettava apu",
    "name_sv": "Hjälp i hemmet",
    "name_en": "Help at home",
    "unit": "visit",
    "category_code": "personal-assistance",
}
RENAMED = {**HOME_HELP, "name_fi": "Kotipalvelu", "name_sv": "Hemtjänst", "name_en": "Home care"}
COUNTIES = {"lansi-uusimaa": ("049", BUSINESS_IDS[0]), "paijat-hame": ("398", BUSINESS_IDS[3])}


def _county(code: str, client) -> dict:
    """A county with a rate table, a finance person, an administrator and an approved provider with an API token,
    which adds home-help to its catalogue through the pages and sets a cap for it."""
    from kukkaro.cases.models import RateTable
    from kukkaro.people import services as people_services
    from tests.cases.factories import rate_table

    if not RateTable.objects.filter(organiser__code=code).exists():
        rate_table(code, valid_from=dt.date(2020, 1, 1))
    municipality_code, business_id = COUNTIES[code]
    finance = make_user(Role.FINANCE, organiser_code=code)
    _provider, provider_user = approved_provider(
        organiser=organiser(code),
        decision_maker=make_user(Role.DECISION_MAKER, organiser_code=code),
        business_id=business_id,
        name=f"Kotiapu {code} Oy",
        municipality_codes=(municipality_code,),
    )
    client.force_login(finance)
    assert client.post(reverse("services:service_type_new"), HOME_HELP).status_code == 302
    home_help = client.get(reverse("services:cap_new")).context["form"].fields["service_type"].queryset.get()
    client.post(reverse("services:cap_new"), {"service_type": home_help.pk, "cap": "46,00", "valid_from": "2026-03-01"})
    _row, token = people_services.api_token_create(actor=None, user=provider_user, name="test")
    return {
        "finance": finance,
        "admin": make_user(Role.ADMIN, organiser_code=code),
        "provider_user": provider_user,
        "token": {"Authorization": f"Bearer {token}", "Accept-Language": "en"},
        "home_help": home_help,
    }


def _names_seen(client, county: dict) -> dict:
    """home-help's names as the county's staff page and its provider's API show them."""
    client.force_login(county["finance"])
    page = client.get(reverse("services:catalogue")).text
    client.force_login(county["provider_user"])
    provider_page = client.get(reverse("services:catalogue")).text
    api = client.get("/api/v1/provider/catalogue", headers=county["token"]).json()
    row = next(r for r in api if r["code"] == "home-help")
    return {
        "staff page": [name for name in ("Help at home", "Home care") if name in page],
        "provider page": [name for name in ("Help at home", "Home care") if name in provider_page],
        "api": (row["name_fi"], row["name_sv"], row["name_en"], row["cap_cents"]),
    }


@pytest.mark.parametrize(("editor", "other"), [("lansi-uusimaa", "paijat-hame"), ("paijat-hame", "lansi-uusimaa")])
def test_service_type_rename__by_one_county__changes_only_its_own_catalogue_and_audits_it_there(client, editor, other):
    counties = {code: _county(code, client) for code in (editor, other)}
    before = _names_seen(client, counties[other])
    assert before["api"] == ("Kotiin annettava apu", "Hjälp i hemmet", "Help at home", 4_600)

    client.force_login(counties[editor]["finance"])
    edit = reverse("services:service_type_edit", kwargs={"service_code": "home-help"})
    assert client.post(edit, RENAMED).status_code == 302

    assert _names_seen(client, counties[other]) == before  # the other county's pages and API are unchanged
    renamed = _names_seen(client, counties[editor])
    assert renamed["staff page"] == ["Home care"] and renamed["provider page"] == ["Home care"]
    assert renamed["api"] == ("Kotipalvelu", "Hemtjänst", "Home care", 4_600)
    rename = AuditEvent.objects.get(action="service_type.rename")
    assert rename.organiser_id == organiser(editor).pk
    assert rename.target_id == str(counties[editor]["home_help"].pk)
    renamed_words = "renamed a service in the catalogue"  # the audit log shows words, never the code
    client.force_login(counties[other]["admin"])
    assert renamed_words not in client.get(reverse("core:audit_log"), HTTP_ACCEPT_LANGUAGE="en").text
    client.force_login(counties[editor]["admin"])
    assert renamed_words in client.get(reverse("core:audit_log"), HTTP_ACCEPT_LANGUAGE="en").text


def test_catalogue__another_countys_service__cannot_be_renamed_capped_or_priced(client):
    lu, ph = _county("lansi-uusimaa", client), _county("paijat-hame", client)
    client.force_login(ph["finance"])
    client.post(reverse("services:service_type_new"), {**HOME_HELP, "code": "ph-only", "name_en": "Only in PH"})
    ph_only = ph["home_help"].__class__.objects.get(code="ph-only")

    client.force_login(lu["finance"])
    foreign = reverse("services:service_type_edit", kwargs={"service_code": "ph-only"})
    assert client.get(foreign).status_code == 404
    assert client.post(foreign, {**HOME_HELP, "code": "ph-only", "name_en": "Renamed by LU"}).status_code == 404
    ph_only.refresh_from_db()
    assert ph_only.name_en == "Only in PH"
    crafted = client.post(
        reverse("services:cap_new"), {"service_type": ph["home_help"].pk, "cap": "1,00", "valid_from": "2026-04-01"}
    )
    assert crafted.status_code == 200 and "id_service_type-error" in crafted.text
    assert not PriceCap.objects.filter(cap_cents=100).exists()

    client.force_login(lu["provider_user"])
    crafted = client.post(
        reverse("provider:prices"), {"service_type": ph_only.pk, "price": "1,00", "valid_from": "2026-04-01"}
    )
    assert crafted.status_code == 200 and "id_service_type-error" in crafted.text
    api = client.post(
        "/api/v1/provider/prices",
        {"service": "ph-only", "price_cents": 100, "valid_from": "2026-04-01"},
        content_type="application/json",
        headers=lu["token"],
    )
    assert api.status_code == 422
    assert not ph_only.__class__.objects.filter(organiser__code="lansi-uusimaa", code="ph-only").exists()
    assert "Only in PH" not in client.get(reverse("services:catalogue")).text
