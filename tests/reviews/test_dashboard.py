"""The leads' dashboard: its downloads, its query bounds, alert settings, and a
quality snapshot over real embeddings.

Every expected figure is worked by hand in a comment beside it.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generation.models import Origin, Sample
from reviews.models import (
    Alert,
    AlertChannel,
    Audit,
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateGroupStatus,
    QualitySnapshot,
    QualityThreshold,
    SnapshotScope,
)
from reviews.selectors.dashboard import FIGURES
from reviews.services.quality_snapshots import quality_snapshots_compute
from tests.reviews.audit_helpers import audit_drawn, csv_rows, first_wrong, review_all
from tests.reviews.review_helpers import (
    add_samples,
    body,
    generator,
    run,
    template_version,
)

pytestmark = pytest.mark.django_db


# --- Downloads ---------------------------------------------------------------------------------------------

FORMULA_NAME = '=HYPERLINK("http://x")'


@pytest.fixture
def dashboard_data(project, lead, expert):
    """Something in every figure: a closed audit of a generator with a formula for a name, a snapshot
    pass, an alert, real and synthetic samples."""
    version = template_version(project)
    formula = generator(project, FORMULA_NAME)
    batch = run(project, "run-1", version, formula)
    add_samples(project, 10, gen=formula, run=batch, template_version=version, label="yes")
    add_samples(project, 2, origin="real", label="no")
    review_all(audit_drawn(project, lead, size=10), expert, first_wrong(1))
    now = timezone.now()
    metrics = {
        "duplicate_share": 0.2,
        "distinct_2": 0.5,
        "vendi_score": 3.0,
        "copy_share": 0.0,
        "drift_previous": 0.1,
        "novelty_histogram": {"edges": [0.0, 0.5, 1.0], "counts": [4, 6]},
        "nearest_real": {"edges": [0.0, 0.5, 1.0], "counts": [7, 3], "copy_share": 0.0},
        "class_balance": [
            {"label": "no", "real": 2, "synthetic": 0, "synthetic_share": 0.0},
            {"label": "yes", "real": 0, "synthetic": 10, "synthetic_share": 1.0},
        ],
        "mix": {"real": 2, "synthetic": 10},
    }
    QualitySnapshot.objects.create(
        project=project,
        scope=SnapshotScope.PROJECT,
        scope_label="All synthetic samples",
        computed_at=now,
        sample_count=10,
        metrics=metrics,
    )
    QualitySnapshot.objects.create(
        project=project,
        scope=SnapshotScope.GENERATOR,
        scope_id=formula.pk,
        scope_label=FORMULA_NAME,
        computed_at=now,
        sample_count=10,
        metrics=metrics,
    )
    Alert.objects.create(
        project=project,
        metric="duplicate_share",
        scope_key="project:0",
        scope_label="all synthetic samples",
        value=0.2,
        limit=0.1,
        message="Duplicates: 20%.",
    )
    return formula


# The columns of the downloads a lead opens most, written out: each row's fields in reading order.
EXPECTED_HEADERS = {
    "noise-floor-by-generator": [
        "generator",
        "label",
        "id",
        "audits",
        "correct",
        "wrong",
        "unsure",
        "split",
        "judged",
        "rate",
        "low",
        "high",
    ],
    "noise-floor-trend": ["generator", "closed_at", "rate", "low", "high"],
    "novelty-histogram": ["low", "high", "count"],
    "nearest-real-histogram": ["low", "high", "count"],
    "mix": ["origin", "count"],
    "class-balance": ["label", "real", "synthetic", "synthetic_share"],
}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_every_figure_downloads_for_a_lead_and_is_refused_to_an_expert(
    fmt, project, lead, expert, dashboard_data, client_for
):
    lead_client, expert_client = client_for(lead), client_for(expert)
    for name in FIGURES:
        url = reverse("dashboard_figure", args=[project.slug, name, fmt])
        response = lead_client.get(url)
        assert response.status_code == 200, name
        assert response["Content-Disposition"] == f'attachment; filename="math-{name}.{fmt}"'
        if fmt == "json":
            assert response["Content-Type"] == "application/json"
            rows = json.loads(response.content)
            assert isinstance(rows, list) and rows, f"{name}: no rows"
        else:
            assert response["Content-Type"].startswith("text/csv")
        assert expert_client.get(url).status_code == 403, name


def test_csv_header_is_the_rows_keys_and_matches_the_json(project, lead, dashboard_data, client_for):
    client = client_for(lead)
    for name in FIGURES:
        rows = json.loads(client.get(reverse("dashboard_figure", args=[project.slug, name, "json"])).content)
        table = csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, name, "csv"])))
        assert table[0] == list(dict.fromkeys(key for row in rows for key in row)), name
        assert len(table) - 1 == len(rows), name
        if name in EXPECTED_HEADERS:
            assert table[0] == EXPECTED_HEADERS[name], name
    mix = csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, "mix", "csv"])))
    assert dict(mix[1:]) == {"real": "2", "synthetic": "10"}


def test_a_formula_name_is_escaped_in_csv_and_intact_in_json(project, lead, dashboard_data, client_for):
    client = client_for(lead)
    for name in ("noise-floor-by-generator", "noise-floor-trend"):
        table = csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, name, "csv"])))
        header, cells = table[0], table[1]
        assert cells[header.index("generator")] == "'" + FORMULA_NAME, name
        rows = json.loads(client.get(reverse("dashboard_figure", args=[project.slug, name, "json"])).content)
        assert rows[0]["generator"] == FORMULA_NAME, name
    by_generator = csv_rows(
        client.get(reverse("dashboard_figure", args=[project.slug, "noise-floor-by-generator", "csv"]))
    )
    cells = dict(zip(by_generator[0], by_generator[1]))
    assert cells["label"] == "'" + FORMULA_NAME
    # Numbers stay numbers: 1 wrong of 10.
    assert (cells["wrong"], cells["judged"]) == ("1", "10")
    metrics = csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, "quality-metrics", "csv"])))
    labels = [dict(zip(metrics[0], row))["scope_label"] for row in metrics[1:]]
    assert "'" + FORMULA_NAME in labels


@pytest.mark.parametrize("tail", ["nope.csv", "nope.json", "mix.xlsx", "mix.CSV", "mix.csv.json"])
def test_unknown_figure_or_format_is_404(tail, project, lead, client_for):
    assert client_for(lead).get(f"/p/{project.slug}/dashboard/figures/{tail}").status_code == 404


# --- Query bounds ---------------------------------------------------------------------------------------------

# The pages read frozen figures, snapshots and counters: a budget with room for the session,
# the user, the project, the membership, and a handful of reads per section.
QUERY_BUDGET = 20


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def _snapshot_pass(project, runs, generators) -> None:
    now = timezone.now()
    rows = [(SnapshotScope.PROJECT, None, "All synthetic samples")]
    rows += [(SnapshotScope.RUN, r.pk, r.name) for r in runs]
    rows += [(SnapshotScope.GENERATOR, g.pk, g.name) for g in generators]
    QualitySnapshot.objects.bulk_create(
        [
            QualitySnapshot(
                project=project,
                scope=scope,
                scope_id=scope_id,
                scope_label=label,
                computed_at=now,
                sample_count=10,
                metrics={
                    "duplicate_share": 0.01,
                    "distinct_2": 0.6,
                    "novelty_histogram": {"edges": [0, 0.5, 1], "counts": [1, 2]},
                },
            )
            for scope, scope_id, label in rows
        ]
    )


def _acknowledged_alert(project, lead, metric: str) -> None:
    Alert.objects.create(
        project=project,
        metric=metric,
        scope_key="project:0",
        scope_label="all synthetic samples",
        value=0.5,
        limit=0.1,
        message=f"{metric} slipped",
        acknowledged_at=timezone.now(),
        acknowledged_by=lead,
    )


def test_dashboard_and_noise_floor_queries_do_not_grow_with_samples_or_audits(
    project, lead, expert, client_for, django_assert_max_num_queries
):
    version = template_version(project)
    gens = [generator(project, "gen-a"), generator(project, "gen-b")]
    runs = [run(project, "run-1", version, *gens)]
    for gen in gens:
        add_samples(project, 10, gen=gen, run=runs[0], template_version=version)
    review_all(audit_drawn(project, lead, size=10), expert, first_wrong(1))
    _snapshot_pass(project, runs, gens)
    _acknowledged_alert(project, lead, "duplicate_share")
    client = client_for(lead)
    first_audit = Audit.objects.get(project=project)
    pages = [
        reverse("dashboard", args=[project.slug]),
        reverse("noise_floor", args=[project.slug]),
        f"{reverse('noise_floor', args=[project.slug])}?compare=generator&first={gens[0].pk}&second={gens[1].pk}",
        reverse("audit_detail", args=[project.slug, first_audit.pk]),
    ]
    small = {url: _queries(client, url) for url in pages}

    for gen in gens:
        add_samples(project, 90, gen=gen, run=runs[0], template_version=version)
    assert Sample.objects.filter(project=project).count() == 200
    for seed in (2, 3):
        review_all(audit_drawn(project, lead, size=10, seed=seed), expert, first_wrong(2))
    _snapshot_pass(project, runs, gens)
    _acknowledged_alert(project, lead, "copy_share")
    _acknowledged_alert(project, lead, "drift")
    assert Audit.objects.filter(project=project, status="closed").count() == 3
    large = {}
    for url in pages:
        with django_assert_max_num_queries(QUERY_BUDGET):
            large[url] = _queries(client, url)
    assert large == small


# --- Alert settings -----------------------------------------------------------------------------------------------


def _thresholds(project) -> dict[str, tuple[float, bool]]:
    return {row.metric: (row.limit, row.enabled) for row in QualityThreshold.objects.filter(project=project)}


def test_a_lead_sets_a_percent_threshold(project, lead, client_for):
    url = reverse("alert_settings", args=[project.slug])
    response = client_for(lead).post(
        url,
        {
            "limit_duplicate_share": "15",
            "enabled_duplicate_share": "on",
            "limit_length_distance": "0.4",
            "enabled_length_distance": "on",
        },
    )
    assert response.status_code == 302
    stored = _thresholds(project)
    assert stored["duplicate_share"][0] == pytest.approx(0.15) and stored["duplicate_share"][1] is True
    # Not a share: stored as typed.
    assert stored["length_distance"][0] == pytest.approx(0.4)


def test_the_form_shows_a_fractional_percent_as_typed_so_a_save_keeps_it(project, lead, client_for):
    client = client_for(lead)
    url = reverse("alert_settings", args=[project.slug])
    client.post(url, {"limit_copy_share": "1.5", "enabled_copy_share": "on"})
    assert _thresholds(project)["copy_share"][0] == pytest.approx(0.015)
    page = body(client.get(url))
    assert 'name="limit_copy_share" aria-label="Share of synthetic samples copying a real record" value="1.5"' in page


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("limit_copy_share", "abc"),
        ("limit_copy_share", "150"),  # a share over 100%
        ("limit_copy_share", "-5"),
        ("limit_length_distance", "nan"),  # would never slip: NaN compares false with everything
        ("limit_drift", "inf"),
    ],
)
def test_a_bad_number_shows_an_error_and_changes_nothing(field, raw, project, lead, client_for):
    before = _thresholds(project)
    # duplicate_share is read before the bad field, so an all-or-nothing save must take it back.
    response = client_for(lead).post(
        reverse("alert_settings", args=[project.slug]),
        {"limit_duplicate_share": "15", "enabled_duplicate_share": "on", field: raw},
    )
    assert response.status_code == 400
    assert 'data-testid="settings-errors"' in body(response)
    assert _thresholds(project) == before == {}


def test_a_lead_posting_a_webhook_url_is_refused_and_nothing_changes(project, lead, client_for):
    response = client_for(lead).post(
        reverse("alert_settings", args=[project.slug]),
        {
            "limit_duplicate_share": "15",
            "enabled_duplicate_share": "on",
            "email_recipients": "ops@example.org",
            "webhook_url": "https://hooks.example.org/alerts",
        },
    )
    assert response.status_code == 403
    assert _thresholds(project) == {}
    assert not AlertChannel.objects.filter(project=project).exists()


# --- A quality snapshot over real embeddings ------------------------------------------------------------------------

REAL_TEXTS = [
    ("How do I boil an egg?", "Place the egg in boiling water for nine minutes, then cool it in cold water."),
    ("Name the capital of France.", "Paris is the capital of France."),
    ("Summarise the water cycle.", "Water evaporates, condenses into clouds and falls again as rain or snow."),
    ("Translate 'thank you' into Spanish.", "Gracias."),
    ("What is 12 times 11?", "12 times 11 is 132."),
]
LOOP_TEXT = ("Write a short poem about the sea.", "The sea is blue and the sea is wide")
VARIED_TEXTS = [
    ("Explain photosynthesis in one sentence.", "Plants turn sunlight, water and CO2 into sugar and oxygen."),
    ("Give a tip for saving money.", "Set aside a fixed share of every paycheck before spending anything."),
    ("Suggest a name for a bakery.", "Rise and Shine Bakehouse."),
    ("Recommend a stretching exercise.", "Stand, reach both arms overhead and lean slowly to each side."),
    # A near-duplicate pair a reviewer will call no duplicates.
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("How many legs does a spider have? ", "A spider has eight legs!"),
]


def test_quality_snapshot_figures_match_what_the_data_says(project, lead):
    from reviews.services.embeddings import embeddings_compute
    from reviews.services.groups import duplicate_group_mark_not_duplicates
    from reviews.services.similarity_build import similarity_build
    from synthreview.projects.access import get_project_for_user
    from tests.reviews.review_helpers import members_token

    version = template_version(project)
    looper, varied = generator(project, "looper"), generator(project, "varied")
    loop_run, varied_run = run(project, "loop-run", version, looper), run(project, "varied-run", version, varied)
    add_samples(project, len(REAL_TEXTS), origin="real", texts=REAL_TEXTS)
    loop = add_samples(project, 4, gen=looper, run=loop_run, texts=[LOOP_TEXT] * 4)
    spread = add_samples(project, len(VARIED_TEXTS), gen=varied, run=varied_run, texts=VARIED_TEXTS)
    # Real vectors from the app's offline embedder, then the similarity build's groups and neighbours.
    assert embeddings_compute(project_id=project.pk) == 15
    similarity_build(project_id=project.pk, full=True)
    spiders = {spread[4].pk, spread[5].pk}
    spider_group = next(
        g
        for g in DuplicateGroup.objects.filter(project=project)
        if set(g.members.values_list("sample_id", flat=True)) == spiders
    )
    loop_group = DuplicateGroup.objects.get(project=project, members__sample=loop[0])
    assert set(loop_group.members.values_list("sample_id", flat=True)) == {s.pk for s in loop}
    duplicate_group_mark_not_duplicates(
        get_project_for_user(lead, project.slug, "review"),
        group_id=spider_group.pk,
        members=members_token(spider_group),
    )

    snapshots = quality_snapshots_compute(project_id=project.pk)
    by_scope = {(s.scope, s.scope_id): s for s in snapshots}
    assert {key: s.sample_count for key, s in by_scope.items()} == {
        ("project", None): 10,
        ("run", loop_run.pk): 4,
        ("run", varied_run.pk): 6,
        ("generator", looper.pk): 4,
        ("generator", varied.pk): 6,
    }
    assert QualitySnapshot.objects.filter(project=project).count() == 5

    synthetic = Sample.objects.filter(project=project, origin=Origin.SYNTHETIC)
    duplicated = (
        DuplicateGroupMember.objects.filter(group__project=project, sample__origin=Origin.SYNTHETIC)
        .exclude(group__status=DuplicateGroupStatus.NOT_DUPLICATES)
        .values_list("sample_id", flat=True)
        .distinct()
    )
    project_snapshot = by_scope[("project", None)]
    assert project_snapshot.metrics["duplicate_share"] == pytest.approx(duplicated.count() / synthetic.count())
    # By hand: the 4 looped samples of 10; the spider pair is marked no duplicates, so not 6 of 10.
    assert project_snapshot.metrics["duplicate_share"] == pytest.approx(0.4)
    assert by_scope[("run", loop_run.pk)].metrics["duplicate_share"] == pytest.approx(1.0)
    assert by_scope[("run", varied_run.pk)].metrics["duplicate_share"] == pytest.approx(0.0)

    looped = by_scope[("run", loop_run.pk)].metrics
    # "The sea is blue and the sea is wide": 9 words, 8 bigrams of which 6 differ (the·sea and sea·is twice);
    # four copies give 32 bigrams, still 6 distinct: 6/32. Words: 6 distinct of 36.
    assert looped["distinct_2"] == pytest.approx(6 / 32)
    assert looped["distinct_1"] == pytest.approx(6 / 36)
    # Four copies of one vector: one effective sample, no spread.
    assert looped["vendi_score"] == pytest.approx(1.0, abs=1e-3)
    assert looped["mean_pairwise_distance"] == pytest.approx(0.0, abs=1e-4)
    assert by_scope[("run", varied_run.pk)].metrics["vendi_score"] > 3

    real_count = Sample.objects.filter(project=project, origin=Origin.REAL).count()
    assert (
        project_snapshot.metrics["mix"]
        == {"real": real_count, "synthetic": synthetic.count()}
        == {"real": 5, "synthetic": 10}
    )

    # Over the default 10% limit: the project (40%), the looping run and its generator (100% each).
    raised = Alert.objects.filter(project=project, metric="duplicate_share")
    assert set(raised.values_list("scope_key", flat=True)) == {
        "project:0",
        f"run:{loop_run.pk}",
        f"generator:{looper.pk}",
    }


def test_open_alerts_are_listed_before_acknowledged_ones_on_every_database(project, lead):
    # PostgreSQL sorts NULLs last and SQLite first: an unacknowledged alert must lead on both.
    from django.utils import timezone

    from reviews.models import Alert
    from reviews.selectors.dashboard import latest_alerts

    open_alert = Alert.objects.create(
        project=project,
        metric="noise_floor_upper",
        scope_key="run:1",
        scope_label="run 1",
        value=0.3,
        limit=0.2,
        message="open",
    )
    acknowledged = Alert.objects.create(
        project=project,
        metric="noise_floor_upper",
        scope_key="run:2",
        scope_label="run 2",
        value=0.3,
        limit=0.2,
        message="seen",
        acknowledged_at=timezone.now(),
        acknowledged_by=lead,
    )
    assert [alert.pk for alert in latest_alerts(project)] == [open_alert.pk, acknowledged.pk]
