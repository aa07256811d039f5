"""A closed audit's noise floor is read back as NoiseFloorFigures from the JSON it froze: an audit
closed before the dataclass existed (a hand-written dict in the stored shape) loads with the figures
it closed with, writes back the same JSON, and every page shows the same numbers."""

from __future__ import annotations

import copy

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.metrics import BreakdownFloor, NoiseFloorFigures
from reviews.models import Audit, AuditStatus
from reviews.selectors.audits import audit_figures_compute
from tests.reviews.audit_helpers import audit_drawn, first_wrong, review_all
from tests.reviews.review_helpers import add_samples, body, generator

pytestmark = pytest.mark.django_db

# 2 wrong of 10 judged, 1 unsure and 1 split beside them. The bounds are stored rounded to four places,
# as an audit frozen by another version of the formula might hold them: reading must not recompute them.
STORED_FLOOR = {
    "correct": 8,
    "wrong": 2,
    "unsure": 1,
    "split": 1,
    "judged": 10,
    "rate": 0.2,
    "low": 0.0567,
    "high": 0.5098,
    "unsure_share": 2 / 12,
}


def _old_closed_audit(project, gen) -> Audit:
    row = {"id": gen.pk, "label": gen.name, "items": 12, **STORED_FLOOR}
    figures = {
        "computed_at": "2025-01-15T10:00:00+00:00",
        "items": 12,
        "gold_items": 0,
        "overlap": 1,
        "verdicts_needed": 12,
        "verdicts_given": 12,
        "complete": True,
        "noise_floor": dict(STORED_FLOOR),
        "breakdowns": {"generator": [row], "template_version": [], "run": []},
        "error_categories": [{"category": "wrong_label", "label": "Wrong label", "count": 2, "share": 1.0}],
        "reviewers": [],
        "agreement": {"method": None, "value": None, "items": 0, "reviewers": 1, "note": ""},
        "disagreements": [],
        "open_disagreements": 0,
    }
    return Audit.objects.create(
        project=project,
        name="Closed long ago",
        scope="project",
        seed=1,
        sample_size=12,
        status=AuditStatus.CLOSED,
        frozen_figures=figures,
        closed_at=timezone.now(),
        drawn_through_sample_id=0,
    )


def test_a_stored_noise_floor_loads_with_the_figures_it_froze_and_writes_back_the_same_json():
    floor = NoiseFloorFigures.from_json(STORED_FLOOR)
    assert (floor.correct, floor.wrong, floor.unsure, floor.split, floor.judged) == (8, 2, 1, 1, 10)
    assert (floor.rate, floor.low, floor.high) == (0.2, 0.0567, 0.5098)
    assert floor.unsure_share == pytest.approx(2 / 12)
    assert floor.to_json() == STORED_FLOOR
    assert list(floor.to_json()) == list(STORED_FLOOR)


def test_a_stored_noise_floor_without_split_reads_it_as_none_left_out():
    older = {key: value for key, value in STORED_FLOOR.items() if key not in ("split", "unsure_share")}
    floor = NoiseFloorFigures.from_json(older)
    assert (floor.split, floor.unsure_share, floor.high) == (0, None, 0.5098)


def test_counts_give_the_figures_closing_freezes():
    floor = NoiseFloorFigures.from_counts(correct=8, wrong=2, unsure=1, split=1)
    # Wilson (1927), 2 wrong of 10: 0.0567 to 0.5098, as in test_audit_flow.
    assert (floor.judged, floor.rate) == (10, 0.2)
    assert floor.low == pytest.approx(0.0567, abs=5e-4) and floor.high == pytest.approx(0.5098, abs=5e-4)
    assert floor.unsure_share == pytest.approx(2 / 12)
    nothing = NoiseFloorFigures.from_counts(correct=0, wrong=0, unsure=3, split=0)
    assert (nothing.rate, nothing.low, nothing.high) == (None, None, None)


def test_a_breakdown_row_round_trips_flat(project):
    row = {"id": 7, "label": "gen-x", "items": 12, **STORED_FLOOR}
    loaded = BreakdownFloor.from_json(row)
    assert (loaded.id, loaded.label, loaded.items, loaded.floor.high) == (7, "gen-x", 12, 0.5098)
    assert loaded.to_json() == row


def test_an_old_closed_audit_reads_as_typed_figures(project):
    gen = generator(project, "gen-x")
    audit = _old_closed_audit(project, gen)
    stored = copy.deepcopy(audit.frozen_figures)
    audit.refresh_from_db()
    assert audit.frozen_noise_floor == NoiseFloorFigures.from_json(STORED_FLOOR)
    (row,) = audit.frozen_breakdown("generator") or []
    assert (row.id, row.label, row.floor.wrong, row.floor.judged) == (gen.pk, "gen-x", 2, 10)
    assert audit.frozen_breakdown("run") == []
    assert audit.frozen_figures == stored, "reading never rewrites what was frozen"


def test_an_open_audit_has_no_frozen_noise_floor(project, lead):
    add_samples(project, 10, gen=generator(project, "gen-x"))
    audit = audit_drawn(project, lead, size=10)
    assert audit.frozen_noise_floor is None and audit.frozen_breakdown("generator") is None


def test_closing_freezes_the_json_the_dataclass_writes(project, lead, expert):
    add_samples(project, 10, gen=generator(project, "gen-x"))
    audit = review_all(audit_drawn(project, lead, size=10), expert, first_wrong(2))
    assert audit.status == "closed"
    floor = audit.frozen_noise_floor
    assert floor is not None and (floor.wrong, floor.judged) == (2, 10)
    assert audit.frozen_figures["noise_floor"] == floor.to_json()
    assert audit_figures_compute(audit)["noise_floor"] == floor.to_json()


def test_pages_show_an_old_closed_audits_stored_numbers(project, lead, client_for):
    gen = generator(project, "gen-x")
    audit = _old_closed_audit(project, gen)
    client = client_for(lead)

    detail = body(client.get(reverse("audit_detail", args=[project.slug, audit.pk])))
    assert 'data-testid="noise-floor-rate">20.0%<' in detail
    assert "(2 of 10 judged)" in detail
    assert 'data-testid="noise-floor-interval">5.7% – 51.0%<' in detail
    assert 'data-testid="noise-floor-unsure">1<' in detail

    listing = body(client.get(reverse("audit_list", args=[project.slug])))
    assert "20.0%" in listing and "(5.7%–51.0%)" in listing

    dashboard = body(client.get(reverse("dashboard", args=[project.slug])))
    assert "20.0% <span" in dashboard and "(2/10)" in dashboard and "5.7%–51.0%" in dashboard

    floor_page = body(client.get(reverse("noise_floor", args=[project.slug])))
    assert 'data-testid="split-left-out">1<' in floor_page
    assert "2 wrong of 10" in floor_page
