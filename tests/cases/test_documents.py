"""The HB decision document: a tagged PDF/UA-1 in the decision's language, rendered once at approval."""

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import zlib

import pytest

from kukkaro.cases import services
from kukkaro.cases.documents import (
    DocumentError,
    decision_document_pdf,
    decision_document_render,
    decision_document_store,
)
from kukkaro.cases.models import Decision
from kukkaro.core import clock
from kukkaro.core.models import AuditEvent
from kukkaro.core.roles import Role
from tests.cases.factories import rate_table
from tests.factories import client_in, make_user

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (Debian poppler-utils)"),
]

MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LINES = [{"category": "day-activity", "quantity": 8}, {"category": "transport-trips", "quantity": 18}]


@pytest.fixture(autouse=True)
def _clock():
    with clock.pinned(MARCH):
        yield


@pytest.fixture
def people():
    rate_table()
    return {"worker": make_user(Role.SOCIAL_WORKER), "approver": make_user(Role.DECISION_MAKER)}


def _approved(people, *, language, lines=LINES, replaces=None, valid=(dt.date(2026, 3, 1), dt.date(2026, 12, 31))):
    client = replaces.client if replaces else client_in("lansi-uusimaa", language=language, last_name="Virtanen")
    indicative = services.calculation_create_indicative(
        actor=people["worker"],
        client=client,
        lines=[{k: v for k, v in line.items() if k not in {"adjustment", "adjustment_reason"}} for line in lines],
    )
    calculation = services.calculation_finalise(actor=people["worker"], indicative=indicative, lines=lines)
    decision = services.decision_draft_create(
        actor=people["worker"],
        calculation=calculation,
        valid_from=valid[0],
        valid_until=valid[1],
        reasons="Asiakkaan tarpeet ja oma suunnitelma.",
        replaces=replaces,
    )
    services.decision_propose(actor=people["worker"], decision=decision)
    return services.decision_approve(actor=people["approver"], decision=decision)


def _text(pdf: bytes) -> str:
    result = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],  # noqa: S607 - a fixed Debian tool
        input=pdf,
        capture_output=True,
        check=True,
    )
    # Amounts keep their parts together with no-break spaces; read them as plain spaces.
    return result.stdout.decode().replace("\u00a0", " ").replace("\u202f", " ")


def _pages(pdf: bytes) -> list[str]:
    return _text(pdf).split("\f")


def _flat(text: str) -> str:
    """The text with line breaks and layout columns as single spaces, to find wrapped phrases."""
    return " ".join(text.split())


