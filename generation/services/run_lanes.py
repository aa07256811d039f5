"""Executing one generator's items of a run: a lane.

A lane calls the generator from a thread pool (as many threads as the
generator's concurrency), retries what may succeed later with capped backoff,
and writes what comes back in small transactions: each writes the samples, their
check flags, the items' outcomes and the counters together. A worker killed
between two of them leaves the unwritten items pending, and the items' row locks
make sure two lanes can never both write one item.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.clients.openai_compatible import GeneratorCallError
from generation.hashing import content_hash
from generation.models import (
    GenerationRun,
    Generator,
    Origin,
    RunItem,
    RunItemStatus,
    RunLane,
    RunStatus,
    Sample,
    SampleStatus,
)
from generation.runs.callers import CallOutput, ItemWork, OpenAICaller, ProgrammaticCaller, caller_for
from generation.runs.limits import GeneratorLimits, backoff_delay
from generation.services.checks import new_samples_check
from synthreview.projects.services.counters import sample_count_add

logger = logging.getLogger(__name__)

FLUSH_ITEMS = 128
FLUSH_S = 1.0
READ_CHUNK = 500
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


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


def lane_execute(*, run_id: int, generator_id: int, on_progress: Callable[[LaneProgress], None] | None = None) -> str:
    """Work through the lane's pending items. Returns "finished", "stopped" (the run
    was cancelled) or "busy" (another live worker holds the lane)."""
    owner = uuid.uuid4().hex
    if not _lease_take(run_id, generator_id, owner):
        return "busy"
    try:
        return _lane_loop(run_id, generator_id, owner, on_progress)
    finally:
        RunLane.objects.filter(run_id=run_id, generator_id=generator_id, owner=owner).update(owner="", lease_until=None)


def _lane_loop(run_id: int, generator_id: int, owner: str, on_progress: Callable[[LaneProgress], None] | None) -> str:
    run = GenerationRun.objects.defer("variable_rows").select_related("template_version").get(pk=run_id)
    if run.status not in ACTIVE:
        return "stopped"
    now = timezone.now()
    GenerationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING, started_at=now)
    RunLane.objects.filter(run_id=run_id, generator_id=generator_id, started_at__isnull=True).update(started_at=now)
    generator = Generator.objects.get(pk=generator_id)
    try:
        caller = caller_for(generator, run)
    except GeneratorCallError as error:
        if error.retryable:
            # The endpoint may come back (a DNS hiccup): the items stay pending and the task retries.
            raise LaneUnavailable(str(error)) from None
        # Nothing this lane calls can succeed (a refused URL, a missing key): every item fails with the reason.
        lane_fail_pending(run_id=run_id, generator_id=generator_id, reason=str(error))
        return "finished"
    # A call never holds its slot longer than its timeout; a dead worker's slots come back after that.
    limits = GeneratorLimits(generator, lease_s=generator.request_timeout_s + 5)
    threads = generator.concurrency if caller.concurrent else 1
    writer = _LaneWriter(run, generator)
    in_flight: dict[Future, ItemWork] = {}
    pending = _pending_items(run_id, generator_id)
    exhausted = stopped = False
    rescans = 0
    last_renewal = time.monotonic()
    stop_event = threading.Event()
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"lane-{generator_id}")
    # Futures announce themselves here when done: concurrent.futures.wait would hang a
    # waiter on every future in flight for each completion, O(in flight) per item.
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    try:
        while True:
            # Queue enough ahead that the pool stays busy while this thread writes a batch.
            while not (exhausted or stopped) and len(in_flight) < threads + FLUSH_ITEMS:
                work = next(pending, None)
                if work is None:
                    exhausted = True
                    break
                future = pool.submit(_call_with_retries, caller, limits, work, stop_event)
                future.add_done_callback(finished.put)
                in_flight[future] = work
            if not in_flight:
                writer.flush()
                # Items put back to pending behind the read position (a retry of failed
                # items while this lane ran) are read from the start once more.
                if not stopped and rescans < 3 and _lane_has_pending(run_id, generator_id):
                    rescans += 1
                    pending, exhausted = _pending_items(run_id, generator_id), False
                    continue
                break
            for future in _finished_futures(finished, timeout=0.25):
                if future not in in_flight:
                    continue  # cancelled after a stop: already dropped below
                outcome = None if future.cancelled() else future.result()
                if outcome is not None:  # None: abandoned in a backoff wait when the lane stopped
                    writer.add(outcome)
                in_flight.pop(future)
            if writer.due(final=not in_flight):
                writer.flush()
                if on_progress:
                    on_progress(writer.progress())
            if time.monotonic() - last_renewal >= 1.0:
                last_renewal = time.monotonic()
                limits.release_idle()
                if not stopped and (not _lease_renew(run_id, generator_id, owner) or _run_stopped(run_id)):
                    # Calls not yet started are dropped (no spend after a cancel); the ones in
                    # flight finish and are written.
                    stopped = True
                    stop_event.set()
                    for future in list(in_flight):
                        if future.cancel():
                            in_flight.pop(future)
        writer.flush()
    finally:
        # On an error, calls not yet started are never made; their items stay pending.
        stop_event.set()
        pool.shutdown(wait=True, cancel_futures=True)
        limits.close()
        caller.close()
    if on_progress:
        on_progress(writer.progress())
    return "stopped" if stopped else "finished"


def _finished_futures(finished: queue.SimpleQueue, *, timeout: float) -> list[Future]:
    """The futures done by now; waits up to `timeout` for a first one."""
    try:
        done = [finished.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            done.append(finished.get_nowait())
        except queue.Empty:
            return done


def _call_with_retries(
    caller: OpenAICaller | ProgrammaticCaller,
    limits: GeneratorLimits,
    work: ItemWork,
    stop: threading.Event,
) -> ItemOutcome | None:
    """One item's call, retried while it may still succeed. None: the lane stopped
    before the call was made (the item stays pending, unpaid for)."""
    max_attempts = settings.GENERATION_MAX_ATTEMPTS
    attempt = 0
    while True:
        attempt += 1
        try:
            slot = limits.acquire(stop)
        except Exception as error:  # the shared cache is down: no slot means no call, so wait and retry
            logger.warning("generator limits unavailable for item %s: %s", work.item_id, error)
            if attempt >= max_attempts:
                return ItemOutcome(
                    work,
                    None,
                    f"the concurrency limiter's cache failed ({type(error).__name__}) after {attempt} attempts",
                    work.attempts,
                )
            if stop.wait(backoff_delay(attempt, None)):
                return None
            continue
        if slot is None:
            return None
        park = True  # kept for this thread's next call, unless it is about to wait
        try:
            return ItemOutcome(work, caller.call(work), "", work.attempts + attempt)
        except GeneratorCallError as error:
            if not error.retryable or attempt >= max_attempts:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                return ItemOutcome(work, None, f"{error}{tries}", work.attempts + attempt)
            delay = backoff_delay(attempt, error.retry_after)
            park = False
        except Exception as error:  # a bug or a surprise must fail the item, not the lane
            logger.exception("generation call failed for item %s", work.item_id)
            return ItemOutcome(
                work, None, f"unexpected error: {type(error).__name__}: {error}"[:500], work.attempts + attempt
            )
        finally:
            limits.release(slot, park=park)
        if stop.wait(delay):
            return None


class _LaneWriter:
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


def _pending_items(run_id: int, generator_id: int) -> Iterator[ItemWork]:
    after = 0
    while True:
        chunk = list(
            RunItem.objects.filter(run_id=run_id, generator_id=generator_id, status=RunItemStatus.PENDING, pk__gt=after)
            .order_by("pk")
            .values_list(
                "pk", "row_index", "params", "variables", "constraint", "prompt", "generation_depth", "attempts"
            )[:READ_CHUNK]
        )
        if not chunk:
            return
        for pk, row_index, params, variables, constraint, prompt, depth, attempts in chunk:
            yield ItemWork(pk, row_index, params, variables, constraint, prompt, depth, attempts)
        after = chunk[-1][0]


class LaneUnavailable(Exception):
    """The generator cannot be reached for now; the lane's items stay pending."""


