from django.urls import include, path
from django.views.i18n import set_language

from kukkaro.core.permissions import public

urlpatterns = [
    path("", include("kukkaro.core.urls")),
    path("", include("kukkaro.people.urls")),
    path("", include("kukkaro.cases.urls")),
    path("", include("kukkaro.services.urls")),
    path("provider/", include("kukkaro.services.provider_urls")),
    path("transport/", include("kukkaro.mobility.urls")),
    path("my/", include("kukkaro.portal.urls")),
    path("api/v1/", include("kukkaro.api.urls")),
    path("i18n/setlang/", public(set_language), name="set_language"),
]

handler403 = "kukkaro.core.views.permission_denied"
handler404 = "kukkaro.core.views.page_not_found"
handler500 = "kukkaro.core.views.server_error"
