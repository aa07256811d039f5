"""Eight reviewers at once: p95 of the review queue page under 8 concurrent reviewers against 1 reviewer,
on a 1M-sample project served as in production, and no verdict lost.

What it runs, in a database of its own on the local PostgreSQL (synthreview_bench_load, made afresh and
dropped at the end unless --keep):

data     the project bench/pages.py loads (bench/_pages_data.py: real texts from ../shared/data, bulk SQL,
         a year of review work, similarity rows, near-duplicate groups, counters; then VACUUM ANALYZE),
         1,000,000 samples (10,000 with --quick), and 8 reviewer users of the project, each with a
         password: the first a lead, the others experts. With --cache the built project is kept as a template database named by the
         data's version, its size and a hash of the migrations, and later runs copy it (CREATE DATABASE
         ... TEMPLATE, seconds) instead of loading it again (minutes); other versions' copies are dropped.
         --quick always does (its copy is small).
servers  as the README's deployment starts them: `gunicorn synthreview.wsgi -w 4` (sync workers, one
         thread each) on a loopback port, and one real Celery worker (`celery -A synthreview worker -c 2`)
         on Redis (broker db 10, cache db 11, both emptied first), DEBUG off, production settings.
         The TLS proxy in front is played by the client: it sends X-Forwarded-Proto: https
         (TRUST_X_FORWARDED_PROTO=true), so SSL redirect, Secure cookies and the CSRF origin check
         stay on. SERVER_TIMING=true: each answer says the server's CPU time for it (Server-Timing).
clients  one thread per reviewer, each with its own session (http.client; it logs in through the login
         form with its CSRF token), all on the loopback. A reviewer works in rounds: opens the queue page
         (the orders oldest, novelty and flagged in turn), gives 2 verdicts the way the card's form does
         (an htmx POST with the card's revision and CSRF token; 60% correct, 25% wrong with a category,
         15% unsure), and on a 409 (another reviewer changed the sample first: expected, counted apart,
         not an error) skips to the next card as `j` does; then opens the last sample's detail page; every
         third round lists samples in the browser with a filter and follows 2 "older" keyset pages, and
         the lead then opens the dashboard. Reviewers on the same queue order are shown different samples
         (each card claims its sample for a few minutes), so a 409 is a true race, now rare.
phases   warm-up: the 8 reviewers at full speed for a few seconds (every gunicorn worker's first
         requests), not counted. Baseline: 1 reviewer alone, back to back, --baseline seconds (20; 4
         with --quick): each page's time with the server to itself. Load: the 8 reviewers together for
         --duration seconds (60; 10 with --quick), each pausing --think-ms (500 ms, drawn from 0.5x to
         1.5x) before each request: a brisk reviewer, faster than a person reads a sample. (--think-ms 0
         makes 8 closed loops: a capacity test of the machine more than of the app.)

Per page and phase: requests, p50, p95 and p99 latency (client wall time, the whole HTTP exchange),
the server's CPU time per request (p50, p95: the gunicorn worker's process time, which the other work on
a shared machine does not inflate the way it inflates wall time), errors (a status outside 2xx/3xx other than a verdict's 409, an exception, or a page without what it
must show) and 409 conflicts. After the servers stop, the verdicts stored in the database for the 8
reviewers are compared with those the server acknowledged (2xx): lost = acknowledged but missing, or
stored with another value than the last one acknowledged.

ratio = p95 of the queue page with 8 reviewers / its p95 with 1 reviewer. ok when the ratio is at most
3, no verdict is lost and no request failed.

Run it from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust; Redis on 127.0.0.1:6379):

    .venv/bin/python bench/load.py [--quick] [--samples N] [--duration S] [--baseline S] [--think-ms MS]
                                   [--reviewers N] [--cache] [--keep] [--database NAME]

Measured on two cores shared with others' tests: --quick ~1 minute from its kept copy (the servers' start,
4 gunicorn workers and a Celery worker importing Django, is 7-20 s of it), ~1.5 minutes the first time (it
builds the copy). The default ~10 minutes: loading the million samples took 8.3 minutes at load average
~4-7 (17 at ~8-10), the servers and reviewers ~2; with --cache and a kept copy (2 GB), ~2 minutes.
The last lines are `pages p95 ...` (the worst page's p95 under load against the 150 ms a reviewer should
see, and the worst server CPU p95), `lost=N (...)` and `RESULT load_p95_ratio=R goal=<=3 ok|MISS`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (  # bench/ is on sys.path
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
    unique_database_name,
)
from _common import SHARED_DATA as DATA_ROOT
from _load_reviewers import PAGES, QUEUE_PAGE, VERDICT, Ledger, PageFigures, Reviewer, Session, run_phase
from _pages_data import GENERATOR_NAMES, PROJECT_SLUG, _project_fixture, load_samples, text_pools
from _pages_sql import GROUP_BLOCK

DATABASE_PREFIX = "synthreview_bench_load"
DEFAULT_DATABASE = unique_database_name(DATABASE_PREFIX)
# Raise it when the loaded project changes (bench/_pages_data.py, bench/_pages_sql.py): --cache then
# builds a new copy instead of taking a stale one.
DATA_VERSION = 2
BROKER_URL = "redis://127.0.0.1:6379/10"
CACHE_URL = "redis://127.0.0.1:6379/11"
GOAL_RATIO = 3.0
# What a reviewer should see under load, on every page (reported beside the ratio, not judged by it).
GOAL_PAGE_P95_MS = 150.0
FULL_SAMPLES, FULL_DURATION, FULL_BASELINE = 1_000_000, 60.0, 20.0
QUICK_SAMPLES, QUICK_DURATION, QUICK_BASELINE = 10_000, 10.0, 4.0
WARMUP_SECONDS, QUICK_WARMUP_SECONDS = 3.0, 2.0
REVIEWERS = 8
THINK_MS = 500
# README, "PostgreSQL, Redis and several workers".
GUNICORN_WORKERS = 4
CELERY_CONCURRENCY = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES:,} samples, {QUICK_DURATION:.0f} s")
    parser.add_argument("--samples", type=int, default=None, help="samples in the project")
    parser.add_argument("--duration", type=float, default=None, help="seconds of the 8 reviewers' phase")
    parser.add_argument("--baseline", type=float, default=None, help="seconds of the 1 reviewer's phase")
    parser.add_argument("--think-ms", type=float, default=THINK_MS, help="mean pause before each request (load)")
    parser.add_argument("--reviewers", type=int, default=REVIEWERS)
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="the bench's database (dropped at the end)")
    parser.add_argument(
        "--cache", action="store_true", help="keep the built project as a template and reuse it (on with --quick)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench's database (default: drop it)")
    args = parser.parse_args(argv)
    samples = args.samples if args.samples is not None else (QUICK_SAMPLES if args.quick else FULL_SAMPLES)
    duration = args.duration if args.duration is not None else (QUICK_DURATION if args.quick else FULL_DURATION)
    baseline = args.baseline if args.baseline is not None else (QUICK_BASELINE if args.quick else FULL_BASELINE)
    if samples < 1_000 or samples % GROUP_BLOCK:
        parser.error(f"--samples must be at least 1,000 and a multiple of {GROUP_BLOCK}")
    if duration <= 0 or baseline <= 0 or args.think_ms < 0 or args.reviewers < 2:
        parser.error("--duration and --baseline above 0, --think-ms at least 0, --reviewers at least 2")
    if not DATA_ROOT.is_dir():
        parser.error(f"the real texts are not there: {DATA_ROOT}")
    started = time.perf_counter()
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-load-"))
    _configure_environment(args.database, data_dir=work_dir / "data")
    servers = _Servers(work_dir)
    try:
        return _run(
            args.database,
            servers,
            samples=samples,
            duration=duration,
            baseline=baseline,
            think_s=args.think_ms / 1000,
            reviewers=args.reviewers,
            cache=args.cache or args.quick,
            started=started,
        )
    finally:
        servers.stop()
        if args.keep:
            print(f"kept: database {args.database} ({SERVER_URL}/{args.database})")
        else:
            database_drop(args.database)
        shutil.rmtree(work_dir, ignore_errors=True)


def _configure_environment(database: str, *, data_dir: Path) -> None:
    """Production settings for this process, the server and the worker alike."""
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{database}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1"
    os.environ["TRUST_X_FORWARDED_PROTO"] = "true"
    os.environ["CELERY_BROKER_URL"] = BROKER_URL
    os.environ["CACHE_URL"] = CACHE_URL
    os.environ["DATA_DIR"] = str(data_dir)
    # Each answer carries the server's CPU time for it (synthreview.middleware.ServerTimingMiddleware).
    os.environ["SERVER_TIMING"] = "true"
    data_dir.mkdir(parents=True, exist_ok=True)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# --- The run -----------------------------------------------------------------------------------------------


def _run(
    database: str,
    servers: _Servers,
    *,
    samples: int,
    duration: float,
    baseline: float,
    think_s: float,
    reviewers: int,
    cache: bool,
    started: float,
) -> int:
    import django

    _prepare_database(database, samples=samples, cache=cache)
    # After the load, not during it: servers started minutes earlier would serve the code as it was then.
    servers.launch()
    django.setup()
    from django.db import connections

    slug, generator_ids, users = _reviewer_users(reviewers)
    connections.close_all()  # the servers' connections only, from here on

    servers.wait_ready()
    print(
        f"servers: gunicorn -w {GUNICORN_WORKERS} on port {servers.port} and a celery worker -c {CELERY_CONCURRENCY}, "
        f"ready {servers.ready_seconds:.1f} s after their start"
    )
    ledger = Ledger()
    team = []
    for index, (user_id, username, password) in enumerate(users):
        session = Session(servers.port)
        session.log_in(username, password)
        team.append(
            Reviewer(
                index=index,
                user_id=user_id,
                session=session,
                slug=slug,
                generator_ids=generator_ids,
                ledger=ledger,
                lead=index == 0,
            )
        )
    print(f"reviewers: {len(team)} logged in through the login form")

    run_phase(team, seconds=QUICK_WARMUP_SECONDS if samples <= QUICK_SAMPLES else WARMUP_SECONDS, think_s=0.0)
    loads: dict[str, tuple[float, float]] = {}
    before = os.getloadavg()[0]
    alone = run_phase(team[:1], seconds=baseline, think_s=0.0)
    loads["baseline"] = (before, os.getloadavg()[0])
    _print_phase(f"1 reviewer, back to back, {baseline:.0f} s", alone, baseline, loads["baseline"])
    before = os.getloadavg()[0]
    together = run_phase(team, seconds=duration, think_s=think_s)
    loads["load"] = (before, os.getloadavg()[0])
    _print_phase(
        f"{len(team)} reviewers, {think_s * 1000:.0f} ms mean pause, {duration:.0f} s",
        together,
        duration,
        loads["load"],
    )

    tasks = servers.stop()
    print(f"worker: {tasks} task(s) run during the bench")
    stored = _stored_verdicts([user_id for user_id, _, _ in users])
    return _report(alone, together, ledger, stored, reviewers=len(team), seconds=time.perf_counter() - started)


def _prepare_database(database: str, *, samples: int, cache: bool) -> None:
    """The project in `database`: copied from a kept template with --cache, else loaded."""
    # Named by the data, not by this run's database: the next run (another unique name) finds it.
    template = f"{DATABASE_PREFIX}_v{DATA_VERSION}_{samples}_{_migrations_key()}"
    started = time.perf_counter()
    if cache and _database_exists(template):
        _database_admin(
            f"DROP DATABASE IF EXISTS {database} WITH (FORCE)",
            # FILE_COPY copies the files at once; the default (WAL_LOG) writes every block to the WAL.
            f"CREATE DATABASE {database} TEMPLATE {template} STRATEGY FILE_COPY",
        )
        print(f"data: copied from the cache {template} in {time.perf_counter() - started:.1f} s")
        return
    import django

    database_recreate(database)
    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    print(f"setup: database created and migrated in {time.perf_counter() - started:.1f} s")
    fixture = _project_fixture()
    load_samples(fixture, text_pools(), first=1, last=samples, database=database)
    if cache:
        connections.close_all()
        stale = [name for name in _databases_named(f"{DATABASE_PREFIX}_v") if name != template]
        _database_admin(
            *(f"DROP DATABASE {name} WITH (FORCE)" for name in stale),
            f"CREATE DATABASE {template} TEMPLATE {database} STRATEGY FILE_COPY",
        )
        print(f"data: kept as {template} for --cache" + (f" (dropped {', '.join(stale)})" if stale else ""))


def _migrations_key() -> str:
    """A copy made before a migration changed is no longer this code's database."""
    digest = hashlib.sha256()
    for path in sorted(REPO_ROOT.glob("**/migrations/0*.py")):
        if ".venv" not in path.parts:
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()[:8]


