from django.urls import path

from generation.views import generators, imports, runs, templates

urlpatterns = [
    path("p/<slug:slug>/imports/new/", imports.import_new, name="import_new"),
    path("p/<slug:slug>/templates/", templates.template_list, name="template_list"),
    path("p/<slug:slug>/templates/new/", templates.template_version_new, name="template_version_new"),
    path("p/<slug:slug>/imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path("p/<slug:slug>/runs/", runs.run_list, name="run_list"),
    path("p/<slug:slug>/runs/new/", runs.run_new, name="run_new"),
    path("p/<slug:slug>/runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("p/<slug:slug>/runs/<int:pk>/action/", runs.run_action, name="run_action"),
    path("p/<slug:slug>/generators/", generators.generator_list, name="generator_list"),
    path("p/<slug:slug>/generators/new/", generators.generator_new, name="generator_new"),
    path("p/<slug:slug>/generators/<int:pk>/edit/", generators.generator_edit, name="generator_edit"),
]
