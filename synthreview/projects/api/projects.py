"""The caller and their projects."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from synthreview.projects.access import projects_for_user
from synthreview.projects.api.auth import caller_token, capped_role
from synthreview.projects.api.errors import COMMON_ERRORS

router = Router(tags=["projects"])


class TokenOut(Schema):
    name: str
    prefix: str
    project: str | None
    role_cap: str | None
    expires_at: datetime | None


class MeOut(Schema):
    username: str
    token: TokenOut | None


class ProjectOut(Schema):
    slug: str
    name: str
    description: str
    role: str


@router.get("/me", response={200: MeOut, **COMMON_ERRORS})
def me(request: HttpRequest) -> MeOut:
    """Who the call acts as, and which token carries it."""
    token = caller_token(request)
    token_out = None
    if token is not None:
        token_out = TokenOut(
            name=token.name,
            prefix=token.prefix,
            project=token.project.slug if token.project is not None else None,
            role_cap=token.role_cap or None,
            expires_at=token.expires_at,
        )
    return MeOut(username=request.user.get_username(), token=token_out)


@router.get("/projects", response={200: list[ProjectOut], **COMMON_ERRORS})
def project_list(request: HttpRequest) -> list[ProjectOut]:
    """The projects the caller may open, with the role the call has in each (capped by the token)."""
    token = caller_token(request)
    out = []
    for access in projects_for_user(request.user):
        if token is not None and token.project_id is not None and access.project.pk != token.project_id:
            continue
        assert access.role is not None
        role = capped_role(token, access.role)
        out.append(
            ProjectOut(
                slug=access.project.slug,
                name=access.project.name,
                description=access.project.description,
                role=role.value,
            )
        )
    return out
