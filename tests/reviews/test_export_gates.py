"""The gates a training export must pass: mix-in, audit and recursion, each
refusing with a reason a lead can act on and passing when its rule holds; and a
lead's override of the audit gate."""

from __future__ import annotations

from fractions import Fraction

import pytest

from synthreview.projects.models import AuditLog
from tests.reviews.export_helpers import (
    closed_run_audit,
    decision,
    exported,
    refusal_reasons,
    synthetic_run,
    wilson_upper,
)
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db


def _mix(project, *, real: int, gen_a: int = 8, gen_b: int = 4) -> None:
    if real:
        add_samples(project, real, origin="real", status="accepted")
    add_samples(project, gen_a, gen=generator(project, "gen-a"), status="accepted")
    add_samples(project, gen_b, gen=generator(project, "gen-b"), status="accepted")


def _least_real_to_add(real: int, synthetic: int, minimum: Fraction) -> int:
    return next(a for a in range(10_000) if Fraction(real + a, real + a + synthetic) >= minimum)


def _least_synthetic_to_drop(real: int, synthetic: int, minimum: Fraction) -> int:
    return next(
        d for d in range(synthetic + 1) if real + synthetic - d == 0 or Fraction(real, real + synthetic - d) >= minimum
    )


# --- mix-in ---------------------------------------------------------------------------------------------------


def test_mix_refusal_says_how_many_real_to_add_and_synthetic_to_drop_by_generator(project, lead):
    project.phase = 1
    project.save()
    _mix(project, real=3, gen_a=8, gen_b=4)
    export = exported(project, lead)
    assert export.status == "refused"
    reason = refusal_reasons(export)["mix"]
    # 3 real of 15 is 20%; 50% needs real ≥ synthetic: 9 more real, or 9 fewer synthetic kept 8:4 → 6 and 3.
    assert "20.0% real" in reason and "minimum of 50%" in reason
    assert "add 9 real samples" in reason
    assert "drop 9 synthetic (6 from gen-a, 3 from gen-b)" in reason
    assert decision(export, "mix")["details"]["drop_by_generator"] == {"gen-a": 6, "gen-b": 3}
    assert not export.stored_path and not export.sha256


@pytest.mark.parametrize(
    ("phase", "minimum", "boundary_real"),
    [(1, Fraction(1, 2), 12), (2, Fraction(4, 5), 48), (3, Fraction(19, 20), 228)],
)
def test_each_phase_refuses_one_real_short_of_its_minimum(project, lead, phase, minimum, boundary_real):
    project.phase = phase
    project.save()
    _mix(project, real=boundary_real - 1)
    export = exported(project, lead)
    mix = decision(export, "mix")
    assert mix["outcome"] == "refused"
    assert mix["details"]["real_to_add"] == _least_real_to_add(boundary_real - 1, 12, minimum) == 1
    assert mix["details"]["synthetic_to_drop"] == _least_synthetic_to_drop(boundary_real - 1, 12, minimum) == 1
    assert "add 1 real sample," in mix["reason"] and "drop 1 synthetic" in mix["reason"]
    assert f"minimum of {float(minimum):.0%}" in mix["reason"]


@pytest.mark.parametrize(("phase", "boundary_real"), [(1, 12), (2, 48), (3, 228)])
def test_each_phase_passes_at_exactly_its_minimum(project, lead, phase, boundary_real):
    project.phase = phase
    project.save()
    _mix(project, real=boundary_real)
    export = exported(project, lead)
    assert decision(export, "mix")["outcome"] == "passed"
    assert "mix" not in refusal_reasons(export)
    assert export.manifest["real_share"] == pytest.approx(boundary_real / (boundary_real + 12))


def test_phase_zero_allows_synthetic_only(project, lead):
    _mix(project, real=0)
    export = exported(project, lead)
    assert decision(export, "mix")["outcome"] == "passed"
    assert export.manifest["real_share"] == 0


def test_a_custom_minimum_replaces_the_phase_minimum(project, lead):
    project.phase, project.min_real_share = 1, 0.6
    project.save()
    _mix(project, real=12)  # 50%: enough for phase 1, not for 60%
    refused = exported(project, lead)
    mix = decision(refused, "mix")
    assert mix["outcome"] == "refused"
    assert "minimum of 60%" in mix["reason"]
    # 60% of (12 + a + 12) ≤ 12 + a → a ≥ 6; 12 / (24 − d) ≥ 0.6 → d ≥ 4.
    assert _least_real_to_add(12, 12, Fraction(3, 5)) == 6
    assert _least_synthetic_to_drop(12, 12, Fraction(3, 5)) == 4
    assert "add 6 real samples" in mix["reason"] and "drop 4 synthetic" in mix["reason"]
    assert mix["details"]["real_to_add"] == 6 and mix["details"]["synthetic_to_drop"] == 4
    assert refused.manifest["settings"]["min_real_share_in_force"] == pytest.approx(0.6)
    add_samples(project, 6, origin="real", status="accepted")
    assert decision(exported(project, lead), "mix")["outcome"] == "passed"


