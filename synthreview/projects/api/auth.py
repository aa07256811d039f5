"""Who calls the API, and what they may do in a project.

A call carries a bearer token or, from the app's own pages, a session (with its CSRF token on
every write). A token acts as its owner, limited to its project and role cap if it has them: the
access it gives is the lesser of the owner's role and the cap, and a project outside its limit
answers 404 like any project the owner is not in.
"""

from __future__ import annotations

from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer
from ninja.security.apikey import APIKeyCookie
from ninja.utils import check_csrf

from synthreview.projects.access import ProjectAccess, get_project_for_user, need_refusal, signed_in_account
from synthreview.projects.models import ROLE_RANK, ApiToken, Role
from synthreview.projects.services.api_tokens import api_token_authenticate

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = api_token_authenticate(token.strip())
        if found is not None:
            # The rest of the request acts as the token's owner, as a page acts as the signed-in user.
            request.user = found.user
        return found


class SignedInSession(APIKeyCookie):
    """The pages' own session, so their scripts may call the API; writes need the CSRF token,
    exactly as a form post does."""

    def __init__(self) -> None:
        self.param_name = settings.SESSION_COOKIE_NAME
        super().__init__(csrf=False)  # checked below, only once the session is known to be signed in

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        account = signed_in_account(getattr(request, "user", None))
        if account is None:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise HttpError(403, "CSRF check failed: send the page's csrftoken as X-CSRFToken, or use a bearer token.")
        return account


def caller_token(request: HttpRequest) -> ApiToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


def capped_role(token: ApiToken | None, role: Role) -> Role:
    """The role a call acts with: the member's, lowered to the token's cap if it has one."""
    if token is not None and token.role_cap and ROLE_RANK[Role(token.role_cap)] < ROLE_RANK[role]:
        return Role(token.role_cap)
    return role


def api_project_access(request: HttpRequest, slug: str, need: str = "view") -> ProjectAccess:
    """The caller's access to the project: 404 outside it (or outside the token's project),
    403 when the role, capped by the token, may not `need`."""
    token = caller_token(request)
    if token is not None and token.project_id is not None and token.project is not None and token.project.slug != slug:
        raise Http404("No such project.")
    member = get_project_for_user(request.user, slug, "view")
    assert member.role is not None  # a member's access always holds a role
    role = capped_role(token, member.role)
    access = ProjectAccess(project=member.project, role=role, user=member.user)
    if not access.can(need):
        capped = ", this token's cap" if role != member.role else ""
        raise PermissionDenied(need_refusal(f"{role.label}{capped}", need))
    return access


M = TypeVar("M", bound=Model)


def api_object(access: ProjectAccess, model: type[M], what: str, pk: int, **lookups: object) -> M:
    """One object of `model` in the access's project, or 404."""
    found = model._default_manager.filter(project=access.project, pk=pk, **lookups).first()
    if found is None:
        raise Http404(f"No such {what} in this project.")
    return found
