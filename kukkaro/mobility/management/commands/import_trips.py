from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kukkaro.core.actors import trip_import_command
from kukkaro.core.models import Organiser
from kukkaro.mobility.trip_files import import_trips, results_csv


class Command(BaseCommand):
    help = (
        "Import a trip file from the dispatch centre: every row ends accepted, rejected or held for review. "
        "Importing the same file again changes nothing. Writes the result file next to the input (or --results)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--organiser", required=True, help="the organiser's code, e.g. lansi-uusimaa")
        parser.add_argument("--results", type=Path, help="where to write the result file (default: FILE.results.csv)")

    def handle(self, *args, file: Path, organiser: str, results: Path | None, **options):
        org = Organiser.objects.filter(code=organiser).first()
        if org is None:
            raise CommandError(f"no organiser with the code {organiser!r}")
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            done = import_trips(actor=trip_import_command(org), organiser=org, filename=file.name, content=content)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        target = results or file.with_name(file.name + ".results.csv")
        target.write_bytes(results_csv(done))
        counts = ", ".join(f"{outcome} {count}" for outcome, count in sorted(done.counts.items()))
        self.stdout.write(f"{done.filename}: {done.rows} rows ({counts}); results in {target}")
