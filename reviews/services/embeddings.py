"""Embed every sample of a project that has no vector yet under the current key.

A batch is written in one transaction and the unique key (sample, model, text)
drops a vector written twice, so a worker killed mid-batch loses nothing and
doubles nothing: the rerun embeds exactly the samples still missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

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
# One batch's vectors on their way in (PostgreSQL); temporary, so private to the session.
_STAGING_TABLE = "sample_embedding_staging"

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
    """Embed the project's samples that lack a vector; returns how many were written."""
    project = Project.objects.get(pk=project_id)
    model_name, project_kind = embedding_key(project)
    text_kind = text_kind or project_kind
    batch_size = batch_size or settings.EMBEDDING_BATCH_SIZE
    # Reading a few batches at once keeps the encoder's batches full and the round trips few.
    read_size = batch_size * 4
    boilerplates = BoilerplateCache()
    total = missing_embeddings(project, text_kind=text_kind).count()
    written = 0
    last_id = 0
    step = PROGRESS_STEP_TEXTS
    if progress:
        progress(0, total)
    while True:
        rows = list(
            missing_embeddings(project, text_kind=text_kind)
            .filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "input", "output", "template_version_id")[:read_size]
        )
        if not rows:
            break
        texts = [
            embedding_text(
                input_text=input_text, output_text=output_text, kind=text_kind, boilerplate=boilerplates.get(version_id)
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
                vector_of.update(zip(unseen, encode(unseen, model_name=model_name, batch_size=batch_size)))
            start += len(step_texts)
            if progress and start < len(texts):
                progress(written + start, total)
            if time.monotonic() - began < PROGRESS_INTERVAL_S:
                step = min(step * 2, read_size)
        vectors = np.stack([vector_of[text] for text in texts])
        # One transaction per read, not per step: storing is the costly part to repeat.
        embeddings_store(
            project_id=project.pk,
            sample_ids=[row[0] for row in rows],
            vectors=vectors,
            model_name=model_name,
            text_kind=text_kind,
        )
        written += len(rows)
        last_id = rows[-1][0]
        if progress:
            progress(written, total)
    return written


def embeddings_store(
    *, project_id: int, sample_ids: list[int], vectors: np.ndarray, model_name: str, text_kind: str
) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _store_by_copy(
                project_id=project_id,
                sample_ids=sample_ids,
                vectors=vectors,
                model_name=model_name,
                text_kind=text_kind,
            )
            return
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


def _store_by_copy(
    *, project_id: int, sample_ids: list[int], vectors: np.ndarray, model_name: str, text_kind: str
) -> None:
    """A binary COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING.

    An INSERT's parameters carry each vector as hex text for the server to parse;
    a binary COPY sends its bytes as they are, a quarter of bulk_create's time
    (about 20,000 against 5,000 rows/s). COPY alone has no ON CONFLICT, hence
    the staging table. It is dropped at once, not at commit: inside an enclosing
    transaction the next batch creates it again."""
    table = SampleEmbedding._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {_STAGING_TABLE} (sample_id bigint, vector bytea)")
        with cursor.cursor.copy(f"COPY {_STAGING_TABLE} (sample_id, vector) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea"])
            for sample_id, vector in zip(sample_ids, vectors):
                copy.write_row((sample_id, vector.tobytes()))
        cursor.execute(
            f"INSERT INTO {table} (sample_id, project_id, model_name, text_kind, vector, created_at) "
            f"SELECT sample_id, %s, %s, %s, vector, %s FROM {_STAGING_TABLE} "
            "ON CONFLICT (sample_id, model_name, text_kind) DO NOTHING",
            [project_id, model_name, text_kind, timezone.now()],
        )
        cursor.execute(f"DROP TABLE {_STAGING_TABLE}")


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
