"""What keeps a run from overspending, leaking or stalling: cancel, the rate limit,
resume while lanes run, the key prefix, eval samples kept out of few-shot seeds,
and the size cap of a run's plan."""

from __future__ import annotations

import math
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from generation.clients.openai_compatible import GeneratorCallError, OpenAICompatibleClient, generator_api_key
from generation.models import GenerationRun, Generator, RunItem, RunLane, Sample, Split
from generation.runs.limits import GeneratorLimits
from generation.runs.plan import ConstraintMix, GridCell, PlanError
from generation.services.run_lanes import lane_execute, lane_give_up
from generation.services.runs import RunSpec, run_create, run_finish_if_done, run_plan_rows, run_prepare, run_resume
from tests.generation.run_helpers import openai_generator, setup_access, topic_template
from tests.llm_server import start_llm_server
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db

# scripts/test.sh runs on Redis; the file cache of the demo is approximate (its add is not
# atomic across threads) and gives slots back after each call.
needs_redis_cache = pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower(),
    reason="the limits are exact, and slots kept between calls, only on Redis (CACHE_URL)",
)


def _run(project, generator, rows, django_capture_on_commit_callbacks, name="r"):
    spec = RunSpec(
        project=project,
        name=name,
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(0.5, None, None)],
        table_rows=[{"topic": t} for t in rows],
        constraints=ConstraintMix(),
    )
    with django_capture_on_commit_callbacks(execute=False):
        return run_create(setup_access(spec.project), spec=spec)


def test_a_cancelled_run_stops_calling_and_leaves_the_rest_pending(
    project, fast_retries, django_capture_on_commit_callbacks
):
    with start_llm_server(latency_ms=100) as server:
        generator = openai_generator(project, "slow", server.base_url, concurrency=1)
        run = _run(project, generator, [f"topic {n}" for n in range(60)], django_capture_on_commit_callbacks)
        run_prepare(run_id=run.pk)

        def cancel_after_first_write(progress) -> None:
            GenerationRun.objects.filter(pk=run.pk).update(status="cancelled")

        outcome = lane_execute(run_id=run.pk, generator_id=generator.pk, on_progress=cancel_after_first_write)
        calls = len(server.requests)
    assert outcome == "stopped"
    # One write after about a second (≈10 calls at 100 ms), then at most one more second of calls before the
    # lane sees the cancel; the ≈60 queued behind them are never made.
    done = RunItem.objects.filter(run=run, status="done").count()
    assert calls <= 25 and done == calls
    assert RunItem.objects.filter(run=run, status="pending").count() == 60 - done
    assert Sample.objects.filter(run=run).count() == done


