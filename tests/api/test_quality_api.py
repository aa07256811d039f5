"""GET /projects/{slug}/quality and /alerts: the dashboard's latest quality figures per scope, with
their limits, and the alerts raised when a figure slipped. Leads and admins only, as the dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reviews.models import Alert, QualitySnapshot, QualityThreshold, SnapshotScope
from synthreview.projects.api.pagination import cursor_encode
from tests.reviews.review_helpers import generator, run, template_version

pytestmark = pytest.mark.django_db

QUALITY = "projects/math/quality"
ALERTS = "projects/math/alerts"


def snapshot(project, scope: str, label: str, computed_at, metrics: dict, *, scope_id: int | None = None, count=10):
    return QualitySnapshot.objects.create(
        project=project,
        scope=scope,
        scope_id=scope_id,
        scope_label=label,
        computed_at=computed_at,
        sample_count=count,
        metrics=metrics,
    )


@pytest.fixture
def two_passes(project):
    """An older pass and the latest: a generator's scope, the project's and a run's (stored out of order)."""
    gen = generator(project, "gpt-tutor")
    batch = run(project, "run-1", template_version(project), gen)
    now = timezone.now()
    snapshot(project, SnapshotScope.PROJECT, "All synthetic samples", now - timedelta(days=1), {"copy_share": 0.5})
    snapshot(project, SnapshotScope.GENERATOR, "gpt-tutor", now, {"vendi_score": 2.5}, scope_id=gen.pk, count=4)
    snapshot(
        project,
        SnapshotScope.PROJECT,
        "All synthetic samples",
        now,
        {
            "duplicate_share": 0.2,  # over the default limit of 10%
            "distinct_2": 0.61,
            "vendi_score": 3.5,
            "frechet_to_real": 0.8,
            "fidelity_precision": 0.4,  # under its minimum of 50%
            "fidelity_recall": 0.7,
            "copy_share": 0.005,  # within 1%
            "drift_previous": 0.3,
            "window_to_real": 1.25,
            "nearest_real": {
                "count": 200,
                "copy_threshold": 0.95,
                "copy_count": 1,
                "copy_share": 0.005,
                "edges": [0.0, 0.5, 1.0],
                "counts": [150, 50],
                "p10": 0.2,
                "p50": 0.45,
                "p90": 0.7,
                "p99": 0.96,
            },
            "novelty_histogram": {"edges": [0.0, 0.5, 1.0], "counts": [30, 170]},
            "class_balance": [{"label": "yes", "real": 5, "synthetic": 15, "synthetic_share": 0.75}],
            "mix": {"real": 40, "synthetic": 200},
        },
        count=200,
    )
    snapshot(project, SnapshotScope.RUN, "run-1", now, {"drift": 0.4}, scope_id=batch.pk, count=6)
    return {"generator": gen, "run": batch, "now": now}


# --- quality --------------------------------------------------------------------------------------


def test_no_snapshot_yet_is_a_null_snapshot(project, lead, api_for):
    response = api_for(lead).get(QUALITY)
    assert response.status_code == 200
    assert response.json() == {"snapshot": None}


def test_the_latest_pass_comes_per_scope_as_the_dashboard_orders_them(project, lead, two_passes, api_for):
    body = api_for(lead).get(QUALITY).json()["snapshot"]
    scopes = body["scopes"]
    assert [(s["scope"], s["label"], s["sample_count"]) for s in scopes] == [
        ("project", "All synthetic samples", 200),
        ("run", "run-1", 6),
        ("generator", "gpt-tutor", 4),
    ]
    assert [s["scope_id"] for s in scopes] == [None, two_passes["run"].pk, two_passes["generator"].pk]
    overall = scopes[0]["figures"]
    assert overall["distinct_2"]["value"] == 0.61 and overall["vendi_score"]["value"] == 3.5
    assert overall["frechet_to_real"]["value"] == 0.8
    assert (overall["fidelity_precision"]["value"], overall["fidelity_recall"]["value"]) == (0.4, 0.7)
    assert overall["drift_previous"]["value"] == 0.3 and overall["window_to_real"]["value"] == 1.25
    # Not measured in this pass: null, never the older pass's figure.
    assert overall["drift"]["value"] is None and overall["length_distance"]["value"] is None
    assert scopes[1]["figures"]["drift"]["value"] == 0.4
    assert scopes[2]["figures"]["vendi_score"]["value"] == 2.5
    assert scopes[2]["figures"]["copy_share"]["value"] is None


