"""Factories per app. Clients and users are made through the services so audit rows exist as in real use."""

import datetime as dt
import itertools

import factory

from kukkaro.core.actors import SystemActor
from kukkaro.core.identifiers import make_hetu
from kukkaro.core.models import Municipality, Organiser
from kukkaro.core.roles import IDENTIFIED_ROLES, ORGANISER_ROLES, Role
from kukkaro.people import services
from kukkaro.people.models import Client, User

PASSWORD = "correct-horse-battery-staple"
_hetu_counter = itertools.count()


def synthetic_hetu() -> str:
    """A fresh valid identity code in the 900–999 test range."""
    n = next(_hetu_counter)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=(n // 100) * 37 % 20000)
    return make_hetu(born, 900 + n % 100)


def system_actor(organiser: Organiser) -> SystemActor:
    """The system acting for ``organiser`` in a test world (as ``import_trips`` or the demo builder would)."""
    return SystemActor("test world", organiser_id=organiser.pk)


def organiser(code: str = "lansi-uusimaa") -> Organiser:
    return Organiser.objects.get(code=code)


def municipality(code: str = "049") -> Municipality:
    return Municipality.objects.get(code=code)


def make_user(role: Role, *, organiser_code: str = "lansi-uusimaa", username: str | None = None, **kwargs) -> User:
    org = organiser(organiser_code) if role in ORGANISER_ROLES else None
    national_id = kwargs.pop("national_id", None)
    if role in IDENTIFIED_ROLES and national_id is None:
        national_id = synthetic_hetu()
    return services.user_create(
        actor=None,
        username=username or f"{role.value}-{organiser_code}-{next(_hetu_counter)}",
        role=role,
        first_name=kwargs.pop("first_name", "Testi"),
        last_name=kwargs.pop("last_name", str(role.label).title()),
        organiser=org,
        password=kwargs.pop("password", PASSWORD),
        national_id=national_id,
        **kwargs,
    )


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        municipality_code = kwargs.pop("municipality_code", "049")
        muni = municipality(municipality_code)
        return services.client_create(
            actor=kwargs.pop("actor", None),
            organiser=muni.organiser,
            municipality=muni,
            national_id=kwargs.pop("national_id", None) or synthetic_hetu(),
            first_names=kwargs.pop("first_names", "Aino"),
            last_name=kwargs.pop("last_name", "Asiakas"),
            language=kwargs.pop("language", "fi"),
            **kwargs,
        )


def client_in(organiser_code: str, **kwargs) -> Client:
    return ClientFactory(municipality_code="049" if organiser_code == "lansi-uusimaa" else "398", **kwargs)


def client_user_for(client: Client) -> User:
    """A signed-in client account for a register entry (as identification would create it)."""
    return make_user(Role.CLIENT, national_id=client.national_id, first_name=client.first_names)
