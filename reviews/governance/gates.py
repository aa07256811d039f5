"""The rules a training export must meet, each a function of the selection's
counts that returns its decision with a reason a lead can act on.

- recursion: no synthetic sample from a generator related to the model being
  trained: the one the export names, else every model the project declares (a
  named model must be declared, and a project must declare one);
- audit (reviews/selectors/audit_gate.py: it reads the closed audits): every
  synthetic sample cleared by a closed expert audit that saw it, on its own
  generator's items (a lead may override with a written reason);
- mix: the real share at least the phase's (or the custom) minimum, and no
  generator above its cap.

Samples held back (eval leaks, eval members, too deep, generators the lead left
out) are counted by the export itself; these gates see what remains.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from generation.models import GenerationRun, Generator, GeneratorKind, Origin, PromptTemplateVersion
from reviews.governance.mix_policy import minimum_real_share, mix_decide
from reviews.governance.target_models import model_key
from synthreview.projects.models import Project


class Outcome:
    PASSED = "passed"
    REFUSED = "refused"
    OVERRIDDEN = "overridden"


# Each gate as a lead reads it, by the code the manifest and the API keep.
GATE_TITLES = {
    "recursion": "No generator is related to the model being trained",
    "audit": "Every synthetic sample is cleared by an expert audit",
    "mix": "Enough real data, and no generator over its cap",
    "eval_real_only": "The eval set is real only",
}
OUTCOME_LABELS = {Outcome.PASSED: "Passed", Outcome.REFUSED: "Refused", Outcome.OVERRIDDEN: "Overridden"}


def gate_title(gate: str) -> str:
    """A gate's title; a code no release knows (an old manifest's) reads as words all the same."""
    return GATE_TITLES.get(gate) or gate.replace("_", " ").capitalize()


@dataclass(frozen=True)
class GroupCount:
    """Samples of one origin × generator × template version × run."""

    origin: str
    generator_id: int | None
    template_version_id: int | None
    run_id: int | None
    count: int
    # The smallest audit freshness mark (an audit's drawn_through_sample_id) at or above these samples' ids:
    # an audit drawn through that mark or later saw them. None: newer than every closed audit.
    audit_mark: int | None = None


@dataclass
class GateDecision:
    gate: str
    outcome: str
    reason: str
    details: dict = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.outcome == Outcome.REFUSED

    def as_dict(self) -> dict:
        return asdict(self)


def lineage_graph(generators: Iterable[Generator], target_models: Iterable[dict] = ()) -> dict[str, set[str]]:
    """Model → the models it is derived from, as every generator of the project, and the project's
    declared target models, declare them."""
    parents: dict[str, set[str]] = defaultdict(set)
    chains = [generator.lineage for generator in generators]
    chains += [[model["name"], *model.get("derived_from", [])] for model in target_models]
    for lineage in chains:
        chain = [model_key(name) for name in lineage]
        for child, parent in zip(chain, chain[1:], strict=False):
            parents[child].add(parent)
    return parents


def ancestors(model: str, parents: dict[str, set[str]]) -> set[str]:
    """The model itself and every model it is derived from, however indirectly."""
    seen, stack = set(), [model_key(model)]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(parents.get(name, ()))
    return seen


def recursion_targets(*, target_model: str, declared: list[dict]) -> tuple[list[dict], str | None]:
    """The declared models an export is checked against, or why it cannot be: the one it names (which
    must be declared), else every model the project declares (there must be one)."""
    if not target_model.strip():
        if not declared:
            return [], (
                "This project has not declared the model it trains, so its exports cannot be checked for "
                "recursion. Declare the model being trained, with its lineage, on the Policy page."
            )
        return declared, None
    named = next((model for model in declared if model_key(model["name"]) == model_key(target_model)), None)
    if named is None:
        listed = ", ".join(model["name"] for model in declared) or "none"
        return [], (
            f"The target model {target_model} is not declared on the Policy page (declared: {listed}). "
            f"Declare it with its lineage there, so its relatives can be refused, then export again."
        )
    return [named], None


def recursion_gate(
    *, target_model: str, declared: list[dict], generators: list[Generator], counts: dict[int, int]
) -> GateDecision:
    """Refuse generators derived from a target model, and those a target model is derived from.

    The targets are the one the export names, else every model the project declares; `generators` are
    all of the project's (their declared lineages, and the targets', make the graph); `counts` says how
    many synthetic samples of each the export holds."""
    targets, refusal = recursion_targets(target_model=target_model, declared=declared)
    if refusal and not target_model.strip() and not any(counts.values()):
        return GateDecision(
            "recursion",
            Outcome.PASSED,
            "No synthetic sample, so no model's output can come back to it.",
            {"target_model": "", "checked_against": []},
        )
    if refusal:
        return GateDecision(
            "recursion",
            Outcome.REFUSED,
            refusal,
            {"target_model": target_model, "declared": declared, "generators": []},
        )
    # A generator that is no program but names no model could be any model, the target included:
    # its samples cannot be shown to come from outside the target's lineage.
    unknown = [
        {"generator": generator.name, "kind": generator.kind, "samples": counts[generator.pk]}
        for generator in generators
        if counts.get(generator.pk)
        and generator.kind != GeneratorKind.PROGRAMMATIC
        and not generator.model_name.strip()
    ]
    if unknown:
        listed = "; ".join(f"{u['generator']} ({u['samples']:,} samples)" for u in unknown)
        return GateDecision(
            "recursion",
            Outcome.REFUSED,
            f"Unknown model: the export holds synthetic samples of generators whose model is not "
            f"known, so they may come from {' or '.join(m['name'] for m in targets)} or a relative: "
            f"{listed}. Declare its model on the generator page (with what it is derived from), "
            "or leave these generators out of the export.",
            {"target_model": target_model, "checked_against": [m["name"] for m in targets], "unknown_models": unknown},
        )
    parents = lineage_graph(generators, declared)
    names = ", ".join(model["name"] for model in targets)
    related = []
    hit: list[str] = []
    for generator in generators:
        if not counts.get(generator.pk) or not generator.lineage:
            continue
        generator_ancestors = set().union(*(ancestors(name, parents) for name in generator.lineage))
        whys = []
        for model in targets:
            target = model_key(model["name"])
            if target in generator_ancestors:
                whys.append(f"its model lineage ({' → '.join(generator.lineage)}) contains {model['name']}")
            elif model_key(generator.lineage[0]) in ancestors(target, parents):
                whys.append(f"{model['name']} is itself derived from its model {generator.lineage[0]}")
            else:
                continue
            if model["name"] not in hit:
                hit.append(model["name"])
        if whys:
            related.append(
                {
                    "generator": generator.name,
                    "model": generator.model_name,
                    "lineage": generator.lineage,
                    "samples": counts[generator.pk],
                    "why": "; ".join(whys),
                }
            )
    details = {"target_model": target_model, "checked_against": [model["name"] for model in targets]}
    if not related:
        return GateDecision(
            "recursion", Outcome.PASSED, f"No synthetic sample comes from a model related to {names}.", details
        )
    listed = "; ".join(f"{r['generator']} ({r['samples']:,} samples): {r['why']}" for r in related)
    return GateDecision(
        "recursion",
        Outcome.REFUSED,
        f"Recursive generation: {', '.join(hit)} would train on output of "
        f"{'its' if len(hit) == 1 else 'their'} own lineage. Refused generators: {listed}. "
        "Leave these generators out of the export.",
        details | {"generators": related},
    )


def mix_gate(*, project: Project, groups: list[GroupCount], names: dict) -> GateDecision:
    real = sum(g.count for g in groups if g.origin == Origin.REAL)
    by_generator: dict[str, int] = defaultdict(int)
    for group in groups:
        if group.origin == Origin.SYNTHETIC:
            by_generator[names["generator"][group.generator_id]] += group.count
    minimum = minimum_real_share(project.phase, project.min_real_share)
    decision = mix_decide(
        real=real, synthetic_by_generator=dict(by_generator), minimum=minimum, caps=project.generator_caps or {}
    )
    details = {
        "real": real,
        "synthetic": decision.synthetic,
        "minimum_real_share": float(minimum),
        "real_share": float(decision.real_share) if decision.real_share is not None else None,
        "real_to_add": decision.real_to_add,
        "synthetic_to_drop": decision.synthetic_to_drop,
        "drop_by_generator": decision.drop_by_generator,
        "over_cap": decision.over_cap,
        "caps": project.generator_caps or {},
    }
    if decision.real_share is None:  # no sample at all, so no share
        return GateDecision(
            "mix", Outcome.REFUSED, "Nothing to export: no accepted sample is left in the selection.", details
        )
    if decision.allowed:
        return GateDecision(
            "mix",
            Outcome.PASSED,
            f"{float(decision.real_share):.1%} real, at least the minimum of {float(minimum):.0%}.",
            details,
        )
    return GateDecision("mix", Outcome.REFUSED, decision.reason(), details)


def lineage_names(project: Project) -> dict[str, dict]:
    """Id → name for generators, runs and template versions: small tables, read once per export."""
    return {
        "generator": dict(Generator.objects.filter(project=project).values_list("id", "name")),
        "run": dict(GenerationRun.objects.filter(project=project).values_list("id", "name")),
        "template_version": {
            pk: f"{name} v{version}"
            for pk, name, version in PromptTemplateVersion.objects.filter(template__project=project).values_list(
                "id", "template__name", "version"
            )
        },
    }
