"""What the benchmark scripts share."""

import subprocess
from urllib.parse import urlparse


def psql_admin(url: str, sql: str) -> None:
    """Run one statement in the server's ``postgres`` database (to create or drop a scratch database)."""
    parsed = urlparse(url)
    subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-h",
            parsed.hostname or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
    )
