"""What the server answers, as typed dictionaries (the JSON as it came, so a field the server adds
later is never lost), and what the client itself reports about a push, as dataclasses.

Times are ISO 8601 strings, as they came; sample text is plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

# -- the caller ------------------------------------------------------------------------------------


class TokenInfo(TypedDict):
    name: str
    prefix: str
    project: str | None
    role_cap: str | None
    expires_at: str | None


class Me(TypedDict):
    username: str
    token: TokenInfo | None


class ProjectInfo(TypedDict):
    slug: str
    name: str
    description: str
    role: str


class Accepted(TypedDict):
    """The answer to long work (an export, a run): poll `url` until it ends."""

    id: int
    status: str
    url: str


class ErrorItem(TypedDict):
    message: str
    field: str | None
    line: int | None


# -- imports and samples ---------------------------------------------------------------------------


class ImportBatch(TypedDict):
    batch_id: int
    status: str
    rows_read: int
    imported: int
    duplicates: int
    replayed: bool
    errors: list[ErrorItem]
    created_at: str
    finished_at: str | None
    url: str


@dataclass(frozen=True)
class BatchResult:
    """One pushed batch: records [first_index, first_index + records) of the caller's input."""

    index: int
    first_index: int
    records: int
    batch_id: int
    imported: int
    duplicates: int
    # The server had imported this very batch under this key before this push (an earlier run):
    # this push added nothing. A batch imported by this push's own unanswered try is not replayed.
    replayed: bool
    idempotency_key: str


@dataclass
class PushSummary:
    batches: list[BatchResult] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(batch.records for batch in self.batches)

    @property
    def imported(self) -> int:
        """Samples this push added (a replayed batch added none)."""
        return sum(batch.imported for batch in self.batches if not batch.replayed)

    @property
    def duplicates(self) -> int:
        """Records the project held already, left out by this push."""
        return sum(batch.duplicates for batch in self.batches if not batch.replayed)

    @property
    def replayed(self) -> int:
        """Batches the server had imported before, under the same key: nothing added twice."""
        return sum(1 for batch in self.batches if batch.replayed)

    def __str__(self) -> str:
        return (
            f"{self.records:,} records in {len(self.batches)} batch(es): {self.imported:,} imported, "
            f"{self.duplicates:,} duplicates, {self.replayed} batch(es) replayed"
        )


class GeneratorRef(TypedDict):
    id: int
    name: str


class TemplateRef(TypedDict):
    id: int
    name: str
    version: int


class Sample(TypedDict):
    """A sample as the browser lists it. `blinded`: the caller holds it in an open audit, so all but
    its texts and label is null or empty, as on the pages."""

    id: int
    blinded: bool
    origin: str | None
    status: str | None
    split: str | None
    input: str
    output: str
    label: str | None
    metadata: dict[str, Any]
    generator: GeneratorRef | None
    template: TemplateRef | None
    run_id: int | None
    created_at: str | None
    novelty: float | None


class Neighbour(TypedDict):
    id: int
    similarity: float
    blinded: bool
    origin: str | None
    status: str | None
    generator: GeneratorRef | None
    input: str
    output: str


class SampleDetail(Sample):
    """One sample as its page shows it: lineage, check flags, cluster, groups, neighbours, verdicts
    (and `gold` for leads and admins)."""

    lineage: dict[str, Any] | None
    flags: list[dict[str, str]]
    cluster: dict[str, Any] | None
    groups: list[dict[str, Any]]
    nearest_real: Neighbour | None
    neighbours: list[Neighbour]
    verdicts: list[dict[str, Any]]
    gold: dict[str, str] | None


class Neighbours(TypedDict):
    sample_id: int
    # The sample is held in an open audit: who it resembles would hint at its lineage, so none are given.
    withheld: bool
    items: list[Neighbour]


# -- verdicts and audits ---------------------------------------------------------------------------


class Verdict(TypedDict):
    id: int
    sample_id: int
    audit_id: int | None
    reviewer: str
    verdict: str
    error_category: str
    note: str
    time_spent_ms: int | None
    sample_revision: int | None
    created_at: str
    updated_at: str


class NoiseFloor(TypedDict):
    correct: int
    wrong: int
    unsure: int
    split: int
    judged: int
    rate: float | None
    low: float | None
    high: float | None
    unsure_share: float | None


class AuditScope(TypedDict):
    kind: str
    id: int | None
    label: str


class AuditProgress(TypedDict):
    items: int
    verdicts_given: int
    verdicts_needed: int
    mine: int | None


class Audit(TypedDict):
    id: int
    name: str
    scope: AuditScope
    status: str
    blind: bool
    sample_size: int
    overlap: int
    gold_items: int
    expected_error_rate: float
    seed: int
    created_at: str
    created_by: str | None
    closed_at: str | None
    closed_by: str | None
    closed_reason: str
    progress: AuditProgress
    noise_floor: NoiseFloor | None
    # On one audit's read only: what the audit page shows (null for experts while open).
    figures: dict[str, Any] | None


