from django.urls import path

from kukkaro.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("access-log/", views.access_log, name="access_log"),
]