def _database_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _databases_named(prefix: str) -> list[str]:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    return [name for name in names if name.startswith(prefix)]


def _database_exists(name: str) -> bool:
    return name in _databases_named(name)


def _reviewer_users(count: int) -> tuple[str, list[int], list[tuple[int, str, str]]]:
    """The project's slug and generators, and `count` members (id, username, password): the first a lead,
    who also opens the dashboard, the others experts."""
    from django.contrib.auth import get_user_model

    from generation.models import Generator
    from synthreview.projects.models import Membership, Project, Role

    project = Project.objects.get(slug=PROJECT_SLUG)
    generator_ids = list(
        Generator.objects.filter(project=project, name__in=GENERATOR_NAMES).order_by("pk").values_list("pk", flat=True)
    )
    users = []
    for number in range(1, count + 1):
        password = secrets.token_urlsafe(16)
        user = get_user_model().objects.create_user(username=f"load-reviewer-{number}", password=password)
        Membership.objects.create(user=user, project=project, role=Role.LEAD if number == 1 else Role.EXPERT)
        users.append((user.pk, user.username, password))
    return project.slug, generator_ids, users


def _stored_verdicts(reviewer_ids: list[int]) -> dict[tuple[int, int], str]:
    from reviews.models import Verdict

    rows = Verdict.objects.filter(reviewer_id__in=reviewer_ids, audit__isnull=True).values_list(
        "reviewer_id", "sample_id", "value"
    )
    return {(reviewer, sample): value for reviewer, sample, value in rows}


