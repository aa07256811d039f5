"""Writing a lane's results: the samples, their check flags, the items' outcomes and
the counters, together in one small transaction per batch.

Each batch locks its items first and writes only those still pending, so a rerun
or a second lane never writes an item twice; a sample's content hash makes a
repeated output a duplicate of the first instead of a second sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from generation.hashing import content_hash
from generation.models import (
    GenerationRun,
    Generator,
    Origin,
    RunItem,
    RunItemStatus,
    RunLane,
    Sample,
    SampleStatus,
)
from generation.runs.callers import CallOutput, ItemWork
from generation.services.checks import new_samples_check
from synthreview.projects.services.counters import sample_count_add

FLUSH_ITEMS = 128
FLUSH_S = 1.0


@dataclass(frozen=True)
class ItemOutcome:
    work: ItemWork
    output: CallOutput | None
    error: str
    attempts: int


@dataclass(frozen=True)
class LaneProgress:
    done: int
    failed: int
    total: int


class LaneWriter:
    """Buffers a lane's outcomes and writes them in batches of FLUSH_ITEMS, or every FLUSH_S."""

    def __init__(self, run: GenerationRun, generator: Generator) -> None:
        self.run = run
        self.generator = generator
        self.buffer: list[ItemOutcome] = []
        self.last_flush = time.monotonic()
        self.done = self.failed = 0
        self.check_contexts: dict = {}
        self.total = RunLane.objects.filter(run=run, generator=generator).values_list("items_total", flat=True)[0]
        counts = RunLane.objects.filter(run=run, generator=generator).values("items_done", "items_failed")[0]
        self.done, self.failed = counts["items_done"], counts["items_failed"]

    def add(self, outcome: ItemOutcome) -> None:
        self.buffer.append(outcome)

    def due(self, *, final: bool) -> bool:
        if not self.buffer:
            return False
        return final or len(self.buffer) >= FLUSH_ITEMS or time.monotonic() - self.last_flush >= FLUSH_S

    def progress(self) -> LaneProgress:
        return LaneProgress(done=self.done, failed=self.failed, total=self.total)

    def flush(self) -> None:
        if not self.buffer:
            return
        outcomes, self.buffer = self.buffer, []
        self.last_flush = time.monotonic()
        for attempt in range(3):
            try:
                self._write(outcomes)
                return
            except IntegrityError:
                # Another lane wrote the same content for this run and generator between our
                # read and our insert; reading again turns ours into a duplicate.
                if attempt == 2:
                    raise

    def _write(self, outcomes: list[ItemOutcome]) -> None:
        run, generator = self.run, self.generator
        with transaction.atomic():
            still_pending = set(
                RunItem.objects.select_for_update()
                .filter(pk__in=[o.work.item_id for o in outcomes], status=RunItemStatus.PENDING)
                .values_list("pk", flat=True)
            )
            outcomes = [o for o in outcomes if o.work.item_id in still_pending]
            if not outcomes:
                return
            digests = {o.work.item_id: content_hash(o.output.input, o.output.output) for o in outcomes if o.output}
            known = dict(
                Sample.objects.filter(
                    project_id=run.project_id, run=run, generator=generator, content_hash__in=set(digests.values())
                ).values_list("content_hash", "pk")
            )
            new_samples: dict[str, Sample] = {}
            for outcome in outcomes:
                digest = digests.get(outcome.work.item_id)
                if digest and digest not in known and digest not in new_samples:
                    new_samples[digest] = self._sample(outcome, digest)
            Sample.objects.bulk_create(new_samples.values())
            known.update({digest: sample.pk for digest, sample in new_samples.items()})
            items = self._items(outcomes, digests, known, new_samples)
            _items_update(items)
            done = sum(1 for item in items if item.status == RunItemStatus.DONE)
            failed = len(items) - done
            tokens_in = sum(item.prompt_tokens for item in items)
            tokens_out = sum(item.completion_tokens for item in items)
            latency = sum(item.latency_ms or 0 for item in items)
            RunLane.objects.filter(run=run, generator=generator).update(
                items_done=F("items_done") + done,
                items_failed=F("items_failed") + failed,
                samples_created=F("samples_created") + len(new_samples),
                prompt_tokens=F("prompt_tokens") + tokens_in,
                completion_tokens=F("completion_tokens") + tokens_out,
                latency_ms_total=F("latency_ms_total") + latency,
            )
            GenerationRun.objects.filter(pk=run.pk).update(
                items_done=F("items_done") + done,
                items_failed=F("items_failed") + failed,
                samples_created=F("samples_created") + len(new_samples),
                prompt_tokens=F("prompt_tokens") + tokens_in,
                completion_tokens=F("completion_tokens") + tokens_out,
            )
            sample_count_add(
                project_id=run.project_id, origin=Origin.SYNTHETIC, status=SampleStatus.PENDING, delta=len(new_samples)
            )
            # In the same transaction: a sample is never visible unchecked.
            new_samples_check(samples=list(new_samples.values()), contexts=self.check_contexts)
        self.done += done
        self.failed += failed

    def _sample(self, outcome: ItemOutcome, digest: str) -> Sample:
        work, output = outcome.work, outcome.output
        assert output is not None
        return Sample(
            project_id=self.run.project_id,
            origin=Origin.SYNTHETIC,
            run=self.run,
            generator=self.generator,
            template_version=self.run.template_version,
            input=output.input,
            output=output.output,
            label=output.label,
            content_hash=digest,
            generation_depth=work.generation_depth,
            metadata={
                **_known_answer(work.variables),
                **output.metadata,
                "item_index": work.row_index,
                "run_item_id": work.item_id,
                "params": {k: v for k, v in work.params.items() if v is not None},
                "constraint": work.constraint,
                "finish_reason": output.finish_reason,
                "prompt_tokens": output.prompt_tokens,
                "completion_tokens": output.completion_tokens,
            },
        )

    def _items(
        self,
        outcomes: list[ItemOutcome],
        digests: dict[int, str],
        known: dict[str, int],
        new_samples: dict[str, Sample],
    ) -> list[RunItem]:
        now = timezone.now()
        items = []
        claimed: set[str] = set()
        for outcome in outcomes:
            item = RunItem(pk=outcome.work.item_id, attempts=outcome.attempts, finished_at=now)
            if outcome.output is None:
                item.status, item.error = RunItemStatus.FAILED, outcome.error[:2000]
                item.sample_id, item.duplicate = None, False
                item.finish_reason, item.prompt_tokens, item.completion_tokens, item.latency_ms = "", 0, 0, None
            else:
                digest = digests[outcome.work.item_id]
                item.status, item.error, item.sample_id = RunItemStatus.DONE, "", known[digest]
                # The first item to bring a content makes its sample; any other is a duplicate of it.
                item.duplicate = not (digest in new_samples and digest not in claimed)
                if not item.duplicate:
                    claimed.add(digest)
                item.finish_reason = outcome.output.finish_reason[:32]
                item.prompt_tokens = outcome.output.prompt_tokens
                item.completion_tokens = outcome.output.completion_tokens
                item.latency_ms = round(outcome.output.latency_s * 1000)
            items.append(item)
        return items


