# ruff: noqa: S608 - table names from the models, values always parameters
"""The provider register's answers to other apps (``kukkaro.core.provider_register``): whether a business is an
approved provider of an organiser on a day, in Python and in SQL, by the same rule as ``provider_state_on``: the
state on a day is the last change before the end of that day in Helsinki."""

import datetime as dt
import uuid

from kukkaro.core.clock import HELSINKI
from kukkaro.services.models import Provider, ProviderState, ProviderStateChange
from kukkaro.services.providers import provider_state_on


class ServicesProviderRegister:
    def provider_id(self, *, organiser_id: int, business_id: str) -> uuid.UUID | None:
        return (
            Provider.objects.filter(organiser_id=organiser_id, business_id=business_id)
            .values_list("pk", flat=True)
            .first()
        )

    def approved_on(self, *, provider_id: uuid.UUID, day: dt.date) -> bool:
        return provider_state_on(provider=Provider(pk=provider_id), day=day) == ProviderState.APPROVED

    def approval_days_sql(self, *, business_ids: str) -> str:
        # Each change rules from its own Helsinki date to the next change's date (empty when both fall on one date,
        # where the later one rules); before the first change, and for a provider without any, it is not approved.
        zone = f"'{HELSINKI.key}'"
        return f"""
WITH providers AS (
    SELECT pv.id, pv.business_id FROM {Provider._meta.db_table} pv
    WHERE pv.organiser_id = %(org)s AND pv.business_id IN ({business_ids})
), changes AS (
    SELECT sc.provider_id, sc.state = '{ProviderState.APPROVED.value}' AS approved,
        (sc.effective_at AT TIME ZONE {zone})::date AS from_day,
        lead((sc.effective_at AT TIME ZONE {zone})::date)
            OVER (PARTITION BY sc.provider_id ORDER BY sc.effective_at, sc.id) AS until_day
    FROM {ProviderStateChange._meta.db_table} sc WHERE sc.provider_id IN (SELECT id FROM providers)
), ranges AS (
    SELECT provider_id, '-infinity'::date AS from_day, min(from_day) AS until_day, false AS approved
    FROM changes GROUP BY provider_id
    UNION ALL
    SELECT provider_id, from_day, coalesce(until_day, 'infinity'), approved FROM changes
)
SELECT p.business_id, p.id AS provider_id, coalesce(r.approved, false) AS approved,
    coalesce(r.from_day, '-infinity') AS from_day, coalesce(r.until_day, 'infinity') AS until_day
FROM providers p LEFT JOIN ranges r ON r.provider_id = p.id
"""


REGISTER = ServicesProviderRegister()
