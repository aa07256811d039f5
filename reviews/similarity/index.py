"""FAISS indexes, built and searched in workers only, persisted under DATA_DIR.

Exact search (IndexFlatIP on normalised vectors) while a project is small; past
SIMILARITY_EXACT_MAX vectors an inverted-file index (IndexIVFFlat), which keeps
the raw vectors, so the near-duplicate pairs it finds carry exact similarities,
and which takes new vectors without a rebuild. bench/neighbours.py measures the
trade: speed against exact search, and recall of the pairs above the threshold.

A large batch of queries, such as a full build's search of every vector, is
searched list by list: all the queries that probe one inverted list against
its vectors at once, as one matrix product. The result is the same as FAISS's
query-by-query scan of the same lists (the scan reads each list from memory
once per query; the product reads it once, and multiplies at BLAS speed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import faiss
import numpy as np
from django.conf import settings
from faiss.contrib.inspect_tools import get_invlist

# Queries per search call: bounds the memory of the distance and label arrays.
SEARCH_BATCH = 16384
# Training points per inverted list, and k-means rounds. FAISS asks for 39 points
# per list at least. At 1M vectors (4,000 lists) training on 64 points a list for
# 25 rounds took 150 CPU s; 40 and 10 take 38, and leave the lists as even and the
# recall of near-duplicate pairs as high (bench/neighbours.py).
TRAINING_POINTS_PER_LIST = 40
TRAINING_ROUNDS = 10
# From this many queries per probed list on average, search list by list. At 1M
# vectors a search of all of them takes 44 s so against 312 s for FAISS's scan
# (bench/neighbours.py); below ~10 per list the two are even.
QUERIES_PER_LIST_FOR_LIST_SEARCH = 8


@dataclass
class VectorIndex:
    index: faiss.Index
    ids: np.ndarray  # int64 sample ids, in the index's row order

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add(vectors)
        self.ids = np.concatenate([self.ids, ids.astype(np.int64)])

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Similarities and sample ids of the k nearest, nearest first; id -1 where fewer exist."""
        k = max(1, min(k, self.size)) if self.size else 1
        if self.size and _searches_list_by_list(self.index, len(vectors)):
            sims, rows = _search_list_by_list(self.index, vectors, k)
            found = rows >= 0
            return np.where(found, sims, np.float32(-1.0)), np.where(found, self.ids[np.clip(rows, 0, None)], -1)
        all_sims = np.empty((len(vectors), k), dtype=np.float32)
        all_ids = np.full((len(vectors), k), -1, dtype=np.int64)
        if not self.size:
            all_sims.fill(-1.0)
            return all_sims, all_ids
        for start in range(0, len(vectors), SEARCH_BATCH):
            sims, rows = self.index.search(vectors[start : start + SEARCH_BATCH], k)
            found = rows >= 0
            all_sims[start : start + SEARCH_BATCH] = np.where(found, sims, -1.0)
            all_ids[start : start + SEARCH_BATCH] = np.where(found, self.ids[np.clip(rows, 0, None)], -1)
        return all_sims, all_ids


def _searches_list_by_list(index: faiss.Index, queries: int) -> TypeGuard[faiss.IndexIVFFlat]:
    """True for an IVF flat index given enough queries that searching list by list is faster."""
    return (
        type(index) is faiss.IndexIVFFlat and queries * index.nprobe >= QUERIES_PER_LIST_FOR_LIST_SEARCH * index.nlist
    )


