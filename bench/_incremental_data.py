"""The data bench/incremental.py measures on: the new samples (real texts from ../shared/data) and the existing
project, loaded in bulk as a full similarity build leaves it."""

from __future__ import annotations

import glob
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _common import SHARED_DATA as DATA_ROOT  # bench/ is on sys.path as the script's folder
from neighbours import synthetic_embeddings

OLD_GENERATORS = ("llama-3.1-70b-instruct", "mixtral-8x22b", "gpt-4o-mini-2024-07-18")
OLD_TEMPLATE = "alpaca-v1"
REAL_SHARE = 0.01
ACCEPTED_SHARE = 0.02
EXACT_COPY_SHARE = 0.001
PLANTED_SHARE = 0.02
_WORDS = (
    "apple orange train car student teacher school store market garden farm river city country company "
    "worker project report table list string array function variable loop method error file line column "
    "database query index cache request response server client user account password email message order "
    "customer invoice payment budget plan meeting schedule team manager policy rule example price cost "
    "discount tax rate speed distance area volume length width height weight hour minute week month year"
).split()


# --- The new samples: real texts from shared/data ---------------------------------------------------------


def real_texts(count: int, *, seed: int) -> list[dict[str, str]]:
    """Up to count rows in the import's Alpaca layout, with generator, template and origin columns.
    Short-answer variants of GSM8K problems fill up when the files hold fewer texts."""
    gsm8k = json.loads((DATA_ROOT / "gsm8k" / "gsm8k_train.json").read_text(encoding="utf-8"))
    pool: list[dict[str, str]] = [
        {
            "instruction": item["instruction"],
            "input": item["input"],
            "output": item["output"],
            "generator": "gsm8k-solver",
            "template": "word-problem",
            "origin": "synthetic",
        }
        for item in gsm8k
    ]
    self_instruct = DATA_ROOT / "self_instruct_user_oriented"
    for path in sorted(glob.glob(str(self_instruct / "predictions" / "*.jsonl"))):
        generator = Path(path).name.removesuffix("_predictions.jsonl")
        for item in _jsonl(Path(path)):
            pool.append(
                {
                    "instruction": item["instruction"],
                    "input": item["input"],
                    "output": item["response"],
                    "generator": generator,
                    "template": "self-instruct-eval",
                    "origin": "synthetic",
                }
            )
    for name in ("user_oriented_instructions.jsonl", "seed_tasks.jsonl"):
        for item in _jsonl(self_instruct / name):
            for instance in item["instances"]:
                pool.append(
                    {
                        "instruction": item["instruction"],
                        "input": instance["input"],
                        "output": instance["output"],
                        "generator": "",
                        "template": "",
                        "origin": "real",
                    }
                )
    for item in gsm8k[: max(0, count - len(pool))]:
        last_line = item["output"].strip().splitlines()[-1]
        pool.append(
            {
                "instruction": item["instruction"],
                "input": "",
                "output": last_line,
                "generator": "gsm8k-short-answer",
                "template": "word-problem",
                "origin": "synthetic",
            }
        )
    if count < len(pool):
        pool = random.Random(seed).sample(pool, count)
    return pool


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def instruction_anchors(rows: list[dict[str, str]]) -> list[str]:
    """The instructions alone: related to the new samples' embedded texts (instruction,
    input and output), not the same."""
    return sorted({row["instruction"].strip()[:300] for row in rows})


# --- The existing project, loaded in bulk -------------------------------------------------------------------


