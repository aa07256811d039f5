"""The generators page: every member reads it, only admins create and edit, and no API key ever shows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from generation.models import Generator, GeneratorKind
from generation.services.generators import generator_create
from synthreview.projects.models import AuditLog
from tests.generation.run_helpers import setup_access

pytestmark = pytest.mark.django_db

SECRET = "sk-live-0123456789abcdef-do-not-show"


@pytest.fixture(autouse=True)
def example_endpoints_resolve(settings, monkeypatch):
    """The form resolves the base URL; point a public-looking name at a public address
    so these tests need no DNS."""
    import socket

    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "llm.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.fixture
def remote(project):
    return generator_create(
        setup_access(project),
        name="remote",
        kind="openai-compatible",
        model_name="tiny-chat",
        endpoint="https://llm.example.com/v1",
        api_key_env="SYNTHREVIEW_KEY_TEST_GENERATOR",
        temperature=0.7,
        derived_from=["tiny-base"],
    )


def new_form(**overrides) -> dict:
    return {
        "name": "fresh",
        "kind": "openai-compatible",
        "model_name": "tiny-chat",
        "endpoint": "https://llm.example.com/v1",
        "api_key_env": "SYNTHREVIEW_KEY_TEST_GENERATOR",
        "temperature": "0.5",
        "top_p": "0.9",
        "max_tokens": "256",
        "seed": "7",
        "derived_from": "tiny-base, tiny-root",
        "parameters": '{"frequency_penalty": 0.2}',
        "concurrency": "8",
        "rate_limit_per_minute": "120",
        "request_timeout_s": "30",
        "cost_per_million_input_tokens": "0.15",
        "cost_per_million_output_tokens": "0.60",
        **overrides,
    }


def test_admin_creates_an_openai_compatible_generator_and_the_log_says_so(project, admin_member, client_for):
    response = client_for(admin_member).post(reverse("generator_new", args=[project.slug]), new_form())
    assert response.status_code == 302
    generator = Generator.objects.get(project=project, name="fresh")
    assert (generator.kind, generator.endpoint, generator.concurrency) == (
        "openai-compatible",
        "https://llm.example.com/v1",
        8,
    )
    assert generator.derived_from == ["tiny-base", "tiny-root"]
    assert generator.parameters == {"frequency_penalty": 0.2}
    assert generator.rate_limit_per_minute == 120 and generator.request_timeout_s == 30.0
    assert generator.cost_per_million_output_tokens == Decimal("0.60")
    entry = AuditLog.objects.get(action="generator.create", object_id=str(generator.pk))
    assert entry.actor == admin_member and entry.details["kind"] == "openai-compatible"


def test_admin_creates_a_programmatic_generator(project, admin_member, client_for):
    response = client_for(admin_member).post(
        reverse("generator_new", args=[project.slug]),
        new_form(
            name="rules", kind="programmatic", endpoint="", api_key_env="", programmatic_name="arithmetic-word-problems"
        ),
    )
    assert response.status_code == 302
    assert Generator.objects.get(name="rules").programmatic_name == "arithmetic-word-problems"


def test_admin_edit_logs_the_changed_field_names_only(project, admin_member, remote, client_for):
    data = new_form(
        name="remote-v2",
        temperature="1.1",
        model_name="tiny-chat",
        derived_from="tiny-base",
        concurrency="4",
        rate_limit_per_minute="",
        request_timeout_s="60",
        max_tokens="",
        seed="",
        top_p="",
        parameters="{}",
        cost_per_million_input_tokens="",
        cost_per_million_output_tokens="",
    )
    response = client_for(admin_member).post(reverse("generator_edit", args=[project.slug, remote.pk]), data)
    assert response.status_code == 302
    remote.refresh_from_db()
    assert (remote.name, remote.temperature) == ("remote-v2", 1.1)
    entry = AuditLog.objects.get(action="generator.update")
    assert entry.details == {"name": "remote-v2", "changed": ["name", "temperature"]}


def test_an_imported_generators_only_model_and_lineage_can_change(project, admin_member, client_for):
    imported = generator_create(setup_access(project), name="from-file", kind=GeneratorKind.IMPORTED, model_name="x")
    client = client_for(admin_member)
    page = client.get(reverse("generator_edit", args=[project.slug, imported.pk])).content.decode()
    assert 'name="model_name"' in page and 'name="temperature"' not in page and 'name="endpoint"' not in page
    response = client.post(
        reverse("generator_edit", args=[project.slug, imported.pk]),
        {"model_name": "llama-3-8b", "derived_from": "llama-3", "temperature": "1.5", "kind": "openai-compatible"},
    )
    assert response.status_code == 302
    imported.refresh_from_db()
    assert (imported.model_name, imported.derived_from, imported.temperature) == ("llama-3-8b", ["llama-3"], None)
    assert imported.kind == GeneratorKind.IMPORTED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"api_key_env": "lower-case"}, "api_key_env"),
        ({"api_key_env": "1STARTS_WITH_DIGIT"}, "api_key_env"),
        # A server secret outside the key prefix: it would be sent to the endpoint as a bearer token.
        ({"api_key_env": "DATABASE_URL"}, "api_key_env"),
        ({"api_key_env": "SECRET_KEY"}, "api_key_env"),
        ({"parameters": "[1, 2]"}, "parameters"),
        ({"parameters": "{not json"}, "parameters"),
        ({"endpoint": ""}, "endpoint"),
        ({"model_name": ""}, "model_name"),
        ({"concurrency": "0"}, "concurrency"),
        ({"concurrency": "65"}, "concurrency"),
        ({"top_p": "1.5"}, "top_p"),
        ({"kind": "programmatic", "programmatic_name": ""}, "programmatic_name"),
        ({"kind": "imported"}, "kind"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(overrides, field, project, admin_member, client_for):
    response = client_for(admin_member).post(reverse("generator_new", args=[project.slug]), new_form(**overrides))
    assert response.status_code == 400
    assert f'data-testid="error-{field}"' in response.content.decode()
    assert not Generator.objects.exists()


def test_a_second_generator_of_the_same_name_is_refused(project, admin_member, remote, client_for):
    response = client_for(admin_member).post(reverse("generator_new", args=[project.slug]), new_form(name="remote"))
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert Generator.objects.count() == 1


@pytest.mark.parametrize("role", ["expert", "lead"])
def test_experts_and_leads_see_the_list_without_forms_and_may_not_write(role, request, project, remote, client_for):
    client = client_for(request.getfixturevalue(role))
    page = client.get(reverse("generator_list", args=[project.slug]))
    assert page.status_code == 200 and "tiny-chat" in page.content.decode()
    assert 'data-testid="new-generator"' not in page.content.decode()
    assert reverse("generator_edit", args=[project.slug, remote.pk]) not in page.content.decode()
    assert client.get(reverse("generator_new", args=[project.slug])).status_code == 403
    assert client.post(reverse("generator_new", args=[project.slug]), new_form()).status_code == 403
    assert (
        client.post(reverse("generator_edit", args=[project.slug, remote.pk]), new_form(name="hijacked")).status_code
        == 403
    )
    assert list(Generator.objects.values_list("name", flat=True)) == ["remote"]
    assert not AuditLog.objects.filter(action="generator.update").exists()


def test_outsiders_get_404_everywhere(project, remote, outsider, client_for):
    client = client_for(outsider)
    assert client.get(reverse("generator_list", args=[project.slug])).status_code == 404
    assert client.post(reverse("generator_new", args=[project.slug]), new_form()).status_code == 404
    assert client.post(reverse("generator_edit", args=[project.slug, remote.pk]), new_form()).status_code == 404


def test_another_projects_generator_is_404_for_an_admin(project, other_project, admin_member, client_for):
    foreign = generator_create(setup_access(other_project), name="theirs", kind=GeneratorKind.IMPORTED)
    response = client_for(admin_member).get(reverse("generator_edit", args=[project.slug, foreign.pk]))
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(project, client):
    response = client.get(reverse("generator_list", args=[project.slug]))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_key_never_appears_only_its_variable_and_whether_it_is_set(
    project, admin_member, remote, client_for, monkeypatch
):
    client = client_for(admin_member)
    monkeypatch.setenv("SYNTHREVIEW_KEY_TEST_GENERATOR", SECRET)
    pages = [
        client.get(reverse("generator_list", args=[project.slug])).content.decode(),
        client.get(reverse("generator_edit", args=[project.slug, remote.pk])).content.decode(),
    ]
    assert all(SECRET not in page for page in pages)
    assert "SYNTHREVIEW_KEY_TEST_GENERATOR" in pages[0]
    assert '<span class="muted" data-testid="key-status">set</span>' in pages[0]
    assert "llm.example.com" in pages[0] and "https://llm.example.com/v1" not in pages[0]  # the host only
    monkeypatch.delenv("SYNTHREVIEW_KEY_TEST_GENERATOR")
    page = client.get(reverse("generator_list", args=[project.slug])).content.decode()
    assert "not set in the environment" in page


def test_a_generator_name_with_markup_comes_back_escaped(project, admin_member, client_for):
    hostile = generator_create(
        setup_access(project),
        name="<script>alert(1)</script>",
        kind=GeneratorKind.IMPORTED,
        model_name="<img src=x onerror=alert(2)>",
    )
    client = client_for(admin_member)
    for url in (
        reverse("generator_list", args=[project.slug]),
        reverse("generator_edit", args=[project.slug, hostile.pk]),
    ):
        page = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_list_costs_the_same_queries_for_many_generators(
    project, expert, client_for, django_assert_max_num_queries
):
    for index in range(12):
        generator_create(setup_access(project), name=f"g{index}", kind=GeneratorKind.IMPORTED, derived_from=["base"])
    client = client_for(expert)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("generator_list", args=[project.slug]))
    assert response.content.decode().count('data-testid="generator-') == 13  # the table and 12 rows
