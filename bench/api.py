"""API client throughput: pushes and cursor reads through synthreview_client, against the CLI import and a
raw keyset read in SQL.

What it measures, in a database of its own on the local PostgreSQL (synthreview_bench_api, made afresh and
dropped at the end unless --keep), with one WSGI worker of the project's own code (DEBUG off, production
settings, the API's rate limit lifted: the figure is throughput, not the limiter's):

(a) push   a generation pipeline's output, --push-rows rows (100,000; 10,000 with --quick) of real texts
           from ../shared/data with a per-row model column, written once as a JSONL file:
           - ours: a fresh interpreter (httpx and the client only, no Django) reads the file line by
             line and pushes the records with Project.push(..., mapping=...) in batches of 5,000, each
             a POST of JSON Lines with its Idempotency-Key, imported all or nothing by the server;
           - cli:  `manage.py import_samples` of the same file with the same --map, through
             call_command in a fresh interpreter, timed after Django's start-up (the server's start-up
             is not counted either).
           Each into a fresh project of its own, so neither meets the other's duplicates.
           ratio = ours rows/s / cli rows/s.
(b) list   --list-rows samples (1,000,000; 20,000 with --quick) loaded by bulk SQL into another project,
           then VACUUM ANALYZE, then every sample read, newest first:
           - ours: a fresh interpreter iterating Project.samples() (GET /projects/{slug}/samples, 500 a
             page, following next_cursor: the sample browser's filters and blinding, and the page's
             JSON written by PostgreSQL for a reader who holds no audit item);
           - raw:  a fresh interpreter with psycopg reading what the list answers (the samples' columns,
             their generator's and template's names, their novelty) by keyset (WHERE project_id = p
             AND id < last ORDER BY id DESC LIMIT 500), page after page, doing nothing with the rows.
           Both must see the same ids (count and sum). ratio = ours rows/s / raw rows/s.

Each side runs --attempts times (1; 2 with --quick), alternating, and the best of each is taken: the
machine is shared, and a pass that meets another process's burst measures that process. The load average
is printed before each. The goal for both ratios is >= 0.50.

    .venv/bin/python bench/api.py [--quick] [--push-rows N] [--list-rows N] [--attempts N] [--keep]

--quick takes about a minute; the default ~7 minutes on two cores: ~1 to push and import, ~2 to load the
million samples by SQL (mostly their indexes), ~1 for the client to read them. The list misses its goal
(on 2026-12-06, 24,500 samples a second to raw SQL's 131,000: 0.19). A page of 500 costs the server
~12 ms in process, against ~6 ms for the same rows through Django's cursor and ~3.5 ms for the raw
read's psycopg: ~7 ms of it is fixed per request (the token's lookup, the project and role, the rate
limit's counter, the request itself), the rest PostgreSQL building the page's JSON; HTTP and the
client's parsing add ~8 ms a page. The last two lines are
`RESULT api_push_ratio=R goal>=0.50 ok|MISS` and `RESULT api_list_ratio=R goal>=0.50 ok|MISS`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _api_data import (
    GENERATOR_NAMES,
    MAPPING,
    load_listed_samples,
    write_pipeline_file,
)
from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    status_kib,
    unique_database_name,
)

BENCH_DATABASE = unique_database_name("synthreview_bench_api")

GOAL = 0.50
FULL_PUSH, QUICK_PUSH = 100_000, 10_000
FULL_LIST, QUICK_LIST = 1_000_000, 20_000
PUSH_BATCH = 5000
PAGE = 500
TOKEN_VARIABLE = "SYNTHREVIEW_BENCH_TOKEN"
# What the list answers for each sample (its columns, its generator's and template's names, its novelty),
# read the plainest way: one keyset query a page.
RAW_PAGE_SQL = """
SELECT s.id, s.origin, s.status, s.split, s.input, s.output, s.label, s.metadata::text, s.run_id, s.created_at,
       g.id, g.name, t.id, t.name, v.version, m.novelty