def _lane_has_pending(run_id: int, generator_id: int) -> bool:
    return RunItem.objects.filter(run_id=run_id, generator_id=generator_id, status=RunItemStatus.PENDING).exists()


def lane_fail_pending(*, run_id: int, generator_id: int, reason: str) -> None:
    """Record every pending item of the lane as failed with `reason`."""
    run = GenerationRun.objects.defer("variable_rows").select_related("template_version").get(pk=run_id)
    generator = Generator.objects.get(pk=generator_id)
    writer = _LaneWriter(run, generator)
    for work in _pending_items(run.pk, generator.pk):
        writer.add(ItemOutcome(work, None, reason, work.attempts))
        if len(writer.buffer) >= 500:
            writer.flush()
    writer.flush()


def lane_give_up(*, run_id: int, generator_id: int, reason: str) -> bool:
    """Fail the lane's pending items with `reason`, for a lane its task can no longer
    execute. Not while a live worker holds the lane (those items are its to finish),
    and not once the run is cancelled (its pending items wait for a resume). True
    when the items were failed."""
    if _run_stopped(run_id):
        return False
    owner = uuid.uuid4().hex
    if not _lease_take(run_id, generator_id, owner):
        return False
    try:
        lane_fail_pending(run_id=run_id, generator_id=generator_id, reason=reason)
    finally:
        RunLane.objects.filter(run_id=run_id, generator_id=generator_id, owner=owner).update(owner="", lease_until=None)
    return True


def _lease_take(run_id: int, generator_id: int, owner: str) -> bool:
    now = timezone.now()
    return bool(
        RunLane.objects.filter(run_id=run_id, generator_id=generator_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(owner=owner, lease_until=now + timedelta(seconds=settings.GENERATION_LANE_LEASE_S))
    )


def _lease_renew(run_id: int, generator_id: int, owner: str) -> bool:
    until = timezone.now() + timedelta(seconds=settings.GENERATION_LANE_LEASE_S)
    return bool(RunLane.objects.filter(run_id=run_id, generator_id=generator_id, owner=owner).update(lease_until=until))


def _run_stopped(run_id: int) -> bool:
    return not GenerationRun.objects.filter(pk=run_id, status__in=ACTIVE).exists()


def lane_lease_remaining(*, run_id: int, generator_id: int) -> float:
    until = (
        RunLane.objects.filter(run_id=run_id, generator_id=generator_id).values_list("lease_until", flat=True).first()
    )
    return max(0.0, (until - timezone.now()).total_seconds()) if until else 0.0