# --- The servers -------------------------------------------------------------------------------------------


class _Servers:
    """gunicorn and a Celery worker as the README starts them, in the environment set above."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.port = 0
        self.ready_seconds = 0.0
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.celery: subprocess.Popen[bytes] | None = None
        self.celery_log = work_dir / "celery.log"
        self.launched = 0.0

    def launch(self) -> None:
        import redis

        for url in (BROKER_URL, CACHE_URL):  # no task or cache entry left from another run
            redis.Redis.from_url(url).flushdb()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        with open(self.work_dir / "gunicorn.log", "wb") as log:
            self.gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "synthreview.wsgi", "-w", str(GUNICORN_WORKERS),
                 "-b", f"127.0.0.1:{self.port}"],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        with open(self.celery_log, "wb") as log:
            self.celery = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "synthreview", "worker", "-c", str(CELERY_CONCURRENCY),
                 "-n", "bench-load@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle"],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.launched = time.perf_counter()

    def wait_ready(self) -> None:
        if self.gunicorn is None or self.celery is None:
            raise RuntimeError("launch() first")
        web_ready = worker_ready = False
        started = time.perf_counter()
        while time.perf_counter() - started < 120:
            for name, process in (("gunicorn", self.gunicorn), ("celery", self.celery)):
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: {self._tail(name)}")
            web_ready = web_ready or self._answers()
            worker_ready = worker_ready or b" ready." in self.celery_log.read_bytes()
            if web_ready and worker_ready:
                self.ready_seconds = time.perf_counter() - self.launched
                return
            time.sleep(0.2)
        raise RuntimeError(f"not ready within 120 s (web {web_ready}, worker {worker_ready})")

    def _answers(self) -> bool:
        try:
            status, _ = Session(self.port).request("GET", "/accounts/login/")
        except OSError:
            return False
        if status != 200:
            raise RuntimeError(f"the login page answered {status}: {self._tail('gunicorn')}")
        return True

    def _tail(self, name: str) -> str:
        path = self.work_dir / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> int:
        """Stops both (gunicorn's graceful stop, Celery's warm shutdown); returns the tasks the worker ran."""
        for process in (self.gunicorn, self.celery):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.gunicorn, self.celery):
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.gunicorn = self.celery = None
        log = self.celery_log.read_text(errors="replace") if self.celery_log.exists() else ""
        return log.count("succeeded in")


# --- The report --------------------------------------------------------------------------------------------


def _print_phase(title: str, figures: dict[str, PageFigures], seconds: float, load: tuple[float, float]) -> None:
    total = sum(f.requests for f in figures.values())
    print(
        f"{title}: {total:,} requests ({total / seconds:.1f}/s), load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after, on {os.cpu_count()} cores"
    )
    for page in PAGES:
        figure = figures[page]
        if not figure.requests:
            print(f"    {page:<28} no requests")
            continue
        conflicts = f"  409 {figure.conflicts:>4}" if page == VERDICT else ""
        print(
            f"    {page:<28} {figure.requests:>5} req  p50 {figure.percentile(0.50):7.1f}  "
            f"p95 {figure.percentile(0.95):7.1f}  p99 {figure.percentile(0.99):7.1f} ms  "
            f"server CPU p50 {figure.cpu_percentile(0.50):5.1f} p95 {figure.cpu_percentile(0.95):5.1f} ms  "
            f"errors {figure.errors:>3} ({figure.errors / figure.requests:.1%}){conflicts}"
        )
        for problem in figure.problems:
            print(f"        {problem}")


def _report(
    alone: dict[str, PageFigures],
    together: dict[str, PageFigures],
    ledger: Ledger,
    stored: dict[tuple[int, int], str],
    *,
    reviewers: int,
    seconds: float,
) -> int:
    lost = sum(1 for pair, value in ledger.sent.items() if stored.get(pair) != value)
    unacknowledged = len(set(stored) - set(ledger.sent))
    errors = sum(f.errors for phase in (alone, together) for f in phase.values())
    requests = sum(f.requests for phase in (alone, together) for f in phase.values())
    p95_alone, p95_together = alone[QUEUE_PAGE].percentile(0.95), together[QUEUE_PAGE].percentile(0.95)
    ratio = p95_together / p95_alone
    print(f"queue page p95: {p95_together:.1f} ms with {reviewers} reviewers / {p95_alone:.1f} ms alone = {ratio:.2f}")
    measured = [(page, figure) for page, figure in together.items() if figure.requests]
    worst_page, worst = max(measured, key=lambda item: item[1].percentile(0.95))
    print(
        f"pages p95 with {reviewers} reviewers: worst {worst.percentile(0.95):.1f} ms ({worst_page}), "
        f"goal <={GOAL_PAGE_P95_MS:g} ms {'met' if worst.percentile(0.95) <= GOAL_PAGE_P95_MS else 'missed'}; "
        f"server CPU p95 worst {max(f.cpu_percentile(0.95) for _, f in measured):.1f} ms"
    )
    print(
        f"errors: {errors} of {requests:,} requests ({errors / requests:.2%}); 409 conflicts: "
        f"{together[VERDICT].conflicts + alone[VERDICT].conflicts}"
    )
    print(f"wall time: {seconds:.0f} s; load average now: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"lost={lost} (verdicts acknowledged with a 2xx: {ledger.acknowledged:,} on {len(ledger.sent):,} samples; "
        f"stored for these reviewers: {len(stored):,}, {unacknowledged} of them without a 2xx, "
        f"{ledger.unanswered} POSTs without an answer)"
    )
    ok = ratio <= GOAL_RATIO and lost == 0 and errors == 0
    print(f"RESULT load_p95_ratio={ratio:.2f} goal=<={GOAL_RATIO:g} {'ok' if ok else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
