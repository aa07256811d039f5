from django.urls import path

from generation import generator_views, run_views, template_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/imports/new/", views.import_new, name="import_new"),
    path("p/<slug:slug>/templates/", template_views.template_list, name="template_list"),
    path("p/<slug:slug>/templates/new/", template_views.template_version_new, name="template_version_new"),
    path("p/<slug:slug>/imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("p/<slug:slug>/runs/", run_views.run_list, name="run_list"),
    path("p/<slug:slug>/runs/new/", run_views.run_new, name="run_new"),
    path("p/<slug:slug>/runs/<int:pk>/", run_views.run_detail, name="run_detail"),
    path("p/<slug:slug>/runs/<int:pk>/action/", run_views.run_action, name="run_action"),
    path("p/<slug:slug>/generators/", generator_views.generator_list, name="generator_list"),
    path("p/<slug:slug>/generators/new/", generator_views.generator_new, name="generator_new"),
    path("p/<slug:slug>/generators/<int:pk>/edit/", generator_views.generator_edit, name="generator_edit"),
]
