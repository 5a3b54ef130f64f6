"""Jobs of mobility. Thin: the services are idempotent, so a job that runs twice does no harm."""

from django.tasks import task

from kukkaro.mobility.authorizations import authorizations_expire
from kukkaro.mobility.leasing import leasing_post_due


@task()
def mobility_daily_job() -> dict:
    """Daily: release the holds of trip authorisations whose time is up; post each leasing car's month."""
    return {"authorizations_expired": authorizations_expire(), "leasing_months_posted": leasing_post_due()}
