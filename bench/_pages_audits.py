"""The pages bench's audits and quality snapshots: what the leads' pages read,
made through the audit services and shaped like the worker's snapshots, on the
project bench/_pages_data.py loaded."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from _pages_data import GENERATOR_NAMES, Fixture  # bench/ is on sys.path as the script's folder

# --- Audits and quality snapshots: what the leads' pages read ---------------------------------------------

# Closed audits, as a lead plans them over a year: the whole project, two runs, one generator.
# (scope, index into the fixture's runs or generators)
CLOSED_AUDITS = (("project", None), ("run", 0), ("run", 1), ("generator", 2))
AUDIT_ITEMS = 60
# The open audit: a reviewer part of the way through it.
OPEN_AUDIT_VERDICTS = 25
# A year of worker passes; the dashboard's history shows the last 30.
SNAPSHOT_PASSES = 30
SNAPSHOT_TABLES = (
    "reviews_audit",
    "reviews_audititem",
    "reviews_auditadjudication",
    "reviews_qualitysnapshot",
    "reviews_alert",
)

_SCOPE_COUNTS = """
SELECT s.run_id, s.generator_id, count(*),
       count(*) FILTER (WHERE k.is_low_novelty),
       count(*) FILTER (WHERE x.nearest_real_similarity >= %(copy)s),
       count(x.nearest_real_similarity)
FROM generation_sample s
LEFT JOIN reviews_samplesimilarity x ON x.sample_id = s.id
LEFT JOIN reviews_cluster k ON k.id = x.cluster_id
WHERE s.project_id = %(project)s AND s.origin = 'synthetic'
GROUP BY 1, 2
"""

_SCOPE_DUPLICATED = """
SELECT s.run_id, s.generator_id, count(DISTINCT m.sample_id)
FROM reviews_duplicategroupmember m
JOIN reviews_duplicategroup g ON g.id = m.group_id
JOIN generation_sample s ON s.id = m.sample_id
WHERE g.project_id = %(project)s AND g.status <> 'not_duplicates' AND s.origin = 'synthetic'
GROUP BY 1, 2
"""

# Twenty bins of 0.05 over 0..1, as the snapshot's histograms have them.
_SCOPE_HISTOGRAMS = """
SELECT s.run_id, s.generator_id, %(column)s AS bin, count(*)
FROM generation_sample s JOIN reviews_samplesimilarity x ON x.sample_id = s.id
WHERE s.project_id = %(project)s AND s.origin = 'synthetic' AND x.{value} IS NOT NULL
GROUP BY 1, 2, 3
"""


@dataclass
class _ScopeCounts:
    samples: int = 0
    low_novelty: int = 0
    copies: int = 0
    with_real: int = 0
    duplicated: int = 0
    novelty: list[int] | None = None
    nearest_real: list[int] | None = None

    def add(self, other: _ScopeCounts) -> None:
        self.samples += other.samples
        self.low_novelty += other.low_novelty
        self.copies += other.copies
        self.with_real += other.with_real
        self.duplicated += other.duplicated
        self.novelty = [a + b for a, b in zip(self.novelty or [0] * 20, other.novelty or [0] * 20)]
        self.nearest_real = [a + b for a, b in zip(self.nearest_real or [0] * 20, other.nearest_real or [0] * 20)]


def _counts_by_run_and_generator(project_id: int) -> dict[tuple[int | None, int | None], _ScopeCounts]:
    """What the worker's pass counts over every synthetic sample, per (run, generator), by SQL."""
    from django.db import connection

    from reviews.quality.thresholds import COPY_SIMILARITY

    counts: dict[tuple[int | None, int | None], _ScopeCounts] = {}
    with connection.cursor() as cursor:
        cursor.execute(_SCOPE_COUNTS, {"project": project_id, "copy": COPY_SIMILARITY})
        for run_id, generator_id, samples, low, copies, with_real in cursor.fetchall():
            counts[(run_id, generator_id)] = _ScopeCounts(
                samples=samples,
                low_novelty=low,
                copies=copies,
                with_real=with_real,
                novelty=[0] * 20,
                nearest_real=[0] * 20,
            )
        cursor.execute(_SCOPE_DUPLICATED, {"project": project_id})
        for run_id, generator_id, duplicated in cursor.fetchall():
            counts[(run_id, generator_id)].duplicated = duplicated
        for value, field_name in (("novelty", "novelty"), ("nearest_real_similarity", "nearest_real")):
            column = f"least(greatest(floor(x.{value} * 20)::int, 0), 19)"
            cursor.execute(_SCOPE_HISTOGRAMS.format(value=value).replace("%(column)s", column), {"project": project_id})
            for run_id, generator_id, bin_index, n in cursor.fetchall():
                getattr(counts[(run_id, generator_id)], field_name)[bin_index] += n
    return counts


