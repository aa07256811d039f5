from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from synthreview.api import api

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # An invited member's one-time set-password link (synthreview/projects/services/members.py).
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("synthreview.projects.urls")),
    path("", include("generation.urls")),
    path("", include("reviews.urls")),
]
