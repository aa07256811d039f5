"""When to try a request again, and how long to wait first.

Exponential backoff with full jitter (Brooker, "Exponential Backoff And Jitter", AWS Architecture
Blog, 2015): many pipelines pushing at once would otherwise retry in lockstep and meet the same
rate limit again. A 429's Retry-After is the server's own word on when the window reopens, so it
is waited out in full.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

# The server answered, but a proxy or the server itself could not take the request now.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A Retry-After beyond this is not waited out: a pipeline blocked for an hour looks hung. The
# RateLimited error carries the server's figure instead.
MAX_RETRY_AFTER = 120.0

# Failures before a request left this machine: the server cannot have acted on it.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Replaced by the tests to record the waits instead of sleeping.
sleep = time.sleep


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff: float = 0.5
    max_delay: float = 30.0

    def retries_status(self, status: int, *, attempt: int, idempotent: bool) -> bool:
        """Whether an answer with `status` is worth another try. 429 is retried for every call:
        the rate limit refuses a request before any of its work is done. 5xx only for calls that
        are safe to repeat; a plain POST may have done its work before the gateway gave up."""
        if attempt >= self.max_retries or status not in RETRY_STATUSES:
            return False
        return status == 429 or idempotent

    def retries_error(self, error: httpx.TransportError, *, attempt: int, idempotent: bool) -> bool:
        """A connection that was never made carried nothing, so any call may try again; a
        connection that broke mid-way may have delivered the request, so only safe calls do."""
        if attempt >= self.max_retries:
            return False
        return idempotent or isinstance(error, NEVER_SENT)

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1` (attempt counts from 0)."""
        ceiling = min(self.max_delay, self.backoff * (2**attempt))
        jitter = random.uniform(0, ceiling)
        if retry_after is not None:
            # The server's figure, plus a little spread so that callers it sent away together
            # do not all come back in the same instant.
            return retry_after + random.uniform(0, min(self.backoff, 1.0))
        return jitter


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110, 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
