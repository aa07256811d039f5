"""The sample browser's rows, excerpts and filter boxes, built in Python for speed, say exactly what the
templates said: Django's own truncatechars, the per-row template the page used before and Django's own
widget rendering are the references."""

from __future__ import annotations

import re

import pytest
from django.template import engines
from django.template.defaultfilters import truncatechars

from generation.models import Sample
from reviews.forms.samples import SampleFilterForm
from reviews.selectors.sample_view import LINEAGE_RELATED
from reviews.templatetags.form_fields import select_field
from reviews.templatetags.snippets import snippet
from tests.reviews.review_helpers import XSS, add_samples, generator, run, score, template_version

# The browser's row as sample_list.html wrote it per sample, with Django's truncatechars.
TEMPLATE_ROW = """{% for sample in rows %}
<tr>
  <td><input type="checkbox" name="ids" value="{{ sample.pk }}" aria-label="Select sample {{ sample.pk }}"></td>
  <td><a href="{% url 'sample_detail' project.slug sample.pk %}">{{ sample.pk }}</a></td>
  {% if sample.blinded %}<td colspan="4"><span class="badge blinded" data-testid="blinded">in an open audit</span> <span class="muted small">lineage hidden until it closes</span></td>{% else %}
  <td><span class="badge origin-{{ sample.origin }}">{{ sample.get_origin_display }}</span></td>
  <td>{{ sample.generator.name|default:"—" }}{% if sample.template_version %}<br><span class="muted small">{{ sample.template_version.template.name }} v{{ sample.template_version.version }}</span>{% endif %}</td>
  <td><span class="status status-{{ sample.status }}">{{ sample.get_status_display }}</span></td>
  <td class="num">{% if sample.similarity %}{{ sample.similarity.novelty|floatformat:3 }}{% else %}—{% endif %}</td>{% endif %}
  <td class="snippet">{{ sample.input|truncatechars:90 }} <span class="muted">→</span> {{ sample.output|truncatechars:140 }}</td>
</tr>
{% endfor %}"""  # noqa: E501


def squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


TEXTS = [
    "",
    "short",
    "x" * 139,
    "x" * 140,
    "x" * 141,
    "a plain sentence, " * 20,
    "café " * 60,  # composed é
    "cafe\u0301 " * 60,  # e + combining acute: NFC composes it
    "q\u0301" * 200,  # combining marks that do not compose: they do not count
    "数学の問題" * 50,
    XSS * 10,
]


@pytest.mark.parametrize("length", [0, 1, 2, 90, 140])
def test_snippet_says_what_truncatechars_says(length):
    for text in TEXTS:
        assert snippet(text, length) == truncatechars(text, length), (text[:30], length)


@pytest.mark.django_db
def test_the_python_rows_match_the_template_rows(project):
    version = template_version(project)
    texts = [(text, text[::-1]) for text in TEXTS]
    samples = add_samples(project, len(texts), texts=texts)
    Sample.objects.filter(pk__in=[s.pk for s in samples[::2]]).update(template_version=version)
    add_samples(project, 2, origin="real")
    for number, sample in enumerate(samples[:6]):
        score(sample, None if number == 1 else number / 7)
    generator(project, "<b>gen</b>")
    Sample.objects.filter(pk=samples[-1].pk).update(generator=generator(project, "<b>gen</b>"))
    rows = list(Sample.objects.filter(project=project).select_related(*LINEAGE_RELATED, "similarity").order_by("-pk"))
    rows[2].blinded = True
    context = {"rows": rows, "project": project}
    engine = engines["django"]
    reference = engine.from_string(TEMPLATE_ROW).render(context)
    built = engine.from_string("{% load snippets %}{% sample_rows rows project.slug %}").render(context)
    assert squeezed(built) == squeezed(reference)
    assert "<script>" not in built and "<b>gen</b>" not in built


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"status": "pending", "generator": "gen"},
        {"flag": "any", "verdict": "none", "origin": "real", "split": "eval", "run": "run"},
        {"generator": "999999", "novelty_min": "not a number"},  # invalid: the boxes still show
    ],
)
def test_the_filter_boxes_match_djangos_own_rendering(data, project, other_project):
    named = generator(project, XSS)
    generator(project, "gen-b")
    generator(other_project, "someone else's")
    version = template_version(project, f"tpl {XSS}")
    made = run(project, "run-1", version, named)
    data = {key: {"gen": str(named.pk), "run": str(made.pk)}.get(value, value) for key, value in data.items()}
    form = SampleFilterForm(data, project=project)
    form.is_valid()
    selects = 0
    for field in form:
        built = str(select_field(field))
        assert built == str(field), field.name
        selects += built.startswith("<select")
    assert selects == 8
    assert "someone else" not in str(select_field(form["generator"]))
