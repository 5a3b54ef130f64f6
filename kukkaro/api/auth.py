from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from kukkaro.core.permissions import Action, can
from kukkaro.people.services import api_token_user


class TokenAuth(HttpBearer):
    """Bearer token → user; only roles allowed ``api.access`` get through. Endpoints check their own action
    on top with ``authorize``."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_user(token=token)
        if user is None or not can(user, Action.API_ACCESS):
            return None
        request.user = user
        return user
