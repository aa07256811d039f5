"""A sample's history beside large bulk actions: the detail page costs the same with or without them.

A bulk action lists every sample it changed. A sample's history finds the actions that
changed it through their links (one row per sample, indexed on the sample), so neither
the number nor the size of the project's bulk actions should show in its cost. This
bench measures that through the real code paths, on a database of its own (created and
dropped here):

1. a quiet project: a few samples, one 2-sample bulk action holding sample W;
2. a busy project: the same plus N bulk actions of S samples each (the first also
   holding sample Z; the rest reject and accept the same S samples in turn) and one
   2-sample action holding sample X, made through `samples_bulk_set_status`, as the
   lead's "reject all matching" button makes them;
3. the detail pages of W, X and Z, requested in-process through django.test.Client as
   the lead, round-robin (so a burst of load from another process hits all three), and
   the history selector alone. Each sample's history holds exactly one bulk action.

history_ratio = the larger of p50(X) / p50(W) (a sample beside the large actions) and
p50(Z) / p50(W) (a sample inside a large one): 1.0 means the large actions cost nothing.
For comparison it also times the search the history made before the link table: a
JSONB containment test over the project's bulk entries (info, not judged).

    .venv/bin/python bench/history.py [--quick] [--actions N] [--size S] [--requests R]

--quick: 3 actions of 10,000 samples, 60 requests a page; default 10 actions of 30,000, 150.
Ends with `RESULT history_ratio=R goal<=1.2 ok|MISS`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, SERVER_URL, database_drop, database_recreate, unique_database_name

BENCH_DATABASE = unique_database_name("synthreview_bench_history")
GOAL_RATIO = 1.2
WARMUP_ROUNDS = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 actions of 10,000 samples, 60 requests a page")
    parser.add_argument("--actions", type=int, default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args(argv)
    actions = args.actions or (3 if args.quick else 10)
    size = args.size or (10_000 if args.quick else 30_000)
    requests = args.requests or (60 if args.quick else 150)
    if not (1 <= actions <= 100 and 100 <= size <= 200_000 and 10 <= requests <= 2000):
        parser.error("--actions 1..100, --size 100..200000, --requests 10..2000")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-history-"))
    os.environ.update(
        {
            "DATABASE_URL": f"{SERVER_URL}/{BENCH_DATABASE}",
            "DJANGO_SETTINGS_MODULE": "synthreview.settings",
            "CELERY_BROKER_URL": "memory://localhost/",
            "DATA_DIR": str(work_dir),
            # Production settings: with DEBUG on, Django would keep every query in memory.
            "DEBUG": "False",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        database_recreate(BENCH_DATABASE)
        return _run(actions=actions, size=size, requests=requests)
    finally:
        database_drop(BENCH_DATABASE)
        shutil.rmtree(work_dir, ignore_errors=True)


def _samples(project: Any, generator: Any, count: int) -> list[int]:
    from generation.models import Sample
    from synthreview.projects.services.counters import sample_count_add

    rows = [
        Sample(
            project=project,
            origin="synthetic",
            generator=generator,
            input=f"{project.slug} question {number}: how many apples are left?",
            output=f"answer {number}",
            content_hash=f"{project.pk:08x}{number:056x}",
            status="pending",
        )
        for number in range(count)
    ]
    created = Sample.objects.bulk_create(rows, batch_size=5000)
    sample_count_add(project_id=project.pk, origin="synthetic", status="pending", delta=count)
    return sorted(sample.pk for sample in created)


def _bulk(access: Any, ids: list[int], status: str) -> int:
    from generation.models import Sample
    from reviews.services.bulk import samples_bulk_set_status

    result = samples_bulk_set_status(
        access,
        queryset=Sample.objects.filter(project=access.project, pk__in=ids),
        status=status,
        expected_count=len(ids),
        description={"bench": "history"},
        page_size=50,
    )
    return result.changed


def _run(*, actions: int, size: int, requests: int) -> int:
    import django

    started = time.perf_counter()
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.urls import reverse

    from generation.models import Generator, GeneratorKind, Sample
    from reviews.selectors import sample_history
    from synthreview.projects.access import ProjectAccess
    from synthreview.projects.models import AuditLog, AuditLogSample, Membership, Role
    from synthreview.projects.services.audit_log_samples import audit_log_samples_link
    from synthreview.projects.services.projects import project_create

    call_command("migrate", verbosity=0)
    lead = get_user_model().objects.create_user(username="lee-lead", password="bench-only")
    projects = {name: project_create(slug=name) for name in ("quiet", "busy")}
    ids: dict[str, list[int]] = {}
    for name, project in projects.items():
        Membership.objects.create(user=lead, project=project, role=Role.LEAD)
        generator = Generator.objects.create(
            project=project, name="gen-a", kind=GeneratorKind.IMPORTED, model_name="gen-a"
        )
        ids[name] = _samples(project, generator, 10 if name == "quiet" else size + 10)
    quiet = ProjectAccess(projects["quiet"], Role.LEAD, user=lead)
    busy = ProjectAccess(projects["busy"], Role.LEAD, user=lead)
    sample_w, sample_x, sample_z = ids["quiet"][0], ids["busy"][0], ids["busy"][1]
    large = ids["busy"][10:]
    _bulk(quiet, ids["quiet"][:2], "rejected")
    made = time.perf_counter()
    _bulk(busy, [sample_z, *large], "rejected")
    for number in range(1, actions):
        # The same samples, rejected and accepted in turn: each action changes all of them.
        changed = _bulk(busy, large, "accepted" if number % 2 else "rejected")
        assert changed == len(large), changed
    bulk_seconds = time.perf_counter() - made
    _bulk(busy, [sample_x, ids["busy"][2]], "rejected")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    links = AuditLogSample.objects.count()
    print(
        f"setup: {actions} bulk actions of {size:,} samples in the busy project ({links:,} sample links), "
        f"made in {bulk_seconds:.1f} s ({bulk_seconds / actions:.2f} s an action, its links written by COPY); "
        f"{time.perf_counter() - started:.0f} s in all"
    )

    targets = {
        "W quiet project": (projects["quiet"], sample_w),
        "X beside the large actions": (projects["busy"], sample_x),
        "Z inside a large action": (projects["busy"], sample_z),
    }
    samples = {name: Sample.objects.get(pk=pk) for name, (_, pk) in targets.items()}
    for name, sample in samples.items():
        history = sample_history(sample)
        assert len(history) == 1 and history[0].object_type == "bulk", (name, history)
        assert "sample_ids" not in history[0].details, name

    client = Client()
    client.force_login(lead)
    urls = {name: reverse("sample_detail", args=[project.slug, pk]) for name, (project, pk) in targets.items()}
    page_ms: dict[str, list[float]] = {name: [] for name in targets}
    selector_ms: dict[str, list[float]] = {name: [] for name in targets}
    load_before = os.getloadavg()
    for round_number in range(WARMUP_ROUNDS + requests):
        for name, url in urls.items():
            began = time.perf_counter()
            response = client.get(url, secure=True)
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code != 200 or b"samples.bulk_reject" not in response.content:
                raise AssertionError(f"{name}: {url} answered {response.status_code} without its bulk action")
            began = time.perf_counter()
            sample_history(samples[name])
            selector_elapsed = (time.perf_counter() - began) * 1000
            if round_number >= WARMUP_ROUNDS:
                page_ms[name].append(elapsed)
                selector_ms[name].append(selector_elapsed)
    load_after = os.getloadavg()

    # The history's search before the link table: containment over the project's bulk entries.
    old_search_ms = []
    for _ in range(5):
        began = time.perf_counter()
        list(
            AuditLog.objects.filter(
                project=projects["busy"],
                object_type__in=["bulk", "reviews.duplicategroup"],
                details__sample_ids__contains=[sample_x],
            ).order_by("-id")[:50]
        )
        old_search_ms.append((time.perf_counter() - began) * 1000)

    # What linking costs inside a bulk action: the COPY of one action's links, rolled back.
    link_ms = []
    for _ in range(3):
        with transaction.atomic():
            entry = AuditLog.objects.create(project=projects["busy"], action="bench.link", object_type="bulk")
            began = time.perf_counter()
            audit_log_samples_link(entry=entry, sample_ids=large)
            link_ms.append((time.perf_counter() - began) * 1000)
            transaction.set_rollback(True)

    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min); {os.cpu_count()} CPUs")
    print(f"{'sample':<28} {'page p50 ms':>12} {'page p95 ms':>12} {'history p50 ms':>15}")
    for name in targets:
        ordered = sorted(page_ms[name])
        p95 = ordered[max(0, int(0.95 * len(ordered)) - 1)]
        print(
            f"{name:<28} {statistics.median(ordered):>12.2f} {p95:>12.2f} {statistics.median(selector_ms[name]):>15.2f}"
        )
    base = statistics.median(page_ms["W quiet project"])
    beside = statistics.median(page_ms["X beside the large actions"]) / base
    inside = statistics.median(page_ms["Z inside a large action"]) / base
    print(
        f"info: the JSONB search the history made before the link table takes {statistics.median(old_search_ms):.1f} ms "
        f"here (p50 of 5) over {actions} actions of {size:,}; the link lookup in the history above replaces it"
    )
    ratio = max(beside, inside)
    print(
        f"info: linking one action's {len(large):,} samples takes {statistics.median(link_ms):.0f} ms "
        f"(p50 of 3; of {bulk_seconds / actions * 1000:.0f} ms an action in all)"
    )
    print(f"ratios: beside {beside:.2f}, inside {inside:.2f} (detail page p50 against the quiet project's)")
    print(f"RESULT history_ratio={ratio:.2f} goal<={GOAL_RATIO} {'ok' if ratio <= GOAL_RATIO else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
