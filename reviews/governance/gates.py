"""The rules a training export must meet, each a function of the selection's
counts that returns its decision with a reason a lead can act on.

- recursion: no synthetic sample from a generator related to the target model;
- audit: every run's synthetic samples covered by a closed expert audit of at
  least MIN_AUDIT_VERDICTS verdicts whose noise-floor upper bound is within the
  project's limit (a lead may override with a written reason);
- mix: the real share at least the phase's (or the custom) minimum, and no
  generator above its cap.

Samples held back (eval leaks, eval members, too deep, generators the lead left
out) are counted by the export itself; these gates see what remains.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from generation.models import GenerationRun, Generator, Origin, Project, PromptTemplateVersion
from reviews.governance.mix_policy import minimum_real_share, mix_decide
from reviews.models import Audit, AuditScope, AuditStatus

MIN_AUDIT_VERDICTS = 50


class Outcome:
    PASSED = "passed"
    REFUSED = "refused"
    OVERRIDDEN = "overridden"


@dataclass(frozen=True)
class GroupCount:
    """Samples of one origin × generator × template version × run."""

    origin: str
    generator_id: int | None
    template_version_id: int | None
    run_id: int | None
    count: int


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


def _model_key(name: str) -> str:
    return name.strip().lower()


def lineage_graph(generators: Iterable[Generator]) -> dict[str, set[str]]:
    """Model → the models it is derived from, as every generator of the project declares them."""
    parents: dict[str, set[str]] = defaultdict(set)
    for generator in generators:
        chain = [_model_key(name) for name in generator.lineage]
        for child, parent in zip(chain, chain[1:], strict=False):
            parents[child].add(parent)
    return parents


def ancestors(model: str, parents: dict[str, set[str]]) -> set[str]:
    """The model itself and every model it is derived from, however indirectly."""
    seen, stack = set(), [_model_key(model)]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(parents.get(name, ()))
    return seen


def recursion_gate(*, target_model: str, generators: list[Generator], counts: dict[int, int]) -> GateDecision:
    """Refuse generators derived from the target model, and those the target model is derived from.

    `generators` are all of the project's (their declared lineages make the graph); `counts` says
    how many synthetic samples of each the export holds."""
    if not target_model.strip():
        return GateDecision("recursion", Outcome.PASSED, "No target model named, so there is nothing to compare.",
                            {"target_model": ""})
    parents = lineage_graph(generators)
    target = _model_key(target_model)
    target_ancestors = ancestors(target, parents)
    related = []
    for generator in generators:
        if not counts.get(generator.pk) or not generator.lineage:
            continue
        generator_ancestors = set().union(*(ancestors(name, parents) for name in generator.lineage))
        if target in generator_ancestors:
            why = f"its model lineage ({' → '.join(generator.lineage)}) contains {target_model}"
        elif _model_key(generator.lineage[0]) in target_ancestors:
            why = f"{target_model} is itself derived from its model {generator.lineage[0]}"
        else:
            continue
        related.append({"generator": generator.name, "model": generator.model_name, "lineage": generator.lineage,
                        "samples": counts[generator.pk], "why": why})
    if not related:
        return GateDecision("recursion", Outcome.PASSED,
                            f"No synthetic sample comes from a model related to {target_model}.",
                            {"target_model": target_model})
    listed = "; ".join(f"{r['generator']} ({r['samples']:,} samples): {r['why']}" for r in related)
    return GateDecision("recursion", Outcome.REFUSED,
                        f"Recursive generation: the target model {target_model} would train on output of its own "
                        f"lineage. Refused generators: {listed}. Leave these generators out of the export.",
                        {"target_model": target_model, "generators": related})


@dataclass(frozen=True)
class _Source:
    run_id: int | None
    generator_id: int
    template_version_id: int | None


def _audit_row(audit: Audit) -> dict:
    floor = audit.frozen_figures["noise_floor"]
    return {"id": audit.pk, "name": audit.name, "scope": audit.scope, "closed_at": audit.closed_at.isoformat(),
            "judged": floor["judged"], "wrong": floor["wrong"], "noise_floor": floor["rate"],
            "interval": [floor["low"], floor["high"]]}


def _covering_audit(source: _Source, audits: list[Audit]) -> Audit | None:
    """The source's own run's latest qualifying audit, else its generator's, else its template version's."""
    for scope, attribute, value in ((AuditScope.RUN, "run_id", source.run_id),
                                    (AuditScope.GENERATOR, "generator_id", source.generator_id),
                                    (AuditScope.TEMPLATE_VERSION, "template_version_id", source.template_version_id)):
        if value is None:
            continue
        for audit in audits:  # newest closed first
            if (audit.scope == scope and getattr(audit, attribute) == value
                    and audit.frozen_figures["noise_floor"]["judged"] >= MIN_AUDIT_VERDICTS):
                return audit
    return None


def audit_gate(*, project: Project, groups: list[GroupCount], override_reason: str, names: dict
               ) -> tuple[GateDecision, list[dict]]:
    """Every run's synthetic samples need a closed audit of ≥ 50 verdicts with its upper bound within the limit."""
    sources: dict[_Source, int] = defaultdict(int)
    for group in groups:
        if group.origin == Origin.SYNTHETIC and group.count:
            sources[_Source(group.run_id, group.generator_id, group.template_version_id)] += group.count
    audits = [a for a in Audit.objects.filter(project=project, status=AuditStatus.CLOSED)
              .filter(frozen_figures__isnull=False).order_by("-closed_at", "-id") if a.frozen_figures.get("noise_floor")]
    limit = project.noise_floor_limit
    used: dict[int, dict] = {}
    missing: list[dict] = []
    for source, count in sorted(sources.items(), key=lambda item: (names["run"].get(item[0].run_id, ""),
                                                                    names["generator"].get(item[0].generator_id, ""))):
        generator = names["generator"][source.generator_id]
        label = f"run {names['run'][source.run_id]}" if source.run_id else "samples imported without a run"
        audit = _covering_audit(source, audits)
        if audit is None:
            missing.append({"source": label, "run": names["run"].get(source.run_id), "generator": generator,
                            "samples": count, "problem": f"no closed audit of at least {MIN_AUDIT_VERDICTS} verdicts"})
            continue
        row = used.setdefault(audit.pk, _audit_row(audit) | {"covers": []})
        row["covers"].append(f"{label} × {generator}")
        high = row["interval"][1]
        if high is None or high > limit:
            missing.append({"source": label, "run": names["run"].get(source.run_id), "generator": generator,
                            "samples": count, "audit": audit.pk,
                            "problem": f"audit {audit.name!r} puts the noise floor's upper bound at {high:.1%}, "
                                       f"above the limit of {limit:.0%}"})
    details = {"min_verdicts": MIN_AUDIT_VERDICTS, "noise_floor_limit": limit, "failing": missing}
    if not missing:
        reason = ("Every synthetic source has a closed audit within the limit." if sources
                  else "No synthetic samples, so no audit is needed.")
        return GateDecision("audit", Outcome.PASSED, reason, details), list(used.values())
    listed = _missing_by_run(missing)
    if override_reason.strip():
        return (GateDecision("audit", Outcome.OVERRIDDEN, f"Overridden by a lead: {override_reason.strip()} "
                             f"(would have refused: {listed})", details | {"override_reason": override_reason.strip()}),
                list(used.values()))
    return (GateDecision("audit", Outcome.REFUSED,
                         f"No expert audit clears these samples for training: {listed}. Run an audit of at least "
                         f"{MIN_AUDIT_VERDICTS} items for each (Audits page), or override with a written reason.",
                         details), list(used.values()))


