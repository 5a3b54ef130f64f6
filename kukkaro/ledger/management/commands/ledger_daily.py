from django.core.management.base import BaseCommand

from kukkaro.ledger.holds import holds_expire
from kukkaro.ledger.releases import purses_release_due


class Command(BaseCommand):
    help = "Release funding periods that have begun, close finished ones, and release expired holds."

    def handle(self, *args, **options):
        released = purses_release_due()
        expired = holds_expire()
        self.stdout.write(f"Released {released} period(s); released {expired} expired hold(s).")
