"""Export: 1M approved samples through the product's gated export, against a COPY of the same rows.

The goal: exporting a project's approved samples as JSONL, with an eval set frozen
and the leak check on, takes at most 2x the time of a bare
`COPY (SELECT ...) TO STDOUT` read of the same rows, with a peak RSS of at most
500 MB.

What it measures, in one run on its own database (synthreview_bench_export_<run>,
created and dropped here):

load     one project of --rows samples (1,000,000; 40,000 with --quick), all
         accepted, loaded by bulk SQL (INSERT ... SELECT over generate_series)
         with real texts from ../shared/data, never copied into the project:
         20% real (the Self-Instruct expert instances; half marked train, the
         rest unsplit), 80% synthetic (GSM8K problems and the Self-Instruct
         models' responses) over 4 generators, 3 template versions, 3 runs and
         some run-less imports; 15% of the synthetic ones at generation depth 1
         (within the default cap, so exported), a label on a quarter of them,
         JSON metadata on each. Every text carries a numeric variation, so every
         content hash is unique. The project is in phase 0 (synthetic allowed),
         so the mix gate passes at 20% real; no audit is closed, so the export
         passes the audit gate on a lead's written override ("bench: ..."),
         which the manifest records. Then VACUUM ANALYZE and CHECKPOINT.
eval set a vector per sample (random unit vectors written by COPY, standing in
         for the encoder, whose speed is bench/embedding.py's; the project embeds
         prompts, so one vector each); 1,000 real samples (--quick: 200) drawn
         from those in no split by the product's eval_split_draw and frozen by
         eval_set_version_create; each member's vector copied onto 5 train-side
         samples (planted near-duplicates); then the product's leak check, as
         the worker runs it after a freeze. It must find every planted leak and
         cover every sample, so the export holds back the leaks and nothing is
         "unchecked".
ours     the export as the worker runs it, in a fresh interpreter:
         export_request(..., enqueue=False), which names the frozen version,
         then export_run with the worker's progress callback (progress_set into
         the Redis cache, DB 11). Timed around both: the leak check (up to date,
         so it only confirms that), the gates' counting pass over the selection,
         the streamed rows, the JSONL lines, sha256 and the file. Its peak RSS is
         the child's VmHWM (Django start-up included). The file is checked: its
         rows (newlines) equal the selection's count, its first line carries the
         columns in order, the manifest holds back exactly the leaks the check
         found, and both attempts write the same sha256.
copy     a fresh interpreter (no Django) reading the same rows with psycopg as
         `COPY (SELECT ...) TO STDOUT`: the sample's own columns (metadata cast
         to text, as the export reads it), the same WHERE (project, status
         accepted, split not eval, depth within the cap, through the leak
         check's last sample, no eval-set member, no leak: anti-joins), ORDER BY
         id, every row received and dropped.
cursor   the same rows through a server-side (named) cursor, fetchmany of 5,000
         (the previous reference, printed for comparison, not judged).

Each side runs --attempts times (2), alternating, and the best of each is taken:
the machine is shared (two cores, other people's tests), and a pass that
coincides with another process's burst measures that process. The load average
is printed before each pass and at the end.

ratio = ours seconds / COPY seconds (JSONL). ok when the ratio is at most 2 and
every measured export's peak RSS at most 500 MB.

Run it from the project root (PostgreSQL on 127.0.0.1:5432, user postgres,
trust; Redis on 127.0.0.1:6379):

    .venv/bin/python bench/export.py [--quick] [--rows N] [--formats jsonl,csv,parquet] [--attempts N]
                                     [--profile] [--keep] [--reuse]

--quick: 40,000 samples (under a minute). The default, 1,000,000, takes several
minutes on two cores: loading the samples and their vectors and the leak check,
then a few seconds per read and export (a 1M-row JSONL file is ~1 GB; each is
checked, then deleted). --formats adds CSV and Parquet exports, each paired with
reads of its own (the files are checked by a CSV reader and by Parquet's
metadata); only JSONL's ratio is judged, every format's RSS is. --profile runs
one more JSONL export under cProfile and prints where its time goes (to stderr).
--keep leaves the database in place; --reuse takes a kept one of the same size
instead of loading again. The last line is
`RESULT export_vs_copy=R goal<=2 ok|MISS`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    status_kib,
)
from _common import SHARED_DATA as DATA_ROOT
from _export_data import BENCH_DATABASE, PROJECT_SLUG, TARGET_MODEL, eval_set_freeze, load_samples

CACHE_URL = "redis://127.0.0.1:6379/11"
GOAL_RATIO = 2.0
GOAL_RSS_MB = 500.0
FULL_ROWS = 1_000_000
QUICK_ROWS = 40_000
ATTEMPTS = 2
FORMATS = ("jsonl", "csv", "parquet")
OVERRIDE_REASON = "bench: no closed audit in the benchmark's data; the export's speed is measured, not its gates"
# The export's own chunk (reviews.selectors.exports.READ_CHUNK), so both sides fetch alike.
RAW_FETCH = 5000

# The export's selection (reviews.selectors.exports._included, train split, the frozen eval-set
# version, no generator left out) as plain SQL: the sample's own columns, in the order the export reads them.
SELECTION_SQL = """
SELECT s.id, s.input, s.output, s.label, s.origin, s.generator_id, s.template_version_id, s.run_id,
       s.generation_depth, s.split, s.content_hash, s.metadata::text
