from django.urls import path

from synthreview.projects.views import members, projects, tokens

urlpatterns = [
    path("", projects.home, name="home"),
    path("projects/new/", projects.project_new, name="project_new"),
    path("account/tokens/", tokens.token_list, name="api_tokens"),
    path("account/tokens/<int:pk>/revoke/", tokens.token_revoke, name="api_token_revoke"),
    path("p/<slug:slug>/members/", members.member_list, name="member_list"),
    path("p/<slug:slug>/members/<int:pk>/role/", members.member_role, name="member_role"),
    path("p/<slug:slug>/members/<int:pk>/remove/", members.member_remove_view, name="member_remove"),
]
