"""Casework before the money: how the client's decision was supported, the assessment of the life areas, and
the support plan. Each write is one transaction with its audit row; versions are new rows."""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from kukkaro.cases.models import (
    Assessment,
    AssessmentArea,
    LifeArea,
    SupportPlan,
    SupportRecord,
)
from kukkaro.core import clock
from kukkaro.core.audit import audit_record
from kukkaro.people.models import Client, SupporterGrant, User


def _next_version(model: Any, client: Client) -> int:
    current = model.objects.select_for_update().filter(client=client).aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


@transaction.atomic
def support_record_create(
    *,
    actor: User,
    client: Client,
    method: str,
    supported_on: dt.date,
    supporter_name: str = "",
    grant: SupporterGrant | None = None,
    note: str = "",
) -> SupportRecord:
    """Record how the client's decision was supported (who, how, when)."""
    if grant is not None and grant.client_id != client.pk:
        raise ValidationError({"grant": _("The supporter was not named by this client.")})
    record = SupportRecord(
        client=client,
        grant=grant,
        supporter_name=supporter_name or (grant.supporter.get_full_name() if grant else ""),
        method=method,
        supported_on=supported_on,
        note=note,
        recorded_by=actor,
        created_at=clock.now(),
    )
    record.full_clean()
    record.save()
    audit_record(
        action="support_record.create",
        actor=actor,
        target=record,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"method": method, "supported_on": supported_on, "supporter": record.supporter_name},
    )
    return record


@transaction.atomic
def assessment_create(
    *, actor: User, client: Client, areas: dict[str, dict[str, Any]], summary: str = ""
) -> Assessment:
    """A new version of the service need assessment. ``areas`` maps a life area to its need level (0–4), the
    worker's observations and the client's own view (kept apart)."""
    unknown = set(areas) - set(LifeArea.values)
    if unknown:
        raise ValidationError({"areas": _("Unknown life areas: %(areas)s") % {"areas": ", ".join(sorted(unknown))}})
    if not areas:
        raise ValidationError({"areas": _("Assess at least one life area.")})
    assessment = Assessment.objects.create(
        client=client,
        version=_next_version(Assessment, client),
        summary=summary,
        author=actor,
        created_at=clock.now(),
    )
    rows = []
    for area, values in sorted(areas.items()):
        row = AssessmentArea(
            assessment=assessment,
            area=area,
            need_level=int(values.get("need_level", 0)),
            observations=values.get("observations", ""),
            client_view=values.get("client_view", ""),
        )
        row.full_clean(exclude=["assessment"])
        rows.append(row)
    AssessmentArea.objects.bulk_create(rows)
    audit_record(
        action="assessment.create",
        actor=actor,
        target=assessment,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"version": assessment.version, "areas": {r.area: r.need_level for r in rows}},
    )
    return assessment


@transaction.atomic
def support_plan_create(
    *,
    actor: User,
    client: Client,
    goals: str,
    what_works: str = "",
    what_should_change: str = "",
    who_helped: str = "",
    support_record: SupportRecord | None = None,
) -> SupportPlan:
    """A new version of the client's own support plan, in the client's words."""
    if not goals.strip():
        raise ValidationError({"goals": _("Write down the client's goals and wishes in their own words.")})
    if support_record is not None and support_record.client_id != client.pk:
        raise ValidationError({"support_record": _("The support record is about another client.")})
    plan = SupportPlan(
        client=client,
        version=_next_version(SupportPlan, client),
        goals=goals.strip(),
        what_works=what_works.strip(),
        what_should_change=what_should_change.strip(),
        who_helped=who_helped.strip(),
        support_record=support_record,
        author=actor,
        created_at=clock.now(),
    )
    plan.full_clean()
    plan.save()
    audit_record(
        action="support_plan.create",
        actor=actor,
        target=plan,
        organiser_id=client.organiser_id,
        data_subject_id=client.pk,
        after={"version": plan.version, "who_helped": plan.who_helped},
    )
    return plan
