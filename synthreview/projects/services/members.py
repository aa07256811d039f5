"""Who belongs to a project, written by its admins on the members page.

A project always keeps at least one admin member: removing or demoting the last one is refused,
since nobody but a site operator could then manage the project. Someone who has no account yet is
invited by email: an account with no usable password, and a one-time link (Django's own password
reset token) with which they choose one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import Membership, Project, Role
from synthreview.projects.services.audit_log import audit_log_record

# Django's username field allows these characters, up to 150 of them.
USERNAME_DISALLOWED = re.compile(r"[^\w.@+-]")
USERNAME_MAX = 150


@dataclass(frozen=True)
class MemberAdded:
    membership: Membership
    # True when the account was made just now for an email address; its owner needs the set-password link.
    invited: bool


def member_add(access: ProjectAccess, *, user: str, role: str) -> MemberAdded:
    """Add the user named by `user` (a username or an email address) with `role`. An email that no
    account has makes an invited account; a username that no account has is refused, since there
    is nowhere to send the invitation."""
    if role not in Role.values:
        raise ValidationError({"role": f"The role must be one of {', '.join(Role.values)}."})
    named = user.strip()
    if not named:
        raise ValidationError({"user": "Give the username or the email address of the person to add."})
    with transaction.atomic():
        account, invited = _account_named(named)
        if Membership.objects.filter(project=access.project, user=account).exists():
            raise ValidationError(
                {"user": f"{account.username} is already a member of this project; change their role in the list."}
            )
        membership = Membership.objects.create(project=access.project, user=account, role=role)
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="membership.add",
            obj=membership,
            details={"user": account.username, "role": role, "invited": invited},
        )
    return MemberAdded(membership=membership, invited=invited)


def member_role_change(access: ProjectAccess, *, membership_id: int, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"The role must be one of {', '.join(Role.values)}."})
    with transaction.atomic():
        membership = _locked_membership(access.project, membership_id)
        previous = membership.role
        if previous == role:
            return membership
        if previous == Role.ADMIN:
            _refuse_losing_last_admin(access.project, membership, "demote")
        membership.role = role
        membership.save(update_fields=["role"])
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="membership.role_change",
            obj=membership,
            details={"user": membership.user.username, "from": previous, "to": role},
        )
    return membership


def member_remove(access: ProjectAccess, *, membership_id: int) -> Membership:
    with transaction.atomic():
        membership = _locked_membership(access.project, membership_id)
        if membership.role == Role.ADMIN:
            _refuse_losing_last_admin(access.project, membership, "remove")
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="membership.remove",
            obj=membership,
            details={"user": membership.user.username, "role": membership.role},
        )
        membership.delete()
    return membership


def invite_path(account: User) -> str:
    """The path of the account's one-time set-password link. Django's reset token is made from
    the password hash and the last login, so it stops working once a password is set."""
    uidb64 = urlsafe_base64_encode(force_bytes(account.pk))
    token = default_token_generator.make_token(account)
    return reverse("password_reset_confirm", kwargs={"uidb64": uidb64, "token": token})


def invite_email_send(*, account: User, project: Project, link: str, invited_by: str) -> bool:
    """Mail the invited account its set-password link; False when the mail server refused it (the
    members page then shows the link for the admin to pass on)."""
    if not account.email:
        return False
    try:
        send_mail(
            # A line break in a subject is refused by Django's mail (header injection); names may hold one.
            subject=f"[synthreview] You were added to {' '.join(project.name.split())}",
            message=(
                f"{invited_by} added you to the project {project.name} on synthreview.\n\n"
                f"Your username is {account.username}. Choose a password here (the link works once):\n"
                f"{link}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[account.email],
        )
    except OSError:  # smtplib's errors are OSErrors too
        return False
    return True


def _account_named(named: str) -> tuple[User, bool]:
    """The account a username or an email names, and whether it was made just now."""
    account = User.objects.filter(username=named).first()
    if account is not None:
        return account, False
    if "@" not in named:
        raise ValidationError({"user": f"No user is named {named!r}. Give their email address instead to invite them."})
    try:
        validate_email(named)
    except ValidationError:
        raise ValidationError({"user": f"{named!r} is not a valid email address."}) from None
    by_email = list(User.objects.filter(email__iexact=named)[:2])
    if len(by_email) > 1:
        raise ValidationError({"user": f"More than one user has the email {named}; give their username instead."})
    if by_email:
        return by_email[0], False
    account = User(username=_free_username(named), email=named)
    account.set_unusable_password()
    account.save()
    return account, True


def _free_username(email: str) -> str:
    """The email's local part, made a valid username, with a number added while it is taken."""
    base = USERNAME_DISALLOWED.sub("", email.split("@", 1)[0])[: USERNAME_MAX - 8] or "member"
    candidate, number = base, 1
    while User.objects.filter(username=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _locked_membership(project: Project, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(project=project, pk=membership_id)
        .first()
    )
    if membership is None:
        raise ValidationError("No such member in this project.")
    return membership


def _refuse_losing_last_admin(project: Project, membership: Membership, verb: str) -> None:
    # The admins' rows are locked, so two admins demoting each other at once cannot both pass.
    admins = list(
        Membership.objects.select_for_update().filter(project=project, role=Role.ADMIN).values_list("pk", flat=True)
    )
    if admins == [membership.pk]:
        raise ValidationError(
            f"{membership.user.username} is this project's last admin: make someone else admin before you {verb} them."
        )
