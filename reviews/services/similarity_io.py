"""The similarity build's bulk reads and writes: vectors and sample facts in, one
row of scores per sample out, as numpy arrays rather than a Python object per row.

On PostgreSQL the reads are binary COPYs parsed straight into preallocated
arrays (every field has a fixed size, so a row is one record of a numpy dtype),
and the write is a COPY into a staging table and one INSERT ... ON CONFLICT, in
one transaction: a build killed part way writes nothing, and its rerun writes
each row once. SQLite (the demo) takes the ORM, a chunk of rows at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from generation.models import Origin, PromptTemplateVersion, Sample, SampleStatus
from reviews.models import SampleEmbedding, SampleSimilarity
from reviews.services.embeddings import embeddings_load

# Rows per ORM upsert (SQLite), and per piece of a COPY's text (PostgreSQL).
WRITE_CHUNK = 2000
COPY_WRITE_CHUNK = 50_000
# Bytes of a binary COPY parsed at a time: bounds the buffer beside the arrays.
COPY_READ_BYTES = 8 << 20
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_TRAILER = b"\xff\xff"
# Results on their way in; temporary, so private to the session, and dropped at commit.
_STAGING_TABLE = "sample_similarity_staging"
_NULL = "\\N"  # COPY text format

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class SampleFacts:
    """Origin, status and lineage of every sample of a project, as arrays aligned by ascending id.
    generator and template are ids, 0 where a sample has none."""

    ids: np.ndarray
    real: np.ndarray
    accepted: np.ndarray
    generator: np.ndarray
    template: np.ndarray

    def positions(self, sample_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each id sits in `ids`, and whether it is there at all."""
        if not len(self.ids):
            return np.zeros(len(sample_ids), np.int64), np.zeros(len(sample_ids), bool)
        positions = np.clip(np.searchsorted(self.ids, sample_ids), 0, len(self.ids) - 1)
        return positions, self.ids[positions] == sample_ids


