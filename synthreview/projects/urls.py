from django.urls import path

from synthreview.projects import views

urlpatterns = [
    path("", views.home, name="home"),
]