def _search_list_by_list(index: faiss.IndexIVFFlat, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Inner products and row numbers of the k nearest among the probed lists, nearest first; row -1 where fewer."""
    invlists = index.invlists
    if invlists is None:
        raise ValueError("This IVF index has no inverted lists to search.")
    count, probes = len(vectors), index.nprobe
    probed = np.empty((count, probes), dtype=np.int64)
    for start in range(0, count, SEARCH_BATCH):
        _, probed[start : start + SEARCH_BATCH] = index.quantizer.search(vectors[start : start + SEARCH_BATCH], probes)
    pairs = probed.ravel()
    del probed
    by_list = np.argsort(pairs, kind="stable")
    bounds = np.searchsorted(pairs[by_list], np.arange(index.nlist + 1))
    del pairs
    queries_by_list = by_list // probes
    del by_list

    def search_list(list_no: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        queries = queries_by_list[bounds[list_no] : bounds[list_no + 1]]
        if not len(queries) or not invlists.list_size(list_no):
            return None
        rows, codes = get_invlist(invlists, list_no)
        list_vectors = codes.view(np.float32).reshape(len(rows), index.d)
        sims, positions = faiss.knn(
            vectors[queries], list_vectors, min(k, len(rows)), metric=faiss.METRIC_INNER_PRODUCT
        )
        return queries, sims, rows[positions]

    heap = faiss.ResultHeap(count, k, keep_max=True)
    threads = faiss.omp_get_max_threads()
    # One list per thread, each single-threaded: the products are small, and with
    # OpenMP inside each, its threads meeting after every one cost more than the
    # product whenever another process holds a core (at 100k vectors, 20,000
    # queries took 15 s that way on a busy 2-core machine, 1.3 s this way).
    with (
        single_threaded_faiss(),
        ThreadPoolExecutor(threads, initializer=faiss.omp_set_num_threads, initargs=(1,)) as pool,
    ):
        # A few lists per thread at a time, so finished results never pile up unmerged.
        for first in range(0, index.nlist, 8 * threads):
            for found in pool.map(search_list, range(first, min(first + 8 * threads, index.nlist))):
                if found is not None:
                    heap.add_result_subset(*found)
    heap.finalize()
    return heap.D, heap.I


@contextmanager
def single_threaded_faiss() -> Iterator[None]:
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


# Products a flat index may take for one search of many queries: past it, an IVF index. A full
# build searches every sample against the real ones: 1M samples against 10,000 real is 10^10
# products, about a minute of two cores, where an IVF index of the real ones takes seconds.
EXACT_PRODUCTS_MAX = 2 * 10**9
# Below this many vectors an index is flat whatever the queries: training costs more than it saves.
EXACT_MIN = 2_000


# The nearest real sample sets each sample's novelty, so an IVF index of the real samples probes
# a quarter of its lists, not the neighbour index's few: the nearest real one is then found
# for nearly every sample, still at about a quarter of a flat search's products.
REAL_INDEX_PROBE_SHARE = 4


def _probes(lists: int, probe_share: int | None) -> int:
    share = lists // probe_share if probe_share else 0
    return max(settings.SIMILARITY_IVF_PROBES, share)


def exact_max_for_queries(queries: int) -> int:
    """The largest index searched exactly (flat) for this many queries."""
    return min(settings.SIMILARITY_EXACT_MAX, max(EXACT_MIN, EXACT_PRODUCTS_MAX // max(queries, 1)))


def ivf_lists_for(count: int) -> int:
    # The FAISS guideline: about 4·√n lists, each trained on at least ~39 points.
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


def build_index(
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    exact_max: int | None = None,
    probes: int | None = None,
    probe_share: int | None = None,
    seed: int = 1234,
) -> VectorIndex:
    dimension = vectors.shape[1]
    exact_max = settings.SIMILARITY_EXACT_MAX if exact_max is None else exact_max
    if len(vectors) <= exact_max:
        index: faiss.Index = faiss.IndexFlatIP(dimension)
    else:
        lists = ivf_lists_for(len(vectors))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = TRAINING_ROUNDS
        rng = np.random.default_rng(seed)
        training = vectors[
            rng.choice(len(vectors), size=min(len(vectors), lists * TRAINING_POINTS_PER_LIST), replace=False)
        ]
        index.train(training)
        index.nprobe = probes or _probes(lists, probe_share)
    index.add(vectors)
    return VectorIndex(index=index, ids=ids.astype(np.int64))


def index_dir(project_id: int, key: str) -> Path:
    safe_key = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return Path(settings.DATA_DIR) / "faiss" / f"project-{project_id}" / safe_key


def save_index(vector_index: VectorIndex, project_id: int, key: str) -> None:
    folder = index_dir(project_id, key)
    folder.mkdir(parents=True, exist_ok=True)
    # Write beside, then rename: a worker killed mid-write leaves the old index whole.
    faiss.write_index(vector_index.index, str(folder / "index.faiss.tmp"))
    np.save(folder / "ids.tmp.npy", vector_index.ids)
    os.replace(folder / "index.faiss.tmp", folder / "index.faiss")
    os.replace(folder / "ids.tmp.npy", folder / "ids.npy")


def load_index(project_id: int, key: str, *, probe_share: int | None = None) -> VectorIndex | None:
    folder = index_dir(project_id, key)
    if not (folder / "index.faiss").is_file() or not (folder / "ids.npy").is_file():
        return None
    index = faiss.read_index(str(folder / "index.faiss"))
    ids = np.load(folder / "ids.npy")
    if index.ntotal != len(ids):
        return None  # torn by a crash between the two renames: rebuild
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = _probes(index.nlist, probe_share)
    return VectorIndex(index=index, ids=ids)
