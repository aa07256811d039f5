"""One placeholder syntax everywhere: the renderer's `{{ name }}`, in the demo's templates,
the Templates page's help and the checks on saving."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from generation.models import Generator, GeneratorKind, PromptTemplateVersion, Sample
from generation.programmatic.arithmetic import FRAMING_TEMPLATES
from generation.prompts import placeholder_problems, render_prompt, template_variables
from generation.services.demo import FRAMINGS, LOGIC_TEMPLATE
from generation.services.runs import GridCell, RunSpec, run_create, run_execute
from generation.services.templates import template_version_create
from tests.generation.run_helpers import setup_access


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{facts} {question}", "{facts}"),
        ("Solve: ${problem}", "${problem}"),
        ("{{ 2nd }} please", "{{ 2nd }}"),
        ("{{ facts | upper }}", "{{ facts | upper }}"),
        ("{% if hard %}Think.{% endif %} {{ facts }}", "{% if hard %}"),
        ("Facts: {{ facts", "{{ facts"),
    ],
)
def test_a_placeholder_in_another_syntax_is_named(text, named):
    problems = placeholder_problems(text)
    assert problems and named in problems[0]


@pytest.mark.parametrize(
    "text",
    [
        "{{ facts }} {{question}}",
        r"Simplify \frac{a}{b} where x_{i} > 0 and $x^{n}$.",
        'Answer as JSON such as {"answer": 12}.',
        "No placeholders at all.",
    ],
)
def test_renderer_placeholders_latex_and_json_pass(text):
    assert placeholder_problems(text) == []


def test_the_demo_templates_use_the_renderers_syntax():
    for text in [*FRAMINGS.values(), LOGIC_TEMPLATE[1]]:
        assert placeholder_problems(text) == [], text
        assert "{facts}" not in text and "{question}" not in text
    assert {name: template_variables(text) for name, text in FRAMINGS.items()} == {
        "story-framing": ["facts", "question"],
        "direct-framing": ["facts", "question"],
        "quiz-framing": ["question", "facts"],
    }
    assert template_variables(LOGIC_TEMPLATE[1]) == ["facts", "formula"]


def test_the_generators_framing_is_its_template_rendered():
    rendered = render_prompt(FRAMING_TEMPLATES["quiz"], {"facts": "Ann has 3 pens.", "question": "How many?"})
    assert rendered == "Question: How many?\nFacts: Ann has 3 pens.\nGive the final answer as a number."


@pytest.mark.django_db
def test_the_service_refuses_a_malformed_placeholder_by_name(project):
    with pytest.raises(ValidationError) as refused:
        template_version_create(setup_access(project), template_name="story", text="{facts} {question}")
    assert "{facts}" in str(refused.value) and "{{ facts }}" in str(refused.value)
    assert not PromptTemplateVersion.objects.filter(template__project=project).exists()


@pytest.mark.django_db
def test_lead_saving_a_single_brace_placeholder_is_told_which_one(client_for, lead, project):
    response = client_for(lead).post(
        reverse("template_version_new", args=[project.slug]),
        {"template_name": "story", "text": "Read: {facts} then {{ question }}", "output_format": "text"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "{facts} is not a placeholder here: write {{ facts }}" in page
    assert not PromptTemplateVersion.objects.filter(template__project=project).exists()


CODE_PROMPT = (
    "Write a JavaScript function for {{ task }}. Start from `const { id } = user;` and return "
    "`${id}`; in Python it would be f'{name}', in Jinja {{ item.name }} and {% for x in xs %}."
)


@pytest.mark.django_db
def test_a_code_prompt_keeps_its_languages_braces_and_still_fills_its_placeholder(client_for, lead, project):
    response = client_for(lead).post(
        reverse("template_version_new", args=[project.slug]),
        {"template_name": "js", "text": CODE_PROMPT, "output_format": "code", "code_language": "javascript"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    version = PromptTemplateVersion.objects.get(template__project=project, template__name="js")
    assert version.text == CODE_PROMPT
    assert render_prompt(version.text, {"task": "a lookup"}).startswith("Write a JavaScript function for a lookup.")
    # The same text as a prose prompt is refused: there `{ id }` reads as a placeholder in another syntax.
    with pytest.raises(ValidationError):
        template_version_create(setup_access(project), template_name="prose", text=CODE_PROMPT, output_format="text")


@pytest.mark.django_db
def test_templates_page_shows_reserved_placeholders_with_their_braces(client_for, lead, project):
    page = client_for(lead).get(reverse("template_list", args=[project.slug])).content.decode()
    assert "<code>{{ examples }}</code>" in page and "<code>{{ constraint }}</code>" in page
    form = client_for(lead).get(reverse("template_version_new", args=[project.slug])).content.decode()
    assert "<code>{{ examples }}</code>" in form


@pytest.mark.django_db
def test_a_rule_based_run_fills_its_templates_placeholders_and_follows_its_framing(
    project, django_capture_on_commit_callbacks
):
    access = setup_access(project)
    version = template_version_create(access, template_name="quiz", text=FRAMING_TEMPLATES["quiz"])
    generator = Generator.objects.create(
        project=project,
        name="rules",
        kind=GeneratorKind.PROGRAMMATIC,
        model_name="rules/arithmetic",
        programmatic_name="arithmetic-word-problems",
        seed=3,
    )
    # As the Runs page makes it: a count of items, no table and no framing named.
    spec = RunSpec(
        project=project,
        name="quiz-run",
        template_version=version,
        generators=[generator],
        cells=[GridCell(None, None, None)],
        fewshot_items=3,
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(access, spec=spec)
    run_execute(run_id=run.pk)
    inputs = list(Sample.objects.filter(run=run).values_list("input", flat=True))
    assert len(inputs) == 3
    for text in inputs:
        assert text.startswith("Question: How many") or text.startswith("Question: How much"), text
        assert "{{" not in text and "Facts: " in text
