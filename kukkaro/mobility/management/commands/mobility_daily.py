from django.core.management.base import BaseCommand

from kukkaro.mobility.authorizations import authorizations_expire


class Command(BaseCommand):
    help = "Release the holds of trip authorisations whose time is up (a week after the end of the trip's month)."

    def handle(self, *args, **options):
        expired = authorizations_expire()
        self.stdout.write(f"Expired {expired} trip authorisation(s).")
