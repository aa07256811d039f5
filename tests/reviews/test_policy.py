"""The governance policy: the page every lead reads, the form only admins post,
and the service that validates, saves and logs each change once."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from reviews.services.policy import project_policy_set
from synthreview.projects.access import get_project_for_user
from synthreview.projects.models import AuditLog, Phase, Project
from tests.reviews.review_helpers import HTMX, XSS, XSS_ESCAPED, body, generator

pytestmark = pytest.mark.django_db


def url(project: Project) -> str:
    return reverse("policy_settings", args=[project.slug])


def form_data(project: Project, **changes: object) -> dict:
    """The form as the page fills it in, with some fields changed."""
    data = {
        "phase": project.phase,
        "min_real_share": "",
        "noise_floor_limit": project.noise_floor_limit * 100,
        "eval_leak_threshold": project.eval_leak_threshold,
        "max_generation_depth": project.max_generation_depth,
        "target_models": "\n".join(" <- ".join([m["name"], *m["derived_from"]]) for m in project.target_models),
        "hidden_metadata_keys": ", ".join(project.hidden_metadata_keys),
        "quality_check_schedule": project.quality_check_schedule,
    }
    data.update(changes)
    return data


def policy_entries(project: Project) -> list[AuditLog]:
    return list(AuditLog.objects.filter(project=project, action="policy.set").order_by("id"))


# --- Who may do what ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"), [("expert", 403), ("lead", 200), ("admin_member", 200), ("outsider", 404)]
)
def test_policy_page_is_read_by_leads_and_admins(who, expected, request, project, client_for):
    assert client_for(request.getfixturevalue(who)).get(url(project)).status_code == expected


def test_lead_sees_the_policy_read_only(project, lead, client_for):
    html = body(client_for(lead).get(url(project)))
    assert "Only the project's admins change them." in html
    assert 'name="phase" disabled' in html or "disabled" in html.split('name="phase"')[1].split(">")[0]
    assert "Save policy" not in html


@pytest.mark.parametrize(("who", "expected"), [("lead", 403), ("expert", 403), ("outsider", 404)])
def test_post_without_the_admin_role_changes_nothing(who, expected, request, project, client_for):
    response = client_for(request.getfixturevalue(who)).post(url(project), form_data(project, phase=Phase.THREE))
    assert response.status_code == expected
    project.refresh_from_db()
    assert project.phase == Phase.PROTOTYPE
    assert policy_entries(project) == []


def test_service_refuses_a_lead(project, lead):
    access = get_project_for_user(lead, project.slug, "dashboard")
    with pytest.raises(PermissionDenied):
        project_policy_set(access, phase=Phase.TWO)


# --- Changes and their audit-log entry ----------------------------------------------------------------------


def test_admin_changes_the_phase_and_the_log_records_old_and_new(project, admin_member, client_for):
    response = client_for(admin_member).post(url(project), form_data(project, phase=Phase.TWO))
    assert response.status_code == 302 and response["Location"] == url(project)
    project.refresh_from_db()
    assert project.phase == Phase.TWO
    [entry] = policy_entries(project)
    assert entry.actor == admin_member
    assert (entry.object_type, entry.object_id) == ("generation.project", str(project.pk))
    # Only what moved: the other fields were posted unchanged.
    assert entry.details == {"phase": [0, 2]}


def test_several_changes_are_one_entry(project, admin_member, client_for):
    gen = generator(project, "gen-a")
    client_for(admin_member).post(
        url(project),
        form_data(
            project, min_real_share="90", noise_floor_limit="5", max_generation_depth=0, **{f"cap_{gen.pk}": "30"}
        ),
    )
    project.refresh_from_db()
    assert (project.min_real_share, project.noise_floor_limit, project.max_generation_depth) == (0.9, 0.05, 0)
    assert project.generator_caps == {"gen-a": 0.3}
    [entry] = policy_entries(project)
    assert entry.details == {
        "min_real_share": [None, 0.9],
        "noise_floor_limit": [0.1, 0.05],
        "max_generation_depth": [1, 0],
        "generator_caps": [{}, {"gen-a": 0.3}],
    }


def test_saving_an_unchanged_policy_logs_nothing(project, admin_member, client_for):
    response = client_for(admin_member).post(url(project), form_data(project))
    assert response.status_code == 302
    assert policy_entries(project) == []


def test_emptying_a_cap_removes_it(project, admin_member, client_for):
    gen = generator(project, "gen-a")
    Project.objects.filter(pk=project.pk).update(generator_caps={"gen-a": 0.25})
    project.refresh_from_db()
    client_for(admin_member).post(url(project), form_data(project, **{f"cap_{gen.pk}": ""}))
    project.refresh_from_db()
    assert project.generator_caps == {}
    assert policy_entries(project)[0].details == {"generator_caps": [{"gen-a": 0.25}, {}]}


def test_htmx_save_redirects_the_client(project, admin_member, client_for):
    response = client_for(admin_member).post(url(project), form_data(project, phase=Phase.ONE), headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == url(project)


# --- Bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_real_share", "150"),
        ("min_real_share", "-1"),
        ("noise_floor_limit", "abc"),
        ("eval_leak_threshold", "1.5"),
        ("max_generation_depth", "-1"),
    ],
)
def test_invalid_value_is_a_clear_form_error_and_nothing_is_saved(field, value, project, admin_member, client_for):
    response = client_for(admin_member).post(url(project), form_data(project, phase=Phase.TWO, **{field: value}))
    assert response.status_code == 400
    assert f'data-testid="error-{field}"' in body(response)
    project.refresh_from_db()
    assert project.phase == Phase.PROTOTYPE  # the valid change beside it is not saved either
    assert policy_entries(project) == []


def test_share_above_100_percent_says_so(project, admin_member, client_for):
    response = client_for(admin_member).post(url(project), form_data(project, min_real_share="150"))
    assert "Enter a percentage from 0 to 100." in body(response)


def test_htmx_post_with_bad_input_gets_the_form_back(project, admin_member, client_for):
    response = client_for(admin_member).post(url(project), form_data(project, min_real_share="150"), headers=HTMX)
    html = body(response)
    assert response.status_code == 400
    assert html.lstrip().startswith('<form method="post"') and "Enter a percentage" in html


@pytest.mark.parametrize(
    "changes",
    [
        {"min_real_share": 1.5},
        {"noise_floor_limit": -0.1},
        {"eval_leak_threshold": float("nan")},
        {"phase": 7},
        {"max_generation_depth": 99},
        {"not_a_setting": 1},
    ],
)
def test_service_refuses_values_out_of_range(changes, project, admin_member):
    access = get_project_for_user(admin_member, project.slug, "policy")
    with pytest.raises(ValidationError):
        project_policy_set(access, **changes)
    assert policy_entries(project) == []


def test_cap_for_an_unknown_generator_is_refused(project, other_project, admin_member):
    generator(project, "gen-a")
    generator(other_project, "gen-elsewhere")
    access = get_project_for_user(admin_member, project.slug, "policy")
    with pytest.raises(ValidationError) as refused:
        project_policy_set(access, phase=Phase.ONE, generator_caps={"gen-a": 0.5, "gen-elsewhere": 0.2})
    assert "No generator named gen-elsewhere in this project" in str(refused.value)
    project.refresh_from_db()
    assert (project.phase, project.generator_caps) == (Phase.PROTOTYPE, {})
    assert policy_entries(project) == []


def test_cap_field_for_another_projects_generator_is_ignored(project, other_project, admin_member, client_for):
    foreign = generator(other_project, "gen-elsewhere")
    client_for(admin_member).post(url(project), form_data(project, **{f"cap_{foreign.pk}": "20"}))
    project.refresh_from_db()
    assert project.generator_caps == {}


# --- What the page says -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "custom", "shown"),
    [(Phase.PROTOTYPE, None, "0%"), (Phase.TWO, None, "80%"), (Phase.THREE, None, "95%"), (Phase.ONE, 0.9, "90%")],
)
def test_page_shows_the_minimum_real_share_in_force(phase, custom, shown, project, lead, client_for):
    Project.objects.filter(pk=project.pk).update(phase=phase, min_real_share=custom)
    html = body(client_for(lead).get(url(project)))
    assert f'<strong data-testid="minimum-in-force">{shown}</strong>' in html
    if custom is not None:
        assert "custom minimum (phase 1 alone would ask 50%)" in html


def test_recent_changes_are_listed(project, admin_member, client_for):
    client_for(admin_member).post(url(project), form_data(project, phase=Phase.TWO))
    html = body(client_for(admin_member).get(url(project)))
    assert "Recent changes" in html and "phase 0 → 2" in html


def test_generator_names_are_escaped(project, admin_member, client_for):
    generator(project, XSS)
    html = body(client_for(admin_member).get(url(project)))
    assert XSS not in html and XSS_ESCAPED in html
