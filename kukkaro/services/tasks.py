"""Jobs of choice and spending. Thin: the services are idempotent, so a job that runs twice does no harm."""

from django.tasks import task

from kukkaro.services.agreements import agreements_reserve_month
from kukkaro.services.claims import claims_auto_approve


@task()
def services_daily_job() -> dict:
    """Daily: approve claims whose dispute window has passed; reserve the month for standing agreements."""
    return {"claims_approved": claims_auto_approve(), "months_reserved": agreements_reserve_month()}