# Variable-table columns that carry an item's right answer, for the math check.
REFERENCE_ANSWER_COLUMNS = ("reference_answer", "expected_answer", "answer")


def _known_answer(variables: dict) -> dict:
    """A row's known answer as `reference_answer`, when its table has such a column."""
    for column in REFERENCE_ANSWER_COLUMNS:
        value = variables.get(column)
        if value not in (None, ""):
            return {"reference_answer": value}
    return {}


ITEM_OUTCOME_FIELDS = [
    "status",
    "sample_id",
    "duplicate",
    "attempts",
    "error",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "finished_at",
]
# Typed, so the VALUES list is typed even where a column is all NULL.
_OUTCOME_SQL_TYPES = [
    "bigint",
    "varchar",
    "bigint",
    "boolean",
    "integer",
    "text",
    "varchar",
    "integer",
    "integer",
    "integer",
    "timestamptz",
]


def _items_update(items: list[RunItem]) -> None:
    """Write each item's outcome. On PostgreSQL one UPDATE … FROM (VALUES …): bulk_update's
    CASE expressions cost more Python than the calls they record."""
    if connection.vendor != "postgresql":
        RunItem.objects.bulk_update(items, [f.removesuffix("_id") for f in ITEM_OUTCOME_FIELDS])
        return
    row = "(" + ", ".join(f"%s::{sql_type}" for sql_type in _OUTCOME_SQL_TYPES) + ")"
    params: list = []
    for item in items:
        params.append(item.pk)
        params.extend(getattr(item, field) for field in ITEM_OUTCOME_FIELDS)
    table = RunItem._meta.db_table
    assignments = ", ".join(f"{field} = v.{field}" for field in ITEM_OUTCOME_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS item SET {assignments} "
            f"FROM (VALUES {', '.join([row] * len(items))}) AS v(id, {', '.join(ITEM_OUTCOME_FIELDS)}) "
            f"WHERE item.id = v.id",
            params,
        )
