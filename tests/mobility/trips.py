"""Trip-file rows for tests: a good leg by default, any column overridden."""

import csv
import io

from kukkaro.mobility.trip_files import COLUMNS

OPERATOR = "2222222-9"  # a valid business ID (tests/services/world.py BUSINESS_IDS)


def leg(**values: str) -> dict[str, str]:
    row = {
        "operator_id": OPERATOR,
        "trip_id": "T-1",
        "client_number": "",
        "authorization_id": "",
        "pickup_at": "2026-03-04T10:00:00+02:00",
        "dropoff_at": "2026-03-04T10:25:00+02:00",
        "origin_municipality": "049",
        "destination_municipality": "049",
        "distance_km": "10.0",
        "duration_min": "20",
        "waiting_min": "",
        "vehicle_class": "car",
        "purpose": "leisure",
        "escort": "0",
        "supplements": "",
        "shared_ride_id": "",
        "fare_eur": "43.40",
        "self_share_eur": "3.00",
    }
    row.update(values)
    return row


def trip_file(rows: list[dict[str, str]], *, columns: tuple[str, ...] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue().encode()
