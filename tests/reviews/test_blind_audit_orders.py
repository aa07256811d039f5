"""A blind audit stays blind in the sample browser's orders: ranking by a score that a held
item's row hides would tell that score, so held items are left out as a filter leaves them out."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import SampleSimilarity
from tests.reviews.test_blind_audit import blind_audit, fay  # noqa: F401  (the blind audit and its reviewer)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("order", ["novelty", "-novelty", "nearest_real"])
def test_an_order_by_a_score_leaves_held_items_out_as_a_filter_would(order, project, expert, blind_audit, client_for):
    # A held item's place in a novelty ranking tells what its row hides, as a novelty filter would.
    held = {sample.pk for sample in blind_audit["held"]}
    scored_held = set(SampleSimilarity.objects.filter(sample__in=held).values_list("sample_id", flat=True))
    assert scored_held, "the fixture scores some held items, so the order could list them"
    url = reverse("sample_list", args=[project.slug])
    ids = ",".join(str(pk) for pk in [*held, blind_audit["anchor"].pk, blind_audit["beside"].pk])
    for query in (f"?sort={order}", f"?sort={order}&ids={ids}"):
        response = client_for(expert).get(url + query)
        assert response.status_code == 200
        listed = {row.pk for row in response.context["page"].rows}
        assert listed, f"{query} lists the scored samples nobody holds"
        assert not listed & held, f"{query} lists held items {sorted(listed & held)}"
