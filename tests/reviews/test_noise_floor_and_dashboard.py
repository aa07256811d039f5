"""The noise floor pooled over closed audits, comparing two generators, frozen
figures, the leads' dashboard and its downloads, alert settings, and a quality
snapshot over real embeddings.

Every expected figure is worked by hand in a comment beside it.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable

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
    AuditItem,
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateGroupStatus,
    QualitySnapshot,
    QualityThreshold,
    SnapshotScope,
    Verdict,
)
from reviews.quality.snapshots import quality_snapshots_compute
from reviews.selectors.audits import audit_figures, audit_figures_compute
from reviews.selectors.dashboard import FIGURES
from reviews.selectors.noise_floor import noise_floor_by, noise_floor_compare
from reviews.services.audits import (
    AuditClosed,
    audit_adjudicate,
    audit_close,
    audit_create,
    audit_verdict_record,
)
from tests.reviews.review_helpers import (
    add_samples,
    body,
    generator,
    run,
    template_version,
)

pytestmark = pytest.mark.django_db

Outcome = Callable[[int, AuditItem], str]


def _audit(project, lead, *, scope: str = "project", object_id: int | None = None, size: int, overlap: int = 1,
           seed: int = 1) -> Audit:
    return audit_create(project=project, actor=lead, scope=scope, object_id=object_id, sample_size=size,
                        overlap=overlap, seed=seed)


def _items(audit: Audit) -> list[AuditItem]:
    return list(AuditItem.objects.filter(audit=audit, is_gold=False).select_related("sample").order_by("position"))


def _review(audit: Audit, reviewer, outcome: Outcome) -> Audit:
    """The reviewer's verdict on every item, as `outcome(index, item)` says."""
    for index, item in enumerate(_items(audit)):
        value = outcome(index, item)
        audit_verdict_record(audit=audit, sample_id=item.sample_id, reviewer=reviewer, value=value,
                             error_category="hallucination" if value == "wrong" else "")
    audit.refresh_from_db()
    return audit


def _first_wrong(count: int) -> Outcome:
    return lambda index, item: "wrong" if index < count else "correct"


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


# --- Pooling ---------------------------------------------------------------------------------------


def test_generator_row_pools_two_runs_audits_into_one_wilson_interval(project, lead, expert, client_for):
    version = template_version(project)
    x = generator(project, "gen-x")
    first_run, second_run = run(project, "run-1", version, x), run(project, "run-2", version, x)
    add_samples(project, 30, gen=x, run=first_run, template_version=version)
    add_samples(project, 30, gen=x, run=second_run, template_version=version)
    first = _review(_audit(project, lead, scope="run", object_id=first_run.pk, size=30), expert, _first_wrong(2))
    second = _review(_audit(project, lead, scope="run", object_id=second_run.pk, size=30, seed=2), expert,
                     _first_wrong(3))
    assert first.status == second.status == "closed"

    row = next(entry for entry in noise_floor_by(project, "generator") if entry.ident == x.pk).as_row()
    assert (row["audits"], row["wrong"], row["correct"], row["judged"]) == (2, 5, 55, 60)
    # Wilson (1927), 5 wrong of 60, z = 1.959964, z² = 3.841459, p = 5/60 = 0.083333:
    #   denominator = 1 + z²/n = 1 + 3.841459/60 = 1.064024
    #   centre = (p + z²/2n) / denominator = (0.083333 + 0.032012) / 1.064024 = 0.108405
    #   half = z·√(p(1−p)/n + z²/4n²) / denominator = 1.959964·√(0.00127315 + 0.00026677) / 1.064024 = 0.072284
    #   interval = 0.108405 ∓ 0.072284 = 0.036121 to 0.180689 (the 0.036–0.181)
    assert row["rate"] == pytest.approx(5 / 60)
    assert row["low"] == pytest.approx(0.03612, abs=5e-5)
    assert row["high"] == pytest.approx(0.18069, abs=5e-5)
    runs = {entry.ident: (entry.wrong, entry.floor.judged, entry.audits) for entry in noise_floor_by(project, "run")}
    assert runs == {first_run.pk: (2, 30, 1), second_run.pk: (3, 30, 1)}

    page = body(client_for(lead).get(reverse("noise_floor", args=[project.slug])))
    assert "3.6%–18.1%" in page  # the pooled interval, as the table prints it
    download = client_for(lead).get(reverse("dashboard_figure", args=[project.slug, "noise-floor-by-generator",
                                                                      "json"]))
    pooled = next(r for r in json.loads(download.content) if r["id"] == x.pk)
    assert (pooled["wrong"], pooled["judged"]) == (5, 60)


