"""The audit form's planner redraws from whatever a lead typed, even input the form refuses."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("sample_size", "rate"),
    [("abc", "10"), ("-5", "10"), ("60", "500"), ("0", "0"), ("9" * 40, "x"), ("²", "³")],
    ids=["words", "negative", "rate-over-100", "zeros", "huge", "superscripts"],
)
def test_a_refused_audit_form_is_a_400_with_the_planner_not_a_server_error(
    sample_size, rate, project, lead, client_for
):
    response = client_for(lead).post(
        reverse("audit_list", args=[project.slug]),
        {"name": "a", "scope": "project", "sample_size": sample_size, "expected_error_rate": rate},
    )
    assert response.status_code == 400
    assert 'id="plan"' in response.content.decode()