def test_each_figure_carries_its_limit_and_whether_it_slipped(project, lead, two_passes, api_for):
    figures = api_for(lead).get(QUALITY).json()["snapshot"]["scopes"][0]["figures"]
    duplicates, precision, copies = figures["duplicate_share"], figures["fidelity_precision"], figures["copy_share"]
    assert (duplicates["limit"], duplicates["direction"], duplicates["slipped"], duplicates["percent"]) == (
        0.1,
        "max",
        True,
        True,
    )
    assert (precision["limit"], precision["direction"], precision["slipped"]) == (0.5, "min", True)
    assert (copies["limit"], copies["slipped"]) == (0.01, False)
    # Figures without a threshold have no limit.
    assert (figures["vendi_score"]["limit"], figures["vendi_score"]["slipped"]) == (None, False)
    assert figures["frechet_to_real"]["label"] == "Fréchet to real"


def test_a_projects_own_thresholds_apply(project, lead, two_passes, api_for):
    QualityThreshold.objects.create(project=project, metric="duplicate_share", limit=0.25)
    QualityThreshold.objects.create(project=project, metric="fidelity_precision", limit=0.5, enabled=False)
    figures = api_for(lead).get(QUALITY).json()["snapshot"]["scopes"][0]["figures"]
    assert (figures["duplicate_share"]["limit"], figures["duplicate_share"]["slipped"]) == (0.25, False)
    assert (figures["fidelity_precision"]["limit"], figures["fidelity_precision"]["slipped"]) == (None, False)


def test_privacy_novelty_class_balance_and_mix(project, lead, two_passes, api_for):
    body = api_for(lead).get(QUALITY).json()["snapshot"]
    privacy = body["scopes"][0]["privacy"]
    assert (privacy["count"], privacy["copy_count"], privacy["copy_share"], privacy["copy_threshold"]) == (
        200,
        1,
        0.005,
        0.95,
    )
    assert (privacy["p50"], privacy["p99"], privacy["counts"]) == (0.45, 0.96, [150, 50])
    assert body["scopes"][0]["novelty_histogram"] == {"edges": [0.0, 0.5, 1.0], "counts": [30, 170]}
    assert body["scopes"][1]["privacy"] is None and body["scopes"][1]["novelty_histogram"] is None
    assert body["class_balance"] == [{"label": "yes", "real": 5, "synthetic": 15, "synthetic_share": 0.75}]
    assert body["mix"] == {"real": 40, "synthetic": 200}
    assert body["computed_at"].startswith(two_passes["now"].strftime("%Y-%m-%dT%H:%M"))


def test_a_partly_recorded_privacy_figure_is_read_as_far_as_it_goes(project, lead, api_for):
    # As older passes stored it: only the histogram and the share.
    snapshot(
        project,
        SnapshotScope.PROJECT,
        "All synthetic samples",
        timezone.now(),
        {"nearest_real": {"edges": [0.0, 1.0], "counts": [7], "copy_share": 0.0}},
    )
    scope = api_for(lead).get(QUALITY).json()["snapshot"]["scopes"][0]
    assert scope["privacy"]["copy_share"] == 0.0 and scope["privacy"]["count"] is None
    assert scope["privacy"]["counts"] == [7]
    assert scope["figures"]["copy_share"]["value"] is None  # the table's figure is its own key


def test_quality_access(project, other_project, lead, admin_member, expert, outsider, two_passes, api_for):
    assert api_for(None).get(QUALITY).status_code == 401
    assert api_for(outsider).get(QUALITY).status_code == 404
    refused = api_for(expert).get(QUALITY)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert api_for(lead, role_cap="expert").get(QUALITY).status_code == 403
    assert api_for(admin_member).get(QUALITY).json()["snapshot"] is not None
    # Another project's snapshots are its own.
    assert api_for(outsider).get("projects/other/quality").json() == {"snapshot": None}


def test_quality_refuses_a_bad_slug(project, lead, api_for):
    response = api_for(lead).get("projects/" + "x" * 100 + "/quality")
    assert (response.status_code, response.json()["field"]) == (422, "slug")


# --- alerts ---------------------------------------------------------------------------------------


def alert(project, metric: str, *, scope_label="all synthetic samples", value=0.2, limit=0.1, **fields) -> Alert:
    return Alert.objects.create(
        project=project,
        metric=metric,
        scope_key=f"project:0:{metric}:{Alert.objects.count()}",
        scope_label=scope_label,
        value=value,
        limit=limit,
        message=f"{metric}: {value} against {limit}.",
        **fields,
    )