# --- Comparing two generators ------------------------------------------------------------------------


def _two_generators_audited(project, lead, expert, *, wrong_steady: int, wrong_noisy: int):
    version = template_version(project)
    steady, noisy = generator(project, "steady"), generator(project, "noisy")
    add_samples(project, 60, gen=steady, template_version=version)
    add_samples(project, 60, gen=noisy, template_version=version)
    # 60:60 stratified into 120 items draws every sample of both generators.
    audit = _audit(project, lead, size=120)
    seen = {steady.pk: 0, noisy.pk: 0}
    wrong = {steady.pk: wrong_steady, noisy.pk: wrong_noisy}

    def outcome(index: int, item: AuditItem) -> str:
        generator_id = item.sample.generator_id
        seen[generator_id] += 1
        return "wrong" if seen[generator_id] <= wrong[generator_id] else "correct"

    assert _review(audit, expert, outcome).status == "closed"
    assert seen == {steady.pk: 60, noisy.pk: 60}
    return steady, noisy


def test_1_of_60_against_12_of_60_is_significant_and_names_the_noisier(project, lead, expert, client_for):
    steady, noisy = _two_generators_audited(project, lead, expert, wrong_steady=1, wrong_noisy=12)
    comparison = noise_floor_compare(project, "generator", steady.pk, noisy.pk)
    # Fisher's exact test on [[1, 59], [12, 48]]: margins 60 and 60 rows, 13 wrong, N = 120. Under the null
    # the first row's wrong count x is hypergeometric, P(x) = C(60, x)·C(60, 13 − x) / C(120, 13), with
    # C(120, 13) = 87,586,833,265,107,120:
    #   P(0) = C(60, 13) / C(120, 13) = 5,166,863,427,600 / … = 0.0000590
    #   P(1) = 60·C(60, 12) / C(120, 13) = 83,961,530,698,500 / … = 0.0009586
    # The rows are the same size, so P(x) = P(13 − x); the tables no likelier than x = 1 are x = 0, 1, 12, 13:
    #   p = 2·(0.0000590 + 0.0009586) = 0.002035
    assert comparison.p_value == pytest.approx(0.002035, rel=1e-3)
    assert comparison.significant
    assert comparison.sentence.startswith("noisy is noisier than steady")
    # The same, asked the other way round, still names the noisier one first.
    assert noise_floor_compare(project, "generator", noisy.pk, steady.pk).sentence.startswith(
        "noisy is noisier than steady")
    url = f"{reverse('noise_floor', args=[project.slug])}?compare=generator&first={steady.pk}&second={noisy.pk}"
    page = body(client_for(lead).get(url))
    assert "noisy is noisier than steady" in page and "p = 0.002" in page


