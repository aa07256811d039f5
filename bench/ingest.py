"""Import throughput: our JSONL import path against a bare PostgreSQL COPY.

What it measures, in one run on its own database (synthreview_bench, created and
dropped here):

(a) our import of a seeded, realistic JSONL file (Alpaca-style rows with a
    per-row generator column, ~200-600 bytes each) through the real service path,
    import_batch_create + import_batch_run: read, map, hash, COPY to staging,
    INSERT ... SELECT ... ON CONFLICT DO NOTHING, counters, audit log, commit. It
    runs in a fresh child interpreter, so its peak RSS is the import's alone;
(b) a raw COPY of the very rows (a) inserted, already in COPY text form, into
    a twin of generation_sample: CREATE TABLE ... (LIKE generation_sample
    INCLUDING ALL) plus generation_sample's own foreign keys, which LIKE never
    copies. Same columns, defaults, checks, indexes and foreign keys: the same
    rows loaded into the same table by the bare COPY. COPY and commit are timed,
    nothing else;
(c) for reference, the same COPY into the twin without foreign keys. The
    foreign-key checks at COMMIT are a large share of any load into this
    schema (13 of our 44 s at 1M rows), and a real load cannot skip them.

ratio = our rows/s / (b)'s rows/s. The goal is ratio >= 0.50.

Run it from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust):

    .venv/bin/python bench/ingest.py [--quick] [--rows N] [--seed S]

--quick imports 50,000 rows (under a minute); the default is 1,000,000. The last
line is `RESULT ingest_ratio=R goal>=0.50 ok|MISS`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    status_kib,
    unique_database_name,
)

BENCH_DATABASE = unique_database_name("synthreview_bench")
GOAL = 0.50
FULL_ROWS = 1_000_000
QUICK_ROWS = 50_000
PROJECT_SLUG = "bench"
TEMPLATE_NAME = "alpaca-v1"
GENERATOR_NAMES = ("llama-3.1-70b-instruct", "mixtral-8x22b", "gpt-4o-mini-2024-07-18")
BASELINE_TABLE = "sample_copy_baseline"
BASELINE_TABLE_WITH_FOREIGN_KEYS = "sample_copy_baseline_fk"
# The columns our INSERT ... SELECT writes; the baseline COPY writes the same ones.
SAMPLE_COLUMNS = (
    "project_id",
    "origin",
    "run_id",
    "generator_id",
    "template_version_id",
    "import_batch_id",
    "input",
    "output",
    "label",
    "metadata",
    "content_hash",
    "split",
    "status",
    "generation_depth",
    "revision",
    "created_at",
    "updated_at",
)
COPY_CHUNK_BYTES = 1 << 20

_WORDS = (
    "the a an of to in for on with by from at as is are was were be been has have had do does not and or but "
    "if then else when while because so than which that this these those it its they them their we our you "
    "your he she his her who what where why how all any each every some many most more less few one two three "
    "first second last next number value result answer step total sum difference product ratio percent half "
    "time day week month year hour minute price cost discount tax rate speed distance area volume length width "
    "height weight apple orange book train car student teacher class school store market garden farm river city "
    "country company worker project report table list string array function variable loop class method error "
    "file line column database query index cache request response server client user account password email "
    "message order customer invoice payment budget plan meeting schedule team manager policy rule example case "
    "explain describe summarize compare write translate classify calculate find solve list give suggest rewrite "
    "improve check estimate convert sort count choose identify analyze evaluate simple short clear detailed "
    "formal friendly polite careful quick small large early late new old good bad important useful common rare "
    "because therefore however although instead finally also usually often sometimes never always probably"
).split()
# A few rows carry non-ASCII text, as real files do; it takes the NFC path of the hash.
_NON_ASCII = ("café", "naïve", "Zürich", "résumé", "façade", "東京", "São Paulo", "coöperate", "Łódź", "€")
_OPENERS = (
    "Explain",
    "Write",
    "Summarize",
    "Classify",
    "Translate",
    "Calculate",
    "Rewrite",
    "List",
    "Describe",
    "Give",
    "Compare",
    "Suggest",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows instead of {FULL_ROWS:,}")
    parser.add_argument("--rows", type=int, default=None, help="number of rows (overrides --quick)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--child-import", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _configure_environment()
    if args.child_import is not None:
        return _child_import(args.child_import)
    rows = args.rows if args.rows is not None else (QUICK_ROWS if args.quick else FULL_ROWS)
    if rows < 1:
        parser.error("--rows must be at least 1")
    return _run(rows=rows, seed=args.seed)


def _configure_environment() -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    # Production settings: with DEBUG on, Django would keep every query in memory.
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def _run(*, rows: int, seed: int) -> int:
    import psycopg

    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-"))
    _database_recreate()
    try:
        _database_prepare()
        jsonl_path = work_dir / "samples.jsonl"
        started = time.perf_counter()
        size = write_jsonl(jsonl_path, rows=rows, seed=seed)
        print(
            f"file: {rows:,} rows, {size / 2**20:.1f} MiB ({size / rows:.0f} bytes/row), "
            f"written in {time.perf_counter() - started:.1f} s"
        )

        with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}", autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        ours = _import_in_child(jsonl_path)
        our_rate = ours["rows_read"] / ours["seconds"]
        print(
            f"ours: {ours['rows_read']:,} rows read, {ours['rows_imported']:,} imported, "
            f"{ours['seconds']:.2f} s, {our_rate:,.0f} rows/s"
        )
        print(
            f"ours: peak RSS {ours['peak_rss_kib'] / 1024:.1f} MiB "
            f"({ours['rss_before_kib'] / 1024:.1f} MiB after Django start-up, before the import)"
        )

        copy_path = work_dir / "samples.copy"
        copy_rows = _dump_imported_rows(copy_path, batch_id=ours["batch_id"])
        if copy_rows != ours["rows_read"]:
            print(
                f"note: the file holds {ours['rows_read'] - copy_rows:,} duplicate rows; COPY loads the "
                f"{copy_rows:,} that were imported"
            )
        fk_seconds = _copy_baseline(copy_path, table=BASELINE_TABLE_WITH_FOREIGN_KEYS, foreign_keys=True)
        fk_rate = copy_rows / fk_seconds
        print(
            f"copy: {copy_rows:,} rows, {copy_path.stat().st_size / 2**20:.1f} MiB of COPY text, "
            f"{fk_seconds:.2f} s, {fk_rate:,.0f} rows/s (twin of generation_sample with its foreign keys)"
        )
        bare_seconds = _copy_baseline(copy_path, table=BASELINE_TABLE)
        bare_rate = copy_rows / bare_seconds
        print(
            f"copy without foreign keys (reference): {bare_seconds:.2f} s, {bare_rate:,.0f} rows/s; "
            f"ours / that = {our_rate / bare_rate:.3f}"
        )

        ratio = our_rate / fk_rate
        print(f"ratio: ours {our_rate:,.0f} rows/s / COPY {fk_rate:,.0f} rows/s = {ratio:.3f}")
        verdict = "ok" if ratio >= GOAL else "MISS"
        print(f"RESULT ingest_ratio={ratio:.2f} goal>={GOAL:.2f} {verdict}")
        return 0
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        _database_drop()


def _database_recreate() -> None:
    database_recreate(BENCH_DATABASE)


def _database_drop() -> None:
    database_drop(BENCH_DATABASE)


def _database_prepare() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from synthreview.projects.models import Project

    call_command("migrate", verbosity=0)
    Project.objects.create(slug=PROJECT_SLUG, name="Import benchmark")
    # The child process imports; this one must hold no connection meanwhile.
    connections.close_all()


def write_jsonl(path: Path, *, rows: int, seed: int) -> int:
    """A deterministic Alpaca-style JSONL file; returns its size in bytes."""
    rng = random.Random(seed)
    # Rows draw from a pool of sentences, as synthetic data repeats phrasing; the
    # combinations keep rows distinct.
    pool = [_sentence(rng) for _ in range(min(200_000, max(2_000, rows // 4)))]
    choice = rng.choice
    randrange = rng.randrange
    dumps = json.dumps
    with open(path, "w", encoding="utf-8") as fh:
        lines: list[str] = []
        for row_id in range(1, rows + 1):
            instruction = f"{choice(_OPENERS)} {choice(pool)[0].lower()}{choice(pool)[1:]}"
            if randrange(3) == 0:
                instruction = f"{instruction} {choice(pool)}"
            extra = " ".join(choice(pool) for _ in range(randrange(1, 3))) if randrange(5) < 2 else ""
            paragraphs = [" ".join(choice(pool) for _ in range(randrange(1, 4))) for _ in range(randrange(1, 3))]
            if randrange(6) == 0:
                paragraphs.append("\n".join(f"- {choice(pool)}" for _ in range(randrange(2, 4))))
            record = {
                "id": f"syn-{seed % 1000:03d}-{row_id:08d}",
                "instruction": instruction,
                "input": extra,
                "response": "\n\n".join(paragraphs),
                "generator": GENERATOR_NAMES[randrange(len(GENERATOR_NAMES))],
                "temperature": (0.2, 0.7, 1.0)[randrange(3)],
            }
            lines.append(dumps(record, ensure_ascii=False))
            if len(lines) == 10_000:
                fh.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            fh.write("\n".join(lines) + "\n")
    return path.stat().st_size


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randrange(5, 16))
    if rng.randrange(20) == 0:
        words[rng.randrange(len(words))] = rng.choice(_NON_ASCII)
    if rng.randrange(10) == 0:
        words.append(str(rng.randrange(1, 10_000)))
    end = "?" if rng.randrange(8) == 0 else "."
    return words[0].capitalize() + " " + " ".join(words[1:]) + end


def _import_in_child(jsonl_path: Path) -> dict:
    """Our import in a fresh interpreter, so its peak RSS excludes this process's
    file generation."""
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-import", str(jsonl_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _child_import(jsonl_path: Path) -> int:
    import django

    django.setup()
    from generation.ingest.mapping import FieldMapping
    from generation.models import ImportStatus
    from generation.services.imports import import_batch_create, import_batch_run
    from synthreview.projects.access import ProjectAccess, SystemActor
    from synthreview.projects.models import Project

    project = Project.objects.get(slug=PROJECT_SLUG)
    rss_before_kib = status_kib("VmRSS")
    started = time.perf_counter()
    batch = import_batch_create(
        ProjectAccess.for_system(project, SystemActor("bench:ingest")),
        path=jsonl_path,
        file_name=jsonl_path.name,
        fmt="jsonl",
        origin="synthetic",
        template_name=TEMPLATE_NAME,
        mapping=FieldMapping.parse(["generator=generator"]),
    )
    batch = import_batch_run(batch_id=batch.pk)
    seconds = time.perf_counter() - started
    if batch.status != ImportStatus.COMPLETED:
        print(f"import failed: {batch.errors[:5]}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "batch_id": batch.pk,
                "rows_read": batch.rows_read,
                "rows_imported": batch.rows_imported,
                "seconds": seconds,
                "peak_rss_kib": status_kib("VmHWM"),
                "rss_before_kib": rss_before_kib,
            }
        )
    )
    return 0


def _dump_imported_rows(copy_path: Path, *, batch_id: int) -> int:
    """The rows our import stored, as COPY text: the baseline's input, prepared
    before its clock starts."""
    import psycopg

    columns = ", ".join(SAMPLE_COLUMNS)
    rows = 0
    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn, open(copy_path, "wb") as out:
        with conn.cursor() as cursor:
            query = f"COPY (SELECT {columns} FROM generation_sample WHERE import_batch_id = %s ORDER BY id) TO STDOUT"
            with cursor.copy(query, (batch_id,)) as copy:
                for data in copy:
                    out.write(data)
                    rows += bytes(data).count(b"\n")
    return rows


def _copy_baseline(copy_path: Path, *, table: str, foreign_keys: bool = False) -> float:
    """Seconds to COPY the prepared rows into a twin of generation_sample and commit.

    LIKE ... INCLUDING ALL copies columns, defaults, identity, CHECK constraints
    and indexes, but never foreign keys; foreign_keys adds generation_sample's own
    (deferred, so checked at COMMIT, as in our import)."""
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn:
        conn.execute(f"CREATE TABLE {table} (LIKE generation_sample INCLUDING ALL)")
        if foreign_keys:
            definitions = conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = 'generation_sample'::regclass AND contype = 'f' ORDER BY conname"
            ).fetchall()
            for number, (definition,) in enumerate(definitions):
                conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_fk_{number} {definition}")
        conn.commit()
        conn.autocommit = True
        conn.execute("CHECKPOINT")
        conn.autocommit = False
        with conn.cursor() as cursor, open(copy_path, "rb") as source:
            started = time.perf_counter()
            with cursor.copy(f"COPY {table} ({', '.join(SAMPLE_COLUMNS)}) FROM STDIN") as copy:
                while data := source.read(COPY_CHUNK_BYTES):
                    copy.write(data)
            conn.commit()
            seconds = time.perf_counter() - started
        loaded = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if loaded == 0:
        raise RuntimeError("the baseline COPY loaded no rows")
    return seconds


if __name__ == "__main__":
    sys.exit(main())