def _missing_by_run(missing: list[dict]) -> str:
    """"run A (gen-1: 80, gen-2: 69 samples): no closed audit …; run B …" — one entry per run and problem."""
    by_run: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in missing:
        by_run[(entry["source"], entry["problem"])].append(f"{entry['generator']}: {entry['samples']:,}")
    return "; ".join(f"{source} ({', '.join(parts)} samples): {problem}"
                     for (source, problem), parts in by_run.items())


def mix_gate(*, project: Project, groups: list[GroupCount], names: dict) -> GateDecision:
    real = sum(g.count for g in groups if g.origin == Origin.REAL)
    by_generator: dict[str, int] = defaultdict(int)
    for group in groups:
        if group.origin == Origin.SYNTHETIC:
            by_generator[names["generator"][group.generator_id]] += group.count
    minimum = minimum_real_share(project.phase, project.min_real_share)
    decision = mix_decide(real=real, synthetic_by_generator=dict(by_generator), minimum=minimum,
                          caps=project.generator_caps or {})
    details = {"real": real, "synthetic": decision.synthetic, "minimum_real_share": float(minimum),
               "real_share": float(decision.real_share) if decision.real_share is not None else None,
               "real_to_add": decision.real_to_add, "synthetic_to_drop": decision.synthetic_to_drop,
               "drop_by_generator": decision.drop_by_generator, "over_cap": decision.over_cap,
               "caps": project.generator_caps or {}}
    if decision.total == 0:
        return GateDecision("mix", Outcome.REFUSED, "Nothing to export: no accepted sample is left in the selection.",
                            details)
    if decision.allowed:
        return GateDecision("mix", Outcome.PASSED,
                            f"{float(decision.real_share):.1%} real, at least the minimum of {float(minimum):.0%}.",
                            details)
    return GateDecision("mix", Outcome.REFUSED, decision.reason(), details)


def lineage_names(project: Project) -> dict[str, dict]:
    """Id → name for generators, runs and template versions: small tables, read once per export."""
    return {
        "generator": dict(Generator.objects.filter(project=project).values_list("id", "name")),
        "run": dict(GenerationRun.objects.filter(project=project).values_list("id", "name")),
        "template_version": {pk: f"{name} v{version}" for pk, name, version in PromptTemplateVersion.objects.filter(
            template__project=project).values_list("id", "template__name", "version")},
    }