def test_3_of_60_against_5_of_60_is_too_small_to_tell_apart(project, lead, expert, client_for):
    steady, noisy = _two_generators_audited(project, lead, expert, wrong_steady=3, wrong_noisy=5)
    comparison = noise_floor_compare(project, "generator", steady.pk, noisy.pk)
    # [[3, 57], [5, 55]]: 8 wrong, P(x) = C(60, x)·C(60, 8 − x) / C(120, 8). The likeliest table is x = 4,
    # P(4) = C(60, 4)² / C(120, 8) = 487,635² / 840,261,910,995 = 0.28299; every other table is no likelier than
    # the observed P(3) = 0.22242 (P(3) = P(5)), so p = 1 − P(4) = 0.71701.
    assert comparison.p_value == pytest.approx(0.71701, rel=1e-3)
    assert not comparison.significant
    # Detectable difference (80% power, 5% level): (1.959964 + 0.841621)·√(p̄(1 − p̄)(1/60 + 1/60)),
    # p̄ = 8/120 = 0.066667: 2.801585·√(0.062222·0.033333) = 2.801585·0.045542 = 0.1276: "about 13 percentage points".
    assert comparison.detectable == pytest.approx(0.1276, abs=5e-4)
    assert "too small to tell steady and noisy apart" in comparison.sentence
    assert "about 13 percentage points" in comparison.sentence
    url = f"{reverse('noise_floor', args=[project.slug])}?compare=generator&first={steady.pk}&second={noisy.pk}"
    page = body(client_for(lead).get(url))
    assert "too small to tell steady and noisy apart" in page
    assert "is noisier than" not in page


# --- Unsure and split verdicts -------------------------------------------------------------------------


def test_unsure_is_shown_beside_the_noise_floor_not_in_it(project, lead, expert, client_for):
    add_samples(project, 10)
    values = ["wrong"] * 2 + ["correct"] * 6 + ["unsure"] * 2
    audit = _review(_audit(project, lead, size=10), expert, lambda index, item: values[index])
    assert audit.status == "closed"
    floor = audit.frozen_figures["noise_floor"]
    # wrong / (wrong + correct) = 2 / 8; the two unsure are beside it: 2 of the 10 items.
    assert (floor["wrong"], floor["correct"], floor["judged"], floor["unsure"], floor["split"]) == (2, 6, 8, 2, 0)
    assert floor["rate"] == pytest.approx(0.25)
    assert floor["unsure_share"] == pytest.approx(0.2)
    page = body(client_for(expert).get(reverse("audit_detail", args=[project.slug, audit.pk])))
    assert 'data-testid="noise-floor-rate">25.0%<' in page
    assert "(2 of 8 judged)" in page
    assert 'data-testid="noise-floor-unsure">2<' in page
    pooled = noise_floor_by(project, "generator")[0]
    assert (pooled.wrong, pooled.floor.judged, pooled.unsure) == (2, 8, 2)


def test_a_split_item_counts_beside_the_noise_floor_until_a_lead_decides(project, lead, expert, django_user_model,
                                                                        client_for):
    add_samples(project, 10)
    second = django_user_model.objects.create_user("second-expert", password="x")
    project.memberships.create(user=second, role="expert")
    audit = _audit(project, lead, size=10, overlap=2)
    # Both reviewers: 2 wrong, 6 correct, 1 unsure; the last item is correct for one and wrong for the other.
    values = ["wrong"] * 2 + ["correct"] * 6 + ["unsure", "correct"]
    _review(audit, expert, lambda index, item: values[index])
    _review(audit, second, lambda index, item: "wrong" if index == 9 else values[index])
    assert audit.status == "open"  # a split waits for a decision
    response = client_for(lead).get(reverse("audit_detail", args=[project.slug, audit.pk]))
    assert "split verdicts awaiting a decision: <strong>1</strong>" in body(response)
    audit_close(audit=audit, actor=lead)
    audit.refresh_from_db()
    floor = audit.frozen_figures["noise_floor"]
    assert (floor["wrong"], floor["correct"], floor["judged"], floor["unsure"], floor["split"]) == (2, 6, 8, 1, 1)
    # Unsure share: (1 unsure + 1 split) / 10 items.
    assert floor["unsure_share"] == pytest.approx(0.2)
    pooled = noise_floor_by(project, "generator")[0]
    assert (pooled.wrong, pooled.floor.judged, pooled.unsure, pooled.split) == (2, 8, 1, 1)


