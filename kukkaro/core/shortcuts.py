"""Small helpers views share."""

from collections.abc import Callable

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404


def or_404[T](load: Callable[[], T]) -> T:
    """Run a selector; an object the user may not see (the selector raises DoesNotExist for it) looks exactly like
    one that does not exist."""
    try:
        return load()
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
