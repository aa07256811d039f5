"""Each check's time budget on one sample, so that no output (or template) can stall a worker.

Checks run in the write of a run's outputs and in import tasks, one sample after another:
a check that took seconds on a crafted output would take them again on every rerun. The
budget is kept in three ways: the checks' own patterns are linear (user-supplied ones run on
re2), inputs a parser would take long over are bounded, and the loops that can still be long
(schema validation, repetition counts) call `deadline_check()`, which raises `CheckTimedOut`
once the budget is spent; `run_checks` records that as the check's flag.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEFAULT_CHECK_TIME_BUDGET_MS = 300

_deadline: ContextVar[float | None] = ContextVar("check_deadline", default=None)


class CheckTimedOut(Exception):
    """The check ran past its time budget (or would, on an input this large)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


@contextmanager
def check_budget(milliseconds: int) -> Iterator[None]:
    """Give the code inside `milliseconds` of wall-clock time, from now."""
    token = _deadline.set(time.monotonic() + milliseconds / 1000)
    try:
        yield
    finally:
        _deadline.reset(token)


def deadline_check() -> None:
    """Raise CheckTimedOut when the running check's budget is spent; nothing outside a budget."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise CheckTimedOut()


def remaining_seconds() -> float | None:
    """Seconds left of the running check's budget (never below 0), or None outside a budget."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())
