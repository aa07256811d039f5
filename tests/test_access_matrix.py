"""Each role, an outsider and an anonymous visitor against each page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generation.models import ImportBatch

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture
def batch(project):
    return ImportBatch.objects.create(project=project, file_name="x.jsonl", format="jsonl", status="completed")


@pytest.fixture
def other_batch(other_project):
    return ImportBatch.objects.create(project=other_project, file_name="y.jsonl", format="jsonl")


def _pages(project, batch):
    return {
        "home": reverse("home"),
        "project": reverse("project_detail", args=[project.slug]),
        "import_new": reverse("import_new", args=[project.slug]),
        "import_detail": reverse("import_detail", args=[project.slug, batch.pk]),
        "templates": reverse("template_list", args=[project.slug]),
        "template_new": reverse("template_version_new", args=[project.slug]),
    }


# page -> expected status for expert, lead, admin, outsider
EXPECTED = {
    "home": (200, 200, 200, 200),
    "project": (200, 200, 200, 404),
    "import_new": (403, 200, 200, 404),
    "import_detail": (403, 200, 200, 404),
    "templates": (200, 200, 200, 404),
    "template_new": (403, 200, 200, 404),
}


@pytest.mark.parametrize("page", list(EXPECTED))
def test_role_matrix(page, project, batch, expert, lead, admin_member, outsider, client_for):
    url = _pages(project, batch)[page]
    for user, expected in zip((expert, lead, admin_member, outsider), EXPECTED[page]):
        response = client_for(user).get(url)
        assert response.status_code == expected, f"{user.username} on {page}: {response.status_code}"


@pytest.mark.parametrize("page", list(EXPECTED))
def test_anonymous_is_sent_to_login(page, project, batch, client):
    url = _pages(project, batch)[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_unknown_project_is_404_not_403(client_for, lead):
    assert client_for(lead).get("/p/does-not-exist/").status_code == 404


def test_lead_gets_404_for_other_projects_import_under_own_slug(project, other_batch, lead, client_for):
    url = reverse("import_detail", args=[project.slug, other_batch.pk])
    assert client_for(lead).get(url).status_code == 404


@pytest.mark.parametrize(("who", "expected"), [("outsider", 404), ("expert", 403)])
def test_post_to_import_without_the_role_creates_nothing(who, expected, request, project, client_for, tmp_path):
    upload = tmp_path / "a.jsonl"
    upload.write_text('{"input": "q", "output": "a"}\n')
    with open(upload, "rb") as fh:
        response = client_for(request.getfixturevalue(who)).post(
            reverse("import_new", args=[project.slug]), {"file": fh, "origin": "real"}
        )
    assert response.status_code == expected
    assert not ImportBatch.objects.filter(project=project).exists()


def test_home_lists_only_the_users_projects(project, other_project, lead, client_for):
    body = client_for(lead).get(reverse("home")).content.decode()
    assert project.name in body
    assert other_project.name not in body


def test_responses_forbid_inline_scripts(project, lead, client_for):
    response = client_for(lead).get(reverse("project_detail", args=[project.slug]))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


# --- the review pages ------------------------------------------------------------
# Each case gets a fresh project, so a POST that a role may make changes nothing
# the next role's case sees. htmx requests, so an allowed POST answers 200 with
# its partial instead of a redirect that would look like the anonymous one.


@pytest.fixture
def review_objects(project):
    from tests.reviews.review_helpers import add_samples, cluster, group

    first, second, third = add_samples(project, 3)
    return {
        "sample": first,
        "group": group(project, [first, second]),
        "cluster": cluster(project, 1, [third]),
        "member": second,
    }


def _review_pages(project, objects) -> dict[str, tuple[str, str, dict]]:
    from tests.reviews.review_helpers import members_token

    slug, sample, group = project.slug, objects["sample"], objects["group"]
    samples = reverse("sample_list", args=[slug])
    similarity = reverse("similarity_view", args=[slug])
    return {
        "queue": ("get", reverse("review_queue", args=[slug]), {}),
        "verdict": ("post", reverse("verdict_save", args=[slug, sample.pk]), {"value": "unsure", "revision": 0}),
        "undo": ("post", reverse("verdict_undo", args=[slug]), {}),
        "samples": ("get", samples, {}),
        "bulk_confirm": ("get", f"{reverse('samples_bulk', args=[slug])}?ids={sample.pk}&action=reject", {}),
        "bulk_post": (
            "post",
            reverse("samples_bulk", args=[slug]),
            {"ids": sample.pk, "action": "reject", "expected_count": 1},
        ),
        "detail": ("get", reverse("sample_detail", args=[slug, sample.pk]), {}),
        "similarity_groups": ("get", f"{similarity}?tab=groups", {}),
        "similarity_clusters": ("get", f"{similarity}?tab=clusters", {}),
        "similarity_map": ("get", f"{similarity}?tab=map", {}),
        "group_resolve": (
            "post",
            reverse("group_resolve", args=[slug, group.pk]),
            {"keep": sample.pk, "members": members_token(group)},
        ),
        "group_not_duplicates": (
            "post",
            reverse("group_not_duplicates", args=[slug, group.pk]),
            {"members": members_token(group)},
        ),
        "group_split": (
            "post",
            reverse("group_split", args=[slug, group.pk]),
            {"sample": objects["member"].pk, "members": members_token(group)},
        ),
        "similarity_status": ("get", reverse("similarity_status", args=[slug]), {}),
        "similarity_rerun": ("post", reverse("similarity_rerun", args=[slug]), {}),
        "similarity_refit": ("post", reverse("similarity_refit", args=[slug]), {}),
    }


# page -> expected status for expert, lead, admin, outsider (NEEDS in synthreview/projects/access.py:
# reviewing and viewing need an expert, a rerun needs a lead; the bulk POST redirects to the list;
# the status partial answers 286 when no job runs, which stops the polling)
REVIEW_EXPECTED = {
    "queue": (200, 200, 200, 404),
    "verdict": (200, 200, 200, 404),
    "undo": (200, 200, 200, 404),
    "samples": (200, 200, 200, 404),
    "bulk_confirm": (200, 200, 200, 404),
    "bulk_post": (302, 302, 302, 404),
    "detail": (200, 200, 200, 404),
    "similarity_groups": (200, 200, 200, 404),
    "similarity_clusters": (200, 200, 200, 404),
    "similarity_map": (200, 200, 200, 404),
    "group_resolve": (200, 200, 200, 404),
    "group_not_duplicates": (200, 200, 200, 404),
    "group_split": (200, 200, 200, 404),
    "similarity_status": (286, 286, 286, 404),
    "similarity_rerun": (403, 200, 200, 404),
    "similarity_refit": (403, 200, 200, 404),
}
ROLES = ("expert", "lead", "admin_member", "outsider")


def _review_state(project) -> tuple:
    from generation.models import Sample
    from reviews.models import DuplicateGroup, SimilarityJob, Verdict
    from synthreview.projects.models import AuditLog

    return (
        sorted(Sample.objects.filter(project=project).values_list("pk", "status", "revision")),
        sorted(DuplicateGroup.objects.filter(project=project).values_list("pk", "status", "size")),
        Verdict.objects.count(),
        AuditLog.objects.count(),
        SimilarityJob.objects.count(),
    )


@pytest.mark.parametrize("role", range(len(ROLES)), ids=ROLES)
@pytest.mark.parametrize("page", list(REVIEW_EXPECTED))
def test_review_page_role_matrix(page, role, request, project, review_objects, client_for):
    method, url, data = _review_pages(project, review_objects)[page]
    user = request.getfixturevalue(ROLES[role])
    before = _review_state(project)
    response = getattr(client_for(user), method)(url, data, headers={"HX-Request": "true"})
    expected = REVIEW_EXPECTED[page][role]
    assert response.status_code == expected, f"{user.username} on {page}: {response.status_code}"
    if expected == 302:
        assert not response["Location"].startswith(LOGIN)
    if expected in (403, 404):
        assert _review_state(project) == before, f"{user.username} changed something through {page}"


@pytest.mark.parametrize("page", list(REVIEW_EXPECTED))
def test_anonymous_is_sent_to_login_from_review_pages(page, project, review_objects, client):
    method, url, data = _review_pages(project, review_objects)[page]
    before = _review_state(project)
    response = getattr(client, method)(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert _review_state(project) == before


@pytest.fixture
def other_objects(other_project):
    from tests.reviews.review_helpers import add_samples, cluster, group

    first, second, third = add_samples(other_project, 3)
    return {
        "sample": first,
        "group": group(other_project, [first, second]),
        "cluster": cluster(other_project, 1, [third]),
        "member": second,
    }


def _other_project_urls(project, theirs) -> dict[str, tuple[str, str, dict]]:
    slug, sample, group = project.slug, theirs["sample"], theirs["group"]
    bulk = reverse("samples_bulk", args=[slug])
    return {
        "queue_sample": ("get", f"{reverse('review_queue', args=[slug])}?sample={sample.pk}", {}),
        "verdict": ("post", reverse("verdict_save", args=[slug, sample.pk]), {"value": "wrong", "revision": 0}),
        "detail": ("get", reverse("sample_detail", args=[slug, sample.pk]), {}),
        "similar_to": ("get", f"{reverse('sample_list', args=[slug])}?similar_to={sample.pk}", {}),
        "bulk_cluster_confirm": ("get", f"{bulk}?cluster={theirs['cluster'].pk}&action=reject", {}),
        "bulk_cluster_post": ("post", bulk, {"cluster": theirs["cluster"].pk, "action": "reject", "expected_count": 1}),
        "group_resolve": ("post", reverse("group_resolve", args=[slug, group.pk]), {"keep": sample.pk}),
        "group_not_duplicates": ("post", reverse("group_not_duplicates", args=[slug, group.pk]), {}),
        "group_split": ("post", reverse("group_split", args=[slug, group.pk]), {"sample": theirs["member"].pk}),
    }


@pytest.mark.parametrize(
    "page",
    [
        "queue_sample",
        "verdict",
        "detail",
        "similar_to",
        "bulk_cluster_confirm",
        "bulk_cluster_post",
        "group_resolve",
        "group_not_duplicates",
        "group_split",
    ],
)
def test_another_projects_objects_are_404_under_own_slug(
    page, project, other_project, review_objects, other_objects, admin_member, client_for
):
    method, url, data = _other_project_urls(project, other_objects)[page]
    before = _review_state(other_project)
    response = getattr(client_for(admin_member), method)(url, data, headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert _review_state(other_project) == before


# --- audits, the noise floor, the dashboard and alerts -----------------------------------------
# Plain requests, not htmx: these views answer an allowed POST with a redirect (302), which the
# anonymous case tells apart by where it points. NEEDS in synthreview/projects/access.py: taking part in
# an audit needs an expert; planning, closing, adjudicating, gold samples, the noise floor, the
# dashboard and its settings need a lead.


@pytest.fixture
def audit_objects(project, lead):
    from reviews.models import Alert
    from reviews.services.audits import audit_create
    from synthreview.projects.access import project_access
    from tests.reviews.review_helpers import add_samples

    add_samples(project, 12)
    real = add_samples(project, 1, origin="real")[0]
    audit = audit_create(project_access(lead, project), scope="project", sample_size=10, seed=1)
    alert = Alert.objects.create(
        project=project,
        metric="duplicate_share",
        scope_key="project:0",
        scope_label="all synthetic samples",
        value=0.2,
        limit=0.1,
        message="20%",
    )
    return {"audit": audit, "item": audit.items.order_by("position").first(), "real": real, "alert": alert}


def _audit_pages(project, objects) -> dict[str, tuple[str, str, dict]]:
    slug, audit = project.slug, objects["audit"]
    return {
        "audit_list": ("get", reverse("audit_list", args=[slug]), {}),
        "audit_create": (
            "post",
            reverse("audit_list", args=[slug]),
            {
                "scope": "project",
                "sample_size": 10,
                "expected_error_rate": 10,
                "overlap": 1,
                "gold_items": 0,
                "name": "",
                "seed": 5,
            },
        ),
        "audit_plan": ("get", f"{reverse('audit_plan', args=[slug])}?sample_size=60&expected_error_rate=10", {}),
        "audit_detail": ("get", reverse("audit_detail", args=[slug, audit.pk]), {}),
        "audit_queue": ("get", f"{reverse('review_queue', args=[slug])}?audit={audit.pk}", {}),
        "audit_close": ("post", reverse("audit_close", args=[slug, audit.pk]), {"reason": "stopping early"}),
        "audit_adjudicate": (
            "post",
            reverse("audit_adjudicate", args=[slug, audit.pk]),
            {"sample": objects["item"].sample_id, "value": "wrong"},
        ),
        "gold_set": ("post", reverse("gold_set", args=[slug, objects["real"].pk]), {"expected_value": "correct"}),
        "noise_floor": ("get", reverse("noise_floor", args=[slug]), {}),
        "dashboard": ("get", reverse("dashboard", args=[slug]), {}),
        "figure_csv": ("get", reverse("dashboard_figure", args=[slug, "noise-floor-by-generator", "csv"]), {}),
        "figure_json": ("get", reverse("dashboard_figure", args=[slug, "mix", "json"]), {}),
        "quality_recompute": ("post", reverse("quality_recompute", args=[slug]), {}),
        "alert_settings": ("get", reverse("alert_settings", args=[slug]), {}),
        "alert_settings_post": (
            "post",
            reverse("alert_settings", args=[slug]),
            {"limit_duplicate_share": "15", "enabled_duplicate_share": "on"},
        ),
        "alert_acknowledge": ("post", reverse("alert_acknowledge", args=[slug, objects["alert"].pk]), {}),
        "alerts_acknowledge": ("post", reverse("alerts_acknowledge", args=[slug]), {}),
        "alerts_snooze": ("post", reverse("alerts_snooze", args=[slug]), {"days": "1"}),
    }


# page -> expected status for expert, lead, admin, outsider
AUDIT_EXPECTED = {
    "audit_list": (200, 200, 200, 404),
    "audit_create": (403, 302, 302, 404),
    "audit_plan": (403, 200, 200, 404),
    "audit_detail": (200, 200, 200, 404),
    "audit_queue": (200, 200, 200, 404),
    "audit_close": (403, 302, 302, 404),
    "audit_adjudicate": (403, 302, 302, 404),
    "gold_set": (403, 302, 302, 404),
    "noise_floor": (403, 200, 200, 404),
    "dashboard": (403, 200, 200, 404),
    "figure_csv": (403, 200, 200, 404),
    "figure_json": (403, 200, 200, 404),
    "quality_recompute": (403, 302, 302, 404),
    "alert_settings": (403, 200, 200, 404),
    "alert_settings_post": (403, 302, 302, 404),
    "alert_acknowledge": (403, 302, 302, 404),
    "alerts_acknowledge": (403, 302, 302, 404),
    "alerts_snooze": (403, 302, 302, 404),
}


def _audit_state(project) -> tuple:
    from reviews.models import Alert, AlertChannel, Audit, AuditAdjudication, GoldSample, QualityThreshold
    from synthreview.projects.models import AuditLog

    return (
        sorted(Audit.objects.filter(project=project).values_list("pk", "status")),
        AuditAdjudication.objects.count(),
        GoldSample.objects.count(),
        sorted(QualityThreshold.objects.values_list("project_id", "metric", "limit")),
        sorted(Alert.objects.values_list("pk", "acknowledged_at")),
        AlertChannel.objects.count(),
        AuditLog.objects.count(),
    )


@pytest.mark.parametrize("role", range(len(ROLES)), ids=ROLES)
@pytest.mark.parametrize("page", list(AUDIT_EXPECTED))
def test_audit_and_dashboard_role_matrix(page, role, request, project, audit_objects, client_for):
    method, url, data = _audit_pages(project, audit_objects)[page]
    user = request.getfixturevalue(ROLES[role])
    before = _audit_state(project)
    response = getattr(client_for(user), method)(url, data)
    expected = AUDIT_EXPECTED[page][role]
    assert response.status_code == expected, f"{user.username} on {page}: {response.status_code}"
    if expected == 302:
        assert not response["Location"].startswith(LOGIN)
        # A recompute only queues a worker's task once the request commits.
        if page != "quality_recompute":
            assert _audit_state(project) != before, f"{user.username}'s allowed {page} changed nothing"
    if expected in (403, 404):
        assert _audit_state(project) == before, f"{user.username} changed something through {page}"


@pytest.mark.parametrize("page", list(AUDIT_EXPECTED))
def test_anonymous_is_sent_to_login_from_audit_and_dashboard_pages(page, project, audit_objects, client):
    method, url, data = _audit_pages(project, audit_objects)[page]
    before = _audit_state(project)
    response = getattr(client, method)(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert _audit_state(project) == before


@pytest.fixture
def other_audit_objects(other_project, outsider):
    from reviews.models import Alert
    from reviews.services.audits import audit_create
    from synthreview.projects.access import project_access
    from tests.reviews.review_helpers import add_samples

    add_samples(other_project, 12)
    real = add_samples(other_project, 1, origin="real")[0]
    audit = audit_create(project_access(outsider, other_project), scope="project", sample_size=10, seed=1)
    alert = Alert.objects.create(
        project=other_project,
        metric="duplicate_share",
        scope_key="project:0",
        scope_label="all synthetic samples",
        value=0.2,
        limit=0.1,
        message="20%",
    )
    return {"audit": audit, "item": audit.items.order_by("position").first(), "real": real, "alert": alert}


@pytest.mark.parametrize(
    "page", ["audit_detail", "audit_queue", "audit_close", "audit_adjudicate", "gold_set", "alert_acknowledge"]
)
def test_another_projects_audits_and_alerts_are_404_under_own_slug(
    page, project, other_project, audit_objects, other_audit_objects, admin_member, client_for
):
    method, url, data = _audit_pages(project, other_audit_objects)[page]
    before = _audit_state(other_project)
    response = getattr(client_for(admin_member), method)(url, data)
    assert response.status_code == 404
    assert _audit_state(other_project) == before
