"""Staff pages of transport: trip files (upload and results), the review queue and a leg, and a client's month of
transport. Thin: load through selectors (scoped to the organiser; clients shown are logged), act through services,
show errors at the fields they concern."""

import datetime as dt
import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kukkaro.cases.models import DecisionLine
from kukkaro.core import clock, exports
from kukkaro.core.audit import PURPOSE_TRIPS, audit_record
from kukkaro.core.charts import horizontal_bars
from kukkaro.core.db import LockConflict
from kukkaro.core.forms import add_validation_errors
from kukkaro.core.models import AuditEvent, Municipality
from kukkaro.core.money import format_cents
from kukkaro.core.permissions import Action, allowed_url, can, not_html, requires, visible
from kukkaro.core.presenters import datetime_text
from kukkaro.core.shortcuts import or_404
from kukkaro.core.tables import Cell, Table
from kukkaro.mobility import comparison, leasing, presenters, selectors, services, trip_files
from kukkaro.mobility.forms import (
    WEB_MAX_BYTES,
    CohortForm,
    ComparisonForm,
    LeasingForm,
    LegResolveForm,
    MonthForm,
    OdometerForm,
    ReviewFilterForm,
    TripUploadForm,
)
from kukkaro.mobility.models import CarModification, LeasingContract, LegOutcome, ReadingKind, TransportEntitlement
from kukkaro.people import selectors as people_selectors
from kukkaro.people.models import Client
from kukkaro.people.requests import AuthenticatedRequest

PAGE_SIZE = 50


# --- trip files ----------------------------------------------------------------------------------------------