def _quantile(counts: list[int], edges: list[float], share: float) -> float:
    total, seen = sum(counts), 0
    for index, n in enumerate(counts):
        seen += n
        if total and seen >= share * total:
            return round((edges[index] + edges[index + 1]) / 2, 4)
    return edges[-1]


def _snapshot_metrics(counts: _ScopeCounts, rng: random.Random, age: float) -> dict[str, Any]:
    """A snapshot's metrics in the shape quality_snapshots_compute writes them: the counts and
    histograms from the data, the vector and text figures plausible values drifting with age."""
    from reviews.quality.embedding_measures import SIMILARITY_EDGES
    from reviews.quality.thresholds import COPY_SIMILARITY
    from reviews.services.quality_snapshots import SUBSET_ROWS, UNIT_EDGES

    n = counts.samples
    edges = list(SIMILARITY_EDGES)
    nearest = counts.nearest_real or [0] * 20
    mean_words = 58 + 12 * rng.random()
    return {
        "samples": n,
        "subset": min(n, SUBSET_ROWS),
        "duplicate_share": counts.duplicated / n,
        "low_novelty_share": counts.low_novelty / n,
        "distinct_1": round(0.18 + 0.05 * rng.random(), 4),
        "distinct_2": round(0.55 + 0.1 * rng.random() - 0.05 * age, 4),
        "length": {
            "count": min(n, SUBSET_ROWS),
            "mean": mean_words,
            "std": 0.6 * mean_words,
            "p10": 14.0,
            "p50": mean_words * 0.9,
            "p90": mean_words * 2.1,
            "spread": 0.6,
        },
        "empty_share": round(0.002 * rng.random(), 5),
        "mean_pairwise_distance": round(0.72 + 0.05 * rng.random(), 4),
        "vendi_score": round(140 + 60 * rng.random(), 2),
        "length_distance": round(0.12 + 0.1 * rng.random(), 4),
        "label_divergence": None,
        "copy_share": counts.copies / counts.with_real if counts.with_real else None,
        "nearest_real": {
            "count": counts.with_real,
            "copy_threshold": COPY_SIMILARITY,
            "copy_count": counts.copies,
            "copy_share": counts.copies / counts.with_real if counts.with_real else 0.0,
            "edges": edges,
            "counts": nearest,
            **{f"p{q}": _quantile(nearest, edges, q / 100) for q in (10, 50, 90, 99)},
        },
        "novelty_histogram": {"edges": UNIT_EDGES, "counts": counts.novelty or [0] * 20},
        "frechet_to_real": round(0.21 + 0.08 * rng.random(), 4),
        "fidelity_precision": round(0.78 + 0.1 * rng.random(), 4),
        "fidelity_recall": round(0.55 + 0.15 * rng.random(), 4),
        "drift": round(0.05 + 0.1 * rng.random(), 4),
    }


def _audits_create(fixture: Fixture, rng: random.Random) -> tuple[list[int], int]:
    """Closed audits through the services, verdicts and all, and one open audit part-way through."""
    from django.contrib.auth import get_user_model

    from reviews.models import AuditStatus, ErrorCategory
    from reviews.services.audits import audit_create, audit_verdict_record
    from synthreview.projects.access import project_access
    from synthreview.projects.models import Project

    project = Project.objects.get(pk=fixture.project_id)
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=fixture.reviewer_ids)}
    lead, experts = users[fixture.lead_id], [users[pk] for pk in fixture.reviewer_ids if pk != fixture.lead_id]
    lead_access = project_access(lead, project)
    expert_accesses = [project_access(expert, project) for expert in experts]
    categories = list(ErrorCategory.values)

    def review(audit, count: int, wrong_rate: float) -> None:
        for number, item in enumerate(audit.items.order_by("position")[:count]):
            draw = rng.random()
            value = "wrong" if draw < wrong_rate else "unsure" if draw < wrong_rate + 0.03 else "correct"
            audit_verdict_record(
                expert_accesses[number % len(expert_accesses)],
                audit=audit,
                sample_id=item.sample_id,
                value=value,
                error_category=rng.choice(categories) if value == "wrong" else "",
                time_spent_ms=rng.randint(4000, 40000),
            )

    closed = []
    for number, (scope, index) in enumerate(CLOSED_AUDITS):
        object_id = None if index is None else (fixture.run_ids if scope == "run" else fixture.generator_ids)[index]
        audit = audit_create(
            lead_access,
            scope=scope,
            object_id=object_id,
            sample_size=AUDIT_ITEMS,
            seed=rng.randrange(2**62),
            name=f"Audit {number + 1}",
        )
        review(audit, AUDIT_ITEMS, wrong_rate=0.04 + 0.03 * number)
        audit.refresh_from_db()
        if audit.status != AuditStatus.CLOSED:
            raise AssertionError(f"audit {audit.pk} did not close after its {AUDIT_ITEMS} verdicts")
        closed.append(audit.pk)
    open_audit = audit_create(
        lead_access,
        scope="project",
        sample_size=AUDIT_ITEMS,
        seed=rng.randrange(2**62),
        name="Audit in progress",
    )
    review(open_audit, OPEN_AUDIT_VERDICTS, wrong_rate=0.08)
    return closed, open_audit.pk


