"""Quality snapshots: the worker's pass over a project's stored embeddings and
neighbours that measures duplication, diversity, fidelity against the real
anchors, privacy and drift, for the whole project, each run and each generator.

Counts (duplication, copies, histograms) use every sample; measures that need
vectors or text use a seeded random subset of at most SUBSET_ROWS per scope,
so a million-sample project costs the same few seconds as a small one. Every
subset is drawn from ids in ascending order with a seed fixed per scope, so one
state of the data gives one figure whatever order the database returns rows in.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from django.db.models import Count
from django.utils import timezone

from generation.models import GenerationRun, Generator, Origin, Sample
from reviews.models import (
    DuplicateGroupMember,
    DuplicateGroupStatus,
    QualitySnapshot,
    SampleSimilarity,
    SnapshotScope,
)
from reviews.quality.drift import (
    WINDOW_ROWS,
    Windows,
    previous_window_record,
    window_record,
    windows_for,
)
from reviews.quality.embedding_measures import (
    frechet_distance,
    mean_pairwise_distance,
    nearest_real_summary,
    precision_recall_knn,
    vendi_score,
)
from reviews.quality.text_measures import (
    class_balance,
    distinct_n,
    histogram,
    label_divergence,
    length_distance,
    length_summary,
    word_counts,
    words,
)
from reviews.quality.thresholds import COPY_SIMILARITY, LENGTH_TOLERANCE
from reviews.services.alerts import alerts_evaluate_figures
from reviews.services.embeddings import embedding_key, embeddings_load
from synthreview.projects.models import Project

SUBSET_ROWS = 3000
SEED = 20240917
UNIT_EDGES = [i / 20 for i in range(21)]


@dataclass
class _Synthetic:
    """Every synthetic sample's id with its run and generator, and what the similarity build stored."""

    ids: np.ndarray
    runs: np.ndarray
    generators: np.ndarray
    nearest_real: dict[int, float]
    novelty: dict[int, float]
    duplicated: set[int]
    low_novelty: set[int]
    # Duplicate-group membership, one entry per (group, synthetic member), for the breakdown by what is repeated.
    group_members: np.ndarray
    group_ids: np.ndarray
    groups_with_real: set[int]


def _synthetic(project: Project) -> _Synthetic:
    rows = np.array(
        list(
            Sample.objects.filter(project=project, origin=Origin.SYNTHETIC)
            .values_list("pk", "run_id", "generator_id")
            .iterator(chunk_size=50_000)
        ),
        dtype=object,
    )
    if not len(rows):
        rows = np.empty((0, 3), dtype=object)
    similarity = SampleSimilarity.objects.filter(project=project, sample__origin=Origin.SYNTHETIC)
    nearest_real, novelty = {}, {}
    for sample_id, real_similarity, sample_novelty in similarity.values_list(
        "sample_id", "nearest_real_similarity", "novelty"
    ).iterator(chunk_size=50_000):
        if real_similarity is not None:
            nearest_real[sample_id] = real_similarity
        if sample_novelty is not None:
            novelty[sample_id] = sample_novelty
    # A group a reviewer found to be no duplicates does not count; a resolved one still shows the generator repeating.
    members = (
        DuplicateGroupMember.objects.filter(group__project=project)
        .exclude(group__status=DuplicateGroupStatus.NOT_DUPLICATES)
        .values_list("group_id", "sample_id", "sample__origin")
    )
    group_ids, group_members, groups_with_real = [], [], set()
    for group_id, sample_id, origin in members.iterator(chunk_size=50_000):
        if origin == Origin.REAL:
            groups_with_real.add(group_id)
        else:
            group_ids.append(group_id)
            group_members.append(sample_id)
    duplicated = set(group_members)
    low_novelty = set(similarity.filter(cluster__is_low_novelty=True).values_list("sample_id", flat=True))
    return _Synthetic(
        ids=np.asarray(rows[:, 0], dtype=np.int64) if len(rows) else np.empty(0, np.int64),
        runs=rows[:, 1],
        generators=rows[:, 2],
        nearest_real=nearest_real,
        novelty=novelty,
        duplicated=duplicated,
        low_novelty=low_novelty,
        group_members=np.asarray(group_members, dtype=np.int64),
        group_ids=np.asarray(group_ids, dtype=np.int64),
        groups_with_real=groups_with_real,
    )


