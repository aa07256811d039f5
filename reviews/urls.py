from django.urls import path

from reviews import views

urlpatterns = [
    path("p/<slug:slug>/similarity/status/", views.similarity_status, name="similarity_status"),
    path("p/<slug:slug>/similarity/rerun/", views.similarity_rerun, name="similarity_rerun"),
]
