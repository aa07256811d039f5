from django.urls import path

from reviews import views

urlpatterns = [
    path("p/<slug:slug>/queue/", views.review_queue, name="review_queue"),
    path("p/<slug:slug>/queue/<int:pk>/verdict/", views.verdict_save, name="verdict_save"),
    path("p/<slug:slug>/queue/undo/", views.verdict_undo_last, name="verdict_undo"),
    path("p/<slug:slug>/samples/", views.sample_list, name="sample_list"),
    path("p/<slug:slug>/samples/bulk/", views.samples_bulk, name="samples_bulk"),
    path("p/<slug:slug>/samples/<int:pk>/", views.sample_detail, name="sample_detail"),
    path("p/<slug:slug>/similarity/", views.similarity_view, name="similarity_view"),
    path("p/<slug:slug>/similarity/groups/<int:pk>/resolve/", views.group_resolve, name="group_resolve"),
    path("p/<slug:slug>/similarity/groups/<int:pk>/not-duplicates/", views.group_not_duplicates,
         name="group_not_duplicates"),
    path("p/<slug:slug>/similarity/groups/<int:pk>/split/", views.group_split, name="group_split"),
    path("p/<slug:slug>/similarity/status/", views.similarity_status, name="similarity_status"),
    path("p/<slug:slug>/similarity/rerun/", views.similarity_rerun, name="similarity_rerun"),
    path("p/<slug:slug>/audits/", views.audit_list, name="audit_list"),
    path("p/<slug:slug>/audits/plan/", views.audit_plan, name="audit_plan"),
    path("p/<slug:slug>/audits/<int:pk>/", views.audit_detail, name="audit_detail"),
    path("p/<slug:slug>/audits/<int:pk>/close/", views.audit_close_view, name="audit_close"),
    path("p/<slug:slug>/audits/<int:pk>/adjudicate/", views.audit_adjudicate_view, name="audit_adjudicate"),
    path("p/<slug:slug>/samples/<int:pk>/gold/", views.gold_set_view, name="gold_set"),
    path("p/<slug:slug>/noise-floor/", views.noise_floor_view, name="noise_floor"),
    path("p/<slug:slug>/dashboard/", views.dashboard, name="dashboard"),
    path("p/<slug:slug>/dashboard/figures/<slug:figure>.<str:fmt>", views.dashboard_figure, name="dashboard_figure"),
    path("p/<slug:slug>/dashboard/recompute/", views.quality_recompute, name="quality_recompute"),
    path("p/<slug:slug>/alerts/settings/", views.alert_settings, name="alert_settings"),
    path("p/<slug:slug>/alerts/<int:pk>/acknowledge/", views.alert_acknowledge_view, name="alert_acknowledge"),
]
