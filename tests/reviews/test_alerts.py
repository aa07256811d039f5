"""An audit whose noise floor slips past the project's limit raises one alert:
a banner for leads, an email, and a webhook POST that a real HTTP server in
the test receives. Tasks run inline (run_tasks_inline); the webhook is real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.urls import reverse

from reviews.models import Alert, AlertChannel, Audit, AuditItem, AuditStatus
from reviews.services.alerts import alerts_evaluate_audit
from reviews.services.audits import audit_create, audit_verdict_record
from synthreview.projects.access import project_access
from synthreview.projects.models import Project
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db

BANNER = b'data-testid="alert-banner"'
# Wilson 95% upper bound (Wilson 1927), z = 1.959964, z² = 3.841459, for 1 wrong of 10:
#   denominator 1 + z²/10 = 1.3841459; centre (0.1 + z²/20) / 1.3841459 = 0.29207 / 1.3841459 = 0.211013;
#   half z·√(0.1·0.9/10 + z²/400) / 1.3841459 = 1.959964 · √0.0186037 / 1.3841459 = 0.193137;
#   upper = 0.404150.
ONE_WRONG_OF_TEN_UPPER = 0.404150


@dataclass
class WebhookReceiver:
    """A ThreadingHTTPServer on a free loopback port that keeps every POST."""

    server: ThreadingHTTPServer
    posts: list[dict] = field(default_factory=list)
    answer: int = 200

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/synthreview?token=s3cret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    holder: list[WebhookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            holder[0].posts.append({"path": self.path, "content_type": self.headers.get("Content-Type"), "body": body})
            self.send_response(holder[0].answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(WebhookReceiver(server=server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def loopback_allowed(settings) -> None:
    # The test's receiver listens on 127.0.0.1, which outbound requests refuse by default.
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture
def emails(lead, expert) -> None:
    lead.email = "lee@example.org"
    lead.save(update_fields=["email"])
    # Experts are not told of alerts, even with an address on file.
    expert.email = "erin@example.org"
    expert.save(update_fields=["email"])


def _settings_url(project: Project) -> str:
    return reverse("alert_settings", args=[project.slug])


def _set_webhook(client, project: Project, url: str):
    return client.post(_settings_url(project), {"webhook_url": url})


def _audit_with_verdicts(project: Project, lead, expert, *, items: int, wrong: int, capture) -> Audit:
    """An audit of `items` synthetic samples, one reviewer each, `wrong` of them
    marked wrong; the last verdict closes it, and the on-commit callbacks (the
    alert's task) run as the transaction would commit."""
    add_samples(project, items, gen=generator(project))
    audit = audit_create(project_access(lead, project), scope="project", sample_size=items, overlap=1, seed=11)
    with capture(execute=True):
        for index, item in enumerate(AuditItem.objects.filter(audit=audit).order_by("position")):
            audit_verdict_record(
                project_access(expert, project),
                audit=audit,
                sample_id=item.sample_id,
                value="wrong" if index < wrong else "correct",
                error_category="hallucination" if index < wrong else "",
            )
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED
    return audit


def test_admin_sets_the_webhook_url_through_the_settings_page(
    project, admin_member, client_for, receiver, loopback_allowed
):
    response = _set_webhook(client_for(admin_member), project, receiver.url)

    assert response.status_code == 302
    assert AlertChannel.objects.get(project=project).webhook_url == receiver.url


def test_lead_may_not_set_the_webhook_url(project, lead, admin_member, client_for, receiver, loopback_allowed):
    _set_webhook(client_for(admin_member), project, receiver.url)

    response = _set_webhook(client_for(lead), project, "https://hooks.example.org/lead")

    assert response.status_code == 403
    assert AlertChannel.objects.get(project=project).webhook_url == receiver.url


def test_cloud_metadata_webhook_url_is_refused_with_the_reason_on_the_page(
    project, admin_member, client_for, receiver, loopback_allowed
):
    admin = client_for(admin_member)
    _set_webhook(admin, project, receiver.url)

    # Refused even with private hosts allowed: link-local and metadata addresses never are.
    response = _set_webhook(admin, project, "http://169.254.169.254/latest/meta-data/")

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="settings-errors"' in page
    assert "169.254.169.254 is a cloud metadata address, which is never allowed." in page
    assert AlertChannel.objects.get(project=project).webhook_url == receiver.url


def test_loopback_webhook_url_is_refused_unless_private_hosts_are_allowed(
    project, admin_member, client_for, receiver, settings
):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False

    response = _set_webhook(client_for(admin_member), project, receiver.url)

    assert response.status_code == 400
    assert "127.0.0.1 is a loopback address" in response.content.decode()
    assert not AlertChannel.objects.filter(project=project).exclude(webhook_url="").exists()


def test_audit_over_the_limit_alerts_by_banner_email_and_webhook_once(
    project,
    lead,
    expert,
    admin_member,
    emails,
    client_for,
    receiver,
    loopback_allowed,
    run_tasks_inline,
    django_capture_on_commit_callbacks,
):
    assert _set_webhook(client_for(admin_member), project, receiver.url).status_code == 302

    audit = _audit_with_verdicts(project, lead, expert, items=10, wrong=1, capture=django_capture_on_commit_callbacks)

    alert = Alert.objects.get(project=project)
    assert (alert.metric, alert.scope_key) == ("noise_floor_upper", f"audit:{audit.pk}")
    assert alert.value == pytest.approx(ONE_WRONG_OF_TEN_UPPER, abs=5e-6)
    assert alert.limit == pytest.approx(0.10)
    assert alert.webhook_status == "delivered (200)"

    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["path"] == "/hooks/synthreview?token=s3cret"
    assert post["content_type"] == "application/json"
    payload = json.loads(post["body"])
    assert payload["project"] == "math"
    assert payload["metric"] == "noise_floor_upper"
    assert payload["value"] == pytest.approx(ONE_WRONG_OF_TEN_UPPER, abs=5e-6)
    assert payload["alert_id"] == alert.pk

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["lee@example.org"]
    assert "40.4%" in mail.outbox[0].body and "10.0%" in mail.outbox[0].body

    page_url = reverse("audit_list", args=[project.slug])
    lead_client = client_for(lead)
    lead_page = lead_client.get(page_url).content
    assert BANNER in lead_page and b"40.4%" in lead_page
    assert BANNER not in client_for(expert).get(page_url).content

    # The same audit evaluated again (a retried close, say) neither raises nor sends anything more.
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_evaluate_audit(Audit.objects.get(pk=audit.pk)) is None
    assert Alert.objects.filter(project=project).count() == 1
    assert len(receiver.posts) == 1
    assert len(mail.outbox) == 1

    response = lead_client.post(reverse("alert_acknowledge", args=[project.slug, alert.pk]))
    assert response.status_code == 302
    assert BANNER not in lead_client.get(page_url).content
    alert.refresh_from_db()
    assert alert.acknowledged_by == lead


def test_each_audit_over_the_limit_gets_an_alert_of_its_own(
    project,
    lead,
    expert,
    admin_member,
    client_for,
    receiver,
    loopback_allowed,
    run_tasks_inline,
    django_capture_on_commit_callbacks,
):
    _set_webhook(client_for(admin_member), project, receiver.url)

    first = _audit_with_verdicts(project, lead, expert, items=10, wrong=1, capture=django_capture_on_commit_callbacks)
    second = _audit_with_verdicts(project, lead, expert, items=10, wrong=1, capture=django_capture_on_commit_callbacks)

    assert sorted(Alert.objects.values_list("scope_key", flat=True)) == sorted(
        [f"audit:{first.pk}", f"audit:{second.pk}"]
    )
    assert sorted(json.loads(post["body"])["alert_id"] for post in receiver.posts) == sorted(
        Alert.objects.values_list("pk", flat=True)
    )


# With no wrong verdict of n, the Wilson 95% upper bound is z²/(n + z²) = 3.841459/(n + 3.841459):
#   n = 34 → 3.841459/37.841459 = 0.10151, over the default limit of 0.10;
#   n = 35 → 3.841459/38.841459 = 0.09890, under it.
@pytest.mark.parametrize(("items", "alerts"), [(34, 1), (35, 0)])
def test_an_audit_alerts_only_when_its_upper_bound_is_over_the_limit(
    items,
    alerts,
    project,
    lead,
    expert,
    emails,
    admin_member,
    client_for,
    receiver,
    loopback_allowed,
    run_tasks_inline,
    django_capture_on_commit_callbacks,
):
    _set_webhook(client_for(admin_member), project, receiver.url)

    audit = _audit_with_verdicts(
        project, lead, expert, items=items, wrong=0, capture=django_capture_on_commit_callbacks
    )

    assert audit.frozen_figures["noise_floor"]["judged"] == items
    assert Alert.objects.filter(project=project).count() == alerts
    assert len(receiver.posts) == alerts
    assert len(mail.outbox) == alerts
    banner_shown = BANNER in client_for(lead).get(reverse("audit_list", args=[project.slug])).content
    assert banner_shown == bool(alerts)


def test_a_webhook_answering_500_is_recorded_as_failed_and_the_email_still_goes(
    project,
    lead,
    expert,
    admin_member,
    emails,
    client_for,
    receiver,
    loopback_allowed,
    run_tasks_inline,
    django_capture_on_commit_callbacks,
):
    receiver.answer = 500
    _set_webhook(client_for(admin_member), project, receiver.url)

    _audit_with_verdicts(project, lead, expert, items=10, wrong=1, capture=django_capture_on_commit_callbacks)

    alert = Alert.objects.get(project=project)
    assert alert.webhook_status.startswith("failed")
    assert "500" in alert.webhook_status
    assert len(receiver.posts) == 1
    assert alert.email_sent_at is not None and len(mail.outbox) == 1
    dashboard = client_for(lead).get(reverse("dashboard", args=[project.slug])).content.decode()
    assert "webhook failed: HTTP 500" in dashboard


def test_a_figure_that_stays_over_alerts_once_even_after_acknowledging_and_again_after_recovering(
    project, lead, run_tasks_inline, django_capture_on_commit_callbacks
):
    from reviews.services.alerts import alert_acknowledge, alerts_evaluate_figures
    from synthreview.projects.access import project_access

    def evaluate(share: float) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return len(
                alerts_evaluate_figures(
                    project=project, scope_key="run:1", scope_label="run “r”", figures={"duplicate_share": share}
                )
            )

    # The default duplicate-share limit is 10%.
    assert evaluate(0.30) == 1
    alert = Alert.objects.get(project=project, metric="duplicate_share")
    alert_acknowledge(project_access(lead, project), alert_id=alert.pk)
    assert evaluate(0.35) == 0, "still over and already known: no second mail"
    assert evaluate(0.05) == 0
    assert Alert.objects.get(pk=alert.pk).recovered_at is not None
    assert evaluate(0.40) == 1, "slipping again after recovering is news"
    assert Alert.objects.filter(project=project, metric="duplicate_share").count() == 2