@needs_redis_cache
def test_the_rate_limit_holds_across_threads_past_a_long_backlog(project, settings):
    generator = Generator.objects.create(
        project=project,
        name="limited",
        kind="openai-compatible",
        model_name="m",
        concurrency=8,
        rate_limit_per_minute=600,
    )
    limits = GeneratorLimits(generator, lease_s=10)
    starts: list[float] = []
    lock = threading.Lock()

    def call_three_times() -> None:
        for call in range(3):
            slot = limits.acquire()
            with lock:
                starts.append(time.monotonic())
            limits.release(slot, park=call < 2)  # kept for the thread's next call, given back after its last

    began = time.monotonic()
    threads = [threading.Thread(target=call_three_times) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 30 starts at 10 a second: the last at least 2.9 s after the first possible one, a backlog longer than
    # the two seconds a claimed start time used to be kept.
    assert len(starts) == 30
    assert max(starts) - began >= 2.8
    # Ten threads share eight slots: the two left waiting get theirs when a holder gives one up.
    assert max(starts) - began < 6


@needs_redis_cache
def test_two_workers_share_a_generators_concurrency_slots(project):
    # Two limiters for one generator stand for two worker processes.
    generator = Generator.objects.create(
        project=project, name="two-slots", kind="openai-compatible", model_name="m", concurrency=2
    )
    first_worker, second_worker = GeneratorLimits(generator, lease_s=10), GeneratorLimits(generator, lease_s=10)
    held = [first_worker.acquire(), second_worker.acquire()]
    assert sorted(held) == [0, 1]
    third = threading.Thread(target=lambda: held.append(second_worker.acquire()))
    third.start()
    third.join(0.3)
    assert third.is_alive(), "a third call started while both slots were taken"
    first_worker.release(held[0])  # parked for the thread's next call: still taken
    third.join(0.3)
    assert third.is_alive(), "a parked slot was taken by another worker"
    first_worker.release_idle(older_than=0)  # the lane gives back what its threads do not use
    third.join(2)
    assert not third.is_alive() and held[2] == held[0]
    second_worker.close()
    first_worker.close()


@needs_redis_cache
def test_a_busy_lane_gives_its_slot_up_to_a_waiting_worker_within_about_a_second(project, monkeypatch):
    generator = Generator.objects.create(
        project=project, name="one-slot-shared", kind="openai-compatible", model_name="m", concurrency=1
    )
    busy, waiting = GeneratorLimits(generator, lease_s=10), GeneratorLimits(generator, lease_s=10)
    done = threading.Event()
    waiting_got_it = []
    calls, fresh_takes = [], []
    take = busy._slot_take
    monkeypatch.setattr(busy, "_slot_take", lambda slot, token: fresh_takes.append(slot) or take(slot, token))

    def busy_lane() -> None:  # back-to-back calls, as a lane with a long backlog makes
        while not done.is_set():
            slot = busy.acquire(done)
            if slot is None:
                return
            calls.append(slot)
            time.sleep(0.005)
            busy.release(slot)

    lane = threading.Thread(target=busy_lane)
    lane.start()
    time.sleep(0.2)
    started = time.monotonic()
    waiting.acquire()
    waiting_got_it.append(time.monotonic() - started)
    done.set()
    lane.join(2)
    waiting.close()
    busy.close()
    assert waiting_got_it[0] < 2.0
    # The busy lane kept its slot from call to call: one take for dozens of calls.
    assert len(calls) > 20 and len(fresh_takes) <= 2


def test_a_slot_whose_lease_lapsed_is_not_given_back_by_its_old_holder(project):
    generator = Generator.objects.create(
        project=project, name="one-slot", kind="openai-compatible", model_name="m", concurrency=1
    )
    stalled, live = GeneratorLimits(generator, lease_s=1), GeneratorLimits(generator, lease_s=10)
    slot = stalled.acquire()
    time.sleep(3.2)  # the stalled worker's lease (3 s at least) lapses; the live one takes the slot
    assert live.acquire() == slot
    stalled.release(slot, park=False)  # too late: the slot is the live worker's now
    contender = threading.Thread(target=stalled.acquire, daemon=True)
    contender.start()
    contender.join(0.3)
    assert contender.is_alive(), "the old holder's release freed a slot it no longer held"
    live.release(slot, park=False)
    contender.join(2)
    assert not contender.is_alive()
    stalled.close()


def test_a_resumed_run_whose_lanes_are_still_working_finishes_when_they_do(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    generator = openai_generator(project, "a", llm_server.base_url)
    run = _run(project, generator, ["tea", "milk"], django_capture_on_commit_callbacks)
    run_prepare(run_id=run.pk)
    GenerationRun.objects.filter(pk=run.pk).update(status="running")
    with django_capture_on_commit_callbacks(execute=False):
        run = run_resume(setup_access(project), run=run)
    assert run.status == "running"  # not back to queued under its live lane
    # A resume of a queued run whose lane then finishes closes it all the same.
    GenerationRun.objects.filter(pk=run.pk).update(status="queued")
    assert lane_execute(run_id=run.pk, generator_id=generator.pk) == "finished"
    assert run_finish_if_done(run_id=run.pk).status == "completed"


def test_a_lane_rereads_items_put_back_to_pending_behind_it(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    generator = openai_generator(project, "a", llm_server.base_url)
    run = _run(project, generator, ["tea", "milk", "salt"], django_capture_on_commit_callbacks)
    run_prepare(run_id=run.pk)
    first = RunItem.objects.filter(run=run).order_by("id").first()
    RunItem.objects.filter(pk=first.pk).update(status="failed")  # out of the lane's first read

    def put_back(progress) -> None:
        RunItem.objects.filter(pk=first.pk, status="failed").update(status="pending")

    lane_execute(run_id=run.pk, generator_id=generator.pk, on_progress=put_back)
    assert set(RunItem.objects.filter(run=run).values_list("status", flat=True)) == {"done"}
    assert RunLane.objects.get(run=run).items_done == 3


def test_only_prefixed_variables_are_read_as_keys(project, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret")
    monkeypatch.setenv("SYNTHREVIEW_KEY_VLLM", "sk-vllm")
    with pytest.raises(GeneratorCallError, match="does not start with SYNTHREVIEW_KEY_"):
        generator_api_key(Generator(api_key_env="SECRET_KEY"))
    assert generator_api_key(Generator(api_key_env="SYNTHREVIEW_KEY_VLLM")) == "sk-vllm"


def test_few_shot_seeds_never_come_from_the_eval_split(project, llm_server, django_capture_on_commit_callbacks):
    eval_ids = {s.pk for s in add_samples(project, 6, origin="real", texts=[(f"eval q{n}", f"a{n}") for n in range(6)])}
    Sample.objects.filter(pk__in=eval_ids).update(split=Split.EVAL)
    train = {s.pk for s in add_samples(project, 3, origin="real", texts=[(f"train q{n}", f"b{n}") for n in range(3)])}
    generator = openai_generator(project, "a", llm_server.base_url)
    version = topic_template(project, "Examples:\n{{ examples }}\nNow write one more.")
    spec = RunSpec(
        project=project,
        name="shots",
        template_version=version,
        generators=[generator],
        cells=[GridCell(None, None, None)],
        fewshot_per_item=3,
        fewshot_items=20,
        seed=4,
    )
    rows = run_plan_rows(spec)
    seeds = {sample_id for row in rows for sample_id in row["seed_sample_ids"]}
    assert seeds == train
    assert not any("eval q" in row["variables"]["examples"] for row in rows)


def test_a_plan_over_the_size_cap_is_refused(project, llm_server, settings):
    settings.GENERATION_MAX_PLAN_CHARS = 1_000
    generator = openai_generator(project, "a", llm_server.base_url)
    spec = RunSpec(
        project=project,
        name="big",
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(None, None, None)],
        table_rows=[{"topic": "x" * 300} for _ in range(4)],
    )
    with pytest.raises(PlanError, match="1,200 characters of variables; the limit is 1,000"):
        run_plan_rows(spec)


def test_a_base_url_with_a_query_keeps_it_after_the_path(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    with start_llm_server() as server:
        client = OpenAICompatibleClient(base_url=f"{server.base_url}?api-version=2024-06-01", api_key=None)
        assert client.complete(model="m", messages=[{"role": "user", "content": "hi"}], params={}).text
        client.close()
        assert server.requests.records[0].path == "/v1/chat/completions?api-version=2024-06-01"


def test_a_call_waiting_for_its_start_time_gives_up_when_the_lane_stops(project):
    generator = Generator.objects.create(
        project=project,
        name="slow-rate",
        kind="openai-compatible",
        model_name="m",
        concurrency=4,
        rate_limit_per_minute=6,
    )
    limits = GeneratorLimits(generator, lease_s=10)
    # Other workers hold the next two start times, so this call's is 10 to 20 s away.
    next_tick = math.ceil(time.time() / 10)
    for tick in (next_tick, next_tick + 1):
        cache.add(f"generator-limits:{generator.pk}:tick:{tick}", 1, timeout=60)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert limits.acquire(stop) is None
    assert time.monotonic() - started < 2


def test_a_call_waiting_for_a_slot_gives_up_when_the_lane_stops(project):
    generator = Generator.objects.create(
        project=project, name="busy", kind="openai-compatible", model_name="m", concurrency=1
    )
    holder, waiter = GeneratorLimits(generator, lease_s=10), GeneratorLimits(generator, lease_s=10)
    holder.acquire()
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    assert waiter.acquire(stop) is None
    holder.close()


def test_a_lane_that_keeps_failing_ends_its_items_failed_with_the_reason_and_the_run_ends(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks, monkeypatch
):
    from generation import tasks

    generator = openai_generator(project, "a", llm_server.base_url)
    run = _run(project, generator, ["tea", "milk"], django_capture_on_commit_callbacks)
    run_prepare(run_id=run.pk)
    attempts = []

    def broken_lane(**kwargs):
        attempts.append(kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(tasks, "lane_execute", broken_lane)
    with django_capture_on_commit_callbacks(execute=False):
        tasks.run_lane_task.apply(args=(run.pk, generator.pk))  # eager: retries run at once

    assert len(attempts) == 1 + tasks.LANE_ERROR_RETRIES
    items = RunItem.objects.filter(run=run)
    assert {item.status for item in items} == {"failed"}
    assert all("unexpected error (RuntimeError: disk full)" in item.error for item in items)
    run.refresh_from_db()
    assert run.status == "failed" and run.items_failed == 2


def test_a_lane_is_given_up_only_when_nobody_holds_it_and_the_run_is_live(
    project, llm_server, django_capture_on_commit_callbacks
):
    generator = openai_generator(project, "a", llm_server.base_url)
    run = _run(project, generator, ["tea", "milk"], django_capture_on_commit_callbacks)
    run_prepare(run_id=run.pk)
    RunLane.objects.filter(run=run).update(owner="alive", lease_until=timezone.now() + timedelta(seconds=30))
    assert not lane_give_up(run_id=run.pk, generator_id=generator.pk, reason="broken")
    assert set(RunItem.objects.filter(run=run).values_list("status", flat=True)) == {"pending"}

    RunLane.objects.filter(run=run).update(owner="", lease_until=None)
    GenerationRun.objects.filter(pk=run.pk).update(status="cancelled")
    assert not lane_give_up(run_id=run.pk, generator_id=generator.pk, reason="broken")
    assert set(RunItem.objects.filter(run=run).values_list("status", flat=True)) == {"pending"}

    GenerationRun.objects.filter(pk=run.pk).update(status="running")
    assert lane_give_up(run_id=run.pk, generator_id=generator.pk, reason="broken")
    assert set(RunItem.objects.filter(run=run).values_list("error", flat=True)) == {"broken"}
    assert RunLane.objects.get(run=run).owner == ""
