"""The plain types every check shares: what a check reads, what it returns.

Kept apart from the registry so the check modules can import them without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generation.checks.budget import DEFAULT_CHECK_TIME_BUDGET_MS


@dataclass(frozen=True)
class SampleInput:
    """What a check may read of a sample and its template version, as plain data."""

    output: str
    input: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    output_format: str = "text"
    output_schema: Mapping[str, Any] | None = None
    code_language: str = ""
    # Where the sample came from, so the length check can pick its reference (generation.checks.length).
    origin: str = "synthetic"
    template_version_id: int | None = None


@dataclass(frozen=True)
class LengthAnchors:
    """Robust statistics of log word count over a project's real anchors."""

    count: int
    median_log_words: float
    mad_log_words: float
    # What the statistics were taken over, as a flag's reason names it: "real anchors",
    # "samples of template story v2".
    reference: str = "real anchors"


@dataclass(frozen=True)
class CheckContext:
    """Per-batch facts that would be wasteful to compute per sample."""

    length_anchors: LengthAnchors | None = None
    # Like with like: the length statistics of each template version's samples (by version id),
    # None where there are too few; filled in by the checks service as batches need them.
    length_by_template_version: dict[int, LengthAnchors | None] = field(default_factory=dict)
    # Each check's wall-clock budget on one sample (settings.CHECK_TIME_BUDGET_MS in the services).
    time_budget_ms: int = DEFAULT_CHECK_TIME_BUDGET_MS


@dataclass(frozen=True)
class Flag:
    check_name: str
    reason: str


CheckFunction = Callable[[SampleInput, CheckContext], "Flag | None"]


@dataclass(frozen=True)
class Check:
    name: str
    label: str
    description: str
    function: CheckFunction
