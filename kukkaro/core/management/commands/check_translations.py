"""Fail when any UI string lacks a translation, or a translation is fuzzy, in fi, sv or en; when an audit action
code has no words in ``kukkaro.core.audit_words``; or when an enum member's label is missing or untranslated
(``kukkaro.core.translation_checks``).

Runs makemessages first, so a string added in code but never put into the catalogues shows up as untranslated.
"""

import re
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation.reloader import translation_file_changed

from kukkaro.core import audit_words, translation_checks

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
        # The enum check reads labels through gettext, so it needs the catalogues compiled as they are now: a fresh
        # clone has no .mo files, and old ones would hide a new label.
        call_command("compilemessages", locale=list(LANGUAGES), ignore_patterns=[".venv/*"], verbosity=0)
        translation_file_changed(
            sender=None, file_path=Path("django.mo")
        )  # forget catalogues read before, as runserver does
        code_root = Path(settings.BASE_DIR) / "kukkaro"
        problems += translation_checks.audit_action_problems(code_root, set(audit_words.described_actions()))
        problems += translation_checks.choices_problems(code_root)
        if problems:
            raise CommandError("Translations are incomplete:\n  " + "\n  ".join(problems))
        self.stdout.write(
            self.style.SUCCESS("All UI strings, audit actions and enum labels are translated in fi, sv and en.")
        )
