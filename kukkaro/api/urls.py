from django.contrib.auth.decorators import login_not_required

from kukkaro.api.api import api

# The API authenticates every request itself (bearer tokens); the session sign-in middleware must let it through.
_patterns, _app_name, _namespace = api.urls
for _pattern in _patterns:
    _pattern.callback = login_not_required(_pattern.callback)
    _pattern.callback.kukkaro_api = True

app_name = "api"
urlpatterns = [*_patterns]
