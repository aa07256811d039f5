from django.urls import path

from reviews import views

urlpatterns = [
    path("p/<slug:slug>/", views.project_detail, name="project_detail"),
    path("p/<slug:slug>/queue/", views.review_queue, name="review_queue"),
    path("p/<slug:slug>/queue/<int:pk>/verdict/", views.verdict_save, name="verdict_save"),
    path("p/<slug:slug>/queue/undo/", views.verdict_undo_last, name="verdict_undo"),
    path("p/<slug:slug>/samples/", views.sample_list, name="sample_list"),
    path("p/<slug:slug>/samples/bulk/", views.samples_bulk, name="samples_bulk"),
    path("p/<slug:slug>/samples/<int:pk>/", views.sample_detail, name="sample_detail"),
    path("p/<slug:slug>/similarity/", views.similarity_view, name="similarity_view"),
    path("p/<slug:slug>/similarity/groups/<int:pk>/resolve/", views.group_resolve, name="group_resolve"),
    path(
        "p/<slug:slug>/similarity/groups/<int:pk>/not-duplicates/",
        views.group_not_duplicates,
        name="group_not_duplicates",
    ),
    path("p/<slug:slug>/similarity/groups/<int:pk>/split/", views.group_split, name="group_split"),
    path(
        "p/<slug:slug>/similarity/families/<int:pk>/trim/", views.variant_family_trim_view, name="variant_family_trim"
    ),
    path("p/<slug:slug>/similarity/map/points/<int:pk>/", views.map_point, name="map_point"),
    path("p/<slug:slug>/similarity/search/", views.similarity_search, name="similarity_search"),
    path(
        "p/<slug:slug>/similarity/search/<int:pk>/", views.similarity_search_results, name="similarity_search_results"
    ),
    path("p/<slug:slug>/similarity/settings/", views.similarity_settings, name="similarity_settings"),
    path("p/<slug:slug>/similarity/status/", views.similarity_status, name="similarity_status"),
    path("p/<slug:slug>/similarity/rerun/", views.similarity_rerun, name="similarity_rerun"),
    path("p/<slug:slug>/similarity/refit/", views.similarity_refit_view, name="similarity_refit"),
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
    path("p/<slug:slug>/alerts/acknowledge/", views.alerts_acknowledge_view, name="alerts_acknowledge"),
    path("p/<slug:slug>/alerts/snooze/", views.alerts_snooze_view, name="alerts_snooze"),
    path("p/<slug:slug>/audit-log/", views.audit_log, name="audit_log"),
    path("p/<slug:slug>/audit-log/audit-log.csv", views.audit_log_csv, name="audit_log_csv"),
    path("p/<slug:slug>/policy/", views.policy_settings, name="policy_settings"),
    path("p/<slug:slug>/exports/", views.export_list, name="export_list"),
    path("p/<slug:slug>/exports/check/", views.export_check_view, name="export_check"),
    path("p/<slug:slug>/exports/<int:pk>/", views.export_detail, name="export_detail"),
    path("p/<slug:slug>/exports/<int:pk>/download/", views.export_download, name="export_download"),
    path("p/<slug:slug>/exports/<int:pk>/manifest.json", views.export_manifest, name="export_manifest"),
    path("p/<slug:slug>/exports/<int:pk>/results/", views.downstream_result_add, name="downstream_result_add"),
    path("p/<slug:slug>/eval-set/", views.eval_set_view, name="eval_set"),
]
