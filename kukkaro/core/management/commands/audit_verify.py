from django.core.management.base import BaseCommand, CommandError

from kukkaro.core.audit import audit_verify


class Command(BaseCommand):
    help = "Recompute the audit hash chain; exit non-zero on any edited, inserted or missing row."

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            help="The head hash printed by an earlier run and kept elsewhere; also catches rows removed at the end.",
        )

    def handle(self, *args, expect_head: str | None = None, **options):
        count, breaks, head = audit_verify(expected_head=expect_head)
        if breaks:
            for item in breaks[:50]:
                self.stderr.write(f"  row {item.seq}: {item.reason}")
            if len(breaks) > 50:
                self.stderr.write(f"  … and {len(breaks) - 50} more")
            raise CommandError(f"Audit chain broken: {len(breaks)} problem(s) in {count} rows.")
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} rows. Head {head}"))
