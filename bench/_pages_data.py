"""Loading the pages bench's project: a year of review work on one project, by
bulk SQL (see bench/pages.py for what it holds and why)."""

from __future__ import annotations

import glob
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import SERVER_URL, lineage_create, unique_database_name  # bench/ is on sys.path as the script's folder
from _common import SHARED_DATA as DATA_ROOT
from _pages_sql import (
    CHECK_NAMES,
    CHECK_REASONS,
    CLUSTER_FIGURES,
    DRAW_FUNCTION,
    ENSURE_CLUSTERS,
    ERROR_CATEGORIES,
    INSERT_BULK_LOG,
    INSERT_FLAGS,
    INSERT_GROUP_LOG,
    INSERT_GROUP_MEMBERS,
    INSERT_GROUPS,
    INSERT_SAMPLES,
    INSERT_SIMILARITY,
    INSERT_VERDICT_LOG,
    INSERT_VERDICTS,
    LINK_AUDIT_SAMPLES,
    REASSIGN_CLUSTERS,
    RESOLVE_GROUPS,
    REVIEWERS,
    SAMPLE_COUNTS,
)

BENCH_DATABASE = unique_database_name("synthreview_bench_pages")
PROJECT_SLUG = "bench-pages"
GENERATOR_NAMES = ("llama-3.1-70b-instruct", "mixtral-8x22b", "gpt-4o-mini-2024-07-18", "qwen2.5-72b-instruct")
# (template, version): three versions, the first template in two.
TEMPLATE_VERSIONS = (("alpaca-style", 1), ("alpaca-style", 2), ("word-problem", 1))
SEARCH_WORDS = ("apples", "email", "poem", "train")
SAMPLES_PER_BULK_ENTRY = 20_000
INSERT_CHUNK = 100_000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
LOADED_TABLES = (
    "generation_sample",
    "projects_auditlogsample",
    "generation_samplecount",
    "generation_sampleflag",
    "reviews_samplesimilarity",
    "reviews_cluster",
    "reviews_duplicategroup",
    "reviews_duplicategroupmember",
    "reviews_verdict",
    "reviews_auditlog",
)


@dataclass(frozen=True)
class Fixture:
    project_id: int
    slug: str
    lead_id: int
    reviewer_ids: tuple[int, ...]
    generator_ids: tuple[int, ...]
    template_version_ids: tuple[int, ...]
    run_ids: tuple[int, ...]
    group_threshold: float
    # Set by load_audits_and_snapshots at each size.
    closed_audit_ids: tuple[int, ...] = ()
    open_audit_id: int = 0


def _project_fixture() -> Fixture:
    from django.contrib.auth import get_user_model

    from synthreview.projects.models import Membership, Project, Role

    project = Project.objects.create(slug=PROJECT_SLUG, name="Pages benchmark")
    users = []
    for username in REVIEWERS:
        user = get_user_model().objects.create_user(username=username, password=None)
        Membership.objects.create(user=user, project=project, role=Role.LEAD if username == "lead" else Role.EXPERT)
        users.append(user)
    generators, versions, runs = lineage_create(project, GENERATOR_NAMES, TEMPLATE_VERSIONS, created_by=users[0])
    return Fixture(
        project_id=project.pk,
        slug=project.slug,
        lead_id=users[0].pk,
        reviewer_ids=tuple(u.pk for u in users),
        generator_ids=tuple(g.pk for g in generators),
        template_version_ids=tuple(v.pk for v in versions),
        run_ids=tuple(r.pk for r in runs),
        group_threshold=project.near_duplicate_threshold,
    )


# --- Real texts --------------------------------------------------------------------------------------------