@requires(Action.TRIP_IMPORT)
@require_http_methods(["GET", "POST"])
def trip_imports(request: AuthenticatedRequest) -> HttpResponse:
    """Send a trip file (imported while the page waits, by the same code as ``kukkaro import_trips``) and see the
    files imported before."""
    form = TripUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            trip_import = trip_files.import_trips(
                actor=request.user,
                organiser=request.user.staff_organiser,
                filename=upload.name,
                content=upload.read(WEB_MAX_BYTES + 1),
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        except LockConflict:
            # Retried already: nothing was stored, and the same file may simply be sent again.
            form.add_error(
                "file", _("The database was busy and nothing was imported. Send the same file again in a moment.")
            )
        else:
            messages.success(request, _("The file was imported. Every row has its result below."))
            return redirect("mobility:trip_import_detail", import_id=trip_import.pk)
    table = Table(
        caption=_("Trip files imported"),
        columns=[_("File"), _("Imported"), _("By"), _("Rows"), _("Accepted"), _("Held for review"), _("Rejected")],
        empty_text=_("No trip files imported yet."),
        numeric_columns=frozenset({3, 4, 5, 6}),
        id="imports",
    )
    page = Paginator(selectors.trip_imports(actor=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    for trip_import in page:
        counts = trip_import.counts
        table.add(
            Cell(
                trip_import.filename,
                href=reverse("mobility:trip_import_detail", kwargs={"import_id": trip_import.pk}),
            ),
            datetime_text(trip_import.started_at),
            trip_import.imported_by.get_full_name() if trip_import.imported_by else _("command line"),
            Cell(trip_import.rows, numeric=True),
            Cell(counts.get(LegOutcome.ACCEPTED, 0), numeric=True),
            Cell(counts.get(LegOutcome.REVIEW, 0), numeric=True),
            Cell(counts.get(LegOutcome.REJECTED, 0), numeric=True),
        )
    return render(
        request,
        "mobility/trip_imports.html",
        {"form": form, "table": table, "page_obj": page, "columns": trip_files.COLUMNS},
    )


@requires(Action.TRIP_IMPORT)
@require_GET
def trip_import_detail(request: AuthenticatedRequest, import_id: uuid.UUID) -> HttpResponse:
    trip_import = or_404(lambda: selectors.trip_import_get(actor=request.user, import_id=import_id))
    outcome = request.GET.get("outcome") or ""
    if outcome and outcome not in LegOutcome.values:
        raise Http404
    tabs = [{"href": "?", "label": _("all rows"), "count": trip_import.rows, "current": not outcome}] + [
        {
            "href": "?" + urlencode({"outcome": value}),
            "label": label,
            "count": trip_import.counts.get(value, 0),
            "current": value == outcome,
        }
        for value, label in LegOutcome.choices
    ]
    page = Paginator(selectors.import_legs(trip_import=trip_import, outcome=outcome), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "mobility/trip_import_detail.html",
        {
            "trip_import": trip_import,
            "tabs": tabs,
            "outcome": outcome,
            "table": presenters.import_rows_table(list(page), caption=_("Result of each row"), user=request.user),
            "page_obj": page,
        },
    )


@not_html
@requires(Action.TRIP_IMPORT)
@require_GET
def trip_import_results(request: AuthenticatedRequest, import_id: uuid.UUID) -> HttpResponse:
    """The result file: row, trip id, outcome, reasons, price, self-share and debit of every row."""
    trip_import = or_404(lambda: selectors.trip_import_get(actor=request.user, import_id=import_id))
    name = trip_import.filename.rsplit(".", 1)[0] or "trips"
    return exports.csv_response(trip_files.results_csv(trip_import), name=f"{name}.results")


# --- review --------------------------------------------------------------------------------------------------


@requires(Action.TRIP_REVIEW)
@require_GET
def review_queue(request: AuthenticatedRequest) -> HttpResponse:
    form = ReviewFilterForm(request.GET or None)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    legs = selectors.review_queue(actor=request.user, reason=reason)
    page = Paginator(legs, PAGE_SIZE).get_page(request.GET.get("page"))
    selectors.legs_log_reads(actor=request.user, legs=list(page))
    counts = selectors.review_counts(actor=request.user)
    return render(
        request,
        "mobility/review_queue.html",
        {
            "form": form,
            "counts": [
                (presenters.reason_text(code), counts[code]) for code in selectors.REVIEW_REASONS if counts[code]
            ],
            "total": page.paginator.count,
            "table": presenters.review_table(list(page), caption=_("Trips held for review, oldest first")),
            "page_obj": page,
        },
    )


def _leg_facts(leg) -> list[tuple[str, str]]:
    facts = [
        (_("Operator and trip id"), f"{leg.operator_id} / {leg.trip_id}"),
        (_("Operator"), leg.provider.name if leg.provider_id else "–"),
        (_("Client"), leg.client.full_name if leg.client_id else "–"),
        (_("Transport card"), leg.client_number or "–"),
        (_("Pickup"), datetime_text(leg.pickup_at)),
        (_("Drop-off"), datetime_text(leg.dropoff_at)),
        (_("Route"), presenters.route_text(leg)),
        (_("Purpose"), str(presenters.PURPOSE_TEXTS.get(leg.purpose, leg.purpose or "–"))),
        (_("Distance"), presenters.km_text(leg.distance_m)),
        (_("Vehicle"), leg.vehicle_class or "–"),
        (_("Shared ride"), leg.shared_ride_id or _("no")),
        (_("Supplements"), ", ".join(leg.supplements) or "–"),
        (_("Operator's fare"), presenters.money_text(leg.fare_cents)),
        (_("Price by the tariff"), presenters.money_text(leg.price_cents)),
        (_("Self-share"), presenters.money_text(leg.self_share_cents)),
        (_("County's cost"), presenters.money_text(leg.county_cost_cents)),
        (_("File"), f"{leg.trip_import.filename}, " + _("row %(row)s") % {"row": leg.row_number}),
        (_("Result"), presenters.leg_state_text(leg)),
        (_("Reasons"), presenters.reasons_text(leg.reasons)),
    ]
    if leg.debit_unit:
        facts.append((_("Taken from the purse"), presenters.amount_text(leg.debit_amount, leg.debit_unit)))
    if leg.resolved_outcome:
        who = leg.resolved_by.get_full_name() if leg.resolved_by else "–"
        facts.append((_("Resolved"), f"{datetime_text(leg.resolved_at)}, {who}: {leg.resolution_note}"))
    return facts


@requires(Action.TRIP_REVIEW)
@require_http_methods(["GET", "POST"])
def leg_detail(request: AuthenticatedRequest, leg_id: int) -> HttpResponse:
    """One leg with everything the import knew of it; a leg held for review is resolved here."""
    leg = or_404(lambda: selectors.leg_get(actor=request.user, leg_id=leg_id))
    selectors.legs_log_reads(actor=request.user, legs=[leg])
    open_for_review = leg.outcome == LegOutcome.REVIEW and not leg.resolved_outcome
    may_accept = services.leg_may_be_accepted(leg)
    form = LegResolveForm(request.POST or None, may_accept=may_accept) if open_for_review else None
    if request.method == "POST":
        if form is None:
            messages.error(request, _("This trip has already been resolved."))
            return redirect("mobility:leg_detail", leg_id=leg.pk)
        if form.is_valid():
            try:
                services.leg_resolve(
                    actor=request.user,
                    leg_id=leg.pk,
                    resolution=form.cleaned_data["resolution"],
                    note=form.cleaned_data["note"],
                )
            except ValidationError as error:
                add_validation_errors(form, error)
            else:
                messages.success(request, _("The trip was resolved."))
                return redirect("mobility:review_queue")
    statement_href = ""
    if leg.client_id and leg.pickup_at:
        local = leg.pickup_at.astimezone(clock.HELSINKI)
        statement_href = allowed_url(
            request.user,
            "mobility:client_month",
            client_id=leg.client_id,
            query=urlencode({"month": f"{local:%Y-%m}"}),
        )
    return render(
        request,
        "mobility/leg_detail.html",
        {
            "leg": leg,
            "facts": _leg_facts(leg),
            "form": form,
            "may_accept": may_accept,
            "statement_href": statement_href,
        },
    )


# --- a client's month ----------------------------------------------------------------------------------------


def _date(day: dt.date) -> str:
    return date_format(day, "SHORT_DATE_FORMAT")


def _month_label(month: dt.date) -> str:
    return date_format(month, "YEAR_MONTH_FORMAT")


@requires(Action.CASE_VIEW)
@require_GET
def client_month(request: AuthenticatedRequest, client_id: uuid.UUID) -> HttpResponse:
    """The client's transport in a month: trips, kilometres, euros, self-shares paid and what is left."""
    client = or_404(
        lambda: people_selectors.client_get(
            actor=request.user, client_id=client_id, action=Action.CASE_VIEW, purpose=PURPOSE_TRIPS
        )
    )
    form = MonthForm(request.GET or None)
    today = clock.today()
    month = (form.cleaned_data.get("month") if form.is_valid() else None) or today.replace(day=1)
    statement = selectors.client_month(client=client, month=month, language=(get_language() or "fi")[:2])
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    following = (month + dt.timedelta(days=32)).replace(day=1)
    purses = Table(
        caption=_("Purses in %(month)s") % {"month": _month_label(month)},
        columns=[
            _("Purse"),
            _("At the start"),
            _("Added"),
            _("Trips picked up this month"),
            _("Taken from the purse this month"),
            _("At the end"),
            _("Available now"),
        ],
        empty_text=_("No transport purse in this month."),
        numeric_columns=frozenset({1, 2, 3, 4, 5, 6}),
        id="purses",
    )
    for row in statement.purses:
        unit = row.purse.unit
        purses.add(
            row.label,
            *(
                Cell(presenters.amount_text(value, unit), numeric=True)
                for value in (row.opening, row.added, row.trips_used, row.debited, row.closing, row.available_now)
            ),
        )
    totals = [
        (_("Trips picked up this month"), str(statement.trips)),
        (_("Kilometres"), presenters.km_text(statement.metres)),
        (_("Price of the trips"), format_cents(statement.price_cents)),
        (_("Self-shares paid"), format_cents(statement.self_share_cents)),
        (_("The county's cost"), format_cents(statement.county_cost_cents)),
    ]
    leases = [
        {
            "title": f"{lease.vehicle} {lease.registration}".strip(),
            "href": reverse("mobility:lease_detail", kwargs={"client_id": client.pk, "lease_id": lease.pk}),
            "facts": [
                (_("Lessor and contract"), f"{lease.lessor}, {lease.contract_number}"),
                (_("Contract"), f"{_date(lease.starts_on)}–{_date(lease.ends_on)}"),
                (_("Modifications"), ", ".join(str(CarModification(m).label) for m in lease.modifications) or "–"),
                (_("Drivers"), _("the client") if lease.client_drives else ", ".join(lease.drivers)),
                (_("The county pays a month"), format_cents(lease.county_cost_cents)),
                (_("The client's own contribution a month"), format_cents(lease.client_contribution_cents)),
                (
                    _("Kilometres included a year"),
                    _("%(km)s km, then %(price)s a kilometre")
                    % {"km": lease.included_km_per_year, "price": format_cents(lease.excess_km_cents)},
                ),
            ],
        }
        for lease in statement.leases
    ]
    return render(
        request,
        "mobility/client_month.html",
        {
            "client": client,
            "leases": leases,
            "may_lease": can(request.user, Action.CASE_EDIT, client),
            "form": form,
            "month_label": _month_label(month),
            "statement": statement,
            "totals": totals,
            "purses": purses,
            "legs": presenters.month_legs_table(
                statement.legs, caption=_("Trips in %(month)s") % {"month": _month_label(month)}, user=request.user
            ),
            "previous": ("?" + urlencode({"month": f"{previous:%Y-%m}"}), _month_label(previous)),
            "following": ("?" + urlencode({"month": f"{following:%Y-%m}"}), _month_label(following)),
        },
    )


# --- cost comparison -----------------------------------------------------------------------------------------


def _model_name(model: str) -> str:
    return capfirst(str(comparison.MODEL_NAMES.get(model, model)))


@requires(Action.CASE_VIEW)
@require_GET
def client_comparison(request: AuthenticatedRequest, client_id: uuid.UUID) -> HttpResponse:
    """Which transport model would serve the client best: each model's monthly cost to the county and to the
    client, by the client's own trips or by a pattern the worker enters."""
    client = or_404(
        lambda: people_selectors.client_get(
            actor=request.user, client_id=client_id, action=Action.CASE_VIEW, purpose=PURPOSE_TRIPS
        )
    )
    form = ComparisonForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    data = form.cleaned_data if form.is_bound and valid else {}
    months = data.get("months") or 12
    today = clock.today()
    entered = data.get("trips_per_month") is not None
    if entered:
        pattern = selectors.entered_pattern(
            client=client,
            trips=data["trips_per_month"],
            work_trips=data.get("work_trips_per_month") or 0,
            km_per_trip=data["km_per_trip"],
            on=today,
        )
    else:
        since, until = selectors.comparison_window(months=months, today=today)
        pattern = selectors.patterns(
            organiser_id=client.organiser_id, since=since, until=until, months=months, client_ids=[client.pk]
        ).get(client.pk)
    current = selectors.current_models(organiser_id=client.organiser_id, on=today, client_ids=[client.pk]).get(
        client.pk, ""
    )
    lease = selectors.active_lease(client=client, on=today)
    terms = comparison.REFERENCE_LEASE
    if lease is not None:
        current = comparison.LEASING
        terms = comparison.Lease(
            monthly_price_cents=lease.monthly_price_cents,
            insurance_cents=lease.insurance_cents,
            servicing_cents=lease.servicing_cents,
            client_contribution_cents=lease.client_contribution_cents,
            included_km_per_year=lease.included_km_per_year,
            excess_km_cents=lease.excess_km_cents,
        )
    result = None
    table = chart = None
    if valid and pattern is not None and pattern.trips:
        can_drive = form.can_drive_value() if form.is_bound else None
        if lease is not None and can_drive is None:
            can_drive = True  # the client has a car and someone to drive it
        result = comparison.compare(pattern, current=current, lease=terms, can_drive=can_drive)
        table = Table(
            caption=_("Monthly cost by transport model"),
            columns=[_("Model"), _("What the client gets"), _("The county pays a month"), _("The client pays a month")],
            numeric_columns=frozenset({2, 3}),
            id="comparison",
        )
        for cost in result.costs:
            name = _model_name(cost.model)
            if cost.model == result.current:
                name = _("%(model)s (now)") % {"model": name}
            if cost.model == result.recommended:
                name = _("%(model)s (recommended)") % {"model": name}
            if not cost.meets_minimum:
                name = _("%(model)s (not an option)") % {"model": name}
            table.add(
                name,
                cost.units,
                Cell(format_cents(cost.county_cents), numeric=True),
                Cell(format_cents(cost.client_cents), numeric=True),
            )
        chart = horizontal_bars(
            title=_("Monthly cost by transport model"),
            labels=[_model_name(c.model) for c in result.costs],
            series=[
                (_("the county"), [c.county_cents // 100 for c in result.costs]),
                (_("the client"), [c.client_cents // 100 for c in result.costs]),
            ],
            formatter=lambda euros: format_cents(int(euros) * 100),
        )
    return render(
        request,
        "mobility/client_comparison.html",
        {
            "client": client,
            "form": form,
            "result": result,
            "table": table,
            "chart": chart,
            "months": months,
            "entered": entered,
            "pattern": pattern,
            "current": _model_name(current) if current else "",
            "lease": lease,
            "recommended": _model_name(result.recommended) if result else "",
        },
    )


def _cohort(request: AuthenticatedRequest) -> tuple[CohortForm, list, dict]:
    municipalities = [
        (m.code, m.name)
        for m in visible(Municipality.objects.all(), request.user, Action.TRANSPORT_COMPARE).order_by("name_fi")
    ]
    form = CohortForm(request.GET or None, municipalities=municipalities)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    rows, totals = selectors.cohort(
        actor=request.user,
        months=data.get("months") or 12,
        today=clock.today(),
        municipality=data.get("municipality") or "",
    )
    return form, rows, totals


@requires(Action.TRANSPORT_COMPARE)
@require_GET
def cohort_comparison(request: AuthenticatedRequest) -> HttpResponse:
    """The organiser's transport clients ranked by what another model would save the county, with totals."""
    form, rows, totals = _cohort(request)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    clients = {
        c.pk: c for c in Client.objects.filter(pk__in=[r.client_id for r in page]).select_related("municipality")
    }
    people_selectors.client_log_reads(actor=request.user, clients=list(clients.values()), purpose=PURPOSE_TRIPS)
    table = Table(
        caption=_("Clients by the saving of another model, largest first"),
        columns=[
            _("Client"),
            _("Municipality"),
            _("Model now"),
            _("Costs a month"),
            _("Recommended"),
            _("Would cost a month"),
            _("Saving a month"),
        ],
        empty_text=_("No client with a transport decision has trips in these months."),
        numeric_columns=frozenset({3, 5, 6}),
        id="cohort",
    )
    may_open = can(request.user, Action.CASE_VIEW)
    for row in page:
        client = clients.get(row.client_id)
        href = reverse("mobility:client_comparison", kwargs={"client_id": row.client_id}) if may_open else ""
        table.add(
            Cell(client.full_name if client else "–", href=href),
            client.municipality.name if client else row.municipality,
            _model_name(row.current),
            Cell(format_cents(row.current_cents), numeric=True),
            _model_name(row.recommended),
            Cell(format_cents(row.recommended_cents), numeric=True),
            Cell(format_cents(row.saving_cents), numeric=True),
        )
    summary = [
        (_("Clients compared"), str(totals["clients"])),
        (_("Clients for whom another model costs less"), str(totals["changing"])),
        (_("Clients with a leasing car (not compared by their taxi trips)"), str(totals["leased"])),
        (_("The county pays a month now"), format_cents(totals["current_cents"])),
        (_("With the recommended models"), format_cents(totals["recommended_cents"])),
        (_("Saving a month"), format_cents(totals["saving_cents"])),
    ]
    return render(
        request,
        "mobility/cohort_comparison.html",
        {"form": form, "table": table, "page_obj": page, "summary": summary, "query": request.GET.urlencode()},
    )


COHORT_COLUMNS = (
    "rank",
    "client_id",
    "municipality",
    "model_now",
    "county_cents_now",
    "recommended",
    "county_cents_recommended",
    "saving_cents",
)


def _cohort_export(request: AuthenticatedRequest, *, extension: str) -> HttpResponse:
    """The whole ranking as a file, cents as integers. Clients appear by their Kukkaro id only; the export is
    logged as one event."""
    _form, rows, totals = _cohort(request)
    cells = [
        [
            rank,
            str(row.client_id),
            row.municipality,
            row.current,
            row.current_cents,
            row.recommended,
            row.recommended_cents,
            row.saving_cents,
        ]
        for rank, row in enumerate(rows, start=1)
    ]
    audit_record(
        action="transport.comparison_export",
        actor=request.user,
        kind=AuditEvent.Kind.READ,
        organiser_id=request.user.staff_organiser_id,
        purpose=PURPOSE_TRIPS,
        after={"clients": totals["clients"], "query": request.GET.urlencode(), "format": extension},
    )
    name = f"transport-comparison-{clock.today():%Y-%m-%d}"
    if extension == "xlsx":
        return exports.xlsx_response(exports.xlsx_bytes(COHORT_COLUMNS, cells, sheet=name[:31]), name=name)
    return exports.csv_response(
        exports.csv_bytes(COHORT_COLUMNS, cells, delimiter=",", decimal_separator=".", bom=False), name=name
    )


@not_html
@requires(Action.TRANSPORT_COMPARE)
@require_GET
def cohort_comparison_csv(request: AuthenticatedRequest) -> HttpResponse:
    """The whole ranking as CSV (UTF-8, commas)."""
    return _cohort_export(request, extension="csv")


@not_html
@requires(Action.TRANSPORT_COMPARE)
@require_GET
def cohort_comparison_xlsx(request: AuthenticatedRequest) -> HttpResponse:
    """The whole ranking as an Excel workbook, for the county's analysts."""
    return _cohort_export(request, extension="xlsx")


# --- leasing cars --------------------------------------------------------------------------------------------


@requires(Action.CASE_EDIT)
@require_http_methods(["GET", "POST"])
def leasing_new(request: AuthenticatedRequest, client_id: uuid.UUID) -> HttpResponse:
    """Record a leasing car for the client, paid from an effective line in euros of their decision."""
    client = or_404(
        lambda: people_selectors.client_get(actor=request.user, client_id=client_id, action=Action.CASE_EDIT)
    )
    # In force today or later: a replaced decision's line stays effective up to the day before its replacement.
    lines = DecisionLine.objects.filter(
        client=client, effective=True, purse_unit="EUR", valid_until__gte=clock.today()
    ).select_related("decision")
    entitlements = TransportEntitlement.objects.filter(client=client, state="active")
    form = LeasingForm(request.POST or None, lines=lines, entitlements=entitlements)
    if request.method == "POST" and form.is_valid():
        line = form.cleaned_data["line"]
        try:
            leasing.leasing_create(
                actor=request.user,
                decision=line.decision,
                line=line,
                taxi_entitlement=form.cleaned_data["taxi_entitlement"],
                **form.contract_values(),
            )
        except ValidationError as error:
            add_validation_errors(form, error)
        else:
            messages.success(request, _("The leasing car was recorded. Its monthly cost is paid from the line."))
            return redirect("mobility:client_month", client_id=client.pk)
    return render(
        request,
        "services/form.html",
        {
            "form": form,
            "title": _("A leasing car for %(name)s") % {"name": client.full_name},
            "intro": _(
                "The county pays the lease, insurance and servicing less the client's own contribution, from the "
                "chosen line of the decision, once a month."
            ),
            "back": (
                reverse("mobility:client_month", kwargs={"client_id": client.pk}),
                _("Back to the client's transport"),
            ),
        },
    )


def _km(value: int | None) -> str:
    return "–" if value is None else f"{number_format(value, force_grouping=True)} km"


@requires(Action.CASE_VIEW)
@require_http_methods(["GET", "POST"])
def lease_detail(request: AuthenticatedRequest, client_id: uuid.UUID, lease_id: uuid.UUID) -> HttpResponse:
    """A leasing car's odometer readings against its kilometre allowance; the readings are recorded here, and the
    return reading charges the excess kilometres."""
    client = or_404(
        lambda: people_selectors.client_get(
            actor=request.user, client_id=client_id, action=Action.CASE_VIEW, purpose=PURPOSE_TRIPS
        )
    )
    contract = or_404(lambda: LeasingContract.objects.get(client=client, pk=lease_id))
    may_edit = can(request.user, Action.CASE_EDIT, client)
    form = OdometerForm(request.POST or None) if may_edit else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if contract.returned_on is not None:
            messages.error(request, _("The car has been returned: its readings are complete."))
            return redirect("mobility:lease_detail", client_id=client.pk, lease_id=contract.pk)
        if form.is_valid():
            try:
                leasing.odometer_record(actor=request.user, contract=contract, **form.cleaned_data)
            except ValidationError as error:
                add_validation_errors(form, error)
            else:
                messages.success(request, _("The reading was recorded."))
                return redirect("mobility:lease_detail", client_id=client.pk, lease_id=contract.pk)
    pace = leasing.lease_pace(contract)
    facts = [
        (_("Contract"), f"{_date(contract.starts_on)}–{_date(contract.ends_on)}"),
        (
            _("Kilometres included"),
            _("%(year)s a year, %(whole)s for the contract; then %(price)s a kilometre")
            % {
                "year": _km(contract.included_km_per_year),
                "whole": _km(leasing.allowance_km(contract, contract.contract_months)),
                "price": format_cents(contract.excess_km_cents),
            },
        ),
        (_("Odometer at delivery"), _km(pace.start.km) if pace.start else _("not read yet")),
        (_("Driven since delivery"), _km(pace.driven_km)),
    ]
    if pace.final is not None:
        facts += [
            (_("Allowance for the months used"), _km(pace.contract_allowance_km)),
            (
                _("Charged at return"),
                _("%(km)s over the allowance: %(cost)s")
                % {"km": _km(pace.final.excess_km), "cost": format_cents(pace.final.excess_cents or 0)},
            ),
        ]
    elif pace.allowance_to_date_km is not None:
        facts.append((_("Allowance so far"), _km(pace.allowance_to_date_km)))
        if pace.projected_km is not None:
            facts += [
                (_("At this pace, by the end of the contract"), _km(pace.projected_km)),
                (
                    _("Excess at this pace"),
                    _("%(km)s, about %(cost)s")
                    % {"km": _km(pace.projected_excess_km), "cost": format_cents(pace.projected_excess_cents or 0)},
                ),
            ]
    readings = Table(
        caption=_("Odometer readings"),
        columns=[_("Read on"), _("Reading"), _("Odometer"), _("Charged at return"), _("Note"), _("Recorded by")],
        empty_text=_("No reading yet. Record the odometer when the car is delivered."),
        numeric_columns=frozenset({2, 3}),
        id="readings",
    )
    for reading in contract.readings.select_related("entered_by").order_by("read_on", "km"):
        readings.add(
            _date(reading.read_on),
            ReadingKind(reading.kind).label,
            Cell(_km(reading.km), numeric=True),
            Cell(
                "–" if reading.excess_cents is None else format_cents(reading.excess_cents),
                numeric=True,
            ),
            reading.note or "–",
            reading.entered_by.get_full_name() or reading.entered_by.username,
        )
    return render(
        request,
        "mobility/lease_detail.html",
        {
            "client": client,
            "contract": contract,
            "title": f"{contract.vehicle} {contract.registration}".strip(),
            "facts": facts,
            "readings": readings,
            "form": form,
            "returned": pace.final is not None,
        },
    )
