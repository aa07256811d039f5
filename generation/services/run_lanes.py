"""Executing one generator's items of a run: a lane.

A lane calls the generator from a thread pool (as many threads as the
generator's concurrency), retries what may succeed later with capped backoff,
and writes what comes back in small transactions (run_lane_writer.py): each
writes the samples, their check flags, the items' outcomes and the counters
together. A worker killed between two of them leaves the unwritten items pending,
and the items' row locks make sure two lanes can never both write one item.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from generation.clients.openai_compatible import GeneratorCallError
from generation.models import GenerationRun, Generator, RunItem, RunItemStatus, RunLane, RunStatus
from generation.runs.callers import ItemWork, OpenAICaller, ProgrammaticCaller, caller_for
from generation.runs.limits import GeneratorLimits, backoff_delay
from generation.services.run_lane_writer import FLUSH_ITEMS, ItemOutcome, LaneProgress, LaneWriter

logger = logging.getLogger(__name__)

READ_CHUNK = 500
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


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
    writer = LaneWriter(run, generator)
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
    writer = LaneWriter(run, generator)
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
