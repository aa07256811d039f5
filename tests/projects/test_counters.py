"""The per-project sample counters as pages read them: one small query, never a COUNT(*) over the samples."""

from __future__ import annotations

import pytest

from synthreview.projects.selectors.counters import sample_count
from synthreview.projects.services.counters import sample_count_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def counted(project, other_project):
    for origin, status, delta in [
        ("synthetic", "pending", 5),
        ("synthetic", "accepted", 3),
        ("real", "pending", 2),
        ("real", "rejected", 1),
    ]:
        sample_count_add(project_id=project.pk, origin=origin, status=status, delta=delta)
    sample_count_add(project_id=other_project.pk, origin="synthetic", status="pending", delta=100)


@pytest.mark.parametrize(
    ("origin", "status", "expected"),
    [
        (None, None, 11),
        ("synthetic", None, 8),
        (None, "pending", 7),
        ("real", "rejected", 1),
        ("real", "accepted", 0),
    ],
)
def test_sample_count_sums_the_projects_counters_by_origin_and_status(
    origin, status, expected, counted, project, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert sample_count(project.pk, origin=origin, status=status) == expected


def test_a_project_without_counters_has_no_samples(project):
    assert sample_count(project.pk) == 0
