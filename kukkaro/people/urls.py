from django.urls import path

from kukkaro.people import views

app_name = "people"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("identify/", views.identify, name="identify"),
    path("identify/return/", views.identify_return, name="identify_return"),
    path("identify/test-provider/", views.test_idp, name="test_idp"),
    path("clients/", views.client_list, name="client_list"),
    path("clients/<uuid:client_id>/", views.client_detail, name="client_detail"),
    path("clients/<uuid:client_id>/access-log/", views.client_access_log, name="client_access_log"),
    path("clients/<uuid:client_id>/supporters/new/", views.supporter_new, name="supporter_new"),
    path("clients/<uuid:client_id>/guardians/new/", views.guardian_new, name="guardian_new"),
    path("administration/users/", views.user_list, name="user_list"),
]
