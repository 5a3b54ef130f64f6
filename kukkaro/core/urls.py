from django.urls import path

from kukkaro.core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("accessibility/", views.accessibility, name="accessibility"),
    path("administration/audit/", views.audit_log, name="audit_log"),
    path("health/", views.health, name="health"),
    path("session/extend/", views.session_extend, name="session_extend"),
]
