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


def pgbench_connection(url: str) -> list[str]:
    """pgbench's (and psql's) host, port and user options for a database URL."""
    parsed = urlparse(url)
    return ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]


def pgbench_init(url: str, database: str, *, scale: int) -> None:
    """pgbench's tables at ``scale`` in ``database`` (``pgbench -i``), replacing any there."""
    subprocess.run(  # noqa: S603
        ["pgbench", *pgbench_connection(url), "-i", "-q", "-s", str(scale), database],  # noqa: S607
        check=True,
        capture_output=True,
    )
