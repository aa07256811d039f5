"""The demo fills a project that every later screen can show."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse

from generation.models import GenerationRun, Generator, Sample
from generation.prompts import placeholder_problems
from generation.services.demo import REAL_ANCHORS
from synthreview.projects.models import Project, SampleCount

pytestmark = pytest.mark.django_db


@pytest.fixture
def similarity_requests(monkeypatch):
    """Similarity jobs the demo queues, recorded instead of embedded (that is tested elsewhere)."""
    from reviews.tasks import similarity_job_task

    queued: list[int] = []
    monkeypatch.setattr(similarity_job_task, "delay", queued.append)
    return queued


@pytest.fixture
def leak_check_requests(monkeypatch):
    """The eval set's leak check, recorded instead of run: it embeds every accepted sample, which
    tests/reviews/test_demo_export_story.py does with the demo, and the leak-check tests on their own."""
    from reviews.tasks import eval_leak_check_task

    queued: list[int] = []
    monkeypatch.setattr(eval_leak_check_task, "delay", queued.append)
    return queued


@pytest.fixture
def demo(run_tasks_inline, django_capture_on_commit_callbacks, similarity_requests, leak_check_requests):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=open("/dev/null", "w"))


def test_demo_has_real_anchors_several_generators_templates_and_runs(demo):
    anchors = sum(1 for line in REAL_ANCHORS.read_text().splitlines() if line.strip())
    assert Sample.objects.filter(project__slug="demo", origin="real").count() == anchors
    assert Generator.objects.filter(project__slug="demo", kind="programmatic").count() >= 3
    templates = Sample.objects.filter(origin="synthetic").values("template_version__template").distinct()
    assert templates.count() >= 3
    assert set(GenerationRun.objects.values_list("status", flat=True)) == {"completed"}


def test_every_demo_sample_input_is_its_template_filled_in_and_counts_its_nouns_right(demo):
    synthetic = Sample.objects.filter(project__slug="demo", origin="synthetic").select_related("template_version")
    for sample in synthetic:
        text = sample.template_version.text
        assert "{{" in text and not placeholder_problems(text), text
        # Each placeholder stands for some text; everything around it is the template's own.
        pieces = re.split(r"\{\{\s*[A-Za-z_]\w*\s*\}\}", text)
        pattern = "(.+?)".join(re.escape(piece) for piece in pieces)
        assert re.fullmatch(pattern, sample.input, flags=re.DOTALL), (text, sample.input)
        assert "{" not in sample.input
        assert not re.search(r"\b(boxs|loafs|1 (boxes|friends|baskets|crates))\b", sample.input), sample.input


def test_demo_holds_wrong_answers_and_exact_duplicates_across_generators(demo):
    synthetic = Sample.objects.filter(project__slug="demo", origin="synthetic")
    wrong = [s for s in synthetic if s.metadata["given_answer"] != s.metadata["expected_answer"]]
    assert 0.03 < len(wrong) / synthetic.count() < 0.25
    shared = synthetic.values("content_hash").annotate(gens=Count("generator", distinct=True)).filter(gens__gt=1)
    assert shared.count() >= 5


def test_demo_queues_one_similarity_job_for_its_new_samples(demo, similarity_requests):
    from reviews.models import SimilarityJob

    jobs = SimilarityJob.objects.filter(project__slug="demo", kind="embed")
    assert jobs.count() == 1
    assert set(similarity_requests) == {jobs.get().pk}


def test_demo_counters_match_the_rows(demo):
    for origin in ("real", "synthetic"):
        for status in ("pending", "accepted", "rejected"):
            counted = SampleCount.objects.filter(project__slug="demo", origin=origin, status=status).first()
            rows = Sample.objects.filter(project__slug="demo", origin=origin, status=status).count()
            assert (counted.count if counted else 0) == rows, (origin, status)
    # The answer key decided two generators' samples; the others wait for the reviewers.
    assert Sample.objects.filter(project__slug="demo", status="pending", generator__name="arith-parrot").exists()


def test_demo_logins_work_and_the_project_page_renders(demo, client):
    # Through the login form, as a person signs in: the login throttle needs the request.
    signed_in = client.post(reverse("login"), {"username": "demo-lead", "password": "demo-lead-pass"})
    assert signed_in.status_code == 302, signed_in.content[:500]
    page = client.get(reverse("project_detail", args=["demo"])).content.decode()
    assert "Arithmetic word problems (demo)" in page
    assert "story-careful-sloppy" in page
    assert "arith-parrot" in page


def test_demo_logins_have_addresses_so_its_alerts_say_where_they_went(demo):
    from django.contrib.auth import get_user_model

    emails = dict(get_user_model().objects.filter(username__startswith="demo-").values_list("username", "email"))
    assert emails == {
        "demo-expert": "demo-expert@example.org",
        "demo-lead": "demo-lead@example.org",
        "demo-admin": "demo-admin@example.org",
    }


def test_demo_declares_the_model_it_trains_and_none_of_its_generators_is_related(demo):
    from reviews.governance.gates import recursion_gate

    project = Project.objects.get(slug="demo")
    generators = list(Generator.objects.filter(project=project))
    # Every generator with samples, checked by default against what the demo declares.
    decision = recursion_gate(
        target_model="",
        declared=project.target_models,
        generators=generators,
        counts={generator.pk: 1 for generator in generators},
    )
    assert decision.outcome == "passed", decision.reason
    assert decision.details["checked_against"] == ["arithmetic-tutor-1b"]


def test_seed_demo_twice_changes_nothing(demo):
    before = Sample.objects.count()
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    assert Sample.objects.count() == before


def test_real_anchor_answers_are_right():
    # The hand-written anchors: each final answer follows from its last step.
    for line in REAL_ANCHORS.read_text().splitlines():
        row = json.loads(line)
        *steps, final = row["answer"].splitlines()
        assert final == f"Answer: {steps[-1].rsplit('=', 1)[1].strip()}", row
