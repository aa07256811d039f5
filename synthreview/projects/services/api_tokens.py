"""Making, revoking and using API tokens. The secret leaves the server once, in api_token_create's
return value; only its SHA-256 is kept, so a stolen database holds no usable token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from synthreview.projects.access import project_access
from synthreview.projects.models import ROLE_RANK, TOKEN_SECRET_PREFIX, ApiToken, Project, Role
from synthreview.projects.services.audit_log import audit_log_record

# last_used_at is written at most this often per token: a pipeline pushing thousands of batches
# would otherwise write the token's row on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Shown on the tokens page; long enough to tell tokens apart, far too short to guess the rest.
SHOWN_PREFIX_LENGTH = 12


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown to the user once, never stored


def api_token_create(
    user: User,
    *,
    name: str,
    project: Project | None = None,
    role_cap: str = "",
    expires_at: datetime | None = None,
) -> NewToken:
    """A token for `user`. A project limit must be one of the user's projects, and a role cap no
    higher than the user's role there: a token never gives more than its owner has."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the token after what will hold it, such as 'nightly pipeline'."})
    if role_cap and role_cap not in Role.values:
        raise ValidationError({"role_cap": f"The role must be one of {', '.join(Role.values)}."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if project is not None:
        access = project_access(user, project)
        if access is None or access.role is None:
            raise ValidationError({"project": "You are not a member of that project."})
        if role_cap and ROLE_RANK[Role(role_cap)] > ROLE_RANK[access.role]:
            raise ValidationError(
                {"role_cap": f"Your role in {project.name} is {access.role.label}; a token cannot have more."}
            )
    secret = TOKEN_SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            secret_sha256=secret_digest(secret),
            project=project,
            role_cap=role_cap,
            expires_at=expires_at,
        )
        audit_log_record(
            project=project,
            actor=user,
            action="api_token.create",
            obj=token,
            details={"name": token.name, "prefix": token.prefix, "role_cap": role_cap, "expires_at": _iso(expires_at)},
        )
    return NewToken(token=token, secret=secret)


def api_token_revoke(user: User, *, token_id: int) -> ApiToken | None:
    """Revoke one of the user's own tokens; None when the user holds no such token. Revoking twice
    keeps the first revocation's time."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
        if token is None:
            return None
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_log_record(
                project=token.project,
                actor=user,
                action="api_token.revoke",
                obj=token,
                details={"name": token.name, "prefix": token.prefix},
            )
    return token


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, its use recorded; None for an unknown, revoked or
    expired secret (the caller answers all three alike, so a guesser learns nothing)."""
    if not secret.startswith(TOKEN_SECRET_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.select_related("user", "project").filter(secret_sha256=secret_digest(secret)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # A conditional UPDATE: concurrent requests write the row once per resolution at most.
        stale_before = now - LAST_USED_RESOLUTION
        ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=stale_before).update(last_used_at=now)
        token.last_used_at = now
    return token


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
