"""The connection to one synthreview server: authentication, retries and the error shape.

with Client("https://synthreview.example.org", token) as client:
    math = client.project("math")
    summary = math.push(records, origin="synthetic", generator="llama-3.1-70b")
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import httpx

from synthreview_client import _retry
from synthreview_client._retry import RetryPolicy, retry_after_seconds
from synthreview_client.errors import SynthreviewError, error_for
from synthreview_client.progress import Progress

if TYPE_CHECKING:
    from synthreview_client.models import Me, ProjectInfo
    from synthreview_client.project import Project

__version__ = "0.1.0"
API_PREFIX = "api/v1/"
# The server's largest page (synthreview.projects.api.pagination.MAX_PAGE_SIZE): bulk reads use it.
MAX_PAGE_SIZE = 500
DOWNLOAD_CHUNK_BYTES = 1 << 20

Params = Mapping[str, Any] | list[tuple[str, Any]] | None


class Client:
    """A token's view of one server. `base_url` is the site's address; the client adds /api/v1/
    itself unless the address already ends with it."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 60,
        max_retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.rstrip("/") + "/"
        if not root.endswith("/" + API_PREFIX):
            root += API_PREFIX
        self.api_root = httpx.URL(root)
        self.retry = RetryPolicy(max_retries=max_retries, backoff=backoff)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"synthreview-client/{__version__}",
            },
            follow_redirects=False,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- the caller and their projects -----------------------------------------------------------

    def project(self, slug: str) -> Project:
        from synthreview_client.project import Project

        return Project(self, slug)

    def me(self) -> Me:
        """Who the token acts as, and the token's own limits."""
        return cast("Me", self.get("me"))

    def projects(self) -> list[ProjectInfo]:
        """The projects the token may open, with its role in each."""
        return cast("list[ProjectInfo]", self.get("projects"))

    # -- requests --------------------------------------------------------------------------------

    def url(self, path: str) -> httpx.URL:
        """An absolute URL for an API path ("projects/math/audits") or for a URL the server gave
        ("/api/v1/projects/math/exports/3", which is taken as it stands)."""
        if path.startswith(("http://", "https://", "/")):
            return self.api_root.join(path)
        return self.api_root.join(path.lstrip("/"))

    def get(self, path: str, params: Params = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any = None, *, params: Params = None) -> Any:
        """A JSON POST, never repeated after a 5xx: the server may have acted before it failed."""
        response = self.request("POST", path, params=params, json=body if body is not None else {})
        return response.json() if response.content else None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        delivered: list[bool] | None = None,
    ) -> httpx.Response:
        """One call, retried as the policy allows; a refusal raises the matching SynthreviewError.
        `idempotent` defaults to true for GET, HEAD, PUT and DELETE; a POST that carries an
        Idempotency-Key passes True. `delivered`, if given, gets one entry per retry: whether the
        try before it may have reached the server and acted (a 429 or a refused connection did not)."""
        safe = method in ("GET", "HEAD", "PUT", "DELETE") if idempotent is None else idempotent
        url = self.url(path)
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method, url, params=_clean(params), json=json, content=content, headers=headers
                )
            except httpx.TransportError as error:
                if not self.retry.retries_error(error, attempt=attempt, idempotent=safe):
                    raise _unreachable(error) from error
                if delivered is not None:
                    delivered.append(not isinstance(error, _retry.NEVER_SENT))
                _retry.sleep(self.retry.delay(attempt))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if self._retry_after_answer(response, attempt=attempt, idempotent=safe):
                if delivered is not None:
                    delivered.append(response.status_code != 429)
                attempt += 1
                continue
            raise self._refusal(response)

    def stream_to(
        self, path: str, destination: Path, *, progress: Progress | None = None, sha256: str | None = None
    ) -> Path:
        """GET a file onto disk in chunks (never whole in memory), through a partial file that is
        renamed only once complete (and, given `sha256`, only if its digest matches); a broken
        connection starts the download again."""
        url = self.url(path)
        partial = destination.with_name(destination.name + ".part")
        attempt = 0
        while True:
            try:
                with self._http.stream("GET", url) as response:
                    if response.status_code >= 400:
                        response.read()
                        if self._retry_after_answer(response, attempt=attempt, idempotent=True):
                            attempt += 1
                            continue
                        raise self._refusal(response)
                    total = _int_or_none(response.headers.get("Content-Length"))
                    done = 0
                    digest = hashlib.sha256()
                    with open(partial, "wb") as out:
                        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                            out.write(chunk)
                            digest.update(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, total)
                if sha256 is not None and digest.hexdigest() != sha256.lower():
                    partial.unlink(missing_ok=True)
                    raise SynthreviewError(
                        0, "corrupt", f"{destination.name}: sha256 {digest.hexdigest()} is not the {sha256} expected"
                    )
                partial.replace(destination)
                return destination
            except httpx.TransportError as error:
                if not self.retry.retries_error(error, attempt=attempt, idempotent=True):
                    partial.unlink(missing_ok=True)
                    raise _unreachable(error) from error
                _retry.sleep(self.retry.delay(attempt))
                attempt += 1

    def pages(self, path: str, params: Params = None, *, page_size: int | None = MAX_PAGE_SIZE) -> Iterator[Any]:
        """Every item of a cursor-paged list, page after page, following next_cursor."""
        base = [(key, value) for key, value in _clean(params) or [] if key != "cursor"]
        if page_size is not None:
            base = [(key, value) for key, value in base if key != "limit"] + [("limit", page_size)]
        query = base
        while True:
            page = self.get(path, query)
            if isinstance(page, list):
                # A short list the server answers whole.
                yield from page
                return
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query = [*base, ("cursor", cursor)]

    def _retry_after_answer(self, response: httpx.Response, *, attempt: int, idempotent: bool) -> bool:
        """Wait before another try if the answer deserves one; False to give up."""
        if not self.retry.retries_status(response.status_code, attempt=attempt, idempotent=idempotent):
            return False
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > _retry.MAX_RETRY_AFTER:
            return False
        _retry.sleep(self.retry.delay(attempt, retry_after=retry_after))
        return True

    def _refusal(self, response: httpx.Response) -> SynthreviewError:
        return error_for(response, retry_after=retry_after_seconds(response.headers.get("Retry-After")))


def _clean(params: Params) -> list[tuple[str, Any]] | None:
    """Query parameters without the unset ones; lists and tuples become repeated parameters."""
    if params is None:
        return None
    pairs = params.items() if isinstance(params, Mapping) else params
    cleaned: list[tuple[str, Any]] = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            cleaned.extend((key, _query_value(item)) for item in value)
        else:
            cleaned.append((key, _query_value(value)))
    return cleaned


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _unreachable(error: httpx.TransportError) -> SynthreviewError:
    return SynthreviewError(0, "unreachable", f"{type(error).__name__}: {error}")