def _seed(scope: str, scope_id: int | None) -> int:
    """A seed of the scope's own, so adding a run does not redraw every other scope's subset."""
    return SEED + zlib.crc32(f"{scope}:{scope_id or 0}".encode())


def _subset(ids: np.ndarray, seed: int, rows: int | None = None) -> np.ndarray:
    # Sorted before the draw: the same ids in another order must give the same subset.
    ordered = np.sort(ids)
    rows = SUBSET_ROWS if rows is None else rows
    if len(ordered) <= rows:
        return ordered
    return np.sort(np.random.default_rng(seed).choice(ordered, rows, replace=False))


def _duplicate_breakdown(ids: np.ndarray, synthetic: _Synthetic) -> dict:
    """Shares of the scope's samples in a duplicate group with another sample of the same
    scope (the scope repeating itself) and with a real sample (a copy of real data)."""
    if not len(ids) or not len(synthetic.group_members):
        return {"duplicate_within_share": 0.0 if len(ids) else None, "duplicate_real_share": 0.0 if len(ids) else None}
    inside = np.isin(synthetic.group_members, ids)
    groups, counts = np.unique(synthetic.group_ids[inside], return_counts=True)
    repeated = set(groups[counts >= 2].tolist())
    within, with_real = set(), set()
    for group_id, sample_id in zip(synthetic.group_ids[inside].tolist(), synthetic.group_members[inside].tolist()):
        if group_id in repeated:
            within.add(sample_id)
        if group_id in synthetic.groups_with_real:
            with_real.add(sample_id)
    return {"duplicate_within_share": len(within) / len(ids), "duplicate_real_share": len(with_real) / len(ids)}


def _outputs(ids: np.ndarray) -> tuple[dict[int, str], dict[int, str | None]]:
    """Each sample's output and its label (lengths are compared label by label)."""
    found: dict[int, str] = {}
    labels: dict[int, str | None] = {}
    id_list = ids.tolist()
    for start in range(0, len(id_list), 5000):
        rows = Sample.objects.filter(pk__in=id_list[start : start + 5000]).values_list("pk", "output", "label")
        for pk, output, label in rows:
            found[pk] = output
            labels[pk] = label or None
    return found, labels


class _Vectors:
    """Embeddings of the samples a snapshot looks at, loaded once for all scopes."""

    def __init__(self, project: Project, ids: np.ndarray) -> None:
        model_name, text_kind = embedding_key(project)
        loaded_ids, matrix = (
            embeddings_load(project_id=project.pk, model_name=model_name, text_kind=text_kind, sample_ids=ids.tolist())
            if len(ids)
            else (ids, None)
        )
        self.row_of = {int(pk): row for row, pk in enumerate(loaded_ids)}
        self.matrix = matrix

    def of(self, ids: np.ndarray) -> np.ndarray | None:
        rows = [self.row_of[int(pk)] for pk in ids if int(pk) in self.row_of]
        if self.matrix is None or len(rows) < 2:
            return None
        return np.asarray(self.matrix[rows], dtype=np.float32)


def _labels_by_scope(project: Project) -> tuple[Counter, dict[tuple[str, int], Counter]]:
    real: Counter = Counter()
    scoped: dict[tuple[str, int], Counter] = {}
    rows = (
        Sample.objects.filter(project=project)
        .exclude(label__isnull=True)
        .exclude(label="")
        .values("origin", "run_id", "generator_id", "label")
        .annotate(n=Count("id"))
    )
    for row in rows:
        if row["origin"] == Origin.REAL:
            real[row["label"]] += row["n"]
            continue
        for key in (("project", 0), ("run", row["run_id"]), ("generator", row["generator_id"])):
            scoped.setdefault(key, Counter())[row["label"]] += row["n"]
    return real, scoped


