"""The request a signed-in view is given, for type checking."""

from django.http import HttpRequest

from kukkaro.people.models import User


class AuthenticatedRequest(HttpRequest):
    """A request whose user has signed in: what every view behind ``@requires`` gets, since
    LoginRequiredMiddleware sends anonymous visitors to sign in first. Only for annotations: Django still passes
    a plain HttpRequest. (It lives in people, not core, because core must not import the user model.)"""

    user: User
