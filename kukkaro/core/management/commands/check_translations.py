"""Fail when any UI string lacks a translation, or a translation is fuzzy, in fi, sv or en.

Runs makemessages first, so a string added in code but never put into the catalogues shows up as untranslated.
"""

import re
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

LANGUAGES = ("fi", "sv", "en")
_STATS = re.compile(r"(\d+) (translated|fuzzy|untranslated)")


class Command(BaseCommand):
    help = "Update the fi/sv/en catalogues and fail on any missing or fuzzy translation."

    def handle(self, *args, **options):
        call_command(
            "makemessages",
            locale=list(LANGUAGES),
            no_location=True,
            no_obsolete=True,
            ignore_patterns=[".venv/*", "var/*", "tests/*", "bench/*"],
            verbosity=0,
        )
        problems = []
        for language in LANGUAGES:
            po = Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES" / "django.po"
            if not po.is_file():
                problems.append(f"{language}: {po} is missing")
                continue
            result = subprocess.run(  # noqa: S603 - fixed arguments
                ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],  # noqa: S607
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                problems.append(f"{language}: msgfmt --check failed:\n{result.stderr.strip()}")
            counts = {kind: int(n) for n, kind in _STATS.findall(result.stderr)}
            self.stdout.write(f"{language}: {result.stderr.strip()}")
            for kind in ("fuzzy", "untranslated"):
                if counts.get(kind):
                    problems.append(f"{language}: {counts[kind]} {kind}")
        if problems:
            raise CommandError("Translations are incomplete:\n  " + "\n  ".join(problems))
        self.stdout.write(self.style.SUCCESS("All UI strings are translated in fi, sv and en."))