FROM generation_sample s
LEFT JOIN generation_generator g ON g.id = s.generator_id
LEFT JOIN generation_prompttemplateversion v ON v.id = s.template_version_id
LEFT JOIN generation_prompttemplate t ON t.id = v.template_id
LEFT JOIN reviews_samplesimilarity m ON m.sample_id = s.id
WHERE s.project_id = %(project)s AND s.id < %(before)s
ORDER BY s.id DESC
LIMIT %(page)s
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PUSH:,} pushed, {QUICK_LIST:,} listed")
    parser.add_argument("--push-rows", type=int, default=None, help="rows pushed (and imported by the CLI)")
    parser.add_argument("--list-rows", type=int, default=None, help="samples listed")
    parser.add_argument("--attempts", type=int, default=None, help="runs of each side; the best is taken")
    parser.add_argument("--keep", action="store_true", help="keep the bench's database (default: drop it)")
    for side in ("push", "cli", "list", "raw"):
        parser.add_argument(f"--child-{side}", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    children = {"push": _child_push, "cli": _child_cli, "list": _child_list, "raw": _child_raw}
    for name, child in children.items():
        if (payload := getattr(args, f"child_{name}")) is not None:
            return child(json.loads(payload))
    database_url = f"{SERVER_URL}/{BENCH_DATABASE}"
    push_rows = args.push_rows if args.push_rows is not None else (QUICK_PUSH if args.quick else FULL_PUSH)
    list_rows = args.list_rows if args.list_rows is not None else (QUICK_LIST if args.quick else FULL_LIST)
    attempts = args.attempts if args.attempts is not None else (2 if args.quick else 1)
    if push_rows < 1 or list_rows < 1 or attempts < 1:
        parser.error("--push-rows, --list-rows and --attempts are at least 1")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-api-"))
    _configure_environment(work_dir / "data")
    try:
        return _run(
            database_url, push_rows=push_rows, list_rows=list_rows, attempts=attempts, work_dir=work_dir, keep=args.keep
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _configure_environment(data_dir: Path) -> None:
    """Production settings for this process, the server and the CLI alike."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    os.environ["DEBUG"] = "False"  # with DEBUG on, Django would keep every query in memory
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1"
    os.environ["SECURE_SSL_REDIRECT"] = "False"  # plain HTTP on the loopback, no TLS proxy in front
    os.environ["API_RATE_LIMIT"] = "1000000/min"
    os.environ["DATA_DIR"] = str(data_dir)
    # Both sides start background work (checks, similarity) after each import; no worker runs it here.
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# --- The run -----------------------------------------------------------------------------------------------


def _run(database_url: str, *, push_rows: int, list_rows: int, attempts: int, work_dir: Path, keep: bool) -> int:
    import django

    started = time.perf_counter()
    database_recreate(BENCH_DATABASE)
    os.environ["DATABASE_URL"] = database_url
    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lead, token = _lead_with_token(stamp)
    os.environ[TOKEN_VARIABLE] = token  # the children's, never on a command line
    print(f"setup: database migrated, lead {lead.username} and a token in {time.perf_counter() - started:.1f} s")

    pipeline_file = work_dir / "pipeline.jsonl"
    size = write_pipeline_file(pipeline_file, push_rows)
    print(f"file: {push_rows:,} rows, {size / 2**20:.1f} MiB ({size / push_rows:.0f} bytes/row)")

    server = _Server(token)
    try:
        server.start()
        print(f"server: one WSGI worker on {server.url}, ready in {server.ready_seconds:.1f} s")
        pushed: dict[str, list[dict]] = {"cli": [], "ours": []}
        for attempt in range(1, attempts + 1):
            for side in ("cli", "ours"):
                project = _project(f"bench-api-{stamp}-{side}-{attempt}", lead)
                connections.close_all()
                payload = {"slug": project.slug, "file": str(pipeline_file), "url": server.url}
                result = _in_child("--child-cli" if side == "cli" else "--child-push", payload)
                _check_push(project.pk, result, push_rows)
                pushed[side].append(result)
                _print_attempt("push", attempt, side, result)

        project = _project(f"bench-api-{stamp}-list", lead)
        generator_ids = _generators(project, GENERATOR_NAMES)
        seconds = load_listed_samples(database_url, project_id=project.pk, generator_ids=generator_ids, count=list_rows)
        print(f"list: {list_rows:,} samples loaded by SQL, counted and analysed in {seconds:.1f} s")
        connections.close_all()
        listed: dict[str, list[dict]] = {"raw": [], "ours": []}
        for attempt in range(1, attempts + 1):
            raw = _in_child("--child-raw", {"project": project.pk, "database_url": database_url})
            listed["raw"].append(raw)
            _print_attempt("list", attempt, "raw ", raw)
            ours = _in_child("--child-list", {"slug": project.slug, "url": server.url})
            listed["ours"].append(ours)
            _print_attempt("list", attempt, "ours", ours)
            if (ours["rows"], ours["id_sum"]) != (raw["rows"], raw["id_sum"]) or raw["rows"] != list_rows:
                raise AssertionError(f"the client read other rows than SQL: {ours['rows']:,} vs {raw['rows']:,}")
    finally:
        server.stop()
        connections.close_all()
        if keep:
            print(f"kept: the bench's database {BENCH_DATABASE}")
        else:
            database_drop(BENCH_DATABASE)
    return _report(pushed, listed)


def _lead_with_token(stamp: str) -> tuple[Any, str]:
    from django.contrib.auth import get_user_model

    from synthreview.projects.services.api_tokens import api_token_create

    lead = get_user_model().objects.create_user(username=f"bench-api-{stamp}")
    return lead, api_token_create(lead, name="bench/api.py").secret


def _project(slug: str, lead: Any) -> Any:
    from synthreview.projects.models import Membership, Project, Role

    project = Project.objects.create(slug=slug, name=f"API bench {slug}")
    Membership.objects.create(user=lead, project=project, role=Role.LEAD)
    return project


def _generators(project: Any, names: tuple[str, ...]) -> list[int]:
    from generation.models import Generator, GeneratorKind

    return [
        Generator.objects.create(project=project, name=name, kind=GeneratorKind.IMPORTED, model_name=name).pk
        for name in names
    ]


def _check_push(project_id: int, result: dict[str, Any], rows: int) -> None:
    from generation.models import Sample

    stored = Sample.objects.filter(project_id=project_id).count()
    if result["imported"] != rows or stored != rows:
        raise AssertionError(f"{rows:,} rows pushed, {result['imported']:,} imported, {stored:,} stored")
    generators = set(Sample.objects.filter(project_id=project_id).values_list("generator__name", flat=True).distinct())
    if generators != set(GENERATOR_NAMES):
        raise AssertionError(f"the per-row model column was not mapped to the generator: {sorted(generators)}")


# One WSGI worker, one thread, as a gunicorn sync worker serves: its database connection lives
# across requests (DATABASE_CONN_MAX_AGE), where runserver's thread per request opens one each time.
SERVE_ONE_WORKER = """
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server
import django
django.setup()
from django.core.wsgi import get_wsgi_application
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), handler_class=Quiet).serve_forever()
"""


class _Server:
    """The project's WSGI application in one worker (SERVE_ONE_WORKER) on a free loopback port, in the
    environment set above."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.ready_seconds = 0.0

    def start(self) -> None:
        import httpx

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE_ONE_WORKER, str(port)],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.perf_counter()
        while time.perf_counter() - started < 120:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                answer = httpx.get(f"{self.url}/api/v1/me", headers={"Authorization": f"Bearer {self.token}"})
                if answer.status_code == 200:
                    self.ready_seconds = time.perf_counter() - started
                    return
                raise RuntimeError(f"the server answered {answer.status_code}: {answer.text[:300]}")
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the server did not answer within 120 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- The children ------------------------------------------------------------------------------------------