# --- Frozen figures --------------------------------------------------------------------------------------


def test_closed_audits_figures_do_not_move(project, lead, expert, client_for):
    add_samples(project, 10)
    audit = _review(_audit(project, lead, size=10), expert, _first_wrong(2))
    assert audit.status == "closed"
    frozen = copy.deepcopy(audit.frozen_figures)
    items = _items(audit)

    Verdict.objects.filter(audit=audit, sample_id=items[0].sample_id).delete()
    # The live count would now read 1 wrong of 9: the deletion is real, the frozen figure ignores it.
    assert audit_figures_compute(audit)["noise_floor"]["wrong"] == 1
    with pytest.raises(AuditClosed):
        audit_adjudicate(audit=audit, sample_id=items[1].sample_id, actor=lead, value="correct")
    with pytest.raises(AuditClosed):
        audit_verdict_record(audit=audit, sample_id=items[0].sample_id, reviewer=expert, value="correct")
    with pytest.raises(AuditClosed):
        audit_close(audit=audit, actor=lead, reason="again")
    adjudicate = reverse("audit_adjudicate", args=[project.slug, audit.pk])
    client_for(lead).post(adjudicate, {"sample": items[1].sample_id, "value": "correct"})

    audit.refresh_from_db()
    assert audit.frozen_figures == frozen
    assert audit_figures(audit) == frozen
    assert noise_floor_by(project, "generator")[0].wrong == 2
    page = body(client_for(lead).get(reverse("audit_detail", args=[project.slug, audit.pk])))
    assert 'data-testid="noise-floor-rate">20.0%<' in page


# --- Who sees an open audit's figures ----------------------------------------------------------------------


def test_experts_see_progress_not_the_running_noise_floor_leads_see_both(project, lead, expert, client_for):
    add_samples(project, 10)
    audit = _audit(project, lead, size=10)
    values = ["wrong", "correct", "correct"]
    for item, value in zip(_items(audit), values):
        audit_verdict_record(audit=audit, sample_id=item.sample_id, reviewer=expert, value=value)
    url = reverse("audit_detail", args=[project.slug, audit.pk])
    as_expert, as_lead = body(client_for(expert).get(url)), body(client_for(lead).get(url))
    assert 'data-testid="audit-verdicts">3 of 10 verdicts<' in as_expert
    assert 'data-testid="noise-floor"' not in as_expert
    assert "33.3%" not in as_expert
    assert 'data-testid="audit-verdicts">3 of 10 verdicts<' in as_lead
    assert 'data-testid="noise-floor-rate">33.3%<' in as_lead  # 1 wrong of 3 judged


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
    _review(_audit(project, lead, size=10), expert, _first_wrong(1))
    now = timezone.now()
    metrics = {"duplicate_share": 0.2, "distinct_2": 0.5, "vendi_score": 3.0, "copy_share": 0.0,
               "novelty_histogram": {"edges": [0.0, 0.5, 1.0], "counts": [4, 6]},
               "nearest_real": {"edges": [0.0, 0.5, 1.0], "counts": [7, 3], "copy_share": 0.0},
               "class_balance": [{"label": "no", "real": 2, "synthetic": 0, "synthetic_share": 0.0},
                                 {"label": "yes", "real": 0, "synthetic": 10, "synthetic_share": 1.0}],
               "mix": {"real": 2, "synthetic": 10}}
    QualitySnapshot.objects.create(project=project, scope=SnapshotScope.PROJECT, scope_label="All synthetic samples",
                                   computed_at=now, sample_count=10, metrics=metrics)
    QualitySnapshot.objects.create(project=project, scope=SnapshotScope.GENERATOR, scope_id=formula.pk,
                                   scope_label=FORMULA_NAME, computed_at=now, sample_count=10, metrics=metrics)
    Alert.objects.create(project=project, metric="duplicate_share", scope_key="project:0",
                         scope_label="all synthetic samples", value=0.2, limit=0.1, message="Duplicates: 20%.")
    return formula