def _snapshots_create(fixture: Fixture, rng: random.Random) -> int:
    from datetime import timedelta

    from django.utils import timezone

    from generation.models import Origin
    from reviews.models import Alert, QualitySnapshot, SnapshotScope
    from synthreview.projects.models import SampleCount

    by_pair = _counts_by_run_and_generator(fixture.project_id)
    scopes: list[tuple[str, int | None, str, _ScopeCounts]] = []
    project_counts = _ScopeCounts()
    for counts in by_pair.values():
        project_counts.add(counts)
    scopes.append((SnapshotScope.PROJECT, None, "All synthetic samples", project_counts))
    for kind, ids, position in (
        (SnapshotScope.RUN, fixture.run_ids, 0),
        (SnapshotScope.GENERATOR, fixture.generator_ids, 1),
    ):
        for number, scope_id in enumerate(ids):
            total = _ScopeCounts()
            for pair, counts in by_pair.items():
                if pair[position] == scope_id:
                    total.add(counts)
            label = f"run-{number + 1}" if kind == SnapshotScope.RUN else GENERATOR_NAMES[number]
            scopes.append((kind, scope_id, label, total))
    mix = {origin: 0 for origin in Origin.values}
    for origin, count in SampleCount.objects.filter(project_id=fixture.project_id).values_list("origin", "count"):
        mix[origin] += count
    now = timezone.now()
    rows = []
    for number in range(SNAPSHOT_PASSES):
        computed_at = now - timedelta(days=12 * (SNAPSHOT_PASSES - 1 - number))
        age = (SNAPSHOT_PASSES - 1 - number) / SNAPSHOT_PASSES
        for scope, scope_id, label, counts in scopes:
            if not counts.samples:
                continue
            metrics = _snapshot_metrics(counts, rng, age)
            if scope == SnapshotScope.PROJECT:
                metrics["mix"] = {"real": mix["real"], "synthetic": mix["synthetic"]}
                metrics["class_balance"] = []
            rows.append(
                QualitySnapshot(
                    project_id=fixture.project_id,
                    scope=scope,
                    scope_id=scope_id,
                    scope_label=label,
                    computed_at=computed_at,
                    sample_count=counts.samples,
                    metrics=metrics,
                )
            )
    QualitySnapshot.objects.bulk_create(rows)
    # What the passes raised over the year: a few alerts, the older ones acknowledged.
    for number, (metric, scope_key, value, limit) in enumerate(
        (
            ("low_novelty_share", "project:0", 0.31, 0.25),
            ("drift", f"run:{fixture.run_ids[-1]}", 0.29, 0.25),
            ("length_distance", f"run:{fixture.run_ids[0]}", 0.34, 0.30),
        )
    ):
        Alert.objects.create(
            project_id=fixture.project_id,
            metric=metric,
            scope_key=scope_key,
            scope_label=scope_key,
            value=value,
            limit=limit,
            message=f"{metric} is {value}, over the limit of {limit}.",
            acknowledged_at=now if number else None,
            acknowledged_by_id=fixture.lead_id if number else None,
        )
    return len(rows)


def load_audits_and_snapshots(fixture: Fixture, *, seed: int) -> tuple[Fixture, float]:
    """Audits (through the services: audit_create, audit_verdict_record) and a year of quality
    snapshots (inserted: the worker's pass needs embeddings the bench does not make; the pages
    read only the snapshots). Replaces what an earlier size left, so both sizes show the leads'
    pages the same number of audits, snapshots and alerts. Returns the fixture with the audits'
    ids, and the seconds it took."""
    import dataclasses

    from django.db import connection

    from reviews.models import Alert, Audit, QualitySnapshot, Verdict

    started = time.perf_counter()
    rng = random.Random(seed)
    Verdict.objects.filter(audit__project_id=fixture.project_id).delete()
    Audit.objects.filter(project_id=fixture.project_id).delete()
    Alert.objects.filter(project_id=fixture.project_id).delete()
    QualitySnapshot.objects.filter(project_id=fixture.project_id).delete()
    closed, open_id = _audits_create(fixture, rng)
    audits_done = time.perf_counter()
    snapshots = _snapshots_create(fixture, rng)
    with connection.cursor() as cursor:
        for table in SNAPSHOT_TABLES:
            cursor.execute(f"ANALYZE {table}")
    seconds = time.perf_counter() - started
    print(
        f"load: {len(closed)} closed audits and 1 open ({AUDIT_ITEMS} items each) through the services in "
        f"{audits_done - started:.1f} s; {snapshots} quality snapshots ({SNAPSHOT_PASSES} passes) in "
        f"{seconds - (audits_done - started):.1f} s"
    )
    return dataclasses.replace(fixture, closed_audit_ids=tuple(closed), open_audit_id=open_id), seconds
