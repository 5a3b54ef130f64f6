"""Who acts: a person (a ``people.User``) or the system itself (a job, the demo builder, the identification
adapter creating a client's account, the trip import command).

A ``SystemActor`` has no database row and cannot sign in. It has the role ``Role.SYSTEM``, so ``RULES`` grants it
exactly what jobs need and ``authorize`` checks it like anyone else; ``audit_record`` writes it with no actor id,
its name as the actor label and the role "system" (ADR 0028). Code that once passed ``actor=None`` to skip the
permission check passes one of the named actors below instead; ``actor=None`` is refused.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from kukkaro.core.roles import Role


class Person(Protocol):
    """What core reads of a person acting (``people.User``; core does not import people). Read-only members, so a
    model's fields and Django's ``is_authenticated`` property both satisfy it."""

    @property
    def pk(self) -> Any: ...

    @property
    def role(self) -> Any: ...

    @property
    def organiser_id(self) -> int | None: ...

    @property
    def national_id(self) -> str | None: ...

    @property
    def is_authenticated(self) -> bool: ...

    @property
    def is_active(self) -> bool: ...

    def get_full_name(self) -> str: ...

    def get_username(self) -> str: ...


@dataclass(frozen=True)
class SystemActor:
    """The system acting on its own: no account, no sign-in, never a person.

    ``organiser_id`` is the one organiser it acts for (an organiser-scoped rule then holds for that organiser's
    objects only) or None for a job of every organiser (which only rules without an organiser rule allow)."""

    name: str
    organiser_id: int | None = None

    @property
    def role(self) -> Role:
        return Role.SYSTEM

    @property
    def pk(self) -> None:
        return None

    @property
    def national_id(self) -> None:
        return None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return True

    def get_full_name(self) -> str:
        return self.name

    def get_username(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


#: Whoever acts: a person or the system. (In the apps above people this is ``people.User | SystemActor``.)
Actor = Person | SystemActor

#: The daily jobs of every organiser: claims approved after their dispute window, reservations, expiries.
DAILY_JOB = SystemActor("daily job")
#: The nightly verification of the audit chain.
AUDIT_VERIFY = SystemActor("audit verification")
#: The identification adapter, creating the account of a strongly identified client on first sign-in.
STRONG_IDENTIFICATION = SystemActor("strong identification")


def demo_builder(organiser: Any = None) -> SystemActor:
    """The demo builder, acting for ``organiser`` (or for none: people and accounts of no organiser)."""
    return SystemActor("demo builder", organiser_id=getattr(organiser, "pk", None))


def trip_import_command(organiser: Any) -> SystemActor:
    """``manage.py import_trips``, importing the trip files of one organiser."""
    return SystemActor("trip import command", organiser_id=organiser.pk)


def strong_identification() -> SystemActor:
    return STRONG_IDENTIFICATION


def person[P: Person](actor: P | SystemActor | None) -> P | None:
    """The actor if a person (for a ``*_by`` foreign key to a user), None if the system acted."""
    return None if isinstance(actor, SystemActor) else actor