def vectors_load(
    *, project_id: int, model_name: str, text_kind: str, after_id: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ids (ascending) and their vectors, newer than `after_id`."""
    if connection.vendor != "postgresql":
        return embeddings_load(project_id=project_id, model_name=model_name, text_kind=text_kind, after_id=after_id)
    table = SampleEmbedding._meta.db_table
    where = f"FROM {table} WHERE project_id = %s AND model_name = %s AND text_kind = %s AND sample_id > %s"
    params: list[int | str] = [project_id, model_name, text_kind, after_id]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), max(octet_length(vector)) {where}", params)
        count, width = cursor.fetchone()
        if not count:
            return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
        if width % 4:
            raise ValueError(f"A stored vector of {width} bytes is not float32.")
        dimension = width // 4
        row = np.dtype(
            [("fields", ">i2"), ("id_size", ">i4"), ("id", ">i8"), ("vector_size", ">i4"), ("vector", "<f4", dimension)]
        )
        ids = np.empty(count, dtype=np.int64)
        vectors = np.empty((count, dimension), dtype=np.float32)
        filled = 0
        sql = f"COPY (SELECT sample_id, vector {where} ORDER BY sample_id) TO STDOUT (FORMAT BINARY)"
        for records in _binary_copy_records(cursor.cursor, sql, params, row):
            if np.any(records["vector_size"] != width):
                raise ValueError("The project's vectors differ in size: embed them again under one model.")
            if filled + len(records) > len(ids):  # rows committed between the count and the copy
                grown = max(filled + len(records), 2 * len(ids))
                ids = np.resize(ids, grown)
                vectors = np.resize(vectors, (grown, dimension))
            ids[filled : filled + len(records)] = records["id"]
            vectors[filled : filled + len(records)] = records["vector"]
            filled += len(records)
    return ids[:filled], vectors[:filled]


def sample_facts_load(*, project_id: int) -> SampleFacts:
    """Origin, status, generator and template of every sample of the project, by ascending id."""
    if connection.vendor != "postgresql":
        rows = list(
            Sample.objects.filter(project_id=project_id)
            .order_by("id")
            .values_list("id", "origin", "status", "generator_id", "template_version__template_id")
            .iterator(chunk_size=50000)
        )
        return SampleFacts(
            ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            real=np.fromiter((r[1] == Origin.REAL for r in rows), dtype=bool, count=len(rows)),
            accepted=np.fromiter((r[2] == SampleStatus.ACCEPTED for r in rows), dtype=bool, count=len(rows)),
            generator=np.fromiter((r[3] or 0 for r in rows), dtype=np.int64, count=len(rows)),
            template=np.fromiter((r[4] or 0 for r in rows), dtype=np.int64, count=len(rows)),
        )
    samples = Sample._meta.db_table
    versions = PromptTemplateVersion._meta.db_table
    where = f"FROM {samples} s LEFT JOIN {versions} v ON v.id = s.template_version_id WHERE s.project_id = %s"
    columns = (
        "s.id::int8, s.origin = %s, s.status = %s, coalesce(s.generator_id, 0)::int8, coalesce(v.template_id, 0)::int8"
    )
    row = np.dtype(
        [
            ("fields", ">i2"),
            ("id_size", ">i4"),
            ("id", ">i8"),
            ("real_size", ">i4"),
            ("real", "?"),
            ("accepted_size", ">i4"),
            ("accepted", "?"),
            ("generator_size", ">i4"),
            ("generator", ">i8"),
            ("template_size", ">i4"),
            ("template", ">i8"),
        ]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) {where}", [project_id])
        (count,) = cursor.fetchone()
        facts = np.empty(
            count,
            dtype=[
                (name, np.int64 if name in ("id", "generator", "template") else bool)
                for name in ("id", "real", "accepted", "generator", "template")
            ],
        )
        filled = 0
        sql = f"COPY (SELECT {columns} {where} ORDER BY s.id) TO STDOUT (FORMAT BINARY)"
        for records in _binary_copy_records(cursor.cursor, sql, [Origin.REAL, SampleStatus.ACCEPTED, project_id], row):
            if filled + len(records) > len(facts):
                facts = np.resize(facts, max(filled + len(records), 2 * len(facts)))
            for name in ("id", "real", "accepted", "generator", "template"):
                facts[name][filled : filled + len(records)] = records[name]
            filled += len(records)
    facts = facts[:filled]
    return SampleFacts(
        ids=facts["id"].copy(),
        real=facts["real"].copy(),
        accepted=facts["accepted"].copy(),
        generator=facts["generator"].copy(),
        template=facts["template"].copy(),
    )


def _binary_copy_records(cursor, sql: str, params: list, row: np.dtype) -> Iterator[np.ndarray]:
    """The rows of a binary COPY ... TO STDOUT whose fields all have a fixed size (and are never
    NULL), as arrays of `row`, about COPY_READ_BYTES at a time."""
    pending = bytearray()
    started = False
    with cursor.copy(sql, params) as copy:
        for data in copy:
            pending += data
            if not started:
                if len(pending) < 19:
                    continue
                extension = int.from_bytes(pending[15:19], "big")
                if len(pending) < 19 + extension:
                    continue
                if pending[:11] != _COPY_SIGNATURE:
                    raise ValueError("The database answered the COPY in an unknown format.")
                del pending[: 19 + extension]
                started = True
            if len(pending) >= COPY_READ_BYTES:
                whole = len(pending) // row.itemsize * row.itemsize
                yield _records(pending[:whole], row)
                del pending[:whole]
    if not pending.endswith(_COPY_TRAILER) or (len(pending) - 2) % row.itemsize:
        raise ValueError("The COPY ended part way through a row.")
    if len(pending) > 2:
        yield _records(pending[:-2], row)


def _records(buffer: bytearray, row: np.dtype) -> np.ndarray:
    records = np.frombuffer(buffer, dtype=row)
    fields = len([name for name in row.names or () if name.endswith("_size")])
    if np.any(records["fields"] != fields):
        raise ValueError("A COPY row has an unexpected number of fields, or a NULL.")
    return records


@dataclass
class Scores:
    """What a build computed for some samples, aligned by row: neighbour ids (-1 past the end of
    a list) and similarities, nearest first; the nearest real sample (-1: none) and its similarity;
    novelty (NaN: nothing to compare with) and the cluster's primary key (-1: none)."""

    ids: np.ndarray
    neighbour_ids: np.ndarray
    neighbour_sims: np.ndarray
    novelty: np.ndarray
    real_ids: np.ndarray
    real_sims: np.ndarray
    cluster_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def scores_write(*, project_id: int, scores: Scores, progress: ProgressCallback | None = None) -> None:
    """Upsert one SampleSimilarity row per sample of `scores`."""
    if connection.vendor == "postgresql":
        _write_by_copy(project_id, scores, progress)
        return
    for start in range(0, len(scores), WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, len(scores))
        with transaction.atomic():
            SampleSimilarity.objects.bulk_create(
                [_similarity_row(project_id, scores, row) for row in range(start, stop)],
                update_conflicts=True,
                unique_fields=["sample"],
                update_fields=[
                    "neighbours",
                    "top_similarity",
                    "novelty",
                    "nearest_real",
                    "nearest_real_similarity",
                    "cluster",
                    "updated_at",
                ],
            )
        if progress:
            progress(stop, len(scores), "writing scores")


def _similarity_row(project_id: int, scores: Scores, row: int) -> SampleSimilarity:
    neighbours = [
        [int(i), round(float(s), 5)]
        for i, s in zip(scores.neighbour_ids[row].tolist(), scores.neighbour_sims[row].tolist())
        if i >= 0
    ]
    real_id = int(scores.real_ids[row])
    novelty = float(scores.novelty[row])
    cluster_id = int(scores.cluster_ids[row])
    return SampleSimilarity(
        sample_id=int(scores.ids[row]),
        project_id=project_id,
        neighbours=neighbours,
        top_similarity=neighbours[0][1] if neighbours else None,
        novelty=None if math.isnan(novelty) else round(novelty, 5),
        nearest_real_id=real_id if real_id >= 0 else None,
        nearest_real_similarity=None if real_id < 0 else round(float(scores.real_sims[row]), 5),
        cluster_id=cluster_id if cluster_id >= 0 else None,
    )


def _write_by_copy(project_id: int, scores: Scores, progress: ProgressCallback | None) -> None:
    """COPY has no ON CONFLICT, hence the staging table; the one INSERT from it updates the rows in
    place. Each similarity is written to 5 decimals, as the ORM path rounds it."""
    table = SampleSimilarity._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_STAGING_TABLE} (sample_id bigint, neighbours jsonb, top_similarity float8, "
            "novelty float8, nearest_real_id bigint, nearest_real_similarity float8, cluster_id bigint)"
        )
        for start in range(0, len(scores), COPY_WRITE_CHUNK):
            stop = min(start + COPY_WRITE_CHUNK, len(scores))
            # One COPY per chunk, and progress only once it has ended: a worker's progress is an
            # UPDATE on this same connection, which would wait forever behind an open COPY.
            with cursor.cursor.copy(f"COPY {_STAGING_TABLE} FROM STDIN") as copy:
                copy.write(_copy_text(scores, start, stop))
            if progress:
                progress(stop, len(scores), "writing scores")
        cursor.execute(
            f"INSERT INTO {table} (sample_id, project_id, neighbours, top_similarity, novelty, nearest_real_id, "
            "nearest_real_similarity, cluster_id, updated_at) "
            f"SELECT sample_id, %s, neighbours, top_similarity, novelty, nearest_real_id, nearest_real_similarity, "
            f"cluster_id, now() FROM {_STAGING_TABLE} "
            "ON CONFLICT (sample_id) DO UPDATE SET neighbours = EXCLUDED.neighbours, "
            "top_similarity = EXCLUDED.top_similarity, novelty = EXCLUDED.novelty, "
            "nearest_real_id = EXCLUDED.nearest_real_id, nearest_real_similarity = EXCLUDED.nearest_real_similarity, "
            "cluster_id = EXCLUDED.cluster_id, updated_at = EXCLUDED.updated_at",
            [project_id],
        )
        # Now, not at commit: inside an enclosing transaction a second write creates it again.
        cursor.execute(f"DROP TABLE {_STAGING_TABLE}")


