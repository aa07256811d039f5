"""Alerts without the fatigue: grouped by figure with every scope inside, the total shown,
acknowledged or snoozed a group or all at once, and each alert saying where it was sent.
The banner on other pages is one line, and gone while nothing is left to see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from reviews.models import Alert, AlertChannel
from reviews.selectors.alerts import GROUP_ROWS, alert_overview, banner_alerts
from reviews.services.alerts import alert_notify, alerts_acknowledge_all, alerts_snooze
from synthreview.projects.access import project_access
from synthreview.projects.models import AuditLog
from tests.reviews.review_helpers import body

pytestmark = pytest.mark.django_db

BANNER = 'data-testid="alert-banner"'


def _alert(project, metric: str, scope: str, **fields) -> Alert:
    return Alert.objects.create(
        project=project,
        metric=metric,
        scope_key=scope,
        scope_label=f"scope {scope}",
        value=0.9,
        limit=0.25,
        message=f"{metric} on {scope} slipped",
        **fields,
    )


@pytest.fixture
def many_alerts(project) -> dict[str, list[Alert]]:
    """25 open alerts, as the walkthrough found: length KS on 12 scopes, duplicates on 9, copies on 4."""
    return {
        "length_distance": [_alert(project, "length_distance", f"run:{i}") for i in range(12)],
        "duplicate_share": [_alert(project, "duplicate_share", f"generator:{i}") for i in range(9)],
        "copy_share": [_alert(project, "copy_share", f"run:{i}") for i in range(4)],
    }


def _dashboard(client, project, query: str = "") -> str:
    return body(client.get(reverse("dashboard", args=[project.slug]) + query))


# --- Grouping and the total ------------------------------------------------------------------------------------------


def test_alerts_are_grouped_by_figure_with_the_total_of_each_and_of_all(project, many_alerts):
    overview = alert_overview(project)

    assert overview.total == 25
    totals = {group.metric: group.total for group in overview.groups}
    assert totals == {"length_distance": 12, "duplicate_share": 9, "copy_share": 4}
    # The groups follow the thresholds' order: duplicates, copies, then length.
    assert [group.metric for group in overview.groups] == ["duplicate_share", "copy_share", "length_distance"]
    length = next(group for group in overview.groups if group.metric == "length_distance")
    assert len(length.alerts) == GROUP_ROWS and length.more == 12 - GROUP_ROWS
    # Newest first within a group.
    assert [a.pk for a in length.alerts] == [a.pk for a in reversed(many_alerts["length_distance"])][:GROUP_ROWS]


def test_the_dashboard_shows_the_total_every_group_and_how_many_more(project, lead, client_for, many_alerts):
    client = client_for(lead)
    page = _dashboard(client, project)

    assert 'data-testid="alert-total">25 open<' in page
    assert page.count('data-testid="alert-group"') == 3
    assert page.count('data-testid="alert-row"') == GROUP_ROWS + GROUP_ROWS + 4
    assert f">{12 - GROUP_ROWS} more</a>" in page and f">{9 - GROUP_ROWS} more</a>" in page

    expanded = _dashboard(client, project, "?alerts=length_distance")
    assert expanded.count('data-testid="alert-row"') == 12 + GROUP_ROWS + 4


def test_an_unknown_group_to_expand_shows_the_usual_page(project, lead, client_for, many_alerts):
    page = _dashboard(client_for(lead), project, "?alerts=<script>")
    assert page.count('data-testid="alert-row"') == 2 * GROUP_ROWS + 4
    assert "<script>" not in page.split('id="alerts"')[1]


def test_acknowledging_one_alert_lowers_the_total(project, lead, client_for, many_alerts):
    client = client_for(lead)
    one = many_alerts["copy_share"][0]

    client.post(reverse("alert_acknowledge", args=[project.slug, one.pk]))

    assert 'data-testid="alert-total">24 open<' in _dashboard(client, project)
    assert alert_overview(project).total == 24


# --- Acknowledge all, per group and overall -----------------------------------------------------------------------


def test_a_lead_acknowledges_one_figures_group_and_the_rest_stay_open(project, lead, client_for, many_alerts):
    response = client_for(lead).post(reverse("alerts_acknowledge", args=[project.slug]), {"metric": "duplicate_share"})

    assert response.status_code == 302 and response["Location"].endswith("/dashboard/#alerts")
    acknowledged = Alert.objects.filter(project=project, acknowledged_at__isnull=False)
    assert set(acknowledged.values_list("metric", flat=True)) == {"duplicate_share"}
    assert acknowledged.count() == 9 and set(acknowledged.values_list("acknowledged_by", flat=True)) == {lead.pk}
    assert alert_overview(project).total == 16
    entry = AuditLog.objects.get(project=project, action="alert.acknowledge_all")
    assert entry.actor == lead
    assert entry.details["count"] == 9 and entry.details["metric"] == "duplicate_share"
    assert sorted(entry.details["alert_ids"]) == sorted(a.pk for a in many_alerts["duplicate_share"])


def test_acknowledge_all_clears_every_alert_and_the_banner(project, lead, client_for, many_alerts):
    client = client_for(lead)
    audits = reverse("audit_list", args=[project.slug])
    assert BANNER in body(client.get(audits))

    client.post(reverse("alerts_acknowledge", args=[project.slug]), {})

    assert not Alert.objects.filter(project=project, acknowledged_at__isnull=True).exists()
    assert BANNER not in body(client.get(audits))
    assert 'data-testid="no-alerts"' in _dashboard(client, project)


def test_acknowledge_all_leaves_other_projects_alerts_alone(project, other_project, lead, many_alerts):
    theirs = _alert(other_project, "copy_share", "run:1")

    assert alerts_acknowledge_all(project_access(lead, project)) == 25

    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None


# --- Snooze ----------------------------------------------------------------------------------------------------------


def test_snoozed_alerts_are_hidden_until_the_time_passes_then_come_back(project, lead, client_for, many_alerts):
    client = client_for(lead)
    response = client.post(reverse("alerts_snooze", args=[project.slug]), {"metric": "length_distance", "days": "1"})
    assert response.status_code == 302

    now = timezone.now()
    overview = alert_overview(project, now=now)
    assert overview.total == 13 and overview.snoozed == 12
    assert "length_distance" not in {group.metric for group in overview.groups}
    snoozed = Alert.objects.filter(project=project, metric="length_distance")
    assert {a.snoozed_by_id for a in snoozed} == {lead.pk}
    until = snoozed.first().snoozed_until
    assert timedelta(hours=23, minutes=59) < until - now <= timedelta(days=1)

    # A minute after the day is up, they are back, still unacknowledged.
    later = until + timedelta(minutes=1)
    assert alert_overview(project, now=later).total == 25
    assert banner_alerts(project.slug, now=later).total == 25
    entry = AuditLog.objects.get(project=project, action="alert.snooze")
    assert entry.details["days"] == 1 and entry.details["count"] == 12


def test_a_week_long_snooze_of_everything_quiets_the_banner(project, lead, client_for, many_alerts):
    client = client_for(lead)
    client.post(reverse("alerts_snooze", args=[project.slug]), {"days": "7"})

    assert BANNER not in body(client.get(reverse("audit_list", args=[project.slug])))
    assert banner_alerts(project.slug).total == 0
    in_eight_days = timezone.now() + timedelta(days=7, minutes=1)
    assert banner_alerts(project.slug, now=in_eight_days).total == 25
    page = _dashboard(client, project)
    assert 'data-testid="alert-total">0 open<' in page and "25 snoozed" in page


def test_an_alert_raised_after_a_snooze_shows_at_once(project, lead, many_alerts):
    alerts_snooze(project_access(lead, project), days=7)
    _alert(project, "drift", "run:99")

    overview = alert_overview(project)
    assert overview.total == 1 and [group.metric for group in overview.groups] == ["drift"]


# --- The banner ---------------------------------------------------------------------------------------------------


def test_the_banner_is_one_line_with_the_total_and_a_link(project, lead, client_for, many_alerts):
    page = body(client_for(lead).get(reverse("audit_list", args=[project.slug])))
    start = page.index(BANNER)
    banner = page[page.rindex("<", 0, start) : page.index("</p>", start)]

    assert "25 alerts open." in banner
    assert f'href="/p/{project.slug}/dashboard/#alerts"' in banner
    assert "<ul" not in banner and "<li" not in banner
    assert "More than 3" not in page


def test_past_a_hundred_the_banner_says_so_rather_than_counting_every_alert(project, lead, client_for):
    Alert.objects.bulk_create(
        Alert(project=project, metric="duplicate_share", scope_key=f"run:{i}", value=0.9, limit=0.1, message="m")
        for i in range(101)
    )
    page = body(client_for(lead).get(reverse("audit_list", args=[project.slug])))
    assert "100+ alerts open." in page

    Alert.objects.filter(project=project).order_by("id").first().delete()
    page = body(client_for(lead).get(reverse("audit_list", args=[project.slug])))
    assert "100 alerts open." in page and "100+" not in page


def test_the_banner_stays_off_the_dashboard_which_has_its_own_summary(project, lead, client_for, many_alerts):
    page = _dashboard(client_for(lead), project)
    assert BANNER not in page
    assert "25 alerts open</strong></a> on 3 figures" in page


# --- Where each alert went ------------------------------------------------------------------------------------------


@pytest.fixture
def lead_with_email(lead):
    lead.email = "lee@example.org"
    lead.save(update_fields=["email"])
    return lead


def test_the_sent_column_names_the_addresses_and_the_webhook_host(project, lead_with_email, client_for, monkeypatch):
    from reviews.services import alerts as alerts_module
    from synthreview.outbound import OutboundResult

    AlertChannel.objects.create(
        project=project,
        email_recipients="ops@example.org",
        webhook_url="https://hooks.example.org/in/abc?token=s3cret",
    )
    posted = []

    def fake_post(url, payload):
        posted.append(url)
        return OutboundResult(ok=True, status_code=204, error="")

    monkeypatch.setattr(alerts_module, "post_json", fake_post)
    alert = _alert(project, "copy_share", "run:1")

    alert_notify(alert_id=alert.pk)

    alert.refresh_from_db()
    assert len(mail.outbox) == 1 and sorted(mail.outbox[0].to) == ["lee@example.org", "ops@example.org"]
    assert [(entry["channel"], entry["to"]) for entry in alert.sent_to] == [
        ("email", ["lee@example.org", "ops@example.org"]),
        ("webhook", "hooks.example.org"),
    ]
    assert alert.sent_to[1]["status"] == "delivered (204)" and alert.notified_at is not None
    page = _dashboard(client_for(lead_with_email), project)
    sent = page[page.index('data-testid="alert-sent"') :].split("</td>")[0]
    assert "email to lee@example.org, ops@example.org" in sent
    assert "webhook delivered (204) · hooks.example.org" in sent
    # The webhook's path and token are a secret of the admin's: never shown.
    assert "s3cret" not in page and "/in/abc" not in page


def test_an_alert_with_nobody_to_tell_says_so_instead_of_a_blank(project, lead, client_for):
    alert = _alert(project, "copy_share", "run:1")
    client = client_for(lead)
    assert "waiting for the worker" in _dashboard(client, project)

    alert_notify(alert_id=alert.pk)

    alert.refresh_from_db()
    assert alert.sent_to == [] and alert.notified_at is not None and not mail.outbox
    assert "nowhere: no lead or admin has an email address and no webhook is set" in _dashboard(client, project)


def test_notifying_twice_sends_and_records_once(project, lead_with_email):
    alert = _alert(project, "copy_share", "run:1")
    alert_notify(alert_id=alert.pk)
    alert_notify(alert_id=alert.pk)

    alert.refresh_from_db()
    assert len(mail.outbox) == 1 and len(alert.sent_to) == 1


# --- Access and bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alerts_acknowledge", "alerts_snooze"])
@pytest.mark.parametrize(
    ("who", "status"), [("expert", 403), ("outsider", 404), ("lead", 302), ("admin_member", 302), (None, 302)]
)
def test_who_may_acknowledge_or_snooze_alerts_in_bulk(name, who, status, request, project, client_for, many_alerts):
    user = request.getfixturevalue(who) if who else None
    response = client_for(user).post(reverse(name, args=[project.slug]), {"days": "1"})

    assert response.status_code == status
    changed = Alert.objects.filter(project=project).exclude(acknowledged_at=None, snoozed_until=None).count()
    if who in ("lead", "admin_member"):
        assert changed == 25
    else:
        assert changed == 0
        if who is None:
            assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("name", ["alerts_acknowledge", "alerts_snooze"])
def test_bulk_alert_actions_refuse_get(name, project, lead, client_for):
    assert client_for(lead).get(reverse(name, args=[project.slug])).status_code == 405


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("alerts_acknowledge", {"metric": "no_such_figure"}),
        ("alerts_snooze", {"metric": "no_such_figure", "days": "1"}),
        ("alerts_snooze", {"days": "3"}),
        ("alerts_snooze", {"days": "-1"}),
        ("alerts_snooze", {"days": "lots"}),
        ("alerts_snooze", {}),
    ],
)
def test_bad_bulk_input_is_refused_and_changes_nothing(name, data, project, lead, client_for, many_alerts):
    response = client_for(lead).post(reverse(name, args=[project.slug]), data)

    assert response.status_code == 400
    assert "Nothing changed" in response.content.decode()
    assert not Alert.objects.filter(project=project).exclude(acknowledged_at=None, snoozed_until=None).exists()
    assert not AuditLog.objects.filter(project=project, action__startswith="alert.").exists()
