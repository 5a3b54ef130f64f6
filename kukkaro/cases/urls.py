from django.urls import path

from kukkaro.cases import views

app_name = "cases"

urlpatterns = [
    path("clients/<uuid:client_id>/case/", views.case_overview, name="case_overview"),
    path("clients/<uuid:client_id>/assessments/new/", views.assessment_new, name="assessment_new"),
    path("clients/<uuid:client_id>/plans/new/", views.plan_new, name="plan_new"),
    path("clients/<uuid:client_id>/calculations/new/", views.calculation_new, name="calculation_new"),
    path("calculations/<uuid:calculation_id>/", views.calculation_detail, name="calculation_detail"),
    path("calculations/<uuid:calculation_id>/finalise/", views.calculation_finalise, name="calculation_finalise"),
    path("calculations/<uuid:calculation_id>/decision/", views.decision_new, name="decision_new"),
    path("decisions/<uuid:decision_id>/", views.decision_detail, name="decision_detail"),
    path("decisions/<uuid:decision_id>/document.pdf", views.decision_document, name="decision_document"),
    path("decisions/<uuid:decision_id>/propose/", views.decision_propose, name="decision_propose"),
    path("decisions/<uuid:decision_id>/approve/", views.decision_approve, name="decision_approve"),
    path("decisions/<uuid:decision_id>/send/", views.decision_send, name="decision_send"),
    path("decisions/<uuid:decision_id>/annul/", views.decision_annul, name="decision_annul"),
]