def text_pools() -> dict[str, list[tuple[str, str]]]:
    """(input, output) pairs, normalised as content hashes see them: 's' synthetic, 'r' real."""
    from generation.hashing import normalise_text

    def pair(instruction: str, extra: str, output: str) -> tuple[str, str]:
        # The import's Alpaca layout: the instruction, then its input if any.
        text = f"{instruction.strip()}\n\n{extra}" if extra and extra.strip() else instruction
        return normalise_text(text), normalise_text(output or "")

    synthetic = [
        pair(item["instruction"], item["input"], item["output"])
        for item in json.loads((DATA_ROOT / "gsm8k" / "gsm8k_train.json").read_text(encoding="utf-8"))
    ]
    self_instruct = DATA_ROOT / "self_instruct_user_oriented"
    for path in sorted(glob.glob(str(self_instruct / "predictions" / "*.jsonl"))):
        synthetic.extend(pair(item["instruction"], item["input"], item["response"]) for item in _jsonl(Path(path)))
    real = [
        pair(item["instruction"], instance["input"], instance["output"])
        for name in ("user_oriented_instructions.jsonl", "seed_tasks.jsonl")
        for item in _jsonl(self_instruct / name)
        for instance in item["instances"]
    ]
    return {"s": [p for p in synthetic if p[0]], "r": [p for p in real if p[0]]}


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


# --- Bulk load ---------------------------------------------------------------------------------------------


