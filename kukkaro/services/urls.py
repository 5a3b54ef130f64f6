from django.urls import path

from kukkaro.services import choice_views, claim_views, payment_views, views

app_name = "services"

urlpatterns = [
    path("providers/", views.provider_list, name="provider_list"),
    path("providers/<uuid:provider_id>/", views.provider_detail, name="provider_detail"),
    path("providers/<uuid:provider_id>/state/", views.provider_state, name="provider_state"),
    path("bank-accounts/", views.bank_change_list, name="bank_change_list"),
    path("bank-accounts/<int:change_id>/", views.bank_change_detail, name="bank_change_detail"),
    path("bank-accounts/<int:change_id>/decide/", views.bank_change_decide, name="bank_change_decide"),
    path("catalogue/", views.catalogue, name="catalogue"),
    path("catalogue/caps/new/", views.cap_new, name="cap_new"),
    path("catalogue/services/new/", views.service_type_edit, name="service_type_new"),
    path("catalogue/services/<slug:service_code>/", views.service_type_edit, name="service_type_edit"),
    path("clients/<uuid:client_id>/services/", choice_views.client_services, name="client_services"),
    path("budget-lines/<int:line_id>/choice/", choice_views.choice, name="choice"),
    path("agreements/<uuid:agreement_id>/", choice_views.agreement_detail, name="agreement_detail"),
    path("agreements/<uuid:agreement_id>/end/", choice_views.agreement_end, name="agreement_end"),
    path("claims/", claim_views.claim_queue, name="claim_queue"),
    path("claims/<uuid:claim_id>/", claim_views.claim_detail, name="claim_detail"),
    path("claims/<uuid:claim_id>/resolve/", claim_views.claim_resolve, name="claim_resolve"),
    path("payments/", payment_views.payment_batch_list, name="payment_batch_list"),
    path("payments/settings/", payment_views.spending_policy, name="spending_policy"),
    path("payments/status-report/", payment_views.payment_status_import, name="payment_status_import"),
    path("payments/<uuid:batch_id>/", payment_views.payment_batch_detail, name="payment_batch_detail"),
    path(
        "payments/<uuid:batch_id>/pain001.xml",
        payment_views.payment_batch_file,
        {"kind": "pain001"},
        name="payment_batch_pain001",
    ),
    path(
        "payments/<uuid:batch_id>/accounting.csv",
        payment_views.payment_batch_file,
        {"kind": "accounting"},
        name="payment_batch_csv",
    ),
    path("payments/<uuid:batch_id>/release/", payment_views.payment_batch_release, name="payment_batch_release"),
    path("payments/<uuid:batch_id>/cancel/", payment_views.payment_batch_cancel, name="payment_batch_cancel"),
    path("payments/<uuid:batch_id>/confirm/", payment_views.payment_batch_confirm, name="payment_batch_confirm"),
    path(
        "payments/<uuid:batch_id>/status-report/",
        payment_views.payment_batch_status_import,
        name="payment_batch_status_import",
    ),
]
