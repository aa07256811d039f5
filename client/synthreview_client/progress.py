"""Progress reports for pushes, runs and exports: a callback `(done, total)`, where total may be
None while unknown. `TextProgress` is the ready-made one, a line on stderr with no dependency."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, "int | None"], None]


class TextProgress:
    """Writes `label: done/total (pct%)` to a stream, rewriting one line on a terminal and
    printing at most one line per `every` seconds elsewhere (a CI log stays short)."""

    def __init__(self, label: str = "", *, stream: TextIO | None = None, every: float = 1.0) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int | None) -> None:
        if done == 0 and total is None:
            return  # nothing known yet (a queued export): a bare 0 tells nobody anything
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last < self.every:
            return
        self._last = now
        text = f"{done:,}/{total:,} ({100 * done / total:.0f}%)" if total else f"{done:,}"
        prefix = f"{self.label}: " if self.label else ""
        end = "\n" if finished or not self._tty else ""
        self.stream.write(f"\r{prefix}{text}{end}" if self._tty else f"{prefix}{text}{end}")
        self.stream.flush()
