from django.urls import path

from synthreview.projects.views import projects

urlpatterns = [
    path("", projects.home, name="home"),
]
