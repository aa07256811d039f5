"""The full similarity build against FAISS's own build and search of the same vectors.

What it measures, in one run, on a PostgreSQL database of its own:

data  1,000,000 samples with stored float32 vectors (384 dimensions), made by
      bench/neighbours.py's synthetic_embeddings (topics of Zipf-like sizes, 2%
      planted near-duplicates at cosine 0.905-0.995), 1% real, 2% accepted,
      and 0.1% exact copies (a synthetic sample's content and vector again,
      from another generator). Samples and vectors are stored by COPY;
ours  similarity_build(full=True) from the stored vectors: read them, index,
      search every sample's top-k, nearest real sample, novelty, k-means
      clusters, write one SampleSimilarity row per sample, the map, and the
      exact and near-duplicate groups. Embedding is not in it;
faiss the FAISS work inside it on the same vectors, held in memory: the IVF
      index the build makes (reviews/similarity/index.py: train, add) and the
      top-(k+1) search of every vector (FAISS's knn over each inverted list).

ratio = ours / faiss, wall time in the same run; goal <= 2.
recall: of a random sample of queries (2,000), the share of the exact top-10
      (flat search) that the stored neighbour lists hold (the lists novelty
      reads), and of the exact pairs >= 0.90 among them; the nearest real
      sample's agreement with the exact one; and the stored novelty against
      novelty computed exactly for those samples.
memory: peak RSS of our build above the RSS before it (the bench holds the
      vectors too, for the baseline and the recall).

    .venv/bin/python bench/similarity_build.py [--quick] [--count N] [--seed S]

--quick: 20,000 samples (under a minute; the project searches them exactly).
The last line is `RESULT similarity_build_ratio=R goal=<=2 ok|MISS`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    status_kib,
    unique_database_name,
)
from neighbours import DIMENSION, synthetic_embeddings

BENCH_DATABASE = unique_database_name("synthreview_bench_simbuild")
FULL_COUNT = 1_000_000
QUICK_COUNT = 20_000
RATIO_GOAL = 2.0
REAL_SHARE = 0.01
ACCEPTED_SHARE = 0.02
EXACT_COPY_SHARE = 0.001
GENERATORS = ("llama-3.1-70b-instruct", "mixtral-8x22b", "gpt-4o-mini-2024-07-18")
RECALL_QUERIES = 2_000
THRESHOLD = 0.90
_WORDS = (
    "apples ratio train speed garden fraction invoice triangle recipe budget planet orbit poem sonnet river "
    "bridge python sorting matrix vector essay climate market senate molecule enzyme harvest violin"
).split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_COUNT:,} samples instead of {FULL_COUNT:,}")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    count = args.count if args.count is not None else (QUICK_COUNT if args.quick else FULL_COUNT)
    if count < 5_000:
        parser.error("--count must be at least 5,000")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-simbuild-"))
    try:
        _configure_environment(work_dir / "data")
        return _run(count=count, seed=args.seed)
    finally:
        database_drop(BENCH_DATABASE)
        shutil.rmtree(work_dir, ignore_errors=True)


def _configure_environment(data_dir: Path) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    # Production settings: with DEBUG on, Django would keep every query in memory.
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def _run(*, count: int, seed: int) -> int:
    import django

    database_recreate(BENCH_DATABASE)
    django.setup()
    from django.core.management import call_command

    from synthreview.projects.models import Project

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    project = Project.objects.create(slug="simbuild", name="Similarity build benchmark")
    print(f"setup: database migrated in {time.perf_counter() - started:.1f} s")
    vectors, is_real, is_accepted = _store_project(project, count=count, seed=seed)
    k = project.similarity_top_k
    loads = [os.getloadavg()[0]]

    ours_seconds, ours_cpu, rss_before, peak, summary = _time_our_build(project.pk)
    loads.append(os.getloadavg()[0])
    print(
        f"ours: similarity_build(full=True) {ours_seconds:.1f} s ({ours_cpu:.0f} CPU s): {summary.samples:,} samples, "
        f"{summary.groups:,} near and {summary.exact_groups:,} exact groups, {summary.clusters} clusters"
    )
    print(
        f"memory: RSS {rss_before / 2**20:.2f} GiB before our build (the bench's own copy of the vectors: "
        f"{vectors.nbytes / 2**30:.2f} GiB), peak {peak / 2**20:.2f} GiB during it: "
        f"{(peak - rss_before) / 2**20:.2f} GiB above"
    )

    faiss_seconds, faiss_cpu, faiss_detail = _time_faiss(vectors, k)
    loads.append(os.getloadavg()[0])
    print(f"faiss: {faiss_detail}")

    _recall(project, vectors, is_real, is_accepted, k=k, seed=seed)
    ratio = ours_seconds / faiss_seconds
    print(
        f"machine: {os.cpu_count()} cores, load average {loads[0]:.1f} before our build, {loads[1]:.1f} after it, "
        f"{loads[2]:.1f} after FAISS's (above {os.cpu_count()}: other processes shared the cores); "
        f"ratio by CPU time {ours_cpu / faiss_cpu:.2f}"
    )
    print(f"ratio: ours {ours_seconds:.1f} s / faiss {faiss_seconds:.1f} s = {ratio:.2f}")
    if count < FULL_COUNT:
        print(f"note: the goal is set for {FULL_COUNT:,} samples")
    print(f"RESULT similarity_build_ratio={ratio:.2f} goal=<={RATIO_GOAL:g} {'ok' if ratio <= RATIO_GOAL else 'MISS'}")
    return 0


def _store_project(project, *, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from django.conf import settings
    from django.db import connection

    from generation.models import Generator, GeneratorKind, Origin, SampleStatus

    started = time.perf_counter()
    data = synthetic_embeddings(count, seed=seed, planted_copies=count // 50)
    vectors = data.vectors
    rng = np.random.default_rng(seed + 3)
    is_real = rng.random(count) < REAL_SHARE
    is_accepted = rng.random(count) < ACCEPTED_SHARE
    generator_of = rng.integers(len(GENERATORS), size=count)
    content_of = np.arange(count)
    copies = rng.choice(np.flatnonzero(~is_real), size=2 * int(count * EXACT_COPY_SHARE), replace=False)
    for target, source in zip(copies[0::2].tolist(), copies[1::2].tolist()):
        vectors[target] = vectors[source]
        content_of[target] = source
        generator_of[target] = (generator_of[source] + 1) % len(GENERATORS)
    print(
        f"setup: {count:,} x {DIMENSION} vectors, {len(data.planted):,} planted near-duplicates, "
        f"{len(copies) // 2:,} exact copies, in {time.perf_counter() - started:.1f} s"
    )
    generator_ids = [
        Generator.objects.create(project=project, name=name, kind=GeneratorKind.IMPORTED, model_name=name).pk
        for name in GENERATORS
    ]
    now = datetime.now(UTC)
    words = random.Random(seed)
    started = time.perf_counter()
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        with cursor.copy(
            "COPY generation_sample (id, project_id, origin, generator_id, input, output, metadata, content_hash, "
            "split, status, generation_depth, revision, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row in range(count):
                real = bool(is_real[row])
                source = int(content_of[row])
                topic = " ".join(words.choices(_WORDS, k=3))
                copy.write_row(
                    (
                        row + 1,
                        project.pk,
                        Origin.REAL if real else Origin.SYNTHETIC,
                        None if real else generator_ids[generator_of[row]],
                        f"Task {source}: {topic}",
                        f"Answer {source}",
                        "{}",
                        f"{source:064x}",
                        "",
                        SampleStatus.ACCEPTED if is_accepted[row] else SampleStatus.PENDING,
                        0,
                        0,
                        now,
                        now,
                    )
                )
        cursor.execute("SELECT setval(pg_get_serial_sequence('generation_sample', 'id'), %s)", (count,))
        print(f"setup: samples by COPY in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        with cursor.copy(
            "COPY reviews_sampleembedding (sample_id, project_id, model_name, text_kind, vector, created_at) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "varchar", "varchar", "bytea", "timestamptz"])
            for row in range(count):
                copy.write_row(
                    (row + 1, project.pk, settings.EMBEDDING_MODEL, project.embedding_text, vectors[row].tobytes(), now)
                )
        cursor.execute("VACUUM ANALYZE generation_sample")
        cursor.execute("VACUUM ANALYZE reviews_sampleembedding")
    print(f"setup: vectors by COPY, and VACUUM ANALYZE, in {time.perf_counter() - started:.1f} s")
    return vectors, is_real, is_accepted


def _timed(module, name: str, spent: dict[str, float]) -> None:
    """Wrap module.name so the build's time in it adds up in spent[name]."""
    original = getattr(module, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

    setattr(module, name, timed)


BUILD_STEPS = (
    "vectors_load",
    "sample_facts_load",
    "build_index",
    "save_index",
    "neighbour_arrays",
    "_nearest_real",
    "novelty_array",
    "clusters_build",
    "scores_write",
    "embedding_map_build",
    "duplicate_groups_rebuild",
)


def _time_our_build(project_id: int):
    from reviews.services import similarity_build as build
    from reviews.similarity import index

    spent: dict[str, float] = {}
    for name in BUILD_STEPS:
        _timed(build, name, spent)
    _timed(index.VectorIndex, "search", spent)

    # Clear the peak so it measures the build, not the data made above.
    Path("/proc/self/clear_refs").write_text("5")
    rss_before = status_kib("VmRSS")
    cpu = time.process_time()
    started = time.perf_counter()
    summary = build.similarity_build(project_id=project_id, full=True)
    seconds = time.perf_counter() - started
    print("ours: " + ", ".join(f"{name} {spent[name]:.1f} s" for name in (*BUILD_STEPS, "search") if name in spent))
    return seconds, time.process_time() - cpu, rss_before, status_kib("VmHWM"), summary


def _time_faiss(vectors: np.ndarray, k: int) -> tuple[float, float, str]:
    import faiss

    from reviews.similarity.index import build_index

    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    cpu = time.process_time()
    started = time.perf_counter()
    index = build_index(ids, vectors)
    built = time.perf_counter() - started
    index.search(vectors, k + 1)
    seconds = time.perf_counter() - started
    kind = (
        f"IndexIVFFlat nlist={index.index.nlist} nprobe={index.index.nprobe}"
        if isinstance(index.index, faiss.IndexIVF)
        else "IndexFlatIP"
    )
    detail = f"{kind}: build {built:.1f} s + search of all {len(vectors):,} for top-{k + 1} {seconds - built:.1f} s"
    return seconds, time.process_time() - cpu, f"{detail} = {seconds:.1f} s"


def _recall(project, vectors, is_real, is_accepted, *, k: int, seed: int) -> None:
    import faiss

    from reviews.models import SampleSimilarity

    rng = np.random.default_rng(seed + 5)
    queries = np.sort(rng.choice(len(vectors), size=min(RECALL_QUERIES, len(vectors)), replace=False))
    flat = faiss.IndexFlatIP(DIMENSION)
    flat.add(vectors)
    sims, found = flat.search(vectors[queries], k + 2)
    del flat
    real_rows = np.flatnonzero(is_real)
    real_flat = faiss.IndexFlatIP(DIMENSION)
    real_flat.add(vectors[real_rows])
    real_sims, real_found = real_flat.search(vectors[queries], 2)
    stored = dict(
        SampleSimilarity.objects.filter(project=project, sample_id__in=(queries + 1).tolist()).values_list(
            "sample_id", "novelty"
        )
    )
    lists = dict(
        SampleSimilarity.objects.filter(project=project, sample_id__in=(queries + 1).tolist()).values_list(
            "sample_id", "neighbours"
        )
    )
    nearest_real = dict(
        SampleSimilarity.objects.filter(project=project, sample_id__in=(queries + 1).tolist()).values_list(
            "sample_id", "nearest_real_similarity"
        )
    )
    held = wanted = pair_held = pairs = real_agree = 0
    novelty_errors = []
    for n, row in enumerate(queries.tolist()):
        keep = found[n] != row
        exact_rows, exact_sims = found[n][keep][:k], sims[n][keep][:k]
        ours = {entry[0] - 1 for entry in lists[row + 1]}
        held += len(ours & set(exact_rows.tolist()))
        wanted += len(exact_rows)
        above = exact_rows[exact_sims >= THRESHOLD]
        pair_held += len(ours & set(above.tolist()))
        pairs += len(above)
        own = real_rows[real_found[n]] == row
        best_real = float(real_sims[n][1] if own[0] else real_sims[n][0])
        real_agree += abs(best_real - (nearest_real[row + 1] or -9.0)) < 1e-4
        accepted = [float(s) for r, s in zip(exact_rows.tolist(), exact_sims.tolist()) if is_accepted[r]]
        exact_novelty = 1.0 - max([best_real, *accepted])
        novelty_errors.append(abs(exact_novelty - stored[row + 1]))
    errors = np.array(novelty_errors)
    print(
        f"recall: top-{k} lists of {len(queries):,} sampled samples: {held:,} of {wanted:,} exact neighbours "
        f"= {held / wanted:.4f}; pairs >= {THRESHOLD:.2f}: {pair_held:,} of {pairs:,} = {pair_held / max(pairs, 1):.4f}"
    )
    print(
        f"recall: nearest real sample as exact for {real_agree / len(queries):.4f} of them; novelty within 0.001 of "
        f"exact for {(errors <= 1e-3).mean():.4f} (largest difference {errors.max():.4f})"
    )


if __name__ == "__main__":
    sys.exit(main())
