from django.urls import path

from kukkaro.mobility import views

app_name = "mobility"

urlpatterns = [
    path("trip-files/", views.trip_imports, name="trip_imports"),
    path("trip-files/<uuid:import_id>/", views.trip_import_detail, name="trip_import_detail"),
    path("trip-files/<uuid:import_id>/results.csv", views.trip_import_results, name="trip_import_results"),
    path("trip-review/", views.review_queue, name="review_queue"),
    path("trip-legs/<int:leg_id>/", views.leg_detail, name="leg_detail"),
    path("clients/<uuid:client_id>/transport/", views.client_month, name="client_month"),
    path("clients/<uuid:client_id>/transport/models/", views.client_comparison, name="client_comparison"),
    path("clients/<uuid:client_id>/transport/leasing/new/", views.leasing_new, name="leasing_new"),
    path("clients/<uuid:client_id>/transport/leasing/<uuid:lease_id>/", views.lease_detail, name="lease_detail"),
    path("transport-costs/", views.cohort_comparison, name="cohort_comparison"),
    path("transport-costs.csv", views.cohort_comparison_csv, name="cohort_comparison_csv"),
    path("transport-costs.xlsx", views.cohort_comparison_xlsx, name="cohort_comparison_xlsx"),
]