class PooledFloor(TypedDict):
    id: int | None
    label: str
    audits: int
    correct: int
    wrong: int
    unsure: int
    split: int
    judged: int
    rate: float | None
    low: float | None
    high: float | None


class NoiseFloorReport(TypedDict):
    by: str
    limit: float
    audits: int
    split_left_out: int
    rows: list[PooledFloor]


# -- similarity and quality ------------------------------------------------------------------------


class GroupMember(TypedDict):
    sample_id: int
    similarity: float
    is_representative: bool
    held: bool
    origin: str | None
    generator: str | None
    template: str | None
    run: str | None
    status: str | None
    note: str
    input_preview: str
    output_preview: str


class DuplicateGroup(TypedDict):
    id: int
    kind: str
    status: str
    size: int
    min_similarity: float
    threshold: float | None
    representative_id: int
    representative_reason: str | None
    note: str
    created_at: str
    resolved_at: str | None
    resolved_by: str | None
    members: list[GroupMember]
    hidden_members: int
    members_token: str
    suggested_keep: list[int]


class Cluster(TypedDict):
    id: int
    number: int
    label: str
    size: int
    density: float
    synthetic_share: float
    real_anchor_distance: float | None
    is_low_novelty: bool
    low_novelty_reason: str
    status: str
    built_at: str
    generator_mix: dict[str, int]
    template_mix: dict[str, int]
    members_token: str
    first_members: list[dict[str, Any]]


class Quality(TypedDict):
    # The latest snapshot's figures (scopes, class balance, mix), or None before the first pass.
    snapshot: dict[str, Any] | None


class Alert(TypedDict):
    id: int
    metric: str
    label: str
    scope: str
    scope_key: str
    value: float
    threshold: float
    message: str
    created_at: str
    acknowledged: bool
    acknowledged_at: str | None
    acknowledged_by: str | None
    recovered_at: str | None
    email_sent_at: str | None
    webhook_status: str
    # Where the worker sent it (email addresses, the webhook's host), once it has tried (notified_at).
    sent_to: list[dict[str, Any]]
    notified_at: str | None
    snoozed_until: str | None


# -- generation, exports and the eval set ----------------------------------------------------------


class Generator(TypedDict):
    id: int
    name: str
    kind: str
    model_name: str
    programmatic_name: str
    derived_from: list[str]
    lineage: list[str]
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    seed: int | None
    sampling_strategy: str
    parameters: dict[str, Any]
    concurrency: int
    rate_limit_per_minute: int | None
    request_timeout_s: float
    cost_per_million_input_tokens: float | None
    cost_per_million_output_tokens: float | None
    endpoint_host: str
    api_key_env: str
    # The full base URL for admins; None for everyone else.
    endpoint: str | None
    key_status: str | None
    created_at: str


class RunProgress(TypedDict):
    items_total: int
    done: int
    failed: int
    pending: int
    samples: int
    duplicates: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    finished_share: float


class Run(TypedDict):
    """A run as the runs list shows it; one run's read adds finished, grid, progress, lanes,
    failed_items, flag_counts and unattended_lanes."""

    id: int
    name: str
    status: str
    template: str | None
    template_version: int | None
    generators: list[GeneratorRef]
    items_total: int
    items_done: int
    items_failed: int
    samples_created: int
    created_by: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    url: str
    finished: bool
    grid: list[dict[str, Any]]
    progress: RunProgress
    lanes: list[dict[str, Any]]
    failed_items: list[dict[str, Any]]
    flag_counts: dict[str, int]
    unattended_lanes: list[str]


class GateDecision(TypedDict):
    gate: str
    outcome: str
    reason: str
    details: dict[str, Any]


class ExportCounts(TypedDict):
    total: int
    real: int
    synthetic: int
    real_share: float | None
    held_back: dict[str, int]


class Export(TypedDict):
    """An export as the list shows it; one export's read adds its stage, progress, refusals (the
    gates that said no, with why), decisions, counts, file name, size, sha256 and URLs."""

    id: int
    status: str
    format: str
    split: str
    target_model: str
    eval_set_version: int | None
    created_by: str | None
    created_at: str
    finished_at: str | None
    rows_written: int
    refused_by: list[str]
    url: str
    stage: str
    max_generation_depth: int
    excluded_generators: list[str]
    audit_override_reason: str
    started_at: str | None
    rows_total: int
    error: str
    progress: dict[str, Any] | None
    refusals: list[GateDecision]
    decisions: list[GateDecision]
    counts: ExportCounts | None
    file_name: str
    size_bytes: int | None
    sha256: str
    file_url: str | None
    manifest_url: str | None


# The manifest as the server wrote it beside the file (selection, counts, lineage, decisions, file).
Manifest = dict[str, Any]


class EvalSetVersion(TypedDict):
    id: int
    number: int
    hash: str
    size: int
    frozen_at: str
    frozen_by: str | None
    note: str
    leak_check: dict[str, Any] | None
