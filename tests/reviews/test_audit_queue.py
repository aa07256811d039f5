"""The review queue filtered to one audit, walked as a reviewer walks it: `j`
and a verdict go forward, `k` goes back to revise, on SQLite as on PostgreSQL."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from reviews.models import AuditItem, Verdict
from reviews.services.audits import audit_create, audit_verdict_record
from synthreview.projects.access import project_access
from tests.reviews.review_helpers import HTMX, add_samples, body, link

pytestmark = pytest.mark.django_db


def audit_of(project, lead, *, size: int, overlap: int = 1):
    add_samples(project, size)
    return audit_create(project_access(lead, project), scope="project", sample_size=size, overlap=overlap, seed=1)


def item_at(audit, position: int) -> AuditItem:
    return AuditItem.objects.get(audit=audit, position=position)


def shown_position(response) -> int:
    match = re.search(r'data-testid="audit-item">Item (\d+) of', body(response))
    assert match, "no audit item on the card"
    return int(match.group(1))


def save_verdict(client, project, audit, item: AuditItem, value: str):
    return client.post(
        reverse("verdict_save", args=[project.slug, item.sample_id]),
        {"value": value, "revision": 0, "audit": audit.pk, "order": "audit"},
        headers=HTMX,
    )


def test_previous_goes_back_to_the_item_just_judged_so_the_reviewer_can_revise_it(project, lead, expert, client_for):
    audit = audit_of(project, lead, size=10)
    client = client_for(expert)
    first = client.get(reverse("review_queue", args=[project.slug]) + f"?audit={audit.pk}")
    assert shown_position(first) == 1
    second = save_verdict(client, project, audit, item_at(audit, 1), "correct")
    assert shown_position(second) == 2
    back = client.get(link(second, "prev-link"), headers=HTMX)
    assert back.status_code == 200
    assert shown_position(back) == 1
    # The card shows the reviewer's own verdict, to change.
    assert Verdict.objects.get(audit=audit, sample_id=item_at(audit, 1).sample_id).reviewer == expert
    # The same key without htmx (a plain link) lands on the same item.
    plain = client.get(link(second, "prev-link"))
    assert plain.status_code == 200 and shown_position(plain) == 1


def test_previous_skips_items_another_reviewer_has_filled(project, lead, expert, client_for, django_user_model):
    audit = audit_of(project, lead, size=10, overlap=1)
    other = django_user_model.objects.create_user("olga-expert", password="x")
    project.memberships.create(user=other, role="expert")
    audit_verdict_record(
        project_access(other, project),
        audit=audit,
        sample_id=item_at(audit, 2).sample_id,
        value="wrong",
        error_category="hallucination",
    )
    client = client_for(expert)
    third = client.get(
        reverse("review_queue", args=[project.slug]) + f"?audit={audit.pk}&sample={item_at(audit, 3).sample_id}"
    )
    assert shown_position(third) == 3
    # Item 2 is full (overlap 1) and not this reviewer's: k goes past it to item 1, still open.
    back = client.get(link(third, "prev-link"), headers=HTMX)
    assert back.status_code == 200
    assert shown_position(back) == 1


def test_previous_at_the_first_item_stays_there_and_says_so(project, lead, expert, client_for):
    audit = audit_of(project, lead, size=10)
    client = client_for(expert)
    first = client.get(reverse("review_queue", args=[project.slug]) + f"?audit={audit.pk}")
    back = client.get(link(first, "prev-link"), headers=HTMX)
    assert back.status_code == 200
    assert shown_position(back) == 1
    assert "This is the first item open to you in this audit." in body(back)
