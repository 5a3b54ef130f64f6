"""The access log as a client (and the staff on their behalf) reads it: who, in words, and never a code."""

import pytest
from django.core.paginator import Paginator
from django.utils import translation

from kukkaro.core import audit_words
from kukkaro.people.presenters import access_log_table
from kukkaro.people.selectors import client_access_log
from tests.services.world import add_activity, build_world
from tests.worlds import shared_world

pytestmark = pytest.mark.django_db


def _build_world():
    world = build_world()
    add_activity(world)
    return world


#: A PSOP world with claims, a file, a batch and a bank change, built once and shared (tests/worlds.py).
world = shared_world("world", _build_world)


def _rows(client, language: str) -> list[list[str]]:
    with translation.override(language):
        page = Paginator(client_access_log(client=client, every_organiser=True), 500).get_page(1)
        return [[str(cell.text) for cell in row] for row in access_log_table(page).rows]


def test_access_log__a_providers_employee__is_named_as_the_provider_not_as_county_staff(world):
    rows = _rows(world.client, "fi")
    by_provider = [row for row in rows if world.provider_user.get_full_name() in row[1]]
    assert by_provider, rows
    for row in by_provider:
        assert row[1] == f"{world.provider_user.get_full_name()}, {world.provider.name} (palveluntuottaja)"
        assert world.client.organiser.name not in row[1]
    with translation.override("sv"):
        assert _rows(world.client, "sv")[0]  # renders in Swedish too
    assert any(row[1].endswith(f"{world.provider.name} (serviceproducent)") for row in _rows(world.client, "sv"))


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_access_log__every_action__reads_as_words_in_the_language(language, world):
    codes = {event.action for event in client_access_log(client=world.client, every_organiser=True)}
    assert {"claim.submit", "decision.approve", "ledger.purse_open"} <= codes
    texts = {row[2] for row in _rows(world.client, language)}
    for code in codes:
        assert code not in texts
    assert str(audit_words.UNKNOWN_ACTION) not in texts, "every action in the log has words"
    with translation.override(language):
        assert audit_words.action_text("decision.approve", for_subject=True) in texts
