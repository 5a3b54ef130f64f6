from django.core.management.base import BaseCommand, CommandError

from kukkaro.ledger.verification import ledger_verify


class Command(BaseCommand):
    help = "Recompute every purse counter from the transfers; exit non-zero on any mismatch."

    def handle(self, *args, **options):
        count, problems = ledger_verify()
        if problems:
            for problem in problems[:100]:
                self.stderr.write(f"  {problem.purse_id}: {problem.what}")
            raise CommandError(f"Ledger does not verify: {len(problems)} problem(s) in {count} purses.")
        self.stdout.write(self.style.SUCCESS(f"Ledger verifies: {count} purses, every counter matches."))
