"""After the demo seeds itself, a lead reaches a passing training export without an override
(arith-careful, audited on its own, with the real anchors), and arith-sloppy is refused by the
audit gate: both halves of the story the README tells."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from generation.models import Generator, Sample
from reviews.models import Audit
from synthreview.projects.models import Project
from tests.reviews.export_helpers import decision, exported, refusal_reasons, wilson_upper

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(run_tasks_inline, django_capture_on_commit_callbacks, monkeypatch):
    """The demo as `make demo` seeds it: seed_demo, its runs and then its audits task, through the queue.
    The similarity jobs it queues are recorded, not run (the export's leak check embeds what it needs)."""
    from reviews.tasks import similarity_job_task

    monkeypatch.setattr(similarity_job_task, "delay", lambda job_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=open("/dev/null", "w"))
    return Project.objects.get(slug="demo")


def test_the_demo_holds_a_passing_export_and_a_refused_one(demo):
    lead = User.objects.get(username="demo-lead")
    generators = dict(Generator.objects.filter(project=demo).values_list("name", "pk"))
    closed = {audit.name: audit for audit in Audit.objects.filter(project=demo, status="closed")}
    careful_audit = closed["Generator arith-careful on its own (answer key)"]
    careful = careful_audit.frozen_breakdown("generator")
    [careful_row] = [row for row in careful if row.id == generators["arith-careful"]]
    # Worked from the formula, not read from the app: the careful generator's bound is under the 10% limit.
    assert careful_row.floor.judged >= 50
    assert wilson_upper(careful_row.floor.wrong, careful_row.floor.judged) < demo.noise_floor_limit

    # The careful selection: every generator the answer key left pending is out anyway; leave out arith-sloppy.
    passing = exported(demo, lead, excluded_generator_ids=[generators["arith-sloppy"]])
    assert passing.status == "completed", passing.refusals
    assert passing.refusals == [] and passing.audit_override_reason == ""
    assert {d["gate"]: d["outcome"] for d in passing.manifest["decisions"]} == {
        "recursion": "passed",
        "audit": "passed",
        "mix": "passed",
    }
    assert decision(passing, "mix")["details"]["real"] > 0
    written = Sample.objects.filter(project=demo, status="accepted").exclude(generator__name="arith-sloppy")
    assert 0 < passing.rows_written <= written.count()

    # The same export with arith-sloppy in it: the audit gate refuses, naming arith-sloppy alone.
    refused = exported(demo, lead)
    assert refused.status == "refused"
    reasons = refusal_reasons(refused)
    assert set(reasons) == {"audit"}
    assert "arith-sloppy" in reasons["audit"] and "arith-careful" not in reasons["audit"]
    # Its share wrong is over the limit itself, so the refusal advises no audit size (the README says so).
    assert "no audit size" in reasons["audit"]
    assert decision(refused, "recursion")["outcome"] == "passed"

    # The eval set the demo froze is real and version-locked.
    evaluation = exported(demo, lead, split="eval")
    assert evaluation.status == "completed"
    assert decision(evaluation, "eval_real_only")["outcome"] == "passed"
