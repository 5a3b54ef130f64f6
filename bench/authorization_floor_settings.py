"""The application's settings, unchanged but for the URLs: ``bench/authorization_floor.py`` adds the floor's
bench-only endpoint to the application's own. Used only by ``bench/authorization_bench.py``."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.authorization_floor"
