"""A client of any OpenAI-compatible chat completions endpoint (vLLM, llama.cpp,
Ollama, hosted APIs).

The base URL is typed in by an admin, so it gets the same SSRF defences as a
webhook (see synthreview/outbound.py): validated once when the client is made,
connections pinned to the address that was validated, no proxies from the
environment, redirects refused rather than followed, a cap on the body read and
a deadline on the whole exchange.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

from synthreview.outbound import Deadline, outbound_ssl_context, resolve_outbound_url

if TYPE_CHECKING:
    from generation.models import Generator

logger = logging.getLogger(__name__)

USER_AGENT = "synthreview-generator"
# A chat completion is text; 4 MiB is far beyond any max_tokens anyone sets.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_RETRY_AFTER_S = 60.0
MAX_REPORTED_TOKENS = 2**31 - 1
STATUS_REASONS = {
    400: "bad request",
    401: "unauthorised: check the API key",
    403: "forbidden",
    404: "not found: check the base URL",
    408: "request timeout",
    413: "request too large",
    422: "unprocessable request",
    429: "rate limited",
    500: "server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}
# Only these statuses carry the server's own explanation to the page (a model it
# does not know, a parameter out of range); 401/403 messages often echo the key.
EXPLAINED_STATUSES = {400, 404, 422}


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


class GeneratorCallError(Exception):
    """A call that produced no completion. The message is short enough for the run page."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status_code = status_code