def existing_project_load(
    project_id: int, *, database_url: str, existing: int, anchor_texts: list[str], seed: int
) -> dict[str, int]:
    import psycopg
    from django.db import connection

    from generation.hashing import content_hash
    from generation.models import GeneratorKind, Origin, PromptTemplate, PromptTemplateVersion, SampleStatus
    from generation.services.generators import generator_create
    from reviews.services.clusters import clusters_build
    from reviews.services.duplicate_groups import duplicate_groups_rebuild
    from reviews.services.embeddings import embedding_key
    from reviews.services.similarity_build import (
        _facts,
        _index_key,
        _nearest_real,
        _neighbour_lists,
        _novelty,
    )
    from reviews.similarity.embedder import encode
    from reviews.similarity.index import build_index, index_dir, save_index
    from synthreview.projects.access import ProjectAccess, SystemActor
    from synthreview.projects.models import Project
    from synthreview.projects.services.counters import sample_count_add

    project = Project.objects.get(pk=project_id)
    model_name, text_kind = embedding_key(project)
    key = _index_key(project)
    k = project.similarity_top_k

    started = time.perf_counter()
    anchors = encode(anchor_texts)
    print(f"setup: {len(anchors):,} anchors embedded by the real model in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    data = synthetic_embeddings(existing, seed=seed, planted_copies=int(existing * PLANTED_SHARE), anchors=anchors)
    vectors = data.vectors
    rng = np.random.default_rng(seed + 7)
    is_real = rng.random(existing) < REAL_SHARE
    is_accepted = rng.random(existing) < ACCEPTED_SHARE
    generator_of = rng.integers(len(OLD_GENERATORS), size=existing)
    # Exact copies: a synthetic row takes the content, and so the vector, of another
    # synthetic row from a different generator.
    copies = rng.choice(np.flatnonzero(~is_real), size=2 * int(existing * EXACT_COPY_SHARE), replace=False)
    copy_of = dict(zip(copies[0::2].tolist(), copies[1::2].tolist()))
    for target, source in copy_of.items():
        vectors[target] = vectors[source]
        generator_of[target] = (generator_of[source] + 1) % len(OLD_GENERATORS)
    print(
        f"setup: {existing:,} vectors around {len(anchors):,} real anchors, {len(data.planted):,} planted "
        f"near-duplicates, {len(copy_of):,} exact copies, in {time.perf_counter() - started:.1f} s"
    )

    access = ProjectAccess.for_system(project, SystemActor("bench:incremental"))
    generator_ids = [generator_create(access, name=name, kind=GeneratorKind.IMPORTED).pk for name in OLD_GENERATORS]
    template = PromptTemplate.objects.create(project=project, name=OLD_TEMPLATE)
    template_version_id = PromptTemplateVersion.objects.create(template=template, version=1, text="").pk
    ids = np.arange(1, existing + 1, dtype=np.int64)
    now = datetime.now(UTC)

    started = time.perf_counter()
    word_rng = random.Random(seed)
    texts: list[tuple[str, str]] = []
    for row in range(existing):
        words = " ".join(word_rng.choices(_WORDS, k=8))
        texts.append((f"Task {row + 1}: explain the {words}.", f"The {words} in step {row % 97}."))
    for target, source in copy_of.items():
        texts[target] = texts[source]
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY generation_sample (id, project_id, origin, generator_id, template_version_id, input, output, "
            "metadata, content_hash, split, status, generation_depth, revision, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row in range(existing):
                real = bool(is_real[row])
                input_text, output_text = texts[row]
                copy.write_row(
                    (
                        row + 1,
                        project_id,
                        Origin.REAL if real else Origin.SYNTHETIC,
                        None if real else generator_ids[generator_of[row]],
                        None if real else template_version_id,
                        input_text,
                        output_text,
                        "{}",
                        content_hash(input_text, output_text),
                        "",
                        SampleStatus.ACCEPTED if is_accepted[row] else SampleStatus.PENDING,
                        0,
                        0,
                        now,
                        now,
                    )
                )
        cursor.execute("SELECT setval(pg_get_serial_sequence('generation_sample', 'id'), %s)", (existing,))
    counts = Counter(zip(is_real.tolist(), is_accepted.tolist()))
    for (real, accepted), count in counts.items():
        sample_count_add(
            project_id=project_id,
            origin=Origin.REAL if real else Origin.SYNTHETIC,
            status=SampleStatus.ACCEPTED if accepted else SampleStatus.PENDING,
            delta=count,
        )
    print(f"setup: samples by COPY in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY reviews_sampleembedding (sample_id, project_id, model_name, text_kind, vector, "
            "created_at) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "varchar", "varchar", "bytea", "timestamptz"])
            for row in range(existing):
                copy.write_row((row + 1, project_id, model_name, text_kind, vectors[row].tobytes(), now))
    print(f"setup: embeddings by COPY in {time.perf_counter() - started:.1f} s")

    # What a full build computes, with the build's own functions.
    started = time.perf_counter()
    index = build_index(ids, vectors)
    save_index(index, project_id, key)
    sims, found = index.search(vectors, k + 1)
    del index
    neighbours = _neighbour_lists(ids, sims, found, k)
    del sims, found
    print(f"setup: index built, saved and searched in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    facts = _facts(project)
    real_mask, _ = facts.lookup(ids)
    real_index = build_index(ids[real_mask], vectors[real_mask])
    save_index(real_index, project_id, key + "--real")
    real_ids, real_sims = _nearest_real(ids, real_index, vectors)
    novelty = _novelty(neighbours, real_sims, facts)
    cluster_of, clusters, _ = clusters_build(
        project=project,
        ids=ids,
        vectors=vectors,
        real_index=real_index,
        centroid_path=index_dir(project_id, key) / "centroids.npy",
    )
    print(f"setup: nearest real, novelty and {clusters} clusters in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        # The fields _similarity_row sets, as a full build writes them.
        with cursor.copy(
            "COPY reviews_samplesimilarity (sample_id, project_id, neighbours, top_similarity, "
            "novelty, nearest_real_id, nearest_real_similarity, cluster_id, updated_at) "
            "FROM STDIN"
        ) as copy:
            for row, sample_id in enumerate(ids.tolist()):
                entries = neighbours[row]
                real_id = int(real_ids[row])
                copy.write_row(
                    (
                        sample_id,
                        project_id,
                        json.dumps(entries),
                        entries[0][1] if entries else None,
                        novelty[row],
                        real_id if real_id >= 0 else None,
                        round(float(real_sims[row]), 5) if real_id >= 0 else None,
                        int(cluster_of[row]) if cluster_of[row] >= 0 else None,
                        now,
                    )
                )
    del neighbours, novelty
    (index_dir(project_id, key) / "full_build_size").write_text(str(existing))
    print(f"setup: similarity rows by COPY in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    groups, exact_groups = duplicate_groups_rebuild(project_id=project_id)
    print(
        f"setup: {groups:,} near-duplicate and {exact_groups:,} exact groups by duplicate_groups_rebuild in "
        f"{time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    connection.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in (
            "generation_sample",
            "reviews_sampleembedding",
            "reviews_samplesimilarity",
            "reviews_duplicategroup",
            "reviews_duplicategroupmember",
        ):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")
    print(f"setup: VACUUM ANALYZE and CHECKPOINT in {time.perf_counter() - started:.1f} s")
    return {"last_id": existing, "groups": groups}
