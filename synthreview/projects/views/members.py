"""A project's members, managed by its admins: add someone (inviting them by email when they have
no account yet), change a member's role, remove a member.

An invitation's set-password link is shown in the answer to the POST that made it, for the admin
to pass on if the email does not arrive, and never again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from synthreview.projects.access import ProjectAccess, get_project_for_user, project_access
from synthreview.projects.forms.errors import form_add_service_errors, form_errors_text
from synthreview.projects.forms.members import MemberAddForm, MemberRoleForm
from synthreview.projects.models import Membership, Role
from synthreview.projects.selectors.members import project_members
from synthreview.projects.services.members import (
    invite_email_send,
    invite_path,
    member_add,
    member_remove,
    member_role_change,
)


@dataclass(frozen=True)
class Invitation:
    account: User
    link: str
    emailed: bool


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def member_list(request: HttpRequest, slug: str) -> HttpResponse:
    access = _admin_access(request, slug)
    form = MemberAddForm(request.POST if request.method == "POST" else None)
    invitation: Invitation | None = None
    if request.method == "POST" and form.is_valid():
        try:
            added = member_add(access, user=form.cleaned_data["user"], role=form.cleaned_data["role"])
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            account = added.membership.user
            if not added.invited:
                messages.success(request, f"{account.username} is now {added.membership.get_role_display()}.")
                return redirect("member_list", slug=slug)
            link = request.build_absolute_uri(invite_path(account))
            emailed = invite_email_send(
                account=account, project=access.project, link=link, invited_by=request.user.get_username()
            )
            # The link sets the account's password: only its owner (by email) and the site's operators
            # may hold it. A project admin who could read it could take the account and, through any
            # later project that adds this email, that project's data.
            shown = link if request.user.is_superuser else ""
            invitation = Invitation(account=account, link=shown, emailed=emailed)
            form = MemberAddForm()
    return _page(request, access, form, invitation=invitation, status=400 if form.errors else 200)


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = _admin_access(request, slug)
    membership = get_object_or_404(Membership.objects.select_related("user"), project=access.project, pk=pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{membership.user.username}: {form_errors_text(form)}")
        return _page(request, access, MemberAddForm(), status=400)
    try:
        membership = member_role_change(access, membership_id=membership.pk, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _page(request, access, MemberAddForm(), status=409)
    messages.success(request, f"{membership.user.username} is now {membership.get_role_display()}.")
    return _after_change(request, access)


@login_required
@require_POST
def member_remove_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = _admin_access(request, slug)
    membership = get_object_or_404(Membership.objects.select_related("user"), project=access.project, pk=pk)
    try:
        member_remove(access, membership_id=membership.pk)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _page(request, access, MemberAddForm(), status=409)
    messages.success(request, f"{membership.user.username} is no longer a member of {access.project.name}.")
    return _after_change(request, access)


def _admin_access(request: HttpRequest, slug: str) -> ProjectAccess:
    """The admin's access to the project: 404 for an outsider, 403 (saying why) for another role."""
    access = get_project_for_user(request.user, slug, "view")
    if not access.can("members"):
        role = access.role.label if access.role is not None else "none"
        raise PermissionDenied(f"Only this project's admins manage its members; your role here is {role}.")
    return access


def _after_change(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    # An admin who demoted or removed themselves may no longer open the members page.
    now = project_access(request.user, access.project)
    if now is None:
        return redirect("home")
    if not now.can("members"):
        return redirect("project_detail", slug=access.project.slug)
    return redirect("member_list", slug=access.project.slug)


def _page(
    request: HttpRequest,
    access: ProjectAccess,
    form: MemberAddForm,
    *,
    invitation: Invitation | None = None,
    status: int = 200,
) -> HttpResponse:
    members = list(project_members(access.project))
    admins = [membership.pk for membership in members if membership.role == Role.ADMIN]
    context = {
        "access": access,
        "project": access.project,
        "members": members,
        # The last admin's row offers no demotion and no removal: the services would refuse both.
        "last_admin_id": admins[0] if len(admins) == 1 else None,
        "form": form,
        "roles": Role.choices,
        "invitation": invitation,
        "invite_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    return render(request, "projects/members.html", context, status=status)
