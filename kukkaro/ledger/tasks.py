"""Ledger jobs. Thin: the services are idempotent, so a job that runs twice does no harm."""

from django.tasks import task

from kukkaro.ledger.holds import holds_expire
from kukkaro.ledger.releases import purses_release_due


@task()
def ledger_daily_job() -> dict:
    return {"periods_released": purses_release_due(), "holds_expired": holds_expire()}


@task()
def holds_expire_job() -> int:
    return holds_expire()
