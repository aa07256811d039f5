"""Progress of long jobs, written by workers and read by polling partials and CLIs.

It lives in the shared cache (a file cache by default, Redis in production), not
in the job's row: the job's own transaction would hide it until the end.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from django.core.cache import cache

_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    unit: str
    detail: str = ""
    updated: float = 0.0

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return max(0, min(100, int(100 * self.done / self.total)))


def progress_key(kind: str, pk: int) -> str:
    return f"progress:{kind}:{pk}"


def progress_set(key: str, *, done: int, total: int | None, unit: str, detail: str = "") -> None:
    cache.set(key, asdict(Progress(done, total, unit, detail, time.time())), _TTL_SECONDS)


def progress_get(key: str) -> Progress | None:
    raw = cache.get(key)
    return Progress(**raw) if raw else None