def _inflated(pdf: bytes) -> bytes:
    """The PDF with its compressed streams opened, to look for the metadata and structure inside."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_approve__stores_the_document_and_its_hash(people):
    decision = _approved(people, language="sv")
    stored = Decision.objects.get(pk=decision.pk)
    pdf = bytes(stored.document_pdf)
    assert pdf.startswith(b"%PDF-1.7")
    assert stored.document_sha256 == hashlib.sha256(pdf).hexdigest()
    audit = AuditEvent.objects.get(action="decision.approve", target_id=str(decision.pk))
    assert audit.after["document_sha256"] == stored.document_sha256


def test_document__swedish(people):
    decision = _approved(people, language="sv")
    pages = _pages(bytes(Decision.objects.get(pk=decision.pk).document_pdf))
    text = "\n".join(pages)
    flat = _flat(text)
    assert "Västra Nylands välfärdsområde" in text
    assert "Beslut" in text
    assert decision.number in text
    assert "Aino Virtanen" in text
    assert decision.client.national_id in text
    # The budget: 8 days of day activity at 98,00 € and 18 trips a month.
    assert re.search(r"Dagverksamhet\s+784,00 €\s+månad\s+servicesedel", text)
    assert re.search(r"Färdtjänstresor\s+18 resor\s+månad\s+köpt tjänst", text)
    assert "8 dagar × 98,00 € = 784,00 € per månad" in flat
    # The rate table by its Swedish name, not the Finnish one.
    assert "enhetskostnader: Enhetskostnader 2026, gällande från och med" in flat
    assert "Yksikkökustannukset" not in text
    assert "1.3.2026–31.12.2026" in text
    assert "Lag om funktionshinderservice (675/2023)" in flat
    assert "Förvaltningslag (434/2003)" in flat
    # The request for correction, in Swedish, with where to send it.
    assert "Anvisning om begäran om omprövning" in flat
    assert "omprövning" in text
    assert "30 dagar" in text
    assert "sjunde dagen" in flat
    assert "registratorskontoret, PB 1, 02070 Västra Nylands välfärdsområde" in flat
    assert "kirjaamo@lansi-uusimaa.example" in text
    assert "oikaisuvaatimus" not in text.lower()
    # The plain-language summary is a page of its own, and the last one.
    plain = [page for page in pages if "Lättläst sammanfattning" in page]
    assert len(plain) == 1
    assert plain[0] is [page for page in pages if page.strip()][-1]
    assert "Anvisning om begäran" not in plain[0]
    assert "Dagverksamhet: 784,00 € per månad" in _flat(plain[0])
    assert "30 dagar" in plain[0]


def test_document__finnish(people):
    decision = _approved(people, language="fi")
    assert decision.language == "fi"
    text = _text(bytes(Decision.objects.get(pk=decision.pk).document_pdf))
    flat = _flat(text)
    assert "Länsi-Uudenmaan hyvinvointialue" in text
    assert "Päätös" in text
    assert re.search(r"Päivätoiminta\s+784,00 €\s+kuukausi\s+palveluseteli", text)
    assert re.search(r"Kuljetuspalvelun matkat\s+18 matkaa\s+kuukausi\s+ostopalvelu", text)
    assert "8 päivää × 98,00 € = 784,00 € kuukaudessa" in flat
    assert "Vammaispalvelulaki (675/2023)" in flat
    assert "Hallintolaki (434/2003)" in flat
    assert "Oikaisuvaatimusohje" in text
    assert "oikaisuvaatimus" in text
    assert "30 päivän" in text
    assert "seitsemäntenä päivänä" in flat
    assert "kirjaamo, PL 1, 02070 Länsi-Uudenmaan hyvinvointialue" in flat
    assert "kirjaamo@lansi-uusimaa.example" in text
    assert "omprövning" not in text
    plain = [page for page in text.split("\f") if "Selkokielinen tiivistelmä" in page]
    assert len(plain) == 1
    assert "Oikaisuvaatimusohje" not in plain[0]
    assert "Budjetti loppuu 31.12.2026." in _flat(plain[0])


def test_document__is_deterministic_and_a_reprint_is_the_stored_bytes(people):
    decision = _approved(people, language="fi")
    stored = Decision.objects.get(pk=decision.pk)
    first = bytes(stored.document_pdf)
    assert decision_document_render(decision=stored) == first
    assert decision_document_render(decision=stored) == first
    assert hashlib.sha256(first).hexdigest() == stored.document_sha256
    assert decision_document_pdf(decision=stored) == first
    decision_document_store(decision=stored)  # already stored: nothing changes
    assert Decision.objects.get(pk=decision.pk).document_sha256 == stored.document_sha256


def test_document__is_rendered_from_the_snapshot_not_live_data(people):
    decision = _approved(people, language="fi")
    stored = Decision.objects.get(pk=decision.pk)
    client = stored.client
    client.last_name = "Muutettu"
    client.save(update_fields=["last_name"])
    text = _text(decision_document_render(decision=Decision.objects.get(pk=decision.pk)))
    assert "Aino Virtanen" in text
    assert "Muutettu" not in text


def test_document__is_pdf_ua_tagged_with_language_and_title(people):
    decision = _approved(people, language="sv")
    pdf = bytes(Decision.objects.get(pk=decision.pk).document_pdf)
    opened = _inflated(pdf)
    assert b"pdfuaid:part" in opened
    assert re.search(rb'pdfuaid:part="1"|<pdfuaid:part>1</pdfuaid:part>', opened)
    assert b"/StructTreeRoot" in opened
    assert b"/Lang (sv)" in opened
    assert b"/Table" in opened
    assert b"/TH" in opened
    assert b"/Caption" in opened
    assert b"/DisplayDocTitle true" in opened
    info = subprocess.run(
        ["pdfinfo", "-"],  # noqa: S607 - a fixed Debian tool
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert f"Title:           Beslut om personlig budget {decision.number}" in info
    assert "Author:          Västra Nylands välfärdsområde" in info
    assert "Tagged:          yes" in info
    assert "2026" in info.split("CreationDate:")[1].splitlines()[0]


def test_document__replacement_says_what_changed(people):
    first = _approved(people, language="fi")
    second = _approved(
        people,
        language="fi",
        lines=[
            {"category": "day-activity", "quantity": 10, "adjustment": 5000, "adjustment_reason": "Kesän leiri."},
            {"category": "transport-km", "quantity": "150.5"},
        ],
        replaces=first,
        valid=(dt.date(2026, 4, 1), dt.date(2026, 12, 31)),
    )
    text = _text(bytes(Decision.objects.get(pk=second.pk).document_pdf))
    assert "Muutokset aiempaan päätökseen" in text
    assert f"korvaa päätöksen {first.number}" in _flat(text)
    assert re.search(r"Päivätoiminta\s+784,00 €\s+1 030,00 €", text)
    assert re.search(r"Kilometrikukkaro\s+ei myönnetty\s+150,5 km", text)
    assert re.search(r"Kuljetuspalvelun matkat\s+18 matkaa\s+ei myönnetty", text)
    flat = _flat(text)
    assert "Päivätoiminta: 10 päivää × 98,00 € = 980,00 € kuukaudessa." in flat
    assert "Tarkistus +50,00 €: Kesän leiri. Myönnetty määrä on 1 030,00 € kuukaudessa." in flat
    assert "Kilometrikukkaro: 150,5 km kuukaudessa. Arvioitu kustannus 150,5 × 1,80 € = 270,90 €." in flat
    assert re.search(r"Voimassaoloaika\s+1\.3\.2026–31\.12\.2026\s+1\.4\.2026–31\.12\.2026", text)


def test_document__of_a_draft__is_refused(people):
    client = client_in("lansi-uusimaa", language="fi")
    indicative = services.calculation_create_indicative(actor=people["worker"], client=client, lines=LINES)
    calculation = services.calculation_finalise(actor=people["worker"], indicative=indicative, lines=LINES)
    draft = services.decision_draft_create(
        actor=people["worker"],
        calculation=calculation,
        valid_from=dt.date(2026, 3, 1),
        valid_until=dt.date(2026, 12, 31),
        reasons="Perustelut.",
    )
    with pytest.raises(DocumentError):
        decision_document_render(decision=draft)


def test_document__preview_of_a_draft__says_it_is_a_draft(people):
    client = client_in("lansi-uusimaa", language="sv")
    indicative = services.calculation_create_indicative(actor=people["worker"], client=client, lines=LINES)
    calculation = services.calculation_finalise(actor=people["worker"], indicative=indicative, lines=LINES)
    draft = services.decision_draft_create(
        actor=people["worker"],
        calculation=calculation,
        valid_from=dt.date(2026, 3, 1),
        valid_until=dt.date(2026, 12, 31),
        reasons="Motivering.",
    )
    draft.snapshot = services.decision_preview_snapshot(draft)  # not saved
    text = _flat(_text(decision_document_render(decision=draft)))
    assert "Beslutsutkast" in text
    assert "Detta är ett utkast." in text
    assert "godkänts elektroniskt" not in text
    with pytest.raises(DocumentError):
        decision_document_store(decision=draft)
    draft.refresh_from_db()
    assert draft.snapshot is None
    assert not draft.document_sha256