FROM generation_sample s
WHERE s.project_id = %(project)s AND s.status = 'accepted' AND NOT (s.split = 'eval')
  AND NOT (s.generation_depth > %(depth)s)
  AND s.id <= %(checked_through)s
  AND NOT EXISTS (SELECT 1 FROM reviews_evalsetmember m WHERE m.version_id = %(version)s AND m.sample_id = s.id)
  AND NOT EXISTS (SELECT 1 FROM reviews_evalleak l WHERE l.version_id = %(version)s AND l.sample_id = s.id)
ORDER BY s.id
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} samples instead of {FULL_ROWS:,}")
    parser.add_argument("--rows", type=int, default=None, help="accepted samples to load (overrides --quick)")
    parser.add_argument(
        "--formats",
        default="jsonl",
        help="comma-separated, from jsonl,csv,parquet (jsonl is always measured and judged)",
    )
    parser.add_argument("--attempts", type=int, default=ATTEMPTS, help="runs of each side; the best is taken")
    parser.add_argument("--profile", action="store_true", help="one more JSONL export under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the database (default: drop it at the end)")
    parser.add_argument("--reuse", action="store_true", help="take a kept database of the same size, if there")
    parser.add_argument("--child-export", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-raw", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_export is not None:
        _configure_environment(data_dir=Path(os.environ["DATA_DIR"]))
        return _child_export(json.loads(args.child_export))
    if args.child_raw is not None:
        return _child_raw(json.loads(args.child_raw))
    rows = args.rows if args.rows is not None else (QUICK_ROWS if args.quick else FULL_ROWS)
    formats = ["jsonl"] + [f for f in dict.fromkeys(args.formats.split(",")) if f and f != "jsonl"]
    if rows < 1_000:
        parser.error("--rows must be at least 1,000")
    if unknown := [f for f in formats if f not in FORMATS]:
        parser.error(f"unknown format(s) {unknown}: choose from {', '.join(FORMATS)}")
    if args.attempts < 1:
        parser.error("--attempts must be at least 1")
    if not DATA_ROOT.is_dir():
        parser.error(f"the real texts are not there: {DATA_ROOT}")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-export-"))
    _configure_environment(data_dir=work_dir / "data")
    try:
        return _run(rows=rows, formats=formats, attempts=args.attempts, profile=args.profile, reuse=args.reuse)
    finally:
        if args.keep:
            print(f"kept: database {BENCH_DATABASE} ({SERVER_URL}/{BENCH_DATABASE})")
        else:
            database_drop(BENCH_DATABASE)
        shutil.rmtree(work_dir, ignore_errors=True)


def _configure_environment(*, data_dir: Path) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    # Production settings: with DEBUG on, Django would keep every query in memory.
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["CACHE_URL"] = CACHE_URL
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# --- The run -----------------------------------------------------------------------------------------------


def _run(*, rows: int, formats: list[str], attempts: int, profile: bool, reuse: bool) -> int:
    import django

    started = time.perf_counter()
    if reuse and _kept_rows() == rows:
        django.setup()
        print(f"setup: reusing the kept database {BENCH_DATABASE} ({rows:,} accepted samples)")
        frozen = _kept_eval_set()
    else:
        database_recreate(BENCH_DATABASE)
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"setup: database created and migrated in {time.perf_counter() - started:.1f} s")
        load_samples(rows)
        frozen = eval_set_freeze(rows)
    from django.db import connections

    from synthreview.projects.models import Project

    project = Project.objects.get(slug=PROJECT_SLUG)
    selection = {
        "project": project.pk,
        "depth": project.max_generation_depth,
        "version": frozen["version"],
        "checked_through": frozen["checked_through"],
    }
    expected = _selection_count(selection)
    connections.close_all()  # the children read; this process holds no connection meanwhile
    print(
        f"selection: {expected:,} rows (accepted, outside the eval split, depth <= {selection['depth']}, "
        f"no eval-set member, none of the {frozen['leaks']:,} leaks)"
    )

    results: dict[str, dict[str, list[dict]]] = {fmt: {"copy": [], "cursor": [], "ours": []} for fmt in formats}
    for fmt in formats:
        for attempt in range(1, attempts + 1):
            for side in ("copy", "cursor"):
                read = _in_child("--child-raw", {**selection, "side": side})
                if read["rows"] != expected:
                    raise AssertionError(f"the {side} read got {read['rows']:,} rows of {expected:,}")
                results[fmt][side].append(read)
                _print_attempt(fmt, attempt, side, read)
            ours = _in_child("--child-export", {"format": fmt})
            _check_export(ours, expected=expected, fmt=fmt, leaks=frozen["leaks"])
            results[fmt]["ours"].append(ours)
            _print_attempt(fmt, attempt, "ours", ours)
        digests = {r["sha256"] for r in results[fmt]["ours"]}
        if len(digests) != 1:
            raise AssertionError(f"{fmt}: two exports of one selection wrote different files: {sorted(digests)}")
    if profile:
        _profile_export()
    return _report(formats, results, expected)


