"""The provider register's one question for other apps (``kukkaro.core.provider_register``): was a business an
approved provider of the organiser on a day — answered in Python one provider at a time, and in SQL for many
business IDs at once (the set-based trip import), the same for every day around every change."""

import datetime as dt

import pytest
from django.db import connection

from kukkaro.core import clock
from kukkaro.core.provider_register import provider_register
from kukkaro.core.roles import Role
from kukkaro.services import providers
from kukkaro.services.models import ProviderState
from tests.databases import postgresql_only
from tests.factories import make_user, organiser
from tests.services.world import BUSINESS_IDS, approved_provider

pytestmark = pytest.mark.django_db


def _history():
    """A provider approved on 3 March, suspended and approved again on 10 March (the later change rules that day),
    suspended on 20 March; another approved on 5 March; a third that only applied."""
    approver = make_user(Role.DECISION_MAKER)
    with clock.pinned(dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC)):
        first, _user = approved_provider(organiser=organiser(), decision_maker=approver, username="p1")
    with clock.pinned(dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC)):
        first = providers.provider_set_state(
            actor=approver, provider=first, state=ProviderState.SUSPENDED, reason="Tarkastus."
        )
    with clock.pinned(dt.datetime(2026, 3, 10, 21, 30, tzinfo=dt.UTC)):  # 23.30 in Helsinki: still 10 March
        first = providers.provider_set_state(actor=approver, provider=first, state=ProviderState.APPROVED)
    with clock.pinned(dt.datetime(2026, 3, 20, 22, 30, tzinfo=dt.UTC)):  # 00.30 on 21 March in Helsinki
        first = providers.provider_set_state(
            actor=approver, provider=first, state=ProviderState.SUSPENDED, reason="Tarkastus."
        )
    with clock.pinned(dt.datetime(2026, 3, 5, 9, 0, tzinfo=dt.UTC)):
        second, _user = approved_provider(
            organiser=organiser(), decision_maker=approver, business_id=BUSINESS_IDS[1], username="p2"
        )
    return first, second


DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in range(25)]


def test_register__a_business_of_the_organiser_and_its_state_on_each_day():
    first, second = _history()
    register = provider_register()
    assert register.provider_id(organiser_id=first.organiser_id, business_id=first.business_id) == first.pk
    assert register.provider_id(organiser_id=organiser("paijat-hame").pk, business_id=first.business_id) is None
    assert register.provider_id(organiser_id=first.organiser_id, business_id="3333333-8") is None
    approved = {day for day in DAYS if register.approved_on(provider_id=first.pk, day=day)}
    assert approved == {day for day in DAYS if dt.date(2026, 3, 3) <= day <= dt.date(2026, 3, 20)}
    assert not register.approved_on(provider_id=second.pk, day=dt.date(2026, 3, 4))
    assert register.approved_on(provider_id=second.pk, day=dt.date(2026, 3, 5))


def test_register__the_sql_answers_as_python_for_every_day():
    postgresql_only("the register's SQL is read by the set-based trip import, PostgreSQL's")
    first, second = _history()
    register = provider_register()
    wanted = [first.business_id, second.business_id, "3333333-8"]
    sql = register.approval_days_sql(business_ids="SELECT unnest(%(ids)s::text[])")
    with connection.cursor() as cursor:
        # Python has no infinite dates: the open ends are read as the calendar's first and last day.
        cursor.execute(
            "SELECT business_id, provider_id, approved, greatest(from_day, '0001-01-01'::date), "  # noqa: S608
            f"least(until_day, '9999-12-31'::date) FROM ({sql}) r",
            {"org": first.organiser_id, "ids": wanted},
        )
        ranges = cursor.fetchall()
    assert {business_id for business_id, *_rest in ranges} == {first.business_id, second.business_id}
    for provider in (first, second):
        own = [r for r in ranges if r[0] == provider.business_id]
        for day in DAYS:
            covering = [approved for _b, pk, approved, start, until in own if start <= day < until]
            assert covering == [register.approved_on(provider_id=provider.pk, day=day)], (provider.name, day)
            assert {pk for _b, pk, *_rest in own} == {provider.pk}
