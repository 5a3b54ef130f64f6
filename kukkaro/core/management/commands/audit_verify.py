from django.core.management.base import BaseCommand, CommandError

from kukkaro.core.audit import audit_verify


class Command(BaseCommand):
    help = (
        "Recompute the keyed audit chain and its sealed head; exit non-zero on any edited, inserted, missing or "
        "reordered row, rows cut off the end, or an unknown key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            help=(
                "The head hash printed by an earlier run and kept outside the database; also catches the table and "
                "its head record put back as they were at an earlier moment."
            ),
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
