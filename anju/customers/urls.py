"""URLs of the customers app (namespace ``customers``); order matters where patterns overlap."""

from django.urls import path

from .views import customer_detail, customer_list, followups, pool, reception, settings_pages

app_name = "customers"

urlpatterns = [
    path("", customer_list.customer_list, name="customer-list"),
    path("export/", customer_list.customer_export, name="customer-export"),
    path("new/", customer_detail.customer_register, name="customer-register"),
    path("<int:pk>/", customer_detail.customer_detail, name="customer-detail"),
    path("<int:pk>/edit/", customer_detail.customer_edit, name="customer-edit"),
    path("<int:pk>/stage/", customer_detail.customer_stage, name="customer-stage"),
    path("<int:pk>/reveal/", customer_detail.customer_reveal, name="customer-reveal"),
    path("<int:pk>/transfer/", customer_detail.customer_transfer, name="customer-transfer"),
    path("<int:pk>/release/", customer_detail.customer_release, name="customer-release"),
    path("<int:pk>/needs/", customer_detail.customer_needs, name="customer-needs"),
    path("<int:pk>/consents/new/", customer_detail.consent_record, name="consent-record"),
    path("consents/<int:pk>/withdraw/", customer_detail.consent_withdraw, name="consent-withdraw"),
    path("<int:pk>/id-number/", customer_detail.customer_id_number, name="customer-id-number"),
    path("reception/", reception.reception_home, name="reception-home"),
    path("reception/<int:branch_id>/", reception.reception_desk, name="reception-desk"),
    path("reception/<int:branch_id>/register/", reception.visit_register, name="visit-register"),
    path("reception/<int:branch_id>/roster/", reception.roster_edit, name="roster-edit"),
    path("reception/<int:branch_id>/roster/<int:roster_id>/skip/", reception.roster_skip, name="roster-skip"),
    path(
        "reception/<int:branch_id>/roster/<int:roster_id>/availability/",
        reception.roster_availability,
        name="roster-availability",
    ),
    path("reception/visits/<int:pk>/start/", reception.visit_start, name="visit-start"),
    path("reception/visits/<int:pk>/end/", reception.visit_end, name="visit-end"),
    path("reception/visits/<int:pk>/left/", reception.visit_left, name="visit-left"),
    path("reception/visits/<int:pk>/assign/", reception.visit_assign, name="visit-assign"),
    path("followups/", followups.followup_list, name="followup-list"),
    path("followups/team/", followups.followup_team, name="followup-team"),
    path("followups/<int:pk>/complete/", followups.followup_complete, name="followup-complete"),
    path("<int:pk>/communications/new/", followups.communication_create, name="communication-create"),
    path("<int:pk>/feedback/new/", followups.feedback_create, name="feedback-create"),
    path("feedback/", followups.feedback_list, name="feedback-list"),
    path("feedback/<int:pk>/respond/", followups.feedback_respond, name="feedback-respond"),
    path("pool/", pool.pool_list, name="pool-list"),
    path("pool/<int:pk>/claim/", pool.pool_claim_view, name="pool-claim"),
    path("settings/<int:branch_id>/", settings_pages.branch_settings, name="branch-settings"),
]
