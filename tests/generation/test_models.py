"""The integrity rules that live in the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from generation.hashing import content_hash
from generation.models import GenerationRun, Generator, PromptTemplate, PromptTemplateVersion, Sample
from reviews.models import Audit, Verdict
from synthreview.projects.models import AuditLog, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def generator(project):
    return Generator.objects.create(project=project, name="gpt-x", kind="imported")


@pytest.fixture
def second_generator(project):
    return Generator.objects.create(project=project, name="llama-y", kind="imported")


def _sample(project, *, origin="synthetic", generator=None, text="2+2?", answer="4", **extra):
    return Sample.objects.create(
        project=project,
        origin=origin,
        generator=generator,
        input=text,
        output=answer,
        content_hash=content_hash(text, answer),
        **extra,
    )


def _refused(make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_synthetic_sample_must_name_its_generator(project):
    _refused(lambda: _sample(project, origin="synthetic", generator=None))


def test_real_sample_cannot_have_a_generator(project, generator):
    _refused(lambda: _sample(project, origin="real", generator=generator))


def test_eval_split_holds_real_samples_only(project, generator):
    _refused(lambda: _sample(project, generator=generator, split="eval"))
    assert _sample(project, origin="real", split="eval").split == "eval"


def test_unknown_origin_and_status_are_refused(project, generator):
    _refused(lambda: _sample(project, origin="mixed", generator=generator))
    _refused(lambda: _sample(project, generator=generator, status="maybe"))


def test_same_content_from_one_generator_is_stored_once(project, generator):
    _sample(project, generator=generator)
    _refused(lambda: _sample(project, generator=generator))


def test_same_content_from_two_generators_is_kept_twice(project, generator, second_generator):
    first = _sample(project, generator=generator)
    second = _sample(project, generator=second_generator)
    assert first.content_hash == second.content_hash and first.pk != second.pk


def test_same_real_content_is_stored_once_per_project(project, other_project):
    _sample(project, origin="real")
    _refused(lambda: _sample(project, origin="real"))
    assert _sample(other_project, origin="real").project == other_project


def test_same_content_in_two_runs_of_one_generator_is_kept(project, generator):
    runs = [GenerationRun.objects.create(project=project, name=f"run {i}") for i in range(2)]
    for run in runs:
        _sample(project, generator=generator, run=run)
    _refused(lambda: _sample(project, generator=generator, run=runs[0]))


def test_content_hash_ignores_surrounding_whitespace_and_line_endings():
    assert content_hash("  What is 2+2?\r\n", "4 ") == content_hash("What is 2+2?", "4")
    assert content_hash("a", "bc") != content_hash("ab", "c")
    assert content_hash("x", "a  b") != content_hash("x", "a b")


def test_one_verdict_per_reviewer_per_sample_outside_audits(project, generator, expert):
    sample = _sample(project, generator=generator)
    Verdict.objects.create(sample=sample, reviewer=expert, value="correct")
    _refused(lambda: Verdict.objects.create(sample=sample, reviewer=expert, value="wrong"))


def test_one_verdict_per_reviewer_per_sample_per_audit(project, generator, expert, lead):
    sample = _sample(project, generator=generator)
    audit = Audit.objects.create(project=project, name="a1", scope="project", seed=7)
    Verdict.objects.create(sample=sample, reviewer=expert, audit=audit, value="correct")
    # Outside the audit, and by another reviewer in it: both allowed.
    Verdict.objects.create(sample=sample, reviewer=expert, value="wrong", error_category="hallucination")
    Verdict.objects.create(sample=sample, reviewer=lead, audit=audit, value="unsure")
    _refused(lambda: Verdict.objects.create(sample=sample, reviewer=expert, audit=audit, value="wrong"))


def test_a_correct_verdict_carries_no_error_category(project, generator, expert):
    sample = _sample(project, generator=generator)
    _refused(
        lambda: Verdict.objects.create(sample=sample, reviewer=expert, value="correct", error_category="hallucination")
    )


def test_audit_scope_must_name_its_object(project):
    _refused(lambda: Audit.objects.create(project=project, name="a", scope="run", seed=1))


def test_membership_is_one_per_user_and_project_with_a_known_role(project, expert):
    _refused(lambda: Membership.objects.create(user=expert, project=project, role="lead"))
    other = Membership.objects.filter(user=expert).first()
    Membership.objects.filter(pk=other.pk).delete()
    _refused(lambda: Membership.objects.create(user=expert, project=project, role="owner"))


def test_template_versions_are_immutable_and_numbered_once(project):
    template = PromptTemplate.objects.create(project=project, name="story")
    version = PromptTemplateVersion.objects.create(template=template, version=1, text="Solve: {q}")
    version.text = "changed"
    with pytest.raises(ValidationError):
        version.save()
    _refused(lambda: PromptTemplateVersion.objects.create(template=template, version=1, text="again"))
    assert PromptTemplateVersion.objects.get(pk=version.pk).text == "Solve: {q}"


def test_audit_log_rows_cannot_be_changed_or_deleted_through_the_orm(project):
    entry = AuditLog.objects.create(project=project, action="import", object_type="batch", object_id="1")
    entry.action = "tampered"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    assert AuditLog.objects.get(pk=entry.pk).action == "import"
