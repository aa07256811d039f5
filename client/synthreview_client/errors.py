"""The server's refusals as exceptions: one class per kind of refusal, each carrying the server's
`{code, message, field, line, errors}` so a pipeline can say exactly what to fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class ErrorDetail:
    """One problem the server named. `index` is set on a refused push: the record's position in the
    caller's input (0-based), worked out from the batch and the line the server named."""

    message: str
    field: str | None = None
    line: int | None = None
    index: int | None = None

    def __str__(self) -> str:
        where = _where(self.field, self.line, self.index)
        return f"{where}: {self.message}" if where else self.message


def _where(field: str | None, line: int | None, index: int | None) -> str:
    parts = []
    if index is not None:
        parts.append(f"record {index}")
    elif line is not None:
        parts.append(f"line {line}")
    if field:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


class SynthreviewError(Exception):
    """A refusal from the server (or a failure to reach it, with status 0)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        line: int | None = None,
        errors: list[ErrorDetail] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.line = line
        self.errors = list(errors or [])

    def __str__(self) -> str:
        head = f"{self.status} {self.code}: {self.message}" if self.status else f"{self.code}: {self.message}"
        where = _where(self.field, self.line, None)
        if where and len(self.errors) <= 1:
            head += f" ({where})"
        if len(self.errors) > 1:
            shown = "".join(f"\n  {detail}" for detail in self.errors[:MAX_SHOWN_ERRORS])
            more = len(self.errors) - MAX_SHOWN_ERRORS
            head += shown + (f"\n  ... and {more} more" if more > 0 else "")
        return head


# A refusal's str() lists this many of its problems; `errors` keeps them all.
MAX_SHOWN_ERRORS = 10


class Unauthenticated(SynthreviewError):
    """401: no token, or one that is unknown, revoked or expired."""


class Forbidden(SynthreviewError):
    """403: the role (or the token's cap) may not do this."""


class NotFound(SynthreviewError):
    """404: no such object in this project, or a project the token cannot see."""


class Conflict(SynthreviewError):
    """409: the object changed since it was read (a stale revision), or its state forbids the act."""


class Invalid(SynthreviewError):
    """422 (and 400, 413): the request itself is wrong; `field` or `line` says where."""


class RateLimited(SynthreviewError):
    """429 after every retry: the token's rate limit. `retry_after` is the server's advice in seconds."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class PushRefused(Invalid):
    """A pushed batch was refused: nothing of it was imported. `errors` name the caller's records
    by `index` (0-based, across the whole push); the batches before it were imported, and pushing
    the same records again replays them instead of adding them twice."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        line: int | None = None,
        errors: list[ErrorDetail] | None = None,
        *,
        batch_index: int = 0,
        first_index: int = 0,
        imported_before: Any = None,
    ) -> None:
        super().__init__(status, code, message, field, line, errors)
        self.batch_index = batch_index
        self.first_index = first_index
        # The PushSummary of the batches that went in before this one.
        self.imported_before = imported_before

    @property
    def indexes(self) -> list[int]:
        """The refused records' positions in the caller's input."""
        return [detail.index for detail in self.errors if detail.index is not None]


_BY_STATUS: dict[int, type[SynthreviewError]] = {
    400: Invalid,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: Invalid,
    422: Invalid,
    429: RateLimited,
}


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The server's error shape, or one made up from the status when the body is not ours
    (a proxy's HTML 502, say)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body
    text = response.text.strip()[:300] if response.content else ""
    return {"code": _fallback_code(response.status_code), "message": text or response.reason_phrase or "error"}


def _fallback_code(status: int) -> str:
    return {401: "unauthenticated", 403: "forbidden", 404: "not_found", 409: "conflict", 429: "rate_limited"}.get(
        status, "error"
    )


def details_of(body: dict[str, Any]) -> list[ErrorDetail]:
    details = []
    for item in body.get("errors") or []:
        if isinstance(item, dict):
            details.append(
                ErrorDetail(message=str(item.get("message", "")), field=item.get("field"), line=item.get("line"))
            )
    return details


def error_for(response: httpx.Response, *, retry_after: float | None = None) -> SynthreviewError:
    body = error_body(response)
    kind = _BY_STATUS.get(response.status_code, SynthreviewError)
    arguments: tuple[Any, ...] = (
        response.status_code,
        str(body.get("code") or _fallback_code(response.status_code)),
        str(body["message"]),
        body.get("field"),
        body.get("line"),
        details_of(body),
    )
    if kind is RateLimited:
        return RateLimited(*arguments, retry_after=retry_after)
    return kind(*arguments)
