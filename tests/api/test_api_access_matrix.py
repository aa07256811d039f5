"""Every API operation × every caller × its method: anonymous 401, another project's token 404,
a role below the operation's 403, and the roles that may act get past the door. The operations
come from the OpenAPI schema, so a new one fails here until it is placed in the matrix. Ids of
another project's objects under this project's slug answer 404 to its own admin."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from generation.models import ImportBatch
from reviews.models import Audit
from synthreview.api import api
from synthreview.projects.models import Membership, Project, Role
from tests.conftest import PASSWORD
from tests.reviews.audit_helpers import audit_drawn
from tests.reviews.export_helpers import exported, synthetic_run

pytestmark = pytest.mark.django_db

# operation -> the lowest role that may call it (None: any signed-in caller, outside projects).
MATRIX: dict[tuple[str, str], str | None] = {
    ("GET", "/me"): None,
    ("GET", "/projects"): None,
    ("GET", "/projects/{slug}/generators"): "expert",
    ("GET", "/projects/{slug}/runs"): "expert",
    ("POST", "/projects/{slug}/runs"): "lead",
    ("GET", "/projects/{slug}/runs/{run_id}"): "expert",
    ("GET", "/projects/{slug}/duplicate-groups"): "expert",
    ("GET", "/projects/{slug}/variant-families"): "expert",
    ("GET", "/projects/{slug}/clusters"): "expert",
    ("GET", "/projects/{slug}/quality"): "lead",
    ("GET", "/projects/{slug}/alerts"): "lead",
    ("GET", "/projects/{slug}/verdicts"): "expert",
    ("POST", "/projects/{slug}/verdicts"): "expert",
    ("POST", "/projects/{slug}/audits/{audit_id}/verdicts"): "expert",
    ("GET", "/projects/{slug}/audits"): "expert",
    ("POST", "/projects/{slug}/audits"): "lead",
    ("GET", "/projects/{slug}/audits/{audit_id}"): "expert",
    ("POST", "/projects/{slug}/audits/{audit_id}/close"): "lead",
    ("GET", "/projects/{slug}/noise-floor"): "lead",
    ("GET", "/projects/{slug}/samples"): "expert",
    ("POST", "/projects/{slug}/samples"): "lead",
    ("GET", "/projects/{slug}/samples/{sample_id}"): "expert",
    ("GET", "/projects/{slug}/samples/{sample_id}/neighbours"): "expert",
    ("GET", "/projects/{slug}/imports/{batch_id}"): "lead",
    ("GET", "/projects/{slug}/exports"): "lead",
    ("POST", "/projects/{slug}/exports"): "lead",
    ("GET", "/projects/{slug}/exports/{export_id}"): "lead",
    ("GET", "/projects/{slug}/exports/{export_id}/file"): "lead",
    ("GET", "/projects/{slug}/exports/{export_id}/manifest"): "lead",
    ("GET", "/projects/{slug}/eval-set/versions"): "lead",
    ("POST", "/projects/{slug}/eval-set/versions"): "lead",
}
RANK = {"expert": 1, "lead": 2, "admin": 3}
DOOR_CLOSED = {401, 403, 404}


def _schema_operations() -> set[tuple[str, str]]:
    paths = api.get_openapi_schema()["paths"]
    return {
        (method.upper(), path.removeprefix("/api/v1")) for path, operations in paths.items() for method in operations
    }


@dataclass
class World:
    """One project's objects that the API names by id."""

    project: Project
    ids: dict[str, int]
    bodies: dict[tuple[str, str], object]


