from django.core.management.base import BaseCommand

from kukkaro.mobility.authorizations import authorizations_expire
from kukkaro.mobility.leasing import leasing_post_due


class Command(BaseCommand):
    help = (
        "Release the holds of trip authorisations whose time is up (a week after the end of the trip's month), "
        "and post each leasing car's county cost for the months begun."
    )

    def handle(self, *args, **options):
        expired = authorizations_expire()
        posted = leasing_post_due()
        self.stdout.write(f"Expired {expired} trip authorisation(s); posted {posted} leasing month(s).")
