"""The floor under any authorisation endpoint on the issue's stack, for ``bench/authorization_bench.py``.

The application's own URLs plus one bench-only endpoint, ``POST /bench-floor/authorizations``, served by the
same settings, middleware and gunicorn as the real API: it authenticates the dispatch centre's token with the
API's own ``TokenAuth``, checks the same permission, parses and validates the same request body and
``Idempotency-Key`` header as the real booking, and then, instead of judging and holding, runs one transaction
of ``pgbench -b tpcb-like`` (the same five statements on the same tables, initialised at ``--scale`` in the bench's
database) through Django's connection, in one round trip: a PL/pgSQL function (``FUNCTION_SQL``) called in
autocommit, so the server sees one statement and one commit. A booking has to do at least that much in the
database (read the token, read and change the purse, write the hold, the authorisation and its audit row, all in
one transaction), so this endpoint's rate is the most any booking endpoint built this way could reach on the
machine, however its database work were packed.

Never mounted by the product: gunicorn loads it only with
``DJANGO_SETTINGS_MODULE=bench.authorization_floor_settings`` (the application's settings with this module as
``ROOT_URLCONF``).
"""

import datetime as dt
import random
from functools import cache
from typing import Annotated

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest
from django.urls import path
from ninja import Header, NinjaAPI, Schema

from config.urls import urlpatterns as application_urlpatterns
from kukkaro.api.auth import TokenAuth
from kukkaro.api.dispatch import TripRequestIn
from kukkaro.core.permissions import Action, authorize

#: pgbench's tpcb-like transaction as one function, so the endpoint needs one round trip for it.
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION bench_floor_tpcb(p_aid integer, p_bid integer, p_tid integer, p_delta integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    balance integer;
BEGIN
    UPDATE pgbench_accounts SET abalance = abalance + p_delta WHERE aid = p_aid;
    SELECT abalance INTO balance FROM pgbench_accounts WHERE aid = p_aid;
    UPDATE pgbench_tellers SET tbalance = tbalance + p_delta WHERE tid = p_tid;
    UPDATE pgbench_branches SET bbalance = bbalance + p_delta WHERE bid = p_bid;
    INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (p_tid, p_bid, p_aid, p_delta, CURRENT_TIMESTAMP);
    RETURN balance;
END
$$
"""

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
    with connection.cursor() as cursor:  # autocommit: the call is its own transaction
        cursor.execute("SELECT bench_floor_tpcb(%s, %s, %s, %s)", [aid, bid, tid, delta])
        balance = cursor.fetchone()[0]
    return 201, FloorOut(decision="approved", balance=balance, at=payload.pickup_at)


_patterns, _app_name, _namespace = floor_api.urls
for _pattern in _patterns:
    _pattern.callback = login_not_required(_pattern.callback)

urlpatterns = [*application_urlpatterns, path("bench-floor/", (_patterns, _app_name, _namespace))]
