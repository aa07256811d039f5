"""Empty pages say what to do next: a short sentence, and a link to the next step for the roles that
may take it (and only for them)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from generation.models import Generator, GeneratorKind, PromptTemplate, PromptTemplateVersion
from tests.conftest import PASSWORD
from tests.reviews.review_helpers import add_samples, body

pytestmark = pytest.mark.django_db


def _next_step(html: str) -> str:
    found = re.search(r'data-testid="next-step">(.*?)</(?:p|span)>', html, re.S)
    assert found, "the empty page names no next step"
    return found.group(1)


def _href(name: str, *args: object) -> str:
    return f'href="{reverse(name, args=list(args))}"'


def _page(client, name: str, project) -> str:
    response = client.get(reverse(name, args=[project.slug]))
    assert response.status_code == 200
    return body(response)


def _template_with_text(project) -> None:
    template = PromptTemplate.objects.create(project=project, name="topics")
    PromptTemplateVersion.objects.create(template=template, version=1, text="About {{ topic }}.")


def _callable_generator(project) -> None:
    Generator.objects.create(project=project, name="rules", kind=GeneratorKind.PROGRAMMATIC, programmatic_name="x")


# Runs


def test_a_lead_with_no_template_is_sent_to_write_one_before_a_run(project, lead, client_for):
    page = _page(client_for(lead), "run_list", project)
    assert "No runs yet" in page
    assert _href("template_version_new", project.slug) in _next_step(page)


def test_a_lead_with_a_template_but_no_generator_is_told_an_admin_adds_one(project, lead, admin_member, client_for):
    _template_with_text(project)
    lead_step = _next_step(_page(client_for(lead), "run_list", project))
    admin_step = _next_step(_page(client_for(admin_member), "run_list", project))
    assert "a project admin adds one" in lead_step and _href("generator_new", project.slug) not in lead_step
    assert _href("generator_new", project.slug) in admin_step


def test_a_lead_ready_to_run_is_sent_to_start_the_first_run(project, lead, client_for):
    _template_with_text(project)
    _callable_generator(project)
    assert _href("run_new", project.slug) in _next_step(_page(client_for(lead), "run_list", project))


def test_an_expert_sees_the_empty_runs_list_with_no_link_to_a_step_they_may_not_take(project, expert, client_for):
    _template_with_text(project)
    _callable_generator(project)
    step = _next_step(_page(client_for(expert), "run_list", project))
    assert "A lead starts runs" in step and "href" not in step


def test_the_runs_list_with_runs_shows_no_empty_state(project, lead, client_for):
    from tests.reviews.review_helpers import generator, run, template_version

    run(project, "r1", template_version(project), generator(project))
    page = _page(client_for(lead), "run_list", project)
    assert 'data-testid="empty-state"' not in page and "r1" in page


# Templates and generators


def test_empty_templates_page_links_a_lead_to_the_first_template_and_not_an_expert(project, lead, expert, client_for):
    assert _href("template_version_new", project.slug) in _next_step(_page(client_for(lead), "template_list", project))
    expert_step = _next_step(_page(client_for(expert), "template_list", project))
    assert "A lead writes them" in expert_step and "href" not in expert_step


def test_empty_generators_page_gives_admin_lead_and_expert_each_their_own_step(
    project, admin_member, lead, expert, client_for
):
    admin_step = _next_step(_page(client_for(admin_member), "generator_list", project))
    lead_step = _next_step(_page(client_for(lead), "generator_list", project))
    expert_step = _next_step(_page(client_for(expert), "generator_list", project))
    assert _href("generator_new", project.slug) in admin_step
    assert _href("import_new", project.slug) in lead_step and _href("generator_new", project.slug) not in lead_step
    assert "href" not in expert_step
    assert len({admin_step, lead_step, expert_step}) == 3


# Audits


def test_empty_audits_page_sends_a_lead_to_the_form_and_tells_an_expert_who_draws(project, lead, expert, client_for):
    lead_page = _page(client_for(lead), "audit_list", project)
    assert 'href="#new-audit"' in _next_step(lead_page) and 'id="new-audit"' in lead_page
    expert_step = _next_step(_page(client_for(expert), "audit_list", project))
    assert "A lead draws them" in expert_step and "href" not in expert_step


# The project page and the list of projects


def test_a_project_with_no_samples_tells_a_lead_to_import_or_run_and_an_expert_who_will(
    project, lead, expert, client_for
):
    lead_step = _next_step(_page(client_for(lead), "project_detail", project))
    expert_step = _next_step(_page(client_for(expert), "project_detail", project))
    assert _href("import_new", project.slug) in lead_step and _href("run_new", project.slug) in lead_step
    assert _href("import_new", project.slug) not in expert_step and _href("run_new", project.slug) not in expert_step
    assert "A lead imports samples" in expert_step


def test_a_project_with_samples_shows_no_get_started_card(project, lead, client_for):
    add_samples(project, 2)
    page = _page(client_for(lead), "project_detail", project)
    assert "No samples yet" not in page


def test_the_project_page_s_empty_runs_offers_a_new_run_to_a_lead_only(project, lead, expert, client_for):
    add_samples(project, 1)
    runs_line = re.compile(r'data-testid="runs-empty">(.*?)</p>', re.S)
    lead_line = runs_line.search(_page(client_for(lead), "project_detail", project))
    expert_line = runs_line.search(_page(client_for(expert), "project_detail", project))
    assert lead_line and _href("run_new", project.slug) in lead_line.group(1)
    assert expert_line and "href" not in expert_line.group(1)


def test_a_superuser_with_no_projects_is_sent_to_create_one(client_for, db):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    step = _next_step(body(client_for(root).get(reverse("home"))))
    assert _href("project_new") in step


def test_a_user_in_no_project_is_told_to_ask_an_admin(client_for, db):
    loner = get_user_model().objects.create_user("loner", password=PASSWORD)
    step = _next_step(body(client_for(loner).get(reverse("home"))))
    assert "Ask a project's admin" in step and _href("project_new") not in step
