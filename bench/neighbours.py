"""Neighbours and near-duplicate pairs: our index against exact flat search.

What it measures, in one run, with no database:

data  1,000,000 x 384 float32 unit vectors shaped like sentence embeddings, not
      isotropic noise: a shared direction (embeddings are anisotropic), ~300
      super-topics, ~3,000 topics of Zipf-like sizes (the largest ~2%) and
      varied spreads (a few tight, as templated synthetic data is), and 20,000
      planted near-duplicates: noisy copies at cosine 0.905-0.995 of other
      vectors, 60% as pairs and the rest as chains of 3-5 (each a copy of the
      one before), scattered over the ids.
      The seed is fixed, so every run sees the same data;
ours  the path similarity_build takes: build_index (reviews/similarity/index.py,
      an IVF index at this size, with the project's settings), a top-(k+1)
      search of all 1M vectors (k=10), neighbour lists without the sample
      itself, the pairs at or above 0.90 and their groups. All of it timed;
exact faiss.IndexFlatIP over the same vectors. Searching all 1M queries exactly
      is ~8e14 flops, most of an hour on two cores, so it searches a sample of
      queries (20,000) and the time is extrapolated linearly to 1M queries
      (exact search costs the same per query whatever the query).

speedup = exact time (extrapolated) / our time; goal >= 10.
recall  = of the pairs (q, n) at or above 0.90 in the exact top-k lists of the
          sampled queries, the share that our lists of the same queries hold;
          also, of all planted pairs, the share our pairs hold (either
          direction, as near-duplicate groups use them). Goal >= 0.98 for both.

Run it from the project root:

    .venv/bin/python bench/neighbours.py [--quick] [--count N] [--sample N] [--seed S]

--quick: 100,000 vectors and 2,000 sampled queries (under a minute); at that
size the project would search exactly (SIMILARITY_EXACT_MAX), so --quick forces
the IVF index to measure the same path. Default: 1,000,000 vectors (~5 min).
The last lines are the recall check and `RESULT neighbours_speedup=S goal>=10 ok|MISS`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    status_kib,
)

DIMENSION = 384
TOP_K = 10
THRESHOLD = 0.90
SPEEDUP_GOAL = 10.0
RECALL_GOAL = 0.98
FULL_COUNT = 1_000_000
QUICK_COUNT = 100_000
# Pair codes pack two row numbers into one int64.
PAIR_SHIFT = 32


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_COUNT:,} vectors instead of {FULL_COUNT:,}")
    parser.add_argument("--count", type=int, default=None, help="number of vectors (overrides --quick)")
    parser.add_argument("--sample", type=int, default=None, help="queries searched exactly (default 2%%, >= 2,000)")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    count = args.count if args.count is not None else (QUICK_COUNT if args.quick else FULL_COUNT)
    if count < 10_000:
        parser.error("--count must be at least 10,000")
    sample = args.sample if args.sample is not None else min(count, max(2_000, count // 50))
    _django_setup()
    return _run(count=count, sample=sample, seed=args.seed, force_ivf=count <= _exact_max())


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synthreview.settings")
    # An explicit broker that needs no server and leaves no files behind in var/broker.
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()


def _exact_max() -> int:
    from django.conf import settings

    return settings.SIMILARITY_EXACT_MAX


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # (count, DIMENSION) float32, unit rows
    planted: np.ndarray  # (pairs, 2) row numbers: (original, its noisy copy)
    planted_similarity: np.ndarray


def synthetic_embeddings(
    count: int, *, seed: int, planted_copies: int, anchors: np.ndarray | None = None
) -> Embeddings:
    """Unit vectors in topics, with near-duplicates planted. The topics sit under
    random super-topics, or around the given anchors (unit vectors, such as real
    embeddings), one topic each."""
    rng = np.random.default_rng(seed)
    base = count - planted_copies
    # Mean cosine within a topic is 0.83 / (0.83 + spread²): 0.37-0.70 for most
    # topics, 0.80-0.90 for the tight 2% (one template, little variation).
    if anchors is None:
        topics = max(50, count // 330)
        supertopics = max(10, topics // 10)
        shared = _unit(rng.standard_normal(DIMENSION))
        supertopic_centres = _unit(rng.standard_normal((supertopics, DIMENSION)))
        topic_centres = _unit(rng.standard_normal((topics, DIMENSION)))
        centres = (
            0.3 * shared + 0.5 * supertopic_centres[rng.integers(supertopics, size=topics)] + 0.7 * topic_centres
        ).astype(np.float32)
    else:
        topics = len(anchors)
        centres = (np.sqrt(0.83) * anchors).astype(np.float32)
    spread = rng.uniform(0.6, 1.2, size=topics)
    tight = rng.random(topics) < 0.02
    spread[tight] = rng.uniform(0.3, 0.45, size=int(tight.sum()))
    # Zipf-like sizes by rank: the largest topic holds ~2% of the samples, the smallest a few dozen.
    sizes = rng.permutation(np.arange(1, topics + 1, dtype=np.float64) ** -0.7)
    topic_of = rng.choice(topics, size=base, p=sizes / sizes.sum())

    # Rows land at random positions, so copies sit anywhere among the ids.
    position = rng.permutation(count)
    vectors = np.empty((count, DIMENSION), dtype=np.float32)
    chunk = 100_000
    for start in range(0, base, chunk):
        stop = min(start + chunk, base)
        rows = topic_of[start:stop]
        noise = rng.standard_normal((len(rows), DIMENSION), dtype=np.float32)
        noise *= (spread[rows] / np.sqrt(DIMENSION)).astype(np.float32)[:, None]
        vectors[position[start:stop]] = _unit(centres[rows] + noise)

    chain_lengths: list[int] = []
    copies = 0
    while copies < planted_copies:
        members = 2 if rng.random() < 0.6 else int(rng.integers(3, 6))
        members = min(members, planted_copies - copies + 1)
        chain_lengths.append(members)
        copies += members - 1
    originals = rng.choice(base, size=len(chain_lengths), replace=False)
    planted = np.empty((planted_copies, 2), dtype=np.int64)
    similarity = rng.uniform(0.905, 0.995, size=planted_copies)
    next_copy = base
    for original, members in zip(originals.tolist(), chain_lengths):
        previous = original
        for _ in range(members - 1):
            planted[next_copy - base] = position[previous], position[next_copy]
            next_copy += 1
            previous = next_copy - 1
    # Copies are made in chain order: a chain's later copy reads the earlier one.
    for row in range(planted_copies):
        source = vectors[planted[row, 0]].astype(np.float64)
        direction = rng.standard_normal(DIMENSION)
        direction -= direction.dot(source) * source
        direction /= np.linalg.norm(direction)
        cosine = similarity[row]
        vectors[planted[row, 1]] = (cosine * source + np.sqrt(1 - cosine * cosine) * direction).astype(np.float32)
    exact_similarity = np.einsum("ij,ij->i", vectors[planted[:, 0]], vectors[planted[:, 1]])
    return Embeddings(vectors=vectors, planted=planted, planted_similarity=exact_similarity)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def neighbour_pairs(
    query_ids: np.ndarray, sims: np.ndarray, found: np.ndarray, *, k: int, threshold: float
) -> np.ndarray:
    """Directed pair codes (query << 32 | neighbour) at or above the threshold, from
    top-(k+1) results cut as build.py cuts them: the sample itself out, then k kept."""
    kept = (found != query_ids[:, None]) & (found >= 0)
    kept &= np.cumsum(kept, axis=1) <= k
    kept &= sims >= threshold
    rows, columns = np.nonzero(kept)
    return np.sort((query_ids[rows] << PAIR_SHIFT) | found[rows, columns])


def undirected(codes: np.ndarray) -> np.ndarray:
    first, second = codes >> PAIR_SHIFT, codes & ((1 << PAIR_SHIFT) - 1)
    return np.unique((np.minimum(first, second) << PAIR_SHIFT) | np.maximum(first, second))


def _run(*, count: int, sample: int, seed: int, force_ivf: bool) -> int:
    import faiss

    from reviews.similarity.grouping import groups_from_pairs
    from reviews.similarity.index import build_index

    threads = faiss.omp_get_max_threads()
    planted_copies = count // 50
    started = time.perf_counter()
    data = synthetic_embeddings(count, seed=seed, planted_copies=planted_copies)
    vectors = data.vectors
    print(
        f"data: {count:,} x {DIMENSION} float32 ({vectors.nbytes / 2**30:.2f} GiB), {planted_copies:,} planted "
        f"copies in {len(np.unique(data.planted[:, 0])):,} chains/pairs, planted cosine "
        f"{data.planted_similarity.min():.3f}-{data.planted_similarity.max():.3f}; "
        f"made in {time.perf_counter() - started:.1f} s"
    )
    rng = np.random.default_rng(seed + 1)
    probe = rng.choice(count, size=2_000, replace=False)
    background = vectors[probe[:1000]] @ vectors[probe[1000:]].T
    print(
        f"data: cosine of random pairs mean {background.mean():.3f}, p99 {np.quantile(background, 0.99):.3f}, "
        f"max {background.max():.3f}"
    )
    rss_data_kib = status_kib("VmRSS")
    ids = np.arange(count, dtype=np.int64)

    # Ours: build, search everything, pairs and groups.
    exact_max = count - 1 if force_ivf else None
    load_before = os.getloadavg()[0]
    our_cpu = time.process_time()
    started = time.perf_counter()
    index = build_index(ids, vectors, exact_max=exact_max)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    our_sims, our_found = index.search(vectors, TOP_K + 1)
    search_seconds = time.perf_counter() - started
    started = time.perf_counter()
    our_pairs = neighbour_pairs(ids, our_sims, our_found, k=TOP_K, threshold=THRESHOLD)
    groups = groups_from_pairs(zip((our_pairs >> PAIR_SHIFT).tolist(), (our_pairs & 0xFFFFFFFF).tolist()))
    pair_seconds = time.perf_counter() - started
    our_seconds = build_seconds + search_seconds + pair_seconds
    our_cpu = time.process_time() - our_cpu
    kind = type(index.index).__name__
    detail = (
        f"nlist={index.index.nlist} nprobe={index.index.nprobe}" if isinstance(index.index, faiss.IndexIVF) else "exact"
    )
    forced = " (IVF forced: at this size the project searches exactly)" if force_ivf else ""
    print(f"ours: {kind} {detail}{forced}, {threads} threads")
    print(
        f"ours: build {build_seconds:.1f} s + search of all {count:,} for top-{TOP_K + 1} {search_seconds:.1f} s "
        f"+ pairs and groups {pair_seconds:.1f} s = {our_seconds:.1f} s ({our_cpu:.0f} CPU s)"
    )
    print(
        f"ours: {len(our_pairs):,} directed pairs >= {THRESHOLD:.2f}, {len(undirected(our_pairs)):,} undirected, "
        f"{len(groups):,} groups"
    )
    peak_ours_kib = status_kib("VmHWM")
    del index

    # Exact: flat search of a random sample of queries, extrapolated to all.
    queries = np.sort(rng.choice(count, size=sample, replace=False))
    started = time.perf_counter()
    flat = faiss.IndexFlatIP(DIMENSION)
    flat.add(vectors)
    add_seconds = time.perf_counter() - started
    exact_cpu = time.process_time()
    started = time.perf_counter()
    exact_sims = np.empty((sample, TOP_K + 1), dtype=np.float32)
    exact_found = np.empty((sample, TOP_K + 1), dtype=np.int64)
    for start in range(0, sample, 4096):
        batch = queries[start : start + 4096]
        exact_sims[start : start + len(batch)], exact_found[start : start + len(batch)] = flat.search(
            vectors[batch], TOP_K + 1
        )
    sample_seconds = time.perf_counter() - started
    exact_cpu = time.process_time() - exact_cpu
    exact_seconds = add_seconds + sample_seconds * count / sample
    print(
        f"exact: IndexFlatIP, add {add_seconds:.1f} s, search of {sample:,} sampled queries {sample_seconds:.1f} s "
        f"({exact_cpu:.0f} CPU s; {sample / sample_seconds:,.0f} queries/s)"
    )
    print(
        f"exact: extrapolated linearly to all {count:,} queries: {add_seconds:.1f} + {sample_seconds:.1f} x "
        f"{count / sample:,.1f} = {exact_seconds:,.0f} s ({exact_seconds / 3600:.2f} h)"
    )
    del flat

    exact_pairs = neighbour_pairs(queries, exact_sims, exact_found, k=TOP_K, threshold=THRESHOLD)
    ours_on_sample = neighbour_pairs(queries, our_sims[queries], our_found[queries], k=TOP_K, threshold=THRESHOLD)
    sample_hits = int(np.isin(exact_pairs, ours_on_sample).sum())
    sample_recall = sample_hits / len(exact_pairs) if len(exact_pairs) else 1.0
    planted_codes = (data.planted[:, 0] << PAIR_SHIFT) | data.planted[:, 1]
    planted_found = np.isin(undirected(planted_codes), undirected(our_pairs))
    planted_recall = float(planted_found.mean())
    forward = float(np.isin(planted_codes, our_pairs).mean())
    backward = float(np.isin((data.planted[:, 1] << PAIR_SHIFT) | data.planted[:, 0], our_pairs).mean())
    queries_with_pairs = len(np.unique(exact_pairs >> PAIR_SHIFT))
    print(
        f"recall: sampled queries: {sample_hits:,} of {len(exact_pairs):,} exact pairs >= {THRESHOLD:.2f} "
        f"(from {queries_with_pairs:,} of {sample:,} queries) = {sample_recall:.4f}"
    )
    print(
        f"recall: planted pairs: {int(planted_found.sum()):,} of {len(planted_found):,} = {planted_recall:.4f} "
        f"(original lists its copy {forward:.4f}, copy lists its original {backward:.4f})"
    )
    extra = np.setdiff1d(ours_on_sample, exact_pairs)
    if len(extra):
        print(
            f"note: {len(extra):,} sampled pairs of ours are not in the exact top-{TOP_K}: the exact top-{TOP_K} "
            "held more than k pairs above the threshold"
        )

    peak_kib = status_kib("VmHWM")
    print(
        f"memory: RSS with the data {rss_data_kib / 2**20:.2f} GiB; peak RSS through our pass "
        f"{peak_ours_kib / 2**20:.2f} GiB; peak RSS of the run (exact index included) {peak_kib / 2**20:.2f} GiB"
    )

    speedup = exact_seconds / our_seconds
    cpu_speedup = exact_cpu * count / sample / our_cpu
    print(
        f"machine: {os.cpu_count()} cores, load average {load_before:.1f} before our pass and "
        f"{os.getloadavg()[0]:.1f} at the end (above {os.cpu_count()}: other processes shared the cores); "
        f"speedup by CPU time {cpu_speedup:.1f}"
    )
    recall = min(sample_recall, planted_recall)
    recall_ok = recall >= RECALL_GOAL
    speed_ok = speedup >= SPEEDUP_GOAL
    print(f"speedup: exact {exact_seconds:,.0f} s (extrapolated) / ours {our_seconds:.1f} s = {speedup:.1f}")
    print(
        f"recall={recall:.4f} goal>={RECALL_GOAL:.2f} {'ok' if recall_ok else 'MISS'} "
        f"(the lower of sampled exact pairs {sample_recall:.4f} and planted pairs {planted_recall:.4f})"
    )
    if count < FULL_COUNT:
        print(f"note: the goal is set for {FULL_COUNT:,} vectors; exact search grows as n², ours about as n^1.5")
    print(
        f"RESULT neighbours_speedup={speedup:.1f} goal>={SPEEDUP_GOAL:.0f} {'ok' if speed_ok and recall_ok else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
