from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from kukkaro.demo.data import DEMO_PASSWORD, build_demo


class Command(BaseCommand):
    help = "Build the synthetic demo region (safe to repeat) and run the server on 127.0.0.1:8000."

    def add_arguments(self, parser):
        parser.add_argument("--no-server", action="store_true", help="Only build the data.")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, no_server: bool, port: str, **options):
        if settings.KUKKARO_ENV == "production":
            raise CommandError("The demo never runs in production.")
        call_command("migrate", interactive=False, verbosity=0)
        summary = build_demo()
        out = self.stdout.write
        out(
            self.style.SUCCESS(
                f"Demo data ready: {summary.clients_total} clients ({summary.clients_created} new); "
                f"new cases by stage: {summary.cases or 'none'}."
            )
        )
        if summary.services is not None:
            out(self.style.SUCCESS(summary.services.line()))
        if summary.mobility is not None:
            out(self.style.SUCCESS(summary.mobility.line()))
        out("")
        out(f"Staff sign in at http://127.0.0.1:{port}/login/ with password {DEMO_PASSWORD}")
        for username, role, organiser in summary.staff:
            out(f"  {username:<16} {role:<16} {organiser}")
        out("")
        out(f"Clients and supporters: http://127.0.0.1:{port}/identify/ (test identification), e.g.")
        for hetu, first, last, what in summary.identities:
            out(f"  {hetu}  {first} {last}  ({what})")
        out("")
        out(f"API (dispatch centre, provider): http://127.0.0.1:{port}/api/v1/openapi.json, header Bearer <token>")
        for username, token in summary.api_tokens:
            out(f"  {username:<16} {token}")
        out("")
        if not no_server:
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
