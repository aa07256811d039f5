"""The audit-log page: who sees it, each filter, keyset pages, escaping, and the CSV download."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.selectors.audit_log import PAGE_SIZE, audit_log_csv_rows, audit_log_filtered
from synthreview.projects.models import AuditLog
from synthreview.projects.services import audit_log_record
from tests.reviews.review_helpers import HTMX, XSS, XSS_ESCAPED, add_sample, body

pytestmark = pytest.mark.django_db


def url(project, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return reverse("audit_log", args=[project.slug]) + (f"?{query}" if query else "")


def entry_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-entry="(\d+)"', body(response))]


def record(project, action="verdict.record", actor=None, **kwargs) -> AuditLog:
    return audit_log_record(project=project, actor=actor, action=action, **kwargs)


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


# --- Who sees it --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"), [("expert", 403), ("lead", 200), ("admin_member", 200), ("outsider", 404)]
)
def test_audit_log_is_for_leads_and_admins_of_the_project(who, expected, request, project, client_for):
    user = request.getfixturevalue(who)
    assert client_for(user).get(url(project)).status_code == expected
    assert client_for(user).get(reverse("audit_log_csv", args=[project.slug])).status_code == expected


def test_anonymous_visitor_is_sent_to_log_in(project, client):
    response = client.get(url(project))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_nav_links_the_audit_log_for_leads_only(project, lead, expert, client_for):
    link = f'href="{url(project)}"'
    assert link in body(client_for(lead).get(reverse("dashboard", args=[project.slug])))
    assert link not in body(client_for(expert).get(reverse("sample_list", args=[project.slug])))


def test_other_projects_entries_never_show(project, other_project, lead, client_for):
    own = record(project)
    foreign = record(other_project)
    ids = entry_ids(client_for(lead).get(url(project)))
    assert own.pk in ids and foreign.pk not in ids


# --- Filters ------------------------------------------------------------------------------------------------


def test_action_prefix_matches_every_action_under_it(project, lead, client_for):
    requested = record(project, "export.request")
    completed = record(project, "export.completed")
    verdict = record(project, "verdict.record")
    client = client_for(lead)
    assert entry_ids(client.get(url(project, action="export."))) == [completed.pk, requested.pk]
    assert entry_ids(client.get(url(project, action="export.completed"))) == [completed.pk]
    assert entry_ids(client.get(url(project, action="verdict."))) == [verdict.pk]


def test_action_select_groups_actions_by_prefix_with_their_labels(project, lead, client_for):
    record(project, "custom.thing")  # not in the catalogue, but present in the log
    html = body(client_for(lead).get(url(project)))
    assert '<optgroup label="export.*">' in html
    assert '<option value="export.">Every export.* action</option>' in html
    assert '<option value="policy.set">Policy changed</option>' in html
    assert '<option value="custom.thing">' in html


def test_action_select_lists_every_action_in_the_log_and_no_other_projects(project, other_project, lead, client_for):
    record(project, "custom.oldest")
    # Enough newer entries to push the first past any window of "recent" entries.
    AuditLog.objects.bulk_create(
        [AuditLog(project=project, action="verdict.record", object_type="bulk") for _ in range(5001)]
    )
    record(project, "custom.newest")
    record(other_project, "custom.elsewhere")
    html = body(client_for(lead).get(url(project)))
    assert '<option value="custom.oldest">' in html
    assert '<option value="custom.newest">' in html
    assert "custom.elsewhere" not in html
    # A filter on the oldest action is a valid choice and finds its entry.
    response = client_for(lead).get(url(project, action="custom.oldest"))
    assert response.status_code == 200
    assert len(entry_ids(response)) == 1


def test_unknown_action_is_a_form_error(project, lead, client_for):
    response = client_for(lead).get(url(project, action="nope"))
    assert response.status_code == 400
    assert 'data-testid="filter-errors"' in body(response)


def test_actor_filter_shows_one_members_entries_and_system_ones(project, lead, expert, client_for):
    by_expert = record(project, actor=expert)
    by_lead = record(project, actor=lead)
    by_system = record(project, "export.failed")
    client = client_for(lead)
    assert entry_ids(client.get(url(project, actor=expert.username))) == [by_expert.pk]
    assert entry_ids(client.get(url(project, actor=lead.username))) == [by_lead.pk]
    assert entry_ids(client.get(url(project, actor="-"))) == [by_system.pk]


def test_actor_outside_the_project_is_not_a_choice(project, lead, outsider, client_for):
    assert client_for(lead).get(url(project, actor=outsider.username)).status_code == 400


def test_object_filter_by_type_and_id(project, lead, client_for):
    sample = add_sample(project)
    other = add_sample(project)
    about_sample = record(project, obj=sample)
    record(project, obj=other)
    # An audit with the same id as the sample is another object.
    record(project, "audit.close", object_type="reviews.audit", object_id=str(sample.pk))
    client = client_for(lead)
    assert entry_ids(client.get(url(project, object_type="generation.sample", object_id=sample.pk))) == [
        about_sample.pk
    ]
    # "sample 123" typed in the id box picks the type too.
    assert entry_ids(client.get(url(project, object_id=f"sample+{sample.pk}"))) == [about_sample.pk]


def test_object_id_without_a_type_is_a_form_error(project, lead, client_for):
    response = client_for(lead).get(url(project, object_id="12"))
    assert response.status_code == 400
    assert "Choose the object" in body(response)


def test_date_range_includes_both_whole_days(project, lead, client_for):
    def logged_on(day: dt.date) -> AuditLog:
        moment = timezone.make_aware(dt.datetime.combine(day, dt.time(23, 59)))
        with mock.patch("django.utils.timezone.now", return_value=moment):
            return record(project)

    first, second, third = (logged_on(dt.date(2025, 3, day)) for day in (1, 2, 3))
    client = client_for(lead)
    assert entry_ids(client.get(url(project, date_from="2025-03-02", date_to="2025-03-02"))) == [second.pk]
    assert entry_ids(client.get(url(project, date_from="2025-03-02"))) == [third.pk, second.pk]
    assert entry_ids(client.get(url(project, date_to="2025-03-02"))) == [second.pk, first.pk]


def test_backwards_date_range_is_a_form_error(project, lead, client_for):
    response = client_for(lead).get(url(project, date_from="2025-03-03", date_to="2025-03-01"))
    assert response.status_code == 400
    assert "The date range is empty" in body(response)


# --- Pages --------------------------------------------------------------------------------------------------


def test_keyset_pages_walk_the_log_newest_first_without_counting_it(
    project, lead, client_for, django_assert_max_num_queries
):
    AuditLog.objects.bulk_create(
        AuditLog(
            project=project,
            action="verdict.record",
            object_type="generation.sample",
            object_id=str(n),
            details={"value": "correct"},
        )
        for n in range(PAGE_SIZE * 2 + 7)
    )
    ids = list(AuditLog.objects.filter(project=project).order_by("-id").values_list("pk", flat=True))
    client = client_for(lead)
    with django_assert_max_num_queries(10) as captured:
        first = client.get(url(project))
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)
    assert entry_ids(first) == ids[:PAGE_SIZE]
    older = re.search(r'href="\?before=(\d+)"', body(first))
    assert older and int(older.group(1)) == ids[PAGE_SIZE - 1]
    second = client.get(url(project, before=older.group(1)))
    assert entry_ids(second) == ids[PAGE_SIZE : PAGE_SIZE * 2]
    third = client.get(url(project, before=ids[PAGE_SIZE * 2 - 1]))
    assert entry_ids(third) == ids[PAGE_SIZE * 2 :]
    assert 'data-testid="older"' not in body(third)
    newer = re.search(r'href="\?after=(\d+)"', body(third))
    assert newer and entry_ids(client.get(url(project, after=newer.group(1)))) == ids[PAGE_SIZE : PAGE_SIZE * 2]


def test_pages_keep_the_filter(project, lead, client_for):
    AuditLog.objects.bulk_create(
        AuditLog(project=project, action=action, object_type="bulk")
        for _ in range(PAGE_SIZE + 5)
        for action in ("export.request", "verdict.record")
    )
    first = client_for(lead).get(url(project, action="export."))
    older = re.search(r'href="\?action=export.&amp;before=(\d+)"', body(first))
    assert older
    second = client_for(lead).get(url(project, action="export.", before=older.group(1)))
    assert len(entry_ids(second)) == 5
    assert set(AuditLog.objects.filter(pk__in=entry_ids(second)).values_list("action", flat=True)) == {"export.request"}


def test_htmx_request_gets_the_results_partial(project, lead, client_for):
    record(project)
    response = client_for(lead).get(url(project), headers=HTMX)
    html = body(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="results"') and "<html" not in html


# --- Rows ---------------------------------------------------------------------------------------------------


def test_row_shows_label_actor_and_a_link_to_its_object(project, lead, client_for):
    sample = add_sample(project)
    record(
        project,
        "verdict.record",
        actor=lead,
        obj=sample,
        details={"value": "wrong", "status": {"from": "pending", "to": "rejected"}},
    )
    html = body(client_for(lead).get(url(project)))
    assert "Verdict recorded" in html and lead.username in html
    assert f'href="{reverse("sample_detail", args=[project.slug, sample.pk])}"' in html
    assert "pending → rejected" in html


def test_long_id_lists_are_cut_to_twenty(project, lead, client_for):
    record(project, "samples.bulk_reject", object_type="bulk", details={"sample_ids": list(range(1, 46))})
    html = body(client_for(lead).get(url(project)))
    assert "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 and 25 more" in html
    assert ", 21" not in html


def test_details_and_object_ids_are_escaped(project, lead, client_for):
    record(
        project,
        "samples.bulk_accept",
        object_type="bulk",
        object_id=XSS[:60],
        details={"filter": {"q": XSS}, XSS: "key too"},
    )
    html = body(client_for(lead).get(url(project)))
    assert XSS not in html and "<script>alert" not in html
    assert XSS_ESCAPED in html


# --- CSV ----------------------------------------------------------------------------------------------------


def test_csv_download_streams_the_filtered_log_with_formula_cells_escaped(project, lead, client_for):
    record(
        project,
        "export.request",
        object_type="reviews.export",
        object_id='=HYPERLINK("http://x")',
        details={"note": "=1+1"},
    )
    record(project, "verdict.record", object_type="generation.sample", object_id="-2+3")
    response = client_for(lead).get(reverse("audit_log_csv", args=[project.slug]) + "?action=export.")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="{project.slug}-audit-log.csv"'
    rows = csv_rows(response)
    assert rows[0] == ["id", "time", "actor", "action", "object_type", "object_id", "details"]
    assert len(rows) == 2
    assert rows[1][3] == "export.request"
    assert rows[1][5] == '\'=HYPERLINK("http://x")'
    assert rows[1][6] == '{"note": "=1+1"}'  # JSON starts with "{": never a formula


def test_csv_link_carries_the_filter(project, lead, client_for):
    html = body(client_for(lead).get(url(project, action="export."), headers=HTMX))
    assert f'href="{reverse("audit_log_csv", args=[project.slug])}?action=export."' in html


def test_csv_rows_cover_every_entry_across_chunks(project):
    AuditLog.objects.bulk_create(
        AuditLog(project=project, action="verdict.record", object_type="bulk") for _ in range(23)
    )
    ids = [row[0] for row in audit_log_csv_rows(audit_log_filtered(project, {}), chunk=7)]
    assert ids == list(AuditLog.objects.filter(project=project).order_by("-id").values_list("pk", flat=True))


def test_csv_with_a_bad_filter_is_refused(project, lead, client_for):
    response = client_for(lead).get(reverse("audit_log_csv", args=[project.slug]) + "?date_from=yesterday")
    assert response.status_code == 400


def test_unset_details_are_left_out(project, lead, client_for):
    record(project, "audit.verdict", details={"audit": 3, "value": "correct", "error_category": ""})
    html = body(client_for(lead).get(url(project)))
    assert "value:</span> correct" in html and "error category" not in html