def _figures(
    ids: np.ndarray,
    synthetic: _Synthetic,
    vectors: _Vectors,
    outputs: dict[int, str],
    output_labels: dict[int, str | None],
    seed: int,
    real_vectors: np.ndarray | None,
    real_lengths: list[tuple[int, str | None]],
    real_labels: Counter,
    labels: Counter | None,
) -> dict:
    total = len(ids)
    subset = _subset(ids, seed)
    texts = [outputs.get(int(pk), "") for pk in subset]
    lengths = word_counts(texts)
    x = vectors.of(subset)
    nearest = [synthetic.nearest_real[int(pk)] for pk in ids if int(pk) in synthetic.nearest_real]
    novelty = [synthetic.novelty[int(pk)] for pk in ids if int(pk) in synthetic.novelty]
    privacy = nearest_real_summary(nearest, copy_threshold=COPY_SIMILARITY)
    figures: dict = {
        "samples": total,
        "subset": len(subset),
        "duplicate_share": sum(1 for pk in ids if int(pk) in synthetic.duplicated) / total if total else None,
        **_duplicate_breakdown(ids, synthetic),
        "low_novelty_share": sum(1 for pk in ids if int(pk) in synthetic.low_novelty) / total if total else None,
        "distinct_1": distinct_n(texts, 1) if texts else None,
        "distinct_2": distinct_n(texts, 2) if texts else None,
        "length": asdict(length_summary(texts)) if texts else None,
        "empty_share": sum(1 for text in texts if not text.strip()) / len(texts) if texts else None,
        "mean_pairwise_distance": mean_pairwise_distance(x) if x is not None else None,
        "vendi_score": vendi_score(x) if x is not None else None,
        "length_distance": length_distance(
            [(length, output_labels.get(int(pk))) for length, pk in zip(lengths, subset)],
            real_lengths,
            tolerance=LENGTH_TOLERANCE,
        ),
        "label_divergence": label_divergence(labels.elements(), real_labels.elements()) if labels else None,
        "copy_share": privacy.copy_share if privacy else None,
        "nearest_real": asdict(privacy) if privacy else None,
        "novelty_histogram": {"edges": UNIT_EDGES, "counts": histogram(novelty, UNIT_EDGES)} if novelty else None,
    }
    if x is not None and real_vectors is not None and len(real_vectors) >= 2:
        figures["frechet_to_real"] = frechet_distance(x, real_vectors)
        knn = precision_recall_knn(real_vectors, x)
        if knn is not None:
            figures["fidelity_precision"], figures["fidelity_recall"] = knn.precision, knn.recall
    return figures


def quality_snapshots_compute(*, project_id: int) -> list[QualitySnapshot]:
    """Measure the project, each run and each generator now; store one snapshot each and check thresholds."""
    project = Project.objects.get(pk=project_id)
    computed_at = timezone.now()
    synthetic = _synthetic(project)
    real_ids = np.sort(
        np.asarray(
            list(Sample.objects.filter(project=project, origin=Origin.REAL).values_list("pk", flat=True)),
            dtype=np.int64,
        )
    )
    real_subset = _subset(real_ids, SEED)
    runs = list(GenerationRun.objects.filter(project=project).order_by("created_at", "id"))
    generators = list(Generator.objects.filter(project=project).order_by("name"))
    scopes: list[tuple[str, int | None, str, np.ndarray]] = [
        (SnapshotScope.PROJECT, None, "All synthetic samples", synthetic.ids)
    ]
    scopes += [(SnapshotScope.RUN, run.pk, run.name, synthetic.ids[synthetic.runs == run.pk]) for run in runs]
    scopes += [(SnapshotScope.GENERATOR, g.pk, g.name, synthetic.ids[synthetic.generators == g.pk]) for g in generators]
    scopes = [(scope, scope_id, label, np.sort(ids)) for scope, scope_id, label, ids in scopes]
    wanted = [_subset(ids, _seed(scope, scope_id)) for scope, scope_id, _, ids in scopes]
    windows = [
        windows_for(ids, previous_window_record(scope, scope_id, project.pk)) if len(ids) else None
        for scope, scope_id, _, ids in scopes
    ]
    window_subsets = [
        _window_subsets(ids, found, _seed(scope, scope_id)) if found else (None, None)
        for (scope, scope_id, _, ids), found in zip(scopes, windows)
    ]
    window_ids = [part for pair in window_subsets for part in pair if part is not None]
    every_id = np.unique(np.concatenate([real_subset, *wanted, *window_ids]))
    vectors = _Vectors(project, every_id)
    outputs, output_labels = _outputs(every_id)
    real_vectors = vectors.of(real_subset)
    real_lengths = [(len(words(outputs.get(int(pk), ""))), output_labels.get(int(pk))) for pk in real_subset]
    real_labels, scoped_labels = _labels_by_scope(project)
    snapshots = []
    for index, (scope, scope_id, label, ids) in enumerate(scopes):
        if (scope_windows := windows[index]) is None:  # the scope has no samples
            continue
        figures = _figures(
            ids,
            synthetic,
            vectors,
            outputs,
            output_labels,
            _seed(scope, scope_id),
            real_vectors,
            real_lengths,
            real_labels,
            scoped_labels.get((scope, scope_id or 0)),
        )
        figures["drift_window"] = window_record(scope_windows, ids)
        figures.update(_window_drift(*window_subsets[index], vectors, real_vectors))
        if scope == SnapshotScope.PROJECT:
            figures["mix"] = {"real": int(len(real_ids)), "synthetic": int(len(synthetic.ids))}
            figures["class_balance"] = [
                asdict(row)
                for row in class_balance(
                    real_labels.elements(), scoped_labels.get(("project", 0), Counter()).elements()
                )
            ]
        snapshots.append(
            QualitySnapshot(
                project=project,
                scope=scope,
                scope_id=scope_id,
                scope_label=label,
                computed_at=computed_at,
                sample_count=len(ids),
                metrics=figures,
            )
        )
    run_subsets = {
        scope_id: wanted[index]
        for index, (scope, scope_id, _, _) in enumerate(scopes)
        if scope == SnapshotScope.RUN and scope_id is not None
    }
    _drift(snapshots, runs, run_subsets, vectors)
    QualitySnapshot.objects.bulk_create(snapshots)

    # Every scope alerts on its own figures: generators too, since imported samples belong to no run.
    for snapshot in snapshots:
        alerts_evaluate_figures(
            project=project,
            scope_key=f"{snapshot.scope}:{snapshot.scope_id or 0}",
            scope_label=_scope_words(snapshot),
            figures=snapshot.metrics,
        )
    return snapshots


