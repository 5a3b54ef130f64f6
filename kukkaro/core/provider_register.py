"""Whether a business is an approved provider of an organiser on a day, for the apps that must ask and may not
import ``services``.

``services`` owns providers and their life cycle. ``mobility`` judges a taxi operator by this one question (a leg
from an operator that was not an approved provider on the pickup date is held for review), but ``services`` and
``mobility`` are siblings that do not import each other (docs/architecture.md). So the question is declared here,
below both, and ``services`` registers the one answer when the app is loaded (``ServicesConfig.ready``), as
``cases.hooks`` does for decisions. Both ways of asking are the owner's: one provider at a time in Python, and for
the set-based trip import an SQL query over many business IDs at once, with the same day rule.
"""

import datetime as dt
import uuid
from typing import Protocol


class ProviderRegister(Protocol):
    def provider_id(self, *, organiser_id: int, business_id: str) -> uuid.UUID | None:
        """The organiser's provider with this business ID, or None."""
        ...

    def approved_on(self, *, provider_id: uuid.UUID, day: dt.date) -> bool:
        """Whether the provider was approved at the end of ``day`` in Helsinki (its last change before then)."""
        ...

    def approval_days_sql(self, *, business_ids: str) -> str:
        """PostgreSQL: a query of ``(business_id, provider_id, approved, from_day, until_day)`` for the providers of
        the organiser ``%(org)s`` whose business ID is in ``business_ids`` (a query of one text column): day ranges
        ``[from_day, until_day)`` that together cover every day, each with whether ``approved_on`` holds on it."""
        ...


_registered: list[ProviderRegister] = []


def provider_register_set(register: ProviderRegister) -> None:
    """Called once by the app that owns providers, when it is loaded."""
    _registered[:] = [register]


def provider_register() -> ProviderRegister:
    if not _registered:
        raise RuntimeError("no provider register: kukkaro.services is not installed")
    return _registered[0]