@pytest.fixture
def alerts(project, lead):
    now = timezone.now()
    seen = alert(project, "copy_share", value=0.03, limit=0.01, acknowledged_at=now, acknowledged_by=lead)
    mailed = alert(
        project,
        "duplicate_share",
        email_sent_at=now,
        webhook_status="200 OK",
        notified_at=now,
        sent_to=[{"channel": "email", "to": ["lee@example.org"]}, {"channel": "webhook", "to": "hooks.example.org"}],
        snoozed_until=now + timedelta(days=1),
    )
    recovered = alert(project, "drift", scope_label="run run-1", value=0.5, limit=0.25, recovered_at=now)
    return {"acknowledged": seen, "mailed": mailed, "recovered": recovered}


def alert_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_alerts_by_state_newest_first(project, lead, alerts, api_for):
    client = api_for(lead)
    newest_first = [alerts["recovered"].pk, alerts["mailed"].pk, alerts["acknowledged"].pk]
    assert alert_ids(client.get(ALERTS)) == newest_first
    assert alert_ids(client.get(ALERTS, {"state": "all"})) == newest_first
    # Open: no lead acknowledged it, whether or not its figure came back since.
    assert alert_ids(client.get(ALERTS, {"state": "open"})) == [alerts["recovered"].pk, alerts["mailed"].pk]
    assert alert_ids(client.get(ALERTS, {"state": "acknowledged"})) == [alerts["acknowledged"].pk]


def test_an_alert_says_what_slipped_and_where_it_was_sent(project, lead, alerts, api_for):
    items = {item["id"]: item for item in api_for(lead).get(ALERTS).json()["items"]}
    mailed = items[alerts["mailed"].pk]
    assert (mailed["metric"], mailed["scope"], mailed["value"], mailed["threshold"]) == (
        "duplicate_share",
        "all synthetic samples",
        0.2,
        0.1,
    )
    assert mailed["label"] == "Share of synthetic samples in a duplicate group"
    assert (mailed["acknowledged"], mailed["acknowledged_by"], mailed["acknowledged_at"]) == (False, None, None)
    assert mailed["email_sent_at"] is not None and mailed["webhook_status"] == "200 OK"
    assert mailed["created_at"] is not None and mailed["message"] == "duplicate_share: 0.2 against 0.1."
    seen = items[alerts["acknowledged"].pk]
    assert (seen["acknowledged"], seen["acknowledged_by"]) == (True, "lee-lead")
    assert (seen["email_sent_at"], seen["webhook_status"]) == (None, "")
    assert [(sent["channel"], sent["to"]) for sent in mailed["sent_to"]] == [
        ("email", ["lee@example.org"]),
        ("webhook", "hooks.example.org"),
    ]
    assert mailed["notified_at"] is not None and mailed["snoozed_until"] is not None
    assert (seen["sent_to"], seen["notified_at"], seen["snoozed_until"]) == ([], None, None)
    assert items[alerts["recovered"].pk]["recovered_at"] is not None
    assert items[alerts["recovered"].pk]["scope"] == "run run-1"


def test_alerts_page_by_cursor(project, lead, api_for):
    made = [alert(project, "duplicate_share") for _ in range(7)]
    expected = [a.pk for a in reversed(made)]
    client = api_for(lead)
    first = client.get(ALERTS, {"limit": 3})
    second = client.get(ALERTS, {"limit": 3, "cursor": first.json()["next_cursor"]})
    third = client.get(ALERTS, {"limit": 3, "cursor": second.json()["next_cursor"]})
    assert alert_ids(first) + alert_ids(second) + alert_ids(third) == expected
    assert third.json()["next_cursor"] is None
    assert client.get(ALERTS, {"limit": 7}).json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "closed"}, "state"),
        ({"state": "x" * 1000}, "state"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": 10**40}, "limit"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"cursor": cursor_encode([2**63])}, "cursor"),
        ({"cursor": cursor_encode([1, 2])}, "cursor"),
        ({"cursor": "9" * 201}, "cursor"),
    ],
)
def test_bad_alert_queries_are_422_naming_the_field(params, field, project, lead, alerts, api_for):
    response = api_for(lead).get(ALERTS, params)
    assert response.status_code == 422, response.content
    assert (response.json()["code"], response.json()["field"]) == ("invalid", field)


def test_alerts_access(project, other_project, lead, expert, outsider, alerts, api_for):
    assert api_for(None).get(ALERTS).status_code == 401
    assert api_for(outsider).get(ALERTS).status_code == 404
    assert api_for(expert).get(ALERTS).status_code == 403
    assert api_for(lead, role_cap="expert").get(ALERTS).status_code == 403
    theirs = alert(other_project, "copy_share")
    assert alert_ids(api_for(outsider).get("projects/other/alerts")) == [theirs.pk]
    assert theirs.pk not in alert_ids(api_for(lead).get(ALERTS))
