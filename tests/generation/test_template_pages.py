"""The prompt-templates page and a lead's form for the next version."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from generation.models import PromptTemplate, PromptTemplateVersion
from generation.services.templates import template_version_create
from synthreview.projects.access import project_access
from synthreview.projects.models import AuditLog
from tests.generation.run_helpers import setup_access

pytestmark = pytest.mark.django_db

STORY = "Read the story.\n\n{{ examples }}\n{{ facts }} {{question}} {{ facts }}"


def _post(client, project, **fields):
    data = {
        "template_name": "story",
        "text": STORY,
        "output_format": "math",
        "output_schema": "",
        "code_language": "",
        **fields,
    }
    return client.post(reverse("template_version_new", args=[project.slug]), data)


def test_lead_creates_the_first_and_then_the_next_version(client_for, lead, project):
    client = client_for(lead)
    response = _post(client, project, checks=["empty", "math-answer"])
    assert response.status_code == 302
    first = PromptTemplateVersion.objects.get(template__project=project, template__name="story")
    assert first.version == 1
    assert first.variables == ["examples", "facts", "question"]
    assert first.checks == ["empty", "math-answer"]
    assert first.output_format == "math" and first.created_by == lead

    _post(client, project, text="{{ facts }} Answer briefly.", checks=[])
    second = PromptTemplateVersion.objects.get(template__name="story", version=2)
    assert second.variables == ["facts"] and second.checks == []
    assert PromptTemplate.objects.filter(project=project).count() == 1
    entries = AuditLog.objects.filter(project=project, action="template.version").order_by("id")
    assert [(e.actor, e.details["version"]) for e in entries] == [(lead, 1), (lead, 2)]


def test_json_template_keeps_its_schema(client_for, lead, project):
    schema = '{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}'
    _post(
        client_for(lead),
        project,
        template_name="records",
        text="Write a record about {{ topic }}.",
        output_format="json",
        output_schema=schema,
    )
    version = PromptTemplateVersion.objects.get(template__name="records")
    assert version.output_schema["required"] == ["name"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"output_format": "json", "output_schema": "{not json"}, "not valid JSON"),
        ({"output_format": "json", "output_schema": "[1, 2]"}, "must be a JSON object"),
        ({"output_format": "json", "output_schema": '{"type": "banana"}'}, "not a valid JSON schema"),
        ({"output_format": "text", "output_schema": '{"type": "object"}'}, "only to the JSON format"),
        ({"output_format": "text", "code_language": "python"}, "only to the code format"),
        (
            {"output_format": "json", "output_schema": '{"$ref": "http://169.254.169.254/latest/meta-data/"}'},
            "refers outside itself",
        ),
        (
            {"output_format": "json", "output_schema": '{"items": {"$ref": "file:///etc/passwd"}}'},
            "refers outside itself",
        ),
        ({"checks": ["no-such-check"]}, "Select a valid choice"),
        ({"template_name": "   "}, "This field is required"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_saved(client_for, lead, project, fields, message):
    response = _post(client_for(lead), project, **fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PromptTemplateVersion.objects.exists()
    assert not AuditLog.objects.filter(action="template.version").exists()


def test_expert_sees_the_page_but_may_not_save_a_version(client_for, expert, project):
    template_version_create(setup_access(project), template_name="story", text="{{ facts }}", variables=["facts"])
    client = client_for(expert)
    page = client.get(reverse("template_list", args=[project.slug]))
    assert page.status_code == 200 and "story" in page.content.decode()
    assert "New version" not in page.content.decode()
    assert client.get(reverse("template_version_new", args=[project.slug])).status_code == 403
    assert _post(client, project).status_code == 403
    assert PromptTemplateVersion.objects.count() == 1


def test_outsider_gets_404_for_both_pages(client_for, outsider, project):
    client = client_for(outsider)
    assert client.get(reverse("template_list", args=[project.slug])).status_code == 404
    assert _post(client, project).status_code == 404


def test_anonymous_visitor_is_sent_to_log_in(client, project):
    response = client.get(reverse("template_list", args=[project.slug]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_template_text_is_escaped(client_for, lead, project):
    template_version_create(
        setup_access(project),
        template_name="<b>evil</b>",
        text="<script>alert(1)</script> {{ facts }}",
        variables=["facts"],
    )
    body = client_for(lead).get(reverse("template_list", args=[project.slug])).content.decode()
    assert "<script>alert(1)</script>" not in body and "<b>evil</b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&lt;b&gt;evil&lt;/b&gt;" in body


def test_page_lists_versions_with_their_settings_and_empty_checks_as_format_defaults(client_for, expert, lead, project):
    template_version_create(
        project_access(lead, project),
        template_name="story",
        text="{{ facts }}",
        variables=["facts"],
        output_format="math",
    )
    template_version_create(
        project_access(lead, project),
        template_name="story",
        text="{{ facts }} v2",
        variables=["facts"],
        output_format="code",
        code_language="python",
        checks=["code-syntax"],
    )
    body = client_for(expert).get(reverse("template_list", args=[project.slug])).content.decode()
    # From <main> on: the CSRF token in <body>'s attributes is random and may itself hold "v1".
    main = body[body.index("<main") :]
    assert main.index("v2") < main.index("v1")
    assert "format defaults:</span> Empty, Truncated, Refusal, Repetition, Math answer" in body
    assert "Code syntax" in body and "python" in body and "lee-lead" in body


def test_list_page_query_count_does_not_grow_with_templates(client_for, expert, project, django_assert_max_num_queries):
    for n in range(6):
        for _ in range(2):
            template_version_create(setup_access(project), template_name=f"t{n}", text="{{ x }}", variables=["x"])
    client = client_for(expert)
    with django_assert_max_num_queries(6):
        assert client.get(reverse("template_list", args=[project.slug])).status_code == 200


def test_new_version_form_is_prefilled_from_the_latest_version(client_for, lead, project):
    template_version_create(
        setup_access(project), template_name="records", text="old {{ topic }}", output_format="json"
    )
    template_version_create(
        setup_access(project),
        template_name="records",
        text="newest {{ topic }}",
        output_format="json",
        output_schema={"type": "object"},
        checks=["json"],
    )
    response = client_for(lead).get(reverse("template_version_new", args=[project.slug]) + "?template=records")
    form = response.context["form"]
    assert form.initial["text"] == "newest {{ topic }}"
    assert form.initial["output_format"] == "json" and form.initial["checks"] == ["json"]
    assert '"type": "object"' in form.initial["output_schema"]


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ('{"properties": {"code": {"type": "string", "pattern": "^(a)\\\\1$"}}}', "#/properties/code/pattern"),
        ('{"items": {"pattern": "^(?!admin)"}}', "#/items/pattern"),
        ('{"patternProperties": {"(?<=x)y": {"type": "integer"}}}', "#/patternProperties/(?<=x)y"),
    ],
)
def test_a_pattern_re2_cannot_compile_is_refused_naming_where_it_is(client_for, lead, project, schema, path):
    response = _post(client_for(lead), project, output_format="json", output_schema=schema)
    assert response.status_code == 200
    [error] = response.context["form"].errors["output_schema"]
    assert f"cannot be checked in linear time at {path} " in error
    assert not PromptTemplateVersion.objects.exists()


def test_a_nested_quantifier_is_saved_since_re2_runs_it_in_linear_time(client_for, lead, project):
    response = _post(
        client_for(lead), project, output_format="json", output_schema='{"type": "string", "pattern": "^(a+)+$"}'
    )
    assert response.status_code == 302
    assert PromptTemplateVersion.objects.get().output_schema["pattern"] == "^(a+)+$"


def test_the_service_refuses_a_backreference_too(project):
    with pytest.raises(ValidationError, match="#/properties/code/pattern"):
        template_version_create(
            setup_access(project),
            template_name="api",
            text="{{ facts }}",
            output_format="json",
            output_schema={"properties": {"code": {"pattern": "(a)\\1"}}},
        )
    assert not PromptTemplateVersion.objects.exists()


def test_the_service_refuses_unevaluated_properties_beside_pattern_properties(project):
    schema = {"patternProperties": {"^x": {}}, "properties": {"a": {"unevaluatedProperties": False}}}
    with pytest.raises(ValidationError, match="#/properties/a/unevaluatedProperties"):
        template_version_create(
            setup_access(project),
            template_name="api",
            text="{{ facts }}",
            output_format="json",
            output_schema=schema,
        )
    assert not PromptTemplateVersion.objects.exists()
