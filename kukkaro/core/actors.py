"""Who does something, as the audit and the ledger record it: the type of an ``actor`` argument below ``people``.

System actors join this alias (issue 17 item 4). Core may not import the user model, not even for type checking
(import-linter counts imports under TYPE_CHECKING), so the alias names Django's AbstractUser, which
``kukkaro.people.models.User`` extends. Apps above ``people`` type a person acting as ``User``."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

type Actor = AbstractUser
