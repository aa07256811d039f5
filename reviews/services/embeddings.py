"""Embed every sample of a project that has no vector yet under the current key.

A batch is written in one transaction and the unique key (sample, model, text)
drops a vector written twice, so a worker killed mid-batch loses nothing and
doubles nothing: the rerun embeds exactly the samples still missing.

On PostgreSQL, outside a transaction, a writer thread with a connection of its
own stores one batch while the next is read and encoded: with a fast encoder
(a GPU) the database would otherwise take the other half of the time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet

from generation.models import PromptTemplateVersion, Sample
from reviews.models import SampleEmbedding
from reviews.similarity.embedder import encode
from reviews.similarity.text import (
    NO_BOILERPLATE,
    Boilerplate,
    boilerplate_from_samples,
    boilerplate_from_template,
    embedding_text,
)
from synthreview.projects.models import Project

# Inputs read to infer a template's boilerplate when its text is unknown.
BOILERPLATE_SAMPLE = 200
# One batch's vectors on their way in when some of them may be stored already (PostgreSQL);
# temporary, so private to the session.
_STAGING_TABLE = "sample_embedding_staging"
# Batches encoded and waiting for the writer: one more than the one being written keeps the
# encoder busy while bounding what a worker holds in memory.
WRITE_QUEUE_BATCHES = 1
# How often a blocked hand-over looks whether the writer has failed.
_WRITER_POLL_S = 0.1
# Samples named per query where the database limits a query's parameters (SQLite: 999).
_SQLITE_IDS_PER_QUERY = 900

ProgressCallback = Callable[[int, int], None]

# Progress is reported after each step of at most this many texts while a step takes
# PROGRESS_INTERVAL_S or longer (a CPU: 32 texts took 4-5 s on this 2-core machine), so the bar
# moves in steps small enough to see. Where encoding is faster (a GPU), a step doubles
# while it takes less, up to a whole read: the encoder's batches stay full and the job
# row is written about twice a second at most, never once per 32 texts.
PROGRESS_STEP_TEXTS = 32
PROGRESS_INTERVAL_S = 0.5


def embedding_key(project: Project) -> tuple[str, str]:
    return settings.EMBEDDING_MODEL, project.embedding_text


def missing_embeddings(project: Project, *, text_kind: str | None = None) -> QuerySet[Sample]:
    """The project's samples without a vector under the current model and `text_kind` (default: the
    project's choice of embedded text; the leak check also embeds inputs alone)."""
    model_name, project_kind = embedding_key(project)
    text_kind = text_kind or project_kind
    return Sample.objects.filter(project=project).exclude(
        Exists(SampleEmbedding.objects.filter(sample=OuterRef("pk"), model_name=model_name, text_kind=text_kind))
    )


class BoilerplateCache:
    def __init__(self) -> None:
        self._by_version: dict[int, Boilerplate] = {}

    def get(self, template_version_id: int | None) -> Boilerplate:
        if template_version_id is None:
            return NO_BOILERPLATE
        if template_version_id not in self._by_version:
            version = PromptTemplateVersion.objects.get(pk=template_version_id)
            boilerplate = boilerplate_from_template(version.text) if version.text else NO_BOILERPLATE
            if boilerplate == NO_BOILERPLATE:
                # Known only by name: read what its samples share. The first samples by id
                # never change, so neither does the estimate as more samples arrive.
                inputs = (
                    Sample.objects.filter(template_version_id=template_version_id)
                    .order_by("id")
                    .values_list("input", flat=True)[:BOILERPLATE_SAMPLE]
                )
                boilerplate = boilerplate_from_samples(list(inputs))
            self._by_version[template_version_id] = boilerplate
        return self._by_version[template_version_id]


def embeddings_compute(
    *,
    project_id: int,
    progress: ProgressCallback | None = None,
    batch_size: int | None = None,
    text_kind: str | None = None,
) -> int:
    """Embed the project's samples that lacked a vector when it started; returns how many were written.
    Samples that arrive meanwhile are the next job's (their import requests one)."""
    project = Project.objects.get(pk=project_id)
    model_name, project_kind = embedding_key(project)
    text_kind = text_kind or project_kind
    batch_size = batch_size or settings.EMBEDDING_BATCH_SIZE
    # Reading a few batches at once keeps the encoder's batches full and the round trips few.
    read_size = batch_size * 4
    boilerplates = BoilerplateCache()
    # The ids first, then the texts by id: each read costs its own rows whatever plan the
    # database picks, where a keyset read of "missing, after id N" could scan the rest each time.
    pending = _missing_ids(project, text_kind=text_kind)
    total = len(pending)
    written = 0
    step = PROGRESS_STEP_TEXTS
    if progress:
        progress(0, total)
    with _vector_writer(project_id=project.pk, model_name=model_name, text_kind=text_kind) as store:
        for first in range(0, total, read_size):
            rows = _sample_rows(project.pk, pending[first : first + read_size])
            if not rows:
                continue  # deleted since
            texts = [
                embedding_text(
                    input_text=input_text,
                    output_text=output_text,
                    kind=text_kind,
                    boilerplate=boilerplates.get(version_id),
                )
                for _, input_text, output_text, version_id in rows
            ]
            # Samples often share a text (one prompt answered by several generators): each is encoded once.
            vector_of: dict[str, np.ndarray] = {}
            start = 0
            while start < len(texts):
                began = time.monotonic()
                step_texts = texts[start : start + step]
                unseen = [text for text in dict.fromkeys(step_texts) if text not in vector_of]
                if unseen:
                    vector_of.update(zip(unseen, encode(unseen, model_name=model_name)))
                start += len(step_texts)
                if progress and start < len(texts):
                    progress(written + start, total)
                if time.monotonic() - began < PROGRESS_INTERVAL_S:
                    step = min(step * 2, read_size)
            # One transaction per read, not per step: storing is the costly part to repeat.
            store(
                np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
                np.stack([vector_of[text] for text in texts]),
            )
            written += len(rows)
            if progress:
                progress(written, total)
    return written


