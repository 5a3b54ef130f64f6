"""Jobs of mobility. Thin: the services are idempotent, so a job that runs twice does no harm."""

from django.tasks import task

from kukkaro.mobility.authorizations import authorizations_expire


@task()
def mobility_daily_job() -> dict:
    """Daily: release the holds of trip authorisations whose time is up."""
    return {"authorizations_expired": authorizations_expire()}