class OpenAICompatibleClient:
    """One per generator per run; `complete` may be called from many threads at once."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout_s: float = 60.0,
        max_connections: int = 8,
        allow_private: bool | None = None,
    ) -> None:
        if allow_private is None:
            allow_private = settings.OUTBOUND_ALLOW_PRIVATE_HOSTS
        try:
            target = resolve_outbound_url(base_url.rstrip("/"), allow_private=allow_private)
        except ValidationError as error:
            raise GeneratorCallError(f"refused: {' '.join(error.messages)}", retryable=False) from None
        base = httpx.URL(target.url)
        # The path is extended, the query (e.g. Azure's api-version) kept after it.
        self._url = base.copy_with(path=f"{base.path.rstrip('/')}/chat/completions")
        # One URL per validated address, made once: a call connects to these and nothing else.
        self._pinned_urls = [self._url.copy_with(host=address) for address in target.addresses]
        self._api_key = api_key or None
        self.timeout_s = timeout_s
        self._headers = {
            # The URL sent names the pinned address, so the host goes in by hand.
            "Host": self._url.netloc.decode("ascii"),
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._extensions = {"sni_hostname": self._url.raw_host.decode("ascii")} if self._url.scheme == "https" else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            verify=outbound_ssl_context(),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def complete(self, *, model: str, messages: list[dict], params: dict) -> Completion:
        payload = {"model": model, "messages": messages}
        payload.update({key: value for key, value in params.items() if value is not None and key not in payload})
        body = json.dumps(payload).encode()
        started = time.monotonic()
        deadline = Deadline(self.timeout_s)
        try:
            status, headers, raw = self._exchange(body, deadline)
        except GeneratorCallError as error:
            logger.info("generator call to %s failed: %s", self._url.host, error)
            raise
        finally:
            deadline.cancel()
        latency = time.monotonic() - started
        if not 200 <= status < 300:
            raise self._status_error(status, headers, raw)
        return _completion(raw, messages, latency)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exchange(self, body: bytes, deadline: Deadline) -> tuple[int, httpx.Headers, bytes]:
        last_error = "no address to connect to"
        try:
            for pinned_url in self._pinned_urls:
                if deadline.expired:
                    break
                request = self._client.build_request(
                    "POST",
                    pinned_url,
                    headers=self._headers,
                    content=body,
                    timeout=httpx.Timeout(deadline.remaining()),
                    extensions={**self._extensions, "trace": deadline.trace},
                )
                try:
                    response = self._client.send(request, stream=True)
                except httpx.ConnectError as error:
                    # The next address may be reachable (IPv6 resolved but not routed).
                    last_error = f"could not connect: {self._redact(str(error))}"
                    continue
                try:
                    if "network_stream" in response.extensions:
                        # A pooled connection opened before this call: trace never saw it.
                        deadline.watch(response.extensions["network_stream"])
                    if 300 <= response.status_code < 400:
                        raise GeneratorCallError(
                            f"redirect refused (HTTP {response.status_code})",
                            retryable=False,
                            status_code=response.status_code,
                        )
                    return response.status_code, response.headers, _read_capped(response, deadline)
                finally:
                    response.close()
        except httpx.TimeoutException:
            raise GeneratorCallError(f"timed out after {self.timeout_s:g}s", retryable=True) from None
        except (httpx.HTTPError, OSError) as error:
            if not deadline.expired:
                raise GeneratorCallError(f"connection failed: {type(error).__name__}", retryable=True) from None
        if deadline.expired:
            raise GeneratorCallError(f"timed out after {self.timeout_s:g}s", retryable=True)
        raise GeneratorCallError(last_error, retryable=True)

    def _status_error(self, status: int, headers: httpx.Headers, raw: bytes) -> GeneratorCallError:
        message = f"HTTP {status}"
        if status in STATUS_REASONS:
            message += f" ({STATUS_REASONS[status]})"
        if status in EXPLAINED_STATUSES:
            explanation = _error_message(raw)
            if explanation:
                message += f": {self._redact(explanation)[:200]}"
        retryable = status in (408, 429) or status >= 500
        return GeneratorCallError(message, retryable=retryable, retry_after=_retry_after(headers), status_code=status)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[key]") if self._api_key else text


def _read_capped(response: httpx.Response, deadline: Deadline) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _too_large()
        if deadline.expired:
            raise httpx.ReadTimeout("deadline")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> GeneratorCallError:
    return GeneratorCallError(f"response larger than {MAX_RESPONSE_BYTES // 1024**2} MiB refused", retryable=False)


def _completion(raw: bytes, messages: list[dict], latency: float) -> Completion:
    try:
        data = json.loads(raw)
    except ValueError:
        raise GeneratorCallError("malformed response: not JSON", retryable=False) from None
    if not isinstance(data, dict):
        raise GeneratorCallError("malformed response: not a JSON object", retryable=False)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise GeneratorCallError("malformed response: no choices", retryable=False)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise GeneratorCallError("malformed response: no message", retryable=False)
    text = message.get("content")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise GeneratorCallError("malformed response: content is not text", retryable=False)
    finish_reason = choices[0].get("finish_reason")
    usage = data.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    prompt_text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    return Completion(
        text=text,
        finish_reason=finish_reason if isinstance(finish_reason, str) else "",
        prompt_tokens=_tokens(usage.get("prompt_tokens"), prompt_text),
        completion_tokens=_tokens(usage.get("completion_tokens"), text),
        latency_s=latency,
    )


def _tokens(reported: Any, text: str) -> int:
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
        # A server's figure is not trusted past what the counters' integer columns hold.
        return min(reported, MAX_REPORTED_TOKENS)
    # About four characters a token for English (OpenAI's rule of thumb).
    return math.ceil(len(text) / 4)


def _retry_after(headers: httpx.Headers) -> float | None:
    # Seconds only; an HTTP-date is rare from model servers and needs a trusted clock.
    value = headers.get("Retry-After", "").strip()
    if not re.fullmatch(r"\d+(\.\d+)?", value):
        return None
    return min(float(value), MAX_RETRY_AFTER_S)


def _error_message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return error if isinstance(error, str) else ""


def generator_api_key(generator: Generator) -> str | None:
    """The key from the environment variable the generator names; never stored or shown."""
    name = generator.api_key_env.strip()
    if not name:
        return None
    if not name.startswith(settings.GENERATOR_API_KEY_ENV_PREFIX):
        # Checked again at call time: a row written before the prefix was set, or by hand.
        raise GeneratorCallError(
            f"the key variable {name} does not start with {settings.GENERATOR_API_KEY_ENV_PREFIX}; it is not read",
            retryable=False,
        )
    value = os.environ.get(name)
    if not value:
        raise GeneratorCallError(f"the environment variable {name} is not set", retryable=False)
    return value


def generator_params(generator: Generator) -> dict[str, Any]:
    """The sampling parameters a generator sends; its free-form `parameters` go first,
    so the named fields win."""
    params = dict(generator.parameters or {})
    for field in ("temperature", "top_p", "seed", "max_tokens"):
        value = getattr(generator, field)
        if value is not None:
            params[field] = value
    return params


def client_for_generator(generator: Generator) -> OpenAICompatibleClient:
    return OpenAICompatibleClient(
        base_url=generator.endpoint,
        api_key=generator_api_key(generator),
        timeout_s=getattr(generator, "request_timeout_s", None) or 60.0,
        max_connections=getattr(generator, "concurrency", None) or 8,
    )
