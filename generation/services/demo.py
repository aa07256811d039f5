"""The demo project: real anchors, synthetic runs from several rule-based
generators and framings, near-duplicates and wrong answers. Offline and
deterministic; it reads nothing outside the package."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from generation.models import GenerationRun, GeneratorKind, Origin
from generation.programmatic.arithmetic import FRAMING_TEMPLATES as ARITHMETIC_FRAMINGS
from generation.programmatic.logic import FRAMING_TEMPLATES as LOGIC_FRAMINGS
from generation.services.generators import generator_create
from generation.services.imports import import_batch_create, import_batch_run
from generation.services.runs import run_create_programmatic, run_execute
from generation.services.templates import template_version_create
from synthreview.projects.access import ProjectAccess, SystemActor
from synthreview.projects.models import Project, Role
from synthreview.projects.services.projects import membership_set, project_create

DEMO_SLUG = "demo"
# The demo's seeding acts as itself: the audit log names it, and no demo login is said to have done it.
DEMO = SystemActor("demo")
REAL_ANCHORS = Path(__file__).resolve().parent.parent / "demo_data" / "real_anchors.jsonl"

# The templates are the generators' own framings, so a sample's input is its template filled in.
FRAMINGS = {f"{framing}-framing": text for framing, text in ARITHMETIC_FRAMINGS.items()}

# name: (error rate, variety, temperature, seed). The parrot and the echo repeat
# one narrow scenario, so they collide with each other and near-duplicate themselves.
GENERATORS = {
    "arith-careful": (0.03, "high", 0.2, 11),
    "arith-sloppy": (0.18, "high", 1.0, 23),
    "arith-parrot": (0.08, "low", 1.3, 37),
    "arith-echo": (0.05, "low", 1.3, 37),
}

# A rule-based logic generator that makes edge cases on purpose (tautologies,
# contradictions, vacuous implications) and some wrong answers.
LOGIC_TEMPLATE = ("logic-framing", LOGIC_FRAMINGS["direct"])
LOGIC_GENERATOR = ("logic-edge-cases", {"edge_case_rate": 0.3, "error_rate": 0.1}, 5)
# With scripts/demo.sh, the OpenAI-compatible test server runs beside the demo
# (deterministic, on loopback) so a lead can define and launch LLM runs offline.
LLM_TEMPLATE = ("topics", "Write a short explanation of {{ topic }} for a new colleague.")

RUNS = [
    ("story-careful-sloppy", "story-framing", ["arith-careful", "arith-sloppy"], 120),
    ("direct-careful-parrot-echo", "direct-framing", ["arith-careful", "arith-parrot", "arith-echo"], 80),
    ("quiz-sloppy-parrot", "quiz-framing", ["arith-sloppy", "arith-parrot"], 60),
    ("logic-edge-cases", "logic-framing", ["logic-edge-cases"], 40),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_TARGET_MODELS = [{"name": "arithmetic-tutor-1b", "derived_from": ["qwen2.5-1.5b"]}]

DEMO_LOGINS = [
    DemoLogin("demo-expert", "demo-expert-pass", Role.EXPERT),
    DemoLogin("demo-lead", "demo-lead-pass", Role.LEAD),
    DemoLogin("demo-admin", "demo-admin-pass", Role.ADMIN),
]


def demo_project_create(*, execute_runs_inline: bool = False) -> Project:
    """Create the demo project; runs are queued for the worker unless told otherwise."""
    with transaction.atomic():
        project = project_create(slug=DEMO_SLUG, name="Arithmetic word problems (demo)", actor=DEMO)
        anchors = sum(1 for line in REAL_ANCHORS.read_text().splitlines() if line.strip())
        project.description = (
            "Rule-based generators write arithmetic word problems in three framings, and logic problems with "
            f"edge cases; some get answers wrong on purpose. {anchors} hand-written word problems are the real anchors."
        )
        # The model the demo's data would train, declared so training exports can check their generators
        # against it (a project that declares none has its training exports refused).
        project.target_models = DEMO_TARGET_MODELS
        project.save(update_fields=["description", "target_models"])
        access = ProjectAccess.for_system(project, DEMO)
        for login in DEMO_LOGINS:
            membership = membership_set(access, username=login.username, role=login.role, password=login.password)
            # An address, so alerts show where they went; the demo's mail backend writes them to the console.
            if not membership.user.email:
                membership.user.email = f"{login.username}@example.org"
                membership.user.save(update_fields=["email"])
        versions = {
            name: template_version_create(access, template_name=name, text=text, output_format="math")
            for name, text in FRAMINGS.items()
        }
        generators = {
            name: generator_create(
                access,
                name=name,
                kind=GeneratorKind.PROGRAMMATIC,
                model_name=f"rules/{name}",
                derived_from=["rules/arithmetic-v1"],
                programmatic_name="arithmetic-word-problems",
                temperature=temperature,
                seed=seed,
                sampling_strategy="rule-based",
                parameters={"error_rate": error_rate, "variety": variety},
            )
            for name, (error_rate, variety, temperature, seed) in GENERATORS.items()
        }
        versions[LOGIC_TEMPLATE[0]] = template_version_create(
            access, template_name=LOGIC_TEMPLATE[0], text=LOGIC_TEMPLATE[1], output_format="text"
        )
        name, parameters, seed = LOGIC_GENERATOR
        generators[name] = generator_create(
            access,
            name=name,
            kind=GeneratorKind.PROGRAMMATIC,
            model_name=f"rules/{name}",
            derived_from=["rules/logic-v1"],
            programmatic_name="propositional-logic",
            seed=seed,
            sampling_strategy="rule-based",
            parameters=parameters,
        )
        llm_base_url = os.environ.get("DEMO_LLM_BASE_URL", "")
        if llm_base_url:
            template_version_create(access, template_name=LLM_TEMPLATE[0], text=LLM_TEMPLATE[1], output_format="text")
            generator_create(
                access,
                name="stub-llm",
                kind=GeneratorKind.OPENAI_COMPATIBLE,
                model_name="stub-model",
                endpoint=llm_base_url,
                temperature=0.7,
                max_tokens=256,
                concurrency=4,
                cost_per_million_input_tokens=Decimal("0.15"),
                cost_per_million_output_tokens=Decimal("0.60"),
                sampling_strategy="nucleus",
            )
        batch = import_batch_create(
            access, path=REAL_ANCHORS, file_name=REAL_ANCHORS.name, fmt="jsonl", origin=Origin.REAL
        )
    import_batch_run(batch_id=batch.pk)
    runs: list[GenerationRun] = []
    for index, (name, template, generator_names, items) in enumerate(RUNS):
        runs.append(
            run_create_programmatic(
                access,
                name=name,
                template_version=versions[template],
                generators=[generators[g] for g in generator_names],
                items=items,
                seed=1000 + index,
                framing="direct" if template == "logic-framing" else template.removesuffix("-framing"),
            )
        )
    if execute_runs_inline:
        for run in runs:
            run_execute(run_id=run.pk)
    return project
