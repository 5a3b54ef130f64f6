"""Strong identification of clients and supporters, shaped like Suomi.fi identification.

An *adapter* starts identification (``begin``) and, when the identity provider returns, turns its answer into
``IdentityClaims`` (``complete``). Production plugs in a SAML (Suomi.fi) or OIDC adapter by naming its class in
``IDENTIFICATION_ADAPTER``; the only adapter shipped is ``TestIdentityProvider``, for the demo and tests, which:

- refuses to exist when ``KUKKARO_ENV=production`` (settings raise too, and a system check fails);
- accepts only identity codes in the 900–999 range reserved for test use, so it cannot impersonate a real person.
"""

import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.module_loading import import_string

from kukkaro.core.identifiers import IdentifierError, parse_hetu


@dataclass(frozen=True)
class IdentityClaims:
    """What strong identification tells us (Suomi.fi: nationalIdentificationNumber, FirstName, sn)."""

    national_id: str
    given_names: str
    last_name: str
    provider: str
    level_of_assurance: str = "substantial"


class IdentificationFailed(Exception):
    """The identity provider did not identify the person (cancelled, expired, invalid answer)."""


class IdentificationUnavailable(Exception):
    """No identification adapter is configured."""


class IdentificationAdapter(ABC):
    """The seam for a real identity provider (Suomi.fi SAML, an OIDC broker…)."""

    name: str = ""

    @abstractmethod
    def begin(self, request: HttpRequest, *, next_url: str) -> HttpResponse:
        """Send the person to the identity provider."""

    @abstractmethod
    def complete(self, request: HttpRequest) -> IdentityClaims:
        """Read the provider's answer on the return URL; raise IdentificationFailed if it is not valid."""


_STATE_KEY = "kukkaro_identification_state"
_CLAIMS_KEY = "kukkaro_test_idp_claims"


class TestIdentityProvider(IdentificationAdapter):
    """A stand-in identity provider that asks for a test identity code and names. Never in production."""

    name = "test"
    __test__ = False  # not a pytest class, despite the name

    def __init__(self) -> None:
        if settings.KUKKARO_ENV == "production":
            raise ImproperlyConfigured("The test identity provider cannot run in production")

    def begin(self, request: HttpRequest, *, next_url: str) -> HttpResponse:
        state = secrets.token_urlsafe(24)
        request.session[_STATE_KEY] = {"state": state, "next": next_url}
        return HttpResponseRedirect(f"{reverse('people:test_idp')}?state={state}")

    @staticmethod
    def validate(national_id: str) -> str:
        """The identity code the test provider may vouch for, or IdentificationFailed."""
        try:
            code = parse_hetu(national_id)
        except IdentifierError as exc:
            raise IdentificationFailed("invalid identity code") from exc
        if not code.is_test_range:
            raise IdentificationFailed("the test provider accepts only identity codes 900–999")
        return code.value

    @staticmethod
    def answer(request: HttpRequest, *, state: str, national_id: str, given_names: str, last_name: str) -> None:
        """What the test provider's own page does when the person confirms: hand the claims back."""
        request.session[_CLAIMS_KEY] = {
            "state": state,
            "national_id": TestIdentityProvider.validate(national_id),
            "given_names": given_names,
            "last_name": last_name,
        }

    def complete(self, request: HttpRequest) -> IdentityClaims:
        expected = request.session.pop(_STATE_KEY, None)
        answer = request.session.pop(_CLAIMS_KEY, None)
        if not expected or not answer or not secrets.compare_digest(expected["state"], answer["state"]):
            raise IdentificationFailed("state mismatch or no answer")
        return IdentityClaims(
            national_id=self.validate(answer["national_id"]),
            given_names=answer["given_names"],
            last_name=answer["last_name"],
            provider=self.name,
        )


def next_url_after(request: HttpRequest) -> str:
    state = request.session.get(_STATE_KEY) or {}
    return state.get("next") or ""


@cache
def _adapter_class(path: str) -> type[IdentificationAdapter]:
    cls = import_string(path)
    if not issubclass(cls, IdentificationAdapter):
        raise ImproperlyConfigured(f"{path} is not an IdentificationAdapter")
    return cls


def get_adapter() -> IdentificationAdapter:
    path = settings.IDENTIFICATION_ADAPTER
    if not path:
        raise IdentificationUnavailable
    return _adapter_class(path)()


def test_provider_enabled() -> bool:
    path = settings.IDENTIFICATION_ADAPTER
    return bool(path) and issubclass(_adapter_class(path), TestIdentityProvider)