def _window_subsets(ids: np.ndarray, windows: Windows, seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    current = _subset(windows.current.of(ids), seed, WINDOW_ROWS)
    previous = _subset(windows.previous.of(ids), seed, WINDOW_ROWS) if windows.previous else None
    return current, previous


def _window_drift(
    current: np.ndarray | None, previous: np.ndarray | None, vectors: _Vectors, real_vectors: np.ndarray | None
) -> dict:
    """Fréchet distances of the newest window to the previous one and to the real anchors,
    and how far the distance to the real anchors moved since the previous window."""
    now = vectors.of(current) if current is not None else None
    before = vectors.of(previous) if previous is not None else None
    real = real_vectors if real_vectors is not None and len(real_vectors) >= 2 else None
    to_real = frechet_distance(now, real) if now is not None and real is not None else None
    before_to_real = frechet_distance(before, real) if before is not None and real is not None else None
    return {
        "drift_previous": frechet_distance(now, before) if now is not None and before is not None else None,
        "window_to_real": to_real,
        "drift_to_real_rise": (to_real - before_to_real)
        if to_real is not None and before_to_real is not None
        else None,
    }


def _scope_words(snapshot: QualitySnapshot) -> str:
    if snapshot.scope == SnapshotScope.PROJECT:
        return "all synthetic samples"
    return f"{snapshot.get_scope_display().lower()} “{snapshot.scope_label}”"


def _drift(
    snapshots: list[QualitySnapshot], runs: list[GenerationRun], run_subsets: dict[int, np.ndarray], vectors: _Vectors
) -> None:
    """Each run against the runs before it (the Fréchet distance of their embeddings, on
    the subsets already loaded); the project's figure is its latest run's."""
    by_run = {s.scope_id: s for s in snapshots if s.scope == SnapshotScope.RUN}
    earlier: list[np.ndarray] = []
    latest = None
    for run in runs:
        subset = run_subsets.get(run.pk)
        snapshot = by_run.get(run.pk)
        if subset is None or snapshot is None:
            continue
        current = vectors.of(subset)
        if current is not None and earlier:
            pooled = np.concatenate(earlier)
            before = vectors.of(_subset(pooled, SEED))
            if before is not None:
                snapshot.metrics["drift"] = frechet_distance(current, before)
                latest = snapshot.metrics["drift"]
        earlier.append(subset)
    for snapshot in snapshots:
        if snapshot.scope == SnapshotScope.PROJECT:
            snapshot.metrics["drift"] = latest
