"""One JSON shape for every refusal the API gives, so a client reads `code`, `message` and the
`field` or `line` it names the same way whatever went wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError


class ErrorDetail(Schema):
    message: str
    field: str | None = None
    line: int | None = None


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None
    line: int | None = None
    errors: list[ErrorDetail] = []


class ApiError(Exception):
    """A refusal with its HTTP status and machine-readable code; raised by the routers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
        errors: list[ErrorDetail] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorOut(code=code, message=message, field=field, line=line, errors=errors or [])


# The statuses every project-scoped operation may answer, documented on each so clients and
# schemathesis know their shape.
COMMON_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def _field_of(loc: Any) -> str | None:
    # pydantic's location starts with where the value came from: ("query", "limit"), ("body", "payload", "name").
    parts = [str(part) for part in loc if part not in ("query", "body", "path", "header", "payload", "cookie")]
    return ".".join(parts) or None


def django_validation_details(error: DjangoValidationError) -> list[ErrorDetail]:
    if hasattr(error, "error_dict"):
        return [
            ErrorDetail(message=" ".join(str(m) for m in messages), field=None if field == "__all__" else field)
            for field, messages in error.message_dict.items()
        ]
    return [ErrorDetail(message=str(message)) for message in error.messages]


def form_refusal(form: Form, *, field_names: Mapping[str, str] | None = None) -> ApiError:
    """A page's form's errors in the API's shape (422): each under its field's name, renamed where the
    operation calls the field otherwise, the whole form's under none."""
    details = [
        ErrorDetail(
            message=" ".join(str(message) for message in messages),
            field=None if name == NON_FIELD_ERRORS else (field_names or {}).get(name, name),
        )
        for name, messages in form.errors.items()
    ]
    head = details[0] if details else ErrorDetail(message="The request is not valid.")
    summary = head.message if len(details) == 1 else f"{len(details)} problem(s) with the request"
    return ApiError(422, "invalid", summary, field=head.field, errors=details)


def install_error_handlers(api: NinjaAPI) -> None:
    def answer(request: HttpRequest, status: int, body: ErrorOut) -> HttpResponse:
        return api.create_response(request, body.model_dump(), status=status)

    def first(details: list[ErrorDetail], code: str, status: int, message: str, request: HttpRequest) -> HttpResponse:
        head = details[0] if details else ErrorDetail(message=message)
        summary = message if len(details) != 1 else head.message
        return answer(
            request,
            status,
            ErrorOut(code=code, message=summary, field=head.field, line=head.line, errors=details),
        )

    @api.exception_handler(ApiError)
    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return answer(request, exc.status, exc.body)

    @api.exception_handler(NinjaValidationError)
    def on_invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        details = [
            ErrorDetail(message=str(error.get("msg", "invalid value")), field=_field_of(error.get("loc", ())))
            for error in exc.errors
        ]
        return first(details, "invalid", 422, f"{len(details)} problem(s) with the request", request)

    @api.exception_handler(DjangoValidationError)
    def on_refused(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        details = django_validation_details(exc)
        return first(details, "invalid", 422, f"{len(details)} problem(s) with the request", request)

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return answer(request, 404, ErrorOut(code="not_found", message=str(exc) or "Not found."))

    @api.exception_handler(PermissionDenied)
    def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return answer(request, 403, ErrorOut(code="forbidden", message=str(exc) or "Your role may not do this."))

    @api.exception_handler(AuthenticationError)
    def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = answer(
            request,
            401,
            ErrorOut(
                code="unauthenticated",
                message="Send 'Authorization: Bearer <token>' with an active token (make one on the My tokens page).",
            ),
        )
        response["WWW-Authenticate"] = 'Bearer realm="synthreview"'
        return response

    @api.exception_handler(Throttled)
    def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        wait = getattr(exc, "wait", None)
        message = "Too many requests for this token; slow down"
        message += f" and retry in {int(wait) + 1} s." if wait else "."
        return answer(request, 429, ErrorOut(code="rate_limited", message=message))

    @api.exception_handler(DataError)
    def on_unstorable(request: HttpRequest, exc: DataError) -> HttpResponse:
        # A value the database cannot hold that no schema refused first: PostgreSQL's text takes no
        # NUL character, and its numbers have ranges. Nothing was written: the statement failed whole.
        return answer(
            request,
            422,
            ErrorOut(
                code="invalid",
                message="A value in the request cannot be stored (a NUL character, or a number out of range).",
            ),
        )

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = {400: "bad_request", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "error")
        return answer(request, exc.status_code, ErrorOut(code=code, message=str(exc)))
