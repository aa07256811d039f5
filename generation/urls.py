from django.urls import path

from generation import views

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/", views.project_detail, name="project_detail"),
    path("p/<slug:slug>/imports/new/", views.import_new, name="import_new"),
    path("p/<slug:slug>/imports/<int:pk>/", views.import_detail, name="import_detail"),
]
