from django.urls import path

from kukkaro.services import provider_views as views

app_name = "provider"

urlpatterns = [
    path("", views.home, name="home"),
    path("apply/", views.apply, name="apply"),
    path("details/", views.edit, name="edit"),
    path("bank-account/", views.bank_account, name="bank_account"),
    path("prices/", views.prices, name="prices"),
    path("agreements/", views.agreements, name="agreements"),
    path("claims/", views.claims, name="claims"),
    path("claims/new/", views.claim_new, name="claim_new"),
    path("claims/<uuid:claim_id>/", views.claim_detail, name="claim_detail"),
    path("uploads/", views.uploads, name="uploads"),
    path("uploads/<uuid:upload_id>/", views.upload_detail, name="upload_detail"),
    path("uploads/<uuid:upload_id>/results.csv", views.upload_results_csv, name="upload_results_csv"),
]