def load_samples(
    fixture: Fixture,
    pools: dict[str, list[tuple[str, str]]],
    *,
    first: int,
    last: int,
    database: str = BENCH_DATABASE,
) -> float:
    """Add samples first..last (ids) to the project, with everything the pages read; returns seconds.
    `database` names another database on the same server (bench/load.py builds the same project in its own)."""
    import psycopg
    from django.db import connections

    from reviews.similarity.grouping import cluster_count

    connections.close_all()
    started = time.perf_counter()
    steps: list[tuple[str, float]] = []
    step_started = started

    def step(name: str) -> None:
        nonlocal step_started
        now = time.perf_counter()
        steps.append((name, now - step_started))
        step_started = now

    project = fixture.project_id
    params: dict[str, Any] = {
        "project": project,
        "lead": fixture.lead_id,
        "reviewers": list(fixture.reviewer_ids),
        "generators": list(fixture.generator_ids),
        "versions": list(fixture.template_version_ids),
        "runs": list(fixture.run_ids),
        "categories": list(ERROR_CATEGORIES),
        "checks": list(CHECK_NAMES),
        "reasons": list(CHECK_REASONS),
        "epoch": EPOCH,
        "threshold": fixture.group_threshold,
        "real_pool": len(pools["r"]),
        "synthetic_pool": len(pools["s"]),
        "total": last,
        "clusters": cluster_count(last),
    }
    with psycopg.connect(f"{SERVER_URL}/{database}") as conn:
        conn.execute(DRAW_FUNCTION)
        conn.execute("CREATE TEMP TABLE pool (kind text, k int, input text, output text, PRIMARY KEY (kind, k))")
        with conn.cursor().copy("COPY pg_temp.pool (kind, k, input, output) FROM STDIN") as copy:
            for kind, pairs in pools.items():
                for k, (input_text, output_text) in enumerate(pairs):
                    copy.write_row((kind, k, input_text, output_text))
        conn.execute("ANALYZE pg_temp.pool")
        conn.commit()

        for lo in range(first, last + 1, INSERT_CHUNK):
            chunk = {**params, "lo": lo, "hi": min(lo + INSERT_CHUNK - 1, last)}
            conn.execute(INSERT_SAMPLES, chunk)
            conn.commit()
        conn.execute("SELECT setval(pg_get_serial_sequence('generation_sample', 'id'), %s)", (last,))
        conn.commit()
        step("samples")

        span = {**params, "lo": first, "hi": last}
        conn.execute(INSERT_VERDICTS, span)
        conn.execute(INSERT_VERDICT_LOG, span)
        rng = random.Random(first)
        for _ in range(max(1, (last - first + 1) // SAMPLES_PER_BULK_ENTRY)):
            conn.execute(
                INSERT_BULK_LOG,
                {
                    **span,
                    "start": rng.randrange(first, max(first + 1, last - 2500)),
                    "generator": rng.choice(fixture.generator_ids),
                },
            )
        conn.execute(INSERT_FLAGS, span)
        conn.commit()
        step("verdicts, audit log, flags")

        conn.execute(ENSURE_CLUSTERS, span)
        conn.execute(
            "CREATE TEMP TABLE real_ids AS SELECT (row_number() OVER (ORDER BY id) - 1)::int AS rn, id "
            "FROM generation_sample WHERE project_id = %(project)s AND origin = 'real'",
            span,
        )
        conn.execute("ALTER TABLE pg_temp.real_ids ADD PRIMARY KEY (rn)")
        conn.execute("ANALYZE pg_temp.real_ids")
        reals = conn.execute("SELECT count(*) FROM pg_temp.real_ids").fetchone()[0]
        for lo in range(first, last + 1, INSERT_CHUNK):
            conn.execute(
                INSERT_SIMILARITY, {**params, "lo": lo, "hi": min(lo + INSERT_CHUNK - 1, last), "reals": reals}
            )
            conn.commit()
        # A full build at the new size re-clusters the older samples too.
        conn.execute(REASSIGN_CLUSTERS, span)
        conn.execute(CLUSTER_FIGURES, span)
        conn.commit()
        step("similarity rows, clusters")

        conn.execute(INSERT_GROUPS, span)
        conn.execute(INSERT_GROUP_MEMBERS, span)
        conn.execute(RESOLVE_GROUPS, span)
        conn.execute(INSERT_GROUP_LOG, span)
        conn.execute(LINK_AUDIT_SAMPLES, span)
        conn.execute("DELETE FROM generation_samplecount WHERE project_id = %(project)s", span)
        conn.execute(SAMPLE_COUNTS, span)
        conn.commit()
        step("groups, counters")
    with psycopg.connect(f"{SERVER_URL}/{database}", autocommit=True) as conn:
        for table in LOADED_TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")
    step("VACUUM ANALYZE, CHECKPOINT")
    seconds = time.perf_counter() - started
    print(
        f"load: samples {first:,}-{last:,} ({last - first + 1:,}) in {seconds:.1f} s: "
        + ", ".join(f"{name} {took:.1f} s" for name, took in steps)
    )
    _print_contents(fixture)
    return seconds


def _print_contents(fixture: Fixture) -> None:
    from generation.hashing import content_hash
    from generation.models import Sample, SampleFlag
    from reviews.models import Cluster, DuplicateGroup, DuplicateGroupMember, SampleSimilarity, Verdict
    from synthreview.projects.models import AuditLog, SampleCount

    by_status: dict[str, int] = {}
    real = 0
    for origin, status, count in SampleCount.objects.filter(project_id=fixture.project_id).values_list(
        "origin", "status", "count"
    ):
        by_status[status] = by_status.get(status, 0) + count
        real += count if origin == "real" else 0
    total = sum(by_status.values())
    print(
        f"      {total:,} samples ({real / total:.1%} real; "
        + ", ".join(f"{status} {n:,}" for status, n in sorted(by_status.items()))
        + f"), {Verdict.objects.count():,} verdicts, {AuditLog.objects.count():,} audit-log entries, "
        f"{SampleFlag.objects.count():,} flags, {SampleSimilarity.objects.count():,} similarity rows, "
        f"{Cluster.objects.count():,} clusters, {DuplicateGroup.objects.count():,} near-duplicate groups "
        f"({DuplicateGroup.objects.filter(status='open').count():,} open, "
        f"{DuplicateGroupMember.objects.count():,} members)"
    )
    for sample in Sample.objects.filter(project_id=fixture.project_id).order_by("-id")[:3]:
        if sample.content_hash != content_hash(sample.input, sample.output):
            raise AssertionError(f"sample {sample.pk}: the bulk load's content hash differs from generation.hashing")