def _copy_text(scores: Scores, start: int, stop: int) -> bytes:
    """Rows start:stop in COPY's text format; the numbers only, so nothing needs escaping."""
    lines = []
    for sample_id, neighbour_ids, neighbour_sims, novelty, real_id, real_sim, cluster_id in zip(
        scores.ids[start:stop].tolist(),
        scores.neighbour_ids[start:stop].tolist(),
        scores.neighbour_sims[start:stop].astype(np.float64).tolist(),
        scores.novelty[start:stop].tolist(),
        scores.real_ids[start:stop].tolist(),
        scores.real_sims[start:stop].astype(np.float64).tolist(),
        scores.cluster_ids[start:stop].tolist(),
    ):
        entries = ",".join(f"[{i},{s:.5f}]" for i, s in zip(neighbour_ids, neighbour_sims) if i >= 0)
        top = f"{neighbour_sims[0]:.5f}" if neighbour_ids and neighbour_ids[0] >= 0 else _NULL
        shown_novelty = _NULL if math.isnan(novelty) else f"{novelty:.5f}"
        real = (str(real_id), f"{real_sim:.5f}") if real_id >= 0 else (_NULL, _NULL)
        cluster = str(cluster_id) if cluster_id >= 0 else _NULL
        lines.append(f"{sample_id}\t[{entries}]\t{top}\t{shown_novelty}\t{real[0]}\t{real[1]}\t{cluster}\n")
    return "".join(lines).encode()
