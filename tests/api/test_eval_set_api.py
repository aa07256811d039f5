"""The eval set's versions through the API: a lead freezes the eval split, everyone who may open
the eval-set page lists the versions, and what the service refuses is a 422."""

from __future__ import annotations

import hashlib

import pytest

from generation.models import Origin
from reviews.models import EvalSetVersion
from reviews.services.eval_sets import eval_split_add
from synthreview.projects.models import AuditLog
from tests.reviews.export_helpers import lead_access
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db

PATH = "projects/math/eval-set/versions"


def _in_eval_split(project, lead, count: int):
    real = add_samples(project, count, origin=Origin.REAL)
    eval_split_add(lead_access(project, lead), sample_ids=[s.pk for s in real])
    return real


def _members_hash(samples) -> str:
    """sha256 over the sorted content hashes, one a line, worked here from the eval set's definition."""
    lines = "".join(f"{h}\n" for h in sorted(s.content_hash for s in samples))
    return hashlib.sha256(lines.encode("ascii")).hexdigest()


def test_a_lead_freezes_the_eval_split_and_lists_the_versions(project, lead, api_for):
    first = _in_eval_split(project, lead, 3)
    client = api_for(lead)

    response = client.post(PATH, {"note": "first cut"})
    assert response.status_code == 201
    v1 = response.json()
    assert (v1["number"], v1["size"], v1["note"], v1["frozen_by"]) == (1, 3, "first cut", "lee-lead")
    assert v1["hash"] == _members_hash(first)
    assert AuditLog.objects.filter(action="eval_set.version_create", actor=lead).count() == 1

    second = _in_eval_split(project, lead, 2)
    v2 = client.post(PATH, {}).json()
    assert (v2["number"], v2["size"], v2["note"]) == (2, 5, "")
    assert v2["hash"] == _members_hash([*first, *second])

    listed = client.get(PATH).json()
    assert [(v["number"], v["size"], v["hash"]) for v in listed["items"]] == [
        (2, 5, v2["hash"]),
        (1, 3, v1["hash"]),
    ]
    assert listed["next_cursor"] is None


def test_an_unchanged_or_empty_split_is_refused_with_the_services_reason(project, lead, api_for):
    client = api_for(lead)
    response = client.post(PATH, {})
    assert response.status_code == 422
    assert "eval split is empty" in response.json()["message"]
    _in_eval_split(project, lead, 2)
    assert client.post(PATH, {}).status_code == 201
    response = client.post(PATH, {"note": "again"})
    assert response.status_code == 422
    assert "has not changed since v1" in response.json()["message"]
    assert EvalSetVersion.objects.filter(project=project).count() == 1


def test_a_note_over_the_forms_limit_is_a_422_naming_it(project, lead, api_for):
    _in_eval_split(project, lead, 1)
    response = api_for(lead).post(PATH, {"note": "n" * 2001})
    assert (response.status_code, response.json()["field"]) == (422, "note")
    assert not EvalSetVersion.objects.exists()


def test_who_may_list_and_freeze(project, lead, admin_member, expert, outsider, api_for):
    _in_eval_split(project, lead, 2)
    assert api_for(None).get(PATH).status_code == 401
    assert api_for(None).post(PATH, {}).status_code == 401
    # The eval-set page is the leads' (its need is "export"); experts get 403 for both.
    assert api_for(expert).get(PATH).status_code == 403
    assert api_for(expert).post(PATH, {}).status_code == 403
    assert api_for(lead, role_cap="expert").post(PATH, {}).status_code == 403
    assert api_for(outsider).get(PATH).status_code == 404
    assert api_for(outsider).post(PATH, {}).status_code == 404
    assert not EvalSetVersion.objects.exists()
    assert api_for(admin_member).post(PATH, {}).status_code == 201
    assert api_for(lead).get(PATH).status_code == 200


def test_another_projects_versions_are_not_listed(project, other_project, lead, outsider, api_for):
    EvalSetVersion.objects.create(project=other_project, version=1, content_hash="f" * 64, member_count=4)
    assert api_for(lead).get(PATH).json()["items"] == []
    assert [v["size"] for v in api_for(outsider).get("projects/other/eval-set/versions").json()["items"]] == [4]


def test_versions_page_by_cursor(project, lead, api_for):
    client = api_for(lead)
    for _ in range(3):
        _in_eval_split(project, lead, 1)
        assert client.post(PATH, {}).status_code == 201
    first = client.get(PATH, {"limit": 2}).json()
    assert [v["number"] for v in first["items"]] == [3, 2]
    second = client.get(PATH, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [v["number"] for v in second["items"]] == [1] and second["next_cursor"] is None
    response = client.get(PATH, {"cursor": "x" * 300})
    assert (response.status_code, response.json()["field"]) == (422, "cursor")