def test_a_generator_over_its_cap_is_refused_with_the_excess(project, lead):
    project.generator_caps = {"gen-a": 0.25}
    project.save()
    _mix(project, real=4, gen_a=8, gen_b=4)
    mix = decision(exported(project, lead), "mix")
    assert mix["outcome"] == "refused"
    # The least d with (8 − d) / (16 − d) ≤ 25%.
    excess = next(d for d in range(9) if Fraction(8 - d, 16 - d) <= Fraction(1, 4))
    assert excess == 6
    assert f"Generator gen-a is over its cap: drop {excess} of its samples." in mix["reason"]
    assert mix["details"]["over_cap"] == {"gen-a": excess}


def test_a_generator_at_its_cap_passes(project, lead):
    project.generator_caps = {"gen-a": 0.5}
    project.save()
    _mix(project, real=4, gen_a=8, gen_b=4)
    assert decision(exported(project, lead), "mix")["outcome"] == "passed"


# --- audit ----------------------------------------------------------------------------------------------------


def test_audit_gate_refuses_names_the_unaudited_run_only(project, lead, expert):
    audited, _ = synthetic_run(project, "run-audited", 50)
    synthetic_run(project, "run-unaudited", 12, gen=generator(project, "gen-b"))
    closed_run_audit(project, lead, expert, audited)
    export = exported(project, lead)
    assert export.status == "refused"
    reason = refusal_reasons(export)["audit"]
    assert "run run-unaudited (gen-b: 12 samples): no closed audit of at least 50 verdicts" in reason
    assert "run-audited" not in reason
    assert [f["run"] for f in decision(export, "audit")["details"]["failing"]] == ["run-unaudited"]


def test_an_audit_of_fewer_than_50_verdicts_does_not_clear_a_run(project, lead, expert):
    generation_run, _ = synthetic_run(project, "run-a", 60)
    audit = closed_run_audit(project, lead, expert, generation_run, size=40)
    assert audit.frozen_figures["noise_floor"]["judged"] == 40
    reason = refusal_reasons(exported(project, lead))["audit"]
    assert "run run-a" in reason and "no closed audit of at least 50 verdicts" in reason


def test_an_audit_whose_upper_bound_is_over_the_project_limit_refuses(project, lead, expert):
    generation_run, _ = synthetic_run(project, "run-a", 50)
    closed_run_audit(project, lead, expert, generation_run, wrong=2)
    high = wilson_upper(2, 50)
    assert high > project.noise_floor_limit == 0.10
    reason = refusal_reasons(exported(project, lead))["audit"]
    assert "run run-a" in reason
    assert f"upper bound at {high:.1%}, above the limit of 10%" in reason
    # The limit is the project's: raised above the bound, the same audit clears the run.
    project.noise_floor_limit = 0.15
    project.save()
    assert decision(exported(project, lead), "audit")["outcome"] == "passed"


def test_a_passing_audit_clears_the_run_and_is_listed_in_the_manifest(project, lead, expert):
    generation_run, _ = synthetic_run(project, "run-a", 50)
    audit = closed_run_audit(project, lead, expert, generation_run, wrong=0)
    export = exported(project, lead)
    assert export.status == "completed", export.refusals
    assert decision(export, "audit")["outcome"] == "passed"
    [used] = export.manifest["audits"]
    assert used["id"] == audit.pk and used["judged"] == 50 and used["wrong"] == 0
    assert used["noise_floor"] == 0
    assert used["interval"][0] == 0 and used["interval"][1] == pytest.approx(wilson_upper(0, 50), abs=1e-6)
    assert used["covers"] == ["run run-a × gen-a"]


def test_a_generator_audit_clears_the_generators_runs(project, lead, expert):
    from tests.reviews.audit_helpers import audit_drawn, first_wrong, review_all

    gen = generator(project, "gen-a")
    synthetic_run(project, "run-1", 30, gen=gen)
    synthetic_run(project, "run-2", 30, gen=gen)
    audit = review_all(audit_drawn(project, lead, scope="generator", object_id=gen.pk, size=50), expert, first_wrong(0))
    export = exported(project, lead)
    assert decision(export, "audit")["outcome"] == "passed"
    assert [a["id"] for a in export.manifest["audits"]] == [audit.pk]