def _kept_eval_set() -> dict[str, int]:
    from reviews.models import EvalLeakCheck

    check = EvalLeakCheck.objects.select_related("version").order_by("-version__version").first()
    if check is None:
        raise SystemExit("the kept database has no eval set checked for leaks: run without --reuse")
    return {
        "version": check.version_id,
        "members": check.version.member_count,
        "leaks": check.leaks_found,
        "checked_through": check.checked_through_id,
    }


def _kept_rows() -> int | None:
    import psycopg

    try:
        with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn:
            row = conn.execute(
                "SELECT sum(c.count) FROM generation_samplecount c JOIN generation_project p ON p.id = c.project_id "
                "WHERE p.slug = %s AND c.status = 'accepted'",
                (PROJECT_SLUG,),
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row and row[0] is not None else None


def _selection_count(selection: dict[str, int]) -> int:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn:
        sql = "SELECT count(*) FROM (" + SELECTION_SQL.replace("ORDER BY s.id", "") + ") s"
        return int(conn.execute(sql, selection).fetchone()[0])


# --- The children ------------------------------------------------------------------------------------------


def _in_child(flag: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One side in a fresh interpreter: its peak RSS is its own, and it starts as cold as a worker."""
    load_before = os.getloadavg()[0]
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), flag, json.dumps(payload)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["load_before"] = load_before
    return result


def _child_raw(selection: dict[str, Any]) -> int:
    import psycopg

    rss_before_kib = status_kib("VmRSS")
    started = time.perf_counter()
    rows = 0
    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn:
        if selection["side"] == "copy":
            with conn.cursor().copy(f"COPY ({SELECTION_SQL}) TO STDOUT", selection) as copy:
                for _row in copy:  # one message per row
                    rows += 1
        else:
            with conn.cursor(name="bench_raw_read") as cursor:
                cursor.execute(SELECTION_SQL, selection)
                while batch := cursor.fetchmany(RAW_FETCH):
                    rows += len(batch)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"rows": rows, "seconds": seconds, "peak_rss_kib": status_kib("VmHWM"), "rss_before_kib": rss_before_kib}
        )
    )
    return 0


def _child_export(payload: dict[str, Any]) -> int:
    import django

    django.setup()
    from reviews.services.exports import export_request, export_run
    from synthreview.progress import progress_key, progress_set
    from synthreview.projects.access import ProjectAccess, SystemActor
    from synthreview.projects.models import Project

    project = Project.objects.get(slug=PROJECT_SLUG)
    rss_before_kib = status_kib("VmRSS")
    started = time.perf_counter()
    export = export_request(
        ProjectAccess.for_system(project, SystemActor("bench:export")),
        format=payload["format"],
        target_model=TARGET_MODEL,
        audit_override_reason=OVERRIDE_REASON,
        enqueue=False,
    )
    stages: dict[str, float] = {}
    key = progress_key("export", export.pk)

    # As reviews.tasks.export_task reports it.
    def report(done: int, total: int, stage: str) -> None:
        stages.setdefault(stage, time.perf_counter() - started)
        progress_set(key, done=done, total=total or None, unit="rows", detail=stage)

    if payload.get("profile"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        export = profiler.runcall(export_run, export_id=export.pk, progress=report)
        seconds = time.perf_counter() - started
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(25)
    else:
        export = export_run(export_id=export.pk, progress=report)
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "export_id": export.pk,
                "status": export.status,
                "error": export.error,
                "refusals": export.refusals,
                "rows": export.rows_written,
                "seconds": seconds,
                "sha256": export.sha256,
                "bytes": export.size_bytes,
                "path": export.stored_path,
                "stages": stages,
                "decisions": [(d["gate"], d["outcome"]) for d in export.manifest.get("decisions", [])],
                "held_back": export.manifest.get("held_back", {}),
                "eval_set_version": export.eval_set_version_id,
                "peak_rss_kib": status_kib("VmHWM"),
                "rss_before_kib": rss_before_kib,
            }
        )
    )
    return 0


def _check_export(result: dict[str, Any], *, expected: int, fmt: str, leaks: int) -> None:
    from reviews.governance.writers import COLUMNS

    if result["status"] != "completed":
        raise AssertionError(f"the export did not complete: {result['status']} {result['error']} {result['refusals']}")
    held = result["held_back"]
    if result["eval_set_version"] is None or held.get("eval_leak") != leaks or held.get("leak_unchecked"):
        raise AssertionError(f"the export did not hold back the {leaks:,} leaks, and only them: {held}")
    if result["rows"] != expected:
        raise AssertionError(f"the export wrote {result['rows']:,} rows where the selection holds {expected:,}")
    path = Path(result["path"])
    if fmt == "parquet":
        import pyarrow.parquet as pq

        file_rows = pq.ParquetFile(path).metadata.num_rows
    elif fmt == "csv":
        import csv

        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            if tuple(next(reader)) != COLUMNS:
                raise AssertionError("the CSV header is not the export's columns")
            file_rows = sum(1 for _ in reader)  # texts hold newlines inside quoted cells
    else:
        file_rows = 0
        with open(path, "rb") as handle:
            first = handle.readline()
            handle.seek(0)
            for block in iter(lambda: handle.read(1 << 22), b""):
                file_rows += block.count(b"\n")  # JSON escapes the texts' own newlines
        if tuple(json.loads(first)) != COLUMNS:
            raise AssertionError(f"the first line's keys are not the export's columns: {first[:200]!r}")
    if file_rows != expected:
        raise AssertionError(f"the {fmt} file holds {file_rows:,} rows where the selection holds {expected:,}")
    if path.stat().st_size != result["bytes"]:
        raise AssertionError("the file's size differs from the export's record")
    result["file_rows"] = file_rows
    path.unlink()  # a 1M-row file is ~1 GB; the next attempt writes its own


def _profile_export() -> None:
    print("profile: one more JSONL export under cProfile (slower than the timed ones)", flush=True)
    result = _in_child("--child-export", {"format": "jsonl", "profile": True})
    Path(result["path"]).unlink(missing_ok=True)
    print(f"profile: {result['seconds']:.2f} s under the profiler")


# --- The report --------------------------------------------------------------------------------------------


def _print_attempt(fmt: str, attempt: int, side: str, result: dict[str, Any]) -> None:
    line = (
        f"{fmt} attempt {attempt}: {side} {result['rows']:,} rows in {result['seconds']:.2f} s "
        f"({result['rows'] / result['seconds']:,.0f} rows/s), peak RSS {result['peak_rss_kib'] * 1024 / 1e6:.0f} MB, "
        f"load average before {result['load_before']:.2f}"
    )
    if "stages" in result:
        writing = result["stages"].get("writing")
        line += (
            f"; {result['bytes'] / 2**20:,.0f} MiB, first batch written at {writing:.2f} s"
            if writing is not None
            else f"; {result['bytes'] / 2**20:,.0f} MiB"
        )
    print(line, flush=True)


def _report(formats: list[str], results: dict[str, dict[str, list[dict]]], expected: int) -> int:
    ratios: dict[str, float] = {}
    peak_mb = 0.0
    for fmt in formats:
        copy = min(results[fmt]["copy"], key=lambda r: r["seconds"])
        cursor = min(results[fmt]["cursor"], key=lambda r: r["seconds"])
        ours = min(results[fmt]["ours"], key=lambda r: r["seconds"])
        # The goal is in MB (10^6 bytes): VmHWM is in KiB.
        rss_mb = max(r["peak_rss_kib"] for r in results[fmt]["ours"]) * 1024 / 1e6
        peak_mb = max(peak_mb, rss_mb)
        ratios[fmt] = ours["seconds"] / copy["seconds"]
        print(
            f"{fmt}: best of {len(results[fmt]['ours'])}: ours {ours['seconds']:.2f} s "
            f"({expected / ours['seconds']:,.0f} rows/s, {ours['bytes'] / ours['seconds'] / 2**20:,.0f} MiB/s), "
            f"COPY read {copy['seconds']:.2f} s ({expected / copy['seconds']:,.0f} rows/s), "
            f"cursor read {cursor['seconds']:.2f} s: ratio to COPY {ratios[fmt]:.2f}, "
            f"to the cursor {ours['seconds'] / cursor['seconds']:.2f}; export peak RSS {rss_mb:.0f} MB "
            f"({ours['rss_before_kib'] * 1024 / 1e6:.0f} MB after Django start-up); sha256 {ours['sha256'][:16]}…; "
            f"gates {', '.join(f'{gate} {outcome}' for gate, outcome in ours['decisions'])}; "
            f"held back {ours['held_back']}"
        )
    rss_ok = peak_mb <= GOAL_RSS_MB
    print(f"peak_rss_mb={peak_mb:.0f} goal<={GOAL_RSS_MB:.0f} {'ok' if rss_ok else 'MISS'}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min; 2 cores)")
    ratio = ratios["jsonl"]
    verdict = "ok" if ratio <= GOAL_RATIO and rss_ok else "MISS"
    print(f"RESULT export_vs_copy={ratio:.2f} goal<={GOAL_RATIO:g} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