def _world(project: Project, lead) -> World:
    generation_run, samples = synthetic_run(project, f"run-{project.slug}", 14, status="accepted")
    sample = samples[0]
    audit = audit_drawn(project, lead, size=10)
    # Past every gate where the project allows it (the audit gate by a lead's override), so its file exists.
    export = exported(project, lead, audit_override_reason="the access matrix needs a written file")
    batch = ImportBatch.objects.create(project=project, file_name="m.jsonl", format="jsonl", status="completed")
    ids = {
        "sample_id": sample.pk,
        "audit_id": audit.pk,
        "export_id": export.pk,
        "run_id": generation_run.pk,
        "batch_id": batch.pk,
    }
    item_sample = audit.items.order_by("position").values_list("sample_id", flat=True).first()
    free = next(s for s in samples if not audit.items.filter(sample=s).exists())
    bodies: dict[tuple[str, str], object] = {
        ("POST", "/projects/{slug}/runs"): {
            "name": "matrix run",
            "template_version": generation_run.template_version_id,
            "generators": [samples[0].generator_id],
        },
        ("POST", "/projects/{slug}/verdicts"): {"sample_id": free.pk, "verdict": "correct", "revision": free.revision},
        ("POST", "/projects/{slug}/audits/{audit_id}/verdicts"): {"sample_id": item_sample, "verdict": "correct"},
        ("POST", "/projects/{slug}/audits"): {"scope": "project", "sample_size": 10},
        ("POST", "/projects/{slug}/audits/{audit_id}/close"): {"reason": "matrix"},
        ("POST", "/projects/{slug}/exports"): {"format": "jsonl"},
        ("POST", "/projects/{slug}/eval-set/versions"): {"note": "matrix"},
    }
    return World(project=project, ids=ids, bodies=bodies)


@pytest.fixture
def worlds(project, other_project, lead, outsider):
    return _world(project, lead), _world(other_project, outsider)


def _call(client, method: str, template: str, world: World, ids: dict[str, int] | None = None):
    values = {"slug": world.project.slug, **(ids or world.ids)}
    path = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), template)
    if (method, template) == ("POST", "/projects/{slug}/samples"):
        return client.post_raw(
            path + "?origin=real", b'{"input": "q", "output": "a matrix answer"}\n', "application/x-ndjson"
        )
    if method == "POST":
        return client.post(path, world.bodies.get((method, template), {}))
    return client.get(path)


def test_every_operation_is_in_the_matrix():
    assert _schema_operations() == set(MATRIX)


@pytest.fixture
def callers(api_for, project, other_project, expert, lead, admin_member, outsider):
    dual = get_user_model().objects.create_user(username="dana-dual", password=PASSWORD)
    Membership.objects.create(user=dual, project=project, role=Role.ADMIN)
    Membership.objects.create(user=dual, project=other_project, role=Role.ADMIN)
    return {
        "anonymous": (api_for(None), None),
        "outsider": (api_for(outsider), None),
        "token of another project": (api_for(dual, project=other_project), None),
        "expert": (api_for(expert), "expert"),
        "lead capped at expert": (api_for(lead, role_cap="expert"), "expert"),
        "lead": (api_for(lead), "lead"),
        "admin": (api_for(admin_member), "admin"),
    }


@pytest.mark.parametrize(("method", "template"), sorted(MATRIX))
def test_each_caller_meets_the_right_door(method, template, worlds, callers, settings):
    settings.API_RATE_LIMIT = "100000/min"
    own, _ = worlds
    needed = MATRIX[(method, template)]
    problems = []
    for name, (client, role) in callers.items():
        status = _call(client, method, template, own).status_code
        if name == "anonymous":
            expected = "401"
            ok = status == 401
        elif needed is None:
            expected, ok = "200", status == 200
        elif role is None:
            expected, ok = "404", status == 404
        elif RANK[role] < RANK[needed]:
            expected, ok = "403", status == 403
        else:
            expected, ok = "through the door", status not in DOOR_CLOSED and status < 500
        if not ok:
            problems.append(f"{name}: {status}, expected {expected}")
    assert not problems, f"{method} {template}: " + "; ".join(problems)


ID_OPERATIONS = sorted(key for key in MATRIX if re.search(r"{\w+_id}", key[1]))


@pytest.mark.parametrize(("method", "template"), ID_OPERATIONS)
def test_another_projects_ids_under_this_slug_are_404(method, template, worlds, api_for, admin_member):
    own, other = worlds
    response = _call(api_for(admin_member), method, template, own, ids=other.ids)
    assert response.status_code == 404, f"{method} {template}: {response.status_code}"
    assert response.json()["code"] == "not_found"


def test_a_refused_write_changes_nothing(worlds, api_for, expert):
    own, _ = worlds
    audits_before = Audit.objects.filter(project=own.project).count()
    batches_before = ImportBatch.objects.filter(project=own.project).count()
    client = api_for(expert)
    assert _call(client, "POST", "/projects/{slug}/audits", own).status_code == 403
    assert _call(client, "POST", "/projects/{slug}/samples", own).status_code == 403
    assert Audit.objects.filter(project=own.project).count() == audits_before
    assert ImportBatch.objects.filter(project=own.project).count() == batches_before