def _in_child(flag: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One side in a fresh interpreter: its memory is its own, and it starts as cold as a pipeline."""
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


def _client_path() -> None:
    # The client is its own package (client/), used here without installing it.
    sys.path.insert(0, str(REPO_ROOT / "client"))


def _child_push(payload: dict[str, Any]) -> int:
    _client_path()
    from synthreview_client import Client

    def records() -> Any:
        with open(payload["file"], encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)

    started = time.perf_counter()
    with Client(payload["url"], os.environ[TOKEN_VARIABLE], timeout=600) as client:
        summary = client.project(payload["slug"]).push(
            records(), origin="synthetic", mapping=MAPPING, batch_size=PUSH_BATCH
        )
    seconds = time.perf_counter() - started
    _answer(rows=summary.records, imported=summary.imported, batches=len(summary.batches), seconds=seconds)
    return 0


def _child_cli(payload: dict[str, Any]) -> int:
    import io

    import django

    django.setup()
    from django.core.management import call_command

    out = io.StringIO()
    started = time.perf_counter()
    call_command(
        "import_samples",
        payload["slug"],
        payload["file"],
        "--no-progress",
        "--origin=synthetic",
        *(f"--map={field}={column}" for field, column in MAPPING.items()),
        stdout=out,
    )
    seconds = time.perf_counter() - started
    imported = int(out.getvalue().split()[1].rstrip(","))  # "imported N, skipped M duplicates"
    with open(payload["file"], encoding="utf-8") as lines:
        rows = sum(1 for _ in lines)
    _answer(rows=rows, imported=imported, seconds=seconds)
    return 0


def _child_list(payload: dict[str, Any]) -> int:
    _client_path()
    from synthreview_client import Client

    rows = id_sum = 0
    started = time.perf_counter()
    with Client(payload["url"], os.environ[TOKEN_VARIABLE], timeout=600) as client:
        for sample in client.project(payload["slug"]).samples(page_size=PAGE):
            rows += 1
            id_sum += sample["id"]
    _answer(rows=rows, id_sum=id_sum, seconds=time.perf_counter() - started)
    return 0


def _child_raw(payload: dict[str, Any]) -> int:
    import psycopg

    rows = id_sum = 0
    before = 2**63 - 1
    started = time.perf_counter()
    with psycopg.connect(payload["database_url"]) as conn:
        while page := conn.execute(
            RAW_PAGE_SQL, {"project": payload["project"], "before": before, "page": PAGE}
        ).fetchall():
            rows += len(page)
            id_sum += sum(row[0] for row in page)
            before = page[-1][0]
    _answer(rows=rows, id_sum=id_sum, seconds=time.perf_counter() - started)
    return 0


def _answer(**figures: Any) -> None:
    print(json.dumps({**figures, "peak_rss_kib": status_kib("VmHWM")}))


# --- The report --------------------------------------------------------------------------------------------


def _print_attempt(what: str, attempt: int, side: str, result: dict[str, Any]) -> None:
    print(
        f"{what} attempt {attempt}: {side} {result['rows']:,} rows in {result['seconds']:.2f} s "
        f"({result['rows'] / result['seconds']:,.0f} rows/s), peak RSS {result['peak_rss_kib'] / 1024:.0f} MiB, "
        f"load average before {result['load_before']:.2f}",
        flush=True,
    )


def _report(pushed: dict[str, list[dict]], listed: dict[str, list[dict]]) -> int:
    def rate(results: list[dict]) -> float:
        return max(r["rows"] / r["seconds"] for r in results)

    push_ratio = rate(pushed["ours"]) / rate(pushed["cli"])
    list_ratio = rate(listed["ours"]) / rate(listed["raw"])
    print(
        f"push: client {rate(pushed['ours']):,.0f} rows/s / CLI import {rate(pushed['cli']):,.0f} rows/s = {push_ratio:.3f}"
    )
    print(
        f"list: client {rate(listed['ours']):,.0f} rows/s / raw keyset SQL {rate(listed['raw']):,.0f} rows/s = {list_ratio:.3f}"
    )
    print(f"load average now: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name, ratio in (("api_push_ratio", push_ratio), ("api_list_ratio", list_ratio)):
        print(f"RESULT {name}={ratio:.2f} goal>={GOAL:.2f} {'ok' if ratio >= GOAL else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