# The columns of the downloads a lead opens most, written out: each row's fields in reading order.
EXPECTED_HEADERS = {
    "noise-floor-by-generator": ["generator", "label", "id", "audits", "correct", "wrong", "unsure", "split",
                                 "judged", "rate", "low", "high"],
    "noise-floor-trend": ["generator", "closed_at", "rate", "low", "high"],
    "novelty-histogram": ["low", "high", "count"],
    "nearest-real-histogram": ["low", "high", "count"],
    "mix": ["origin", "count"],
    "class-balance": ["label", "real", "synthetic", "synthetic_share"],
}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_every_figure_downloads_for_a_lead_and_is_refused_to_an_expert(fmt, project, lead, expert, dashboard_data,
                                                                       client_for):
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
        table = _csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, name, "csv"])))
        assert table[0] == list(dict.fromkeys(key for row in rows for key in row)), name
        assert len(table) - 1 == len(rows), name
        if name in EXPECTED_HEADERS:
            assert table[0] == EXPECTED_HEADERS[name], name
    mix = _csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, "mix", "csv"])))
    assert dict(mix[1:]) == {"real": "2", "synthetic": "10"}


def test_a_formula_name_is_escaped_in_csv_and_intact_in_json(project, lead, dashboard_data, client_for):
    client = client_for(lead)
    for name in ("noise-floor-by-generator", "noise-floor-trend"):
        table = _csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, name, "csv"])))
        header, cells = table[0], table[1]
        assert cells[header.index("generator")] == "'" + FORMULA_NAME, name
        rows = json.loads(client.get(reverse("dashboard_figure", args=[project.slug, name, "json"])).content)
        assert rows[0]["generator"] == FORMULA_NAME, name
    by_generator = _csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, "noise-floor-by-generator",
                                                                          "csv"])))
    cells = dict(zip(by_generator[0], by_generator[1]))
    assert cells["label"] == "'" + FORMULA_NAME
    # Numbers stay numbers: 1 wrong of 10.
    assert (cells["wrong"], cells["judged"]) == ("1", "10")
    metrics = _csv_rows(client.get(reverse("dashboard_figure", args=[project.slug, "quality-metrics", "csv"])))
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
    QualitySnapshot.objects.bulk_create([
        QualitySnapshot(project=project, scope=scope, scope_id=scope_id, scope_label=label, computed_at=now,
                        sample_count=10, metrics={"duplicate_share": 0.01, "distinct_2": 0.6,
                                                  "novelty_histogram": {"edges": [0, 0.5, 1], "counts": [1, 2]}})
        for scope, scope_id, label in rows])


def _acknowledged_alert(project, lead, metric: str) -> None:
    Alert.objects.create(project=project, metric=metric, scope_key="project:0", scope_label="all synthetic samples",
                         value=0.5, limit=0.1, message=f"{metric} slipped", acknowledged_at=timezone.now(),
                         acknowledged_by=lead)


def test_dashboard_and_noise_floor_queries_do_not_grow_with_samples_or_audits(project, lead, expert, client_for,
                                                                              django_assert_max_num_queries):
    version = template_version(project)
    gens = [generator(project, "gen-a"), generator(project, "gen-b")]
    runs = [run(project, "run-1", version, *gens)]
    for gen in gens:
        add_samples(project, 10, gen=gen, run=runs[0], template_version=version)
    _review(_audit(project, lead, size=10), expert, _first_wrong(1))
    _snapshot_pass(project, runs, gens)
    _acknowledged_alert(project, lead, "duplicate_share")
    client = client_for(lead)
    first_audit = Audit.objects.get(project=project)
    pages = [reverse("dashboard", args=[project.slug]), reverse("noise_floor", args=[project.slug]),
             f"{reverse('noise_floor', args=[project.slug])}?compare=generator&first={gens[0].pk}&second={gens[1].pk}",
             reverse("audit_detail", args=[project.slug, first_audit.pk])]
    small = {url: _queries(client, url) for url in pages}

    for gen in gens:
        add_samples(project, 90, gen=gen, run=runs[0], template_version=version)
    assert Sample.objects.filter(project=project).count() == 200
    for seed in (2, 3):
        _review(_audit(project, lead, size=10, seed=seed), expert, _first_wrong(2))
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
    response = client_for(lead).post(url, {"limit_duplicate_share": "15", "enabled_duplicate_share": "on",
                                           "limit_length_distance": "0.4", "enabled_length_distance": "on"})
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