def test_lead_override_lets_an_unaudited_export_complete_and_is_recorded(project, lead):
    synthetic_run(project, "run-a", 20)
    reason = "Pilot fine-tune on a scratch model; the run is audited offline this week."
    export = exported(project, lead, audit_override_reason=reason)
    assert export.status == "completed", export.refusals
    audit = decision(export, "audit")
    assert audit["outcome"] == "overridden" and reason in audit["reason"] and "run run-a" in audit["reason"]
    assert export.manifest["override"] == {"gate": "audit", "reason": reason, "by": lead.username}
    entry = AuditLog.objects.get(project=project, action="export.override", object_id=str(export.pk))
    assert entry.details["reason"] == reason and entry.actor == lead


def test_an_override_is_not_recorded_when_the_audit_gate_passes(project, lead):
    add_samples(project, 5, origin="real", status="accepted")
    export = exported(project, lead, audit_override_reason="not needed")
    assert export.status == "completed"
    assert export.manifest["override"] is None
    assert not AuditLog.objects.filter(action="export.override").exists()


# --- recursion ------------------------------------------------------------------------------------------------


def _declare(project, name: str) -> None:
    """The policy declares the model being trained: an export may only name a declared one."""
    project.target_models = [*project.target_models, {"name": name, "derived_from": []}]
    project.save(update_fields=["target_models"])


def _lineage(project, name: str, model: str, *derived_from: str):
    gen = generator(project, name)
    gen.model_name, gen.derived_from = model, list(derived_from)
    gen.save()
    return gen


def test_recursion_refuses_a_generator_whose_lineage_contains_the_target(project, lead):
    tuned = _lineage(project, "tuned", "acme-7b-instruct", "acme-7b")
    add_samples(project, 5, gen=tuned, status="accepted")
    _declare(project, "acme-7b")
    export = exported(project, lead, target_model="ACME-7B")
    reason = refusal_reasons(export)["recursion"]
    assert "tuned (5 samples)" in reason and "acme-7b-instruct → acme-7b" in reason
    assert [g["generator"] for g in decision(export, "recursion")["details"]["generators"]] == ["tuned"]


def test_recursion_follows_lineage_declared_by_another_generator(project, lead):
    # mid-model is derived from the target (declared by a generator with no samples here);
    # leaf-model is derived from mid-model, so leaf's samples descend from the target.
    _lineage(project, "mid", "mid-model", "target-base")
    leaf = _lineage(project, "leaf", "leaf-model", "mid-model")
    add_samples(project, 4, gen=leaf, status="accepted")
    _declare(project, "target-base")
    export = exported(project, lead, target_model="target-base")
    reason = refusal_reasons(export)["recursion"]
    assert "leaf (4 samples)" in reason and "contains target-base" in reason
    assert "mid (" not in reason


def test_recursion_refuses_a_generator_the_target_is_derived_from(project, lead):
    _lineage(project, "student", "small-8b", "big-70b")  # declares small-8b ← big-70b
    teacher = _lineage(project, "teacher", "big-70b")
    add_samples(project, 3, gen=teacher, status="accepted")
    _declare(project, "small-8b")
    reason = refusal_reasons(exported(project, lead, target_model="small-8b"))["recursion"]
    assert "teacher (3 samples)" in reason and "small-8b is itself derived from its model big-70b" in reason


def test_recursion_allows_sibling_fine_tunes_of_a_common_base(project, lead):
    _lineage(project, "sibling-b", "base-ft-b", "base")
    sibling = _lineage(project, "sibling-a", "base-ft-a", "base")
    add_samples(project, 3, gen=sibling, status="accepted")
    _declare(project, "base-ft-b")
    export = exported(project, lead, target_model="base-ft-b")
    assert decision(export, "recursion")["outcome"] == "passed"
    assert "recursion" not in refusal_reasons(export)


def test_every_gate_holds_and_the_export_completes(project, lead, expert):
    project.phase = 1
    project.save()
    sibling = _lineage(project, "sibling-a", "base-ft-a", "base")
    generation_run, _ = synthetic_run(project, "run-a", 50, gen=sibling)
    closed_run_audit(project, lead, expert, generation_run)
    add_samples(project, 50, origin="real", status="accepted")
    _declare(project, "base-ft-b")
    export = exported(project, lead, target_model="base-ft-b")
    assert export.status == "completed" and export.refusals == []
    assert {d["gate"]: d["outcome"] for d in export.manifest["decisions"]} == {
        "recursion": "passed",
        "audit": "passed",
        "mix": "passed",
    }
    assert export.rows_written == 100