def _missing_ids(project: Project, *, text_kind: str) -> np.ndarray:
    """Ascending ids of the project's samples without a vector under the key."""
    query = missing_embeddings(project, text_kind=text_kind).values_list("id", flat=True)
    if connection.vendor != "postgresql":
        return np.sort(np.fromiter(query.iterator(chunk_size=20000), dtype=np.int64))
    # One value of 8 bytes per id, not a row (and a Python object) per id: a million ids arrive as 8 MB.
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT string_agg(int8send(id::int8), ''::bytea) FROM ({sql}) AS missing", params)
        (packed,) = cursor.fetchone()
    return np.sort(np.frombuffer(bytes(packed or b""), dtype=">i8").astype(np.int64))


def _sample_rows(project_id: int, ids: np.ndarray) -> list[tuple[int, str, str, int | None]]:
    """(id, input, output, template version) of these samples, by ascending id."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, input, output, template_version_id FROM {Sample._meta.db_table} "
                "WHERE id = ANY(%s) AND project_id = %s ORDER BY id",
                [ids.tolist(), project_id],
            )
            return cursor.fetchall()
    rows: list[tuple[int, str, str, int | None]] = []
    for start in range(0, len(ids), _SQLITE_IDS_PER_QUERY):
        part = ids[start : start + _SQLITE_IDS_PER_QUERY].tolist()
        rows += Sample.objects.filter(project_id=project_id, id__in=part).values_list(
            "id", "input", "output", "template_version_id"
        )
    return sorted(rows)


StoreBatch = Callable[[np.ndarray, np.ndarray], None]


@contextmanager
def _vector_writer(*, project_id: int, model_name: str, text_kind: str) -> Iterator[StoreBatch]:
    """A function that stores one batch (sample ids, vectors). On PostgreSQL in autocommit it hands
    the batch to a writer thread and returns at once, unless WRITE_QUEUE_BATCHES are waiting.

    A caller inside a transaction stores in it, in line: a second connection could not see
    what that transaction wrote, and the caller expects its rollback to undo these writes too."""

    def store_now(sample_ids: np.ndarray, vectors: np.ndarray) -> None:
        embeddings_store(
            project_id=project_id,
            sample_ids=sample_ids.tolist(),
            vectors=vectors,
            model_name=model_name,
            text_kind=text_kind,
        )

    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield store_now
        return
    writer = _WriterThread(store_now)
    writer.start()
    try:
        yield writer.put
    except BaseException:
        # What was handed over was encoded already: store it before giving up (a soft time
        # limit, a failing encoder), so the next job does not encode it again.
        writer.close()
        raise
    writer.close()
    writer.raise_failure()


class _WriterThread(threading.Thread):
    """Stores batches in the order they come, each in its own transaction, on its own connection.
    It stops at its first failure, which the next put (or close) raises in the caller."""

    _DONE = None

    def __init__(self, store: StoreBatch) -> None:
        super().__init__(name="embedding-writer", daemon=True)
        self._store = store
        self._batches: queue.Queue[tuple[np.ndarray, np.ndarray] | None] = queue.Queue(maxsize=WRITE_QUEUE_BATCHES)
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                # A commit need not wait for its flush: the job's own end is a synchronous commit, which
                # flushes these before it, and a database crash before then fails the job, whose rerun
                # embeds whatever was lost.
                cursor.execute("SET synchronous_commit TO OFF")
            while (batch := self._batches.get()) is not self._DONE:
                self._store(*batch)
        except BaseException as error:  # handed to the caller's thread, which raises it
            self.failure = error
        finally:
            connection.close()

    def put(self, sample_ids: np.ndarray, vectors: np.ndarray) -> None:
        self._hand_over((sample_ids, vectors))

    def close(self) -> None:
        """Wait until every batch handed over is stored, or the writer failed."""
        if self.is_alive():
            self._hand_over(self._DONE, raise_failure=False)
        self.join()

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _hand_over(self, item: tuple[np.ndarray, np.ndarray] | None, *, raise_failure: bool = True) -> None:
        while True:
            if raise_failure:
                self.raise_failure()
            if not self.is_alive():
                return
            try:
                self._batches.put(item, timeout=_WRITER_POLL_S)
                return
            except queue.Full:
                continue


def embeddings_store(
    *, project_id: int, sample_ids: list[int], vectors: np.ndarray, model_name: str, text_kind: str
) -> None:
    """Store one vector per sample in one transaction (a savepoint inside the caller's); a sample
    that has a vector under the key already keeps it."""
    if connection.vendor == "postgresql":
        _store_by_copy(
            project_id=project_id, sample_ids=sample_ids, vectors=vectors, model_name=model_name, text_kind=text_kind
        )
        return
    with transaction.atomic():
        SampleEmbedding.objects.bulk_create(
            [
                SampleEmbedding(
                    sample_id=sample_id,
                    project_id=project_id,
                    model_name=model_name,
                    text_kind=text_kind,
                    vector=vector.tobytes(),
                )
                for sample_id, vector in zip(sample_ids, vectors)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )


# COPY's binary signature, a flags word and the length of a header extension (none here).
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _store_by_copy(
    *, project_id: int, sample_ids: list[int], vectors: np.ndarray, model_name: str, text_kind: str
) -> None:
    """A binary COPY straight into the table. Where a vector of the batch is stored already (another
    worker, a leak check embedding the same key), that transaction rolls back and a second one
    COPYs into a staging table, then runs one INSERT ... ON CONFLICT DO NOTHING: a savepoint
    around the first COPY would cost two more round trips on every batch for a rare case.

    The rows are built as one numpy record array: an INSERT's parameters carry each vector as hex
    text for the server to parse, and COPY's write_row costs a Python call per row. The staging
    table is dropped at once, not at commit: inside an enclosing transaction the next batch
    creates it again."""
    import psycopg

    table = SampleEmbedding._meta.db_table
    ids = np.asarray(sample_ids, dtype=np.int64)
    created_at = (datetime.now(UTC) - _POSTGRES_EPOCH) // timedelta(microseconds=1)
    constants = (
        project_id.to_bytes(8, "big", signed=True),
        model_name.encode(),
        text_kind.encode(),
        created_at.to_bytes(8, "big", signed=True),
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY {table} (sample_id, project_id, model_name, text_kind, created_at, vector) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(_binary_copy_rows(ids, vectors, constants=constants))
        return
    except psycopg.errors.UniqueViolation:
        pass
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {_STAGING_TABLE} (sample_id bigint, vector bytea)")
        with cursor.cursor.copy(f"COPY {_STAGING_TABLE} (sample_id, vector) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_binary_copy_rows(ids, vectors, constants=()))
        cursor.execute(
            f"INSERT INTO {table} (sample_id, project_id, model_name, text_kind, vector, created_at) "
            f"SELECT sample_id, %s, %s, %s, vector, now() FROM {_STAGING_TABLE} "
            "ON CONFLICT (sample_id, model_name, text_kind) DO NOTHING",
            [project_id, model_name, text_kind],
        )
        cursor.execute(f"DROP TABLE {_STAGING_TABLE}")


def _binary_copy_rows(sample_ids: np.ndarray, vectors: np.ndarray, *, constants: tuple[bytes, ...]) -> bytes:
    """COPY's binary format for the rows (sample id, *constants, vector): every field has a fixed
    size, so a row is one record of a numpy dtype (big-endian lengths and ids; each vector's bytes
    as stored, float32 little-endian)."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    fields: list[tuple] = [("fields", ">i2"), ("id_size", ">i4"), ("id", ">i8")]
    for number, value in enumerate(constants):
        fields.append((f"constant{number}_size", ">i4"))
        if value:
            fields.append((f"constant{number}", f"V{len(value)}"))
    fields += [("vector_size", ">i4"), ("vector", "<f4", (vectors.shape[1],))]
    rows = np.empty(len(sample_ids), dtype=np.dtype(fields))
    rows["fields"] = 2 + len(constants)
    rows["id_size"] = 8
    rows["id"] = sample_ids
    for number, value in enumerate(constants):
        rows[f"constant{number}_size"] = len(value)
        if value:
            rows[f"constant{number}"] = np.void(value)
    rows["vector_size"] = vectors.shape[1] * 4
    rows["vector"] = vectors
    return b"".join((_COPY_HEADER, rows.tobytes(), _COPY_TRAILER))


def embeddings_load(
    *, project_id: int, model_name: str, text_kind: str, after_id: int = 0, sample_ids: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ids (ascending) and their vectors."""
    query = SampleEmbedding.objects.filter(
        project_id=project_id, model_name=model_name, text_kind=text_kind, sample_id__gt=after_id
    )
    if sample_ids is not None:
        query = query.filter(sample_id__in=sample_ids)
    ids: list[int] = []
    chunks: list[bytes] = []
    for sample_id, vector in query.order_by("sample_id").values_list("sample_id", "vector").iterator(chunk_size=20000):
        ids.append(sample_id)
        chunks.append(bytes(vector))
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
    matrix = np.frombuffer(b"".join(chunks), dtype=np.float32).reshape(len(ids), -1)
    return np.asarray(ids, dtype=np.int64), matrix