@pytest.mark.parametrize(("field", "raw"), [
    ("limit_copy_share", "abc"),
    ("limit_copy_share", "150"),  # a share over 100%
    ("limit_copy_share", "-5"),
    ("limit_length_distance", "nan"),  # would never slip: NaN compares false with everything
    ("limit_drift", "inf"),
])
def test_a_bad_number_shows_an_error_and_changes_nothing(field, raw, project, lead, client_for):
    before = _thresholds(project)
    # duplicate_share is read before the bad field, so an all-or-nothing save must take it back.
    response = client_for(lead).post(reverse("alert_settings", args=[project.slug]),
                                     {"limit_duplicate_share": "15", "enabled_duplicate_share": "on", field: raw})
    assert response.status_code == 400
    assert 'data-testid="settings-errors"' in body(response)
    assert _thresholds(project) == before == {}


def test_a_lead_posting_a_webhook_url_is_refused_and_nothing_changes(project, lead, client_for):
    response = client_for(lead).post(reverse("alert_settings", args=[project.slug]), {
        "limit_duplicate_share": "15", "enabled_duplicate_share": "on", "email_recipients": "ops@example.org",
        "webhook_url": "https://hooks.example.org/alerts"})
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
    from reviews.services.groups import duplicate_group_mark_not_duplicates
    from reviews.similarity.build import similarity_build
    from reviews.similarity.embeddings import embeddings_compute
    from synthreview.access import get_project_for_user

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
    spider_group = next(g for g in DuplicateGroup.objects.filter(project=project)
                        if set(g.members.values_list("sample_id", flat=True)) == spiders)
    loop_group = DuplicateGroup.objects.get(project=project, members__sample=loop[0])
    assert set(loop_group.members.values_list("sample_id", flat=True)) == {s.pk for s in loop}
    duplicate_group_mark_not_duplicates(access=get_project_for_user(lead, project.slug, "review"), actor=lead,
                                        group_id=spider_group.pk)

    snapshots = quality_snapshots_compute(project_id=project.pk)
    by_scope = {(s.scope, s.scope_id): s for s in snapshots}
    assert {key: s.sample_count for key, s in by_scope.items()} == {
        ("project", None): 10, ("run", loop_run.pk): 4, ("run", varied_run.pk): 6,
        ("generator", looper.pk): 4, ("generator", varied.pk): 6}
    assert QualitySnapshot.objects.filter(project=project).count() == 5

    synthetic = Sample.objects.filter(project=project, origin=Origin.SYNTHETIC)
    duplicated = (DuplicateGroupMember.objects.filter(group__project=project, sample__origin=Origin.SYNTHETIC)
                  .exclude(group__status=DuplicateGroupStatus.NOT_DUPLICATES)
                  .values_list("sample_id", flat=True).distinct())
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
    assert project_snapshot.metrics["mix"] == {"real": real_count, "synthetic": synthetic.count()} == {
        "real": 5, "synthetic": 10}

    # Over the default 10% limit: the project (40%) and the looping run (100%); generators raise no alert.
    raised = Alert.objects.filter(project=project, metric="duplicate_share")
    assert set(raised.values_list("scope_key", flat=True)) == {"project:0", f"run:{loop_run.pk}"}
    assert not Alert.objects.filter(project=project, scope_key__startswith="generator:").exists()
