from django.core.management.base import BaseCommand

from kukkaro.services.agreements import agreements_reserve_month
from kukkaro.services.claims import claims_auto_approve


class Command(BaseCommand):
    help = "Approve claims whose dispute window has passed, and reserve this month for standing agreements."

    def handle(self, *args, **options):
        approved = claims_auto_approve()
        reserved = agreements_reserve_month()
        self.stdout.write(f"Approved {approved} claim(s) after the dispute window; reserved {reserved} month(s).")
