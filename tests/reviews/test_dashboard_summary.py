"""The dashboard's top: what slipped, each linked to the table that shows it; and the quality
figures split into four narrower tables that together keep every column."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.models import QualitySnapshot, SnapshotScope
from reviews.selectors.dashboard import METRIC_COLUMNS
from reviews.selectors.dashboard_summary import METRIC_GROUPS
from tests.reviews.review_helpers import body

pytestmark = pytest.mark.django_db


def test_every_quality_column_is_in_exactly_one_group():
    grouped = [metric for _, _, metrics in METRIC_GROUPS for metric in metrics]
    assert sorted(grouped) == sorted(metric for metric, _, _ in METRIC_COLUMNS)
    assert len(grouped) == len(set(grouped))


def test_the_summary_lists_each_slipped_figure_with_its_scopes_and_a_link(project, lead, client_for):
    # Copies: limit 1%, 3% on the project slips. Length KS: limit 0.25, 0.9 on the run slips,
    # 0.1 on the project does not. Distinct-2 has no limit.
    now = timezone.now()
    for scope, scope_id, label, figures in [
        (SnapshotScope.PROJECT, None, "All synthetic samples", {"copy_share": 0.03, "length_distance": 0.1}),
        (SnapshotScope.RUN, 7, "run-<b>7</b>", {"copy_share": 0.0, "length_distance": 0.9, "distinct_2": 0.01}),
    ]:
        QualitySnapshot.objects.create(
            project=project,
            scope=scope,
            scope_id=scope_id,
            scope_label=label,
            computed_at=now,
            sample_count=10,
            metrics=figures,
        )

    page = body(client_for(lead).get(reverse("dashboard", args=[project.slug])))
    summary = page[page.index('data-testid="dash-summary"') : page.index('id="metrics"')]

    assert summary.count('data-testid="slipped-figure"') == 2
    copies = summary[summary.index('href="#metrics-privacy-drift">Copies</a>') :].split("</li>")[0]
    assert "All synthetic samples <strong>3.0%</strong>" in copies and "run-" not in copies
    length = summary[summary.index('href="#metrics-fidelity">Length KS</a>') :].split("</li>")[0]
    assert "run-&lt;b&gt;7&lt;/b&gt; <strong>0.900</strong>" in length and "All synthetic" not in length
    assert "Distinct-2" not in summary
    # The anchors the links point at exist.
    assert 'id="metrics-privacy-drift"' in page and 'id="metrics-fidelity"' in page


def test_the_summary_says_when_nothing_slipped(project, lead, client_for):
    QualitySnapshot.objects.create(
        project=project,
        scope=SnapshotScope.PROJECT,
        scope_label="All synthetic samples",
        computed_at=timezone.now(),
        sample_count=10,
        metrics={"copy_share": 0.0},
    )
    page = body(client_for(lead).get(reverse("dashboard", args=[project.slug])))
    assert 'data-testid="nothing-slipped"' in page and 'data-testid="slipped-figure"' not in page
