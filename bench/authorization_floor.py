"""The floor under any authorisation endpoint on the issue's stack, for ``bench/authorization_bench.py``.

The application's own URLs plus one bench-only endpoint, ``POST /bench-floor/authorizations``, served by the
same settings, middleware and gunicorn as the real API: it authenticates the dispatch centre's token with the
API's own ``TokenAuth``, checks the same permission, parses and validates the same request body and
``Idempotency-Key`` header as the real booking, and then, instead of judging and holding, runs one transaction
of ``pgbench -b tpcb-like`` (the same five statements on the same tables, initialised at ``--scale`` in the bench's
database) through Django's connection. A booking has to do at least that much in the database (read the token,
read and change the purse, write the hold, the authorisation and its audit row), so this endpoint's rate is the
most any booking endpoint built this way could reach on the machine.

Never mounted by the product: gunicorn loads it only with
``DJANGO_SETTINGS_MODULE=bench.authorization_floor_settings`` (the application's settings with this module as
``ROOT_URLCONF``).
"""

import datetime as dt
import random
from functools import cache
from typing import Annotated

from django.contrib.auth.decorators import login_not_required
from django.db import connection, transaction
from django.http import HttpRequest
from django.urls import path
from ninja import Header, NinjaAPI, Schema

from config.urls import urlpatterns as application_urlpatterns
from kukkaro.api.auth import TokenAuth
from kukkaro.api.dispatch import TripRequestIn
from kukkaro.core.permissions import Action, authorize

PATH = "/bench-floor/authorizations"

floor_api = NinjaAPI(title="bench floor", auth=TokenAuth(), urls_namespace="bench-floor", docs_url=None)


class FloorOut(Schema):
    decision: str
    balance: int
    at: dt.datetime


@cache
def _scale() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pgbench_branches")
        return cursor.fetchone()[0]


@floor_api.post("/authorizations", response={201: FloorOut})
def floor_authorization(
    request: HttpRequest,
    payload: TripRequestIn,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key")],
) -> tuple[int, FloorOut]:
    authorize(request.auth, Action.TRIP_AUTHORIZE)
    scale = _scale()
    # pgbench's own random draws for tpcb-like.
    aid = random.randint(1, 100_000 * scale)
    bid = random.randint(1, scale)
    tid = random.randint(1, 10 * scale)
    delta = random.randint(-5000, 5000)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid = %s", [delta, aid])
        cursor.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s", [aid])
        balance = cursor.fetchone()[0]
        cursor.execute("UPDATE pgbench_tellers SET tbalance = tbalance + %s WHERE tid = %s", [delta, tid])
        cursor.execute("UPDATE pgbench_branches SET bbalance = bbalance + %s WHERE bid = %s", [delta, bid])
        cursor.execute(
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%s, %s, %s, %s, CURRENT_TIMESTAMP)",
            [tid, bid, aid, delta],
        )
    return 201, FloorOut(decision="approved", balance=balance, at=payload.pickup_at)


_patterns, _app_name, _namespace = floor_api.urls
for _pattern in _patterns:
    _pattern.callback = login_not_required(_pattern.callback)

urlpatterns = [*application_urlpatterns, path("bench-floor/", (_patterns, _app_name, _namespace))]
