"""The demo project: real anchors, synthetic runs from several rule-based
generators and framings, near-duplicates and wrong answers. Offline and
deterministic; it reads nothing outside the package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from generation.ingest.service import import_batch_create, import_batch_run
from generation.models import GenerationRun, GeneratorKind, Origin, Project, Role
from generation.runs import run_create_programmatic, run_execute
from generation.services import (
    generator_create,
    membership_set,
    project_create,
    template_version_create,
)

DEMO_SLUG = "demo"
REAL_ANCHORS = Path(__file__).resolve().parent / "demo_data" / "real_anchors.jsonl"

FRAMINGS = {
    "story-framing": "Read the story and solve the problem.\n\n{facts} {question}",
    "direct-framing": "{facts} {question} Show your steps.",
    "quiz-framing": "Question: {question}\nFacts: {facts}\nGive the final answer as a number.",
}

# name: (error rate, variety, temperature, seed). The parrot and the echo repeat
# one narrow scenario, so they collide with each other and near-duplicate themselves.
GENERATORS = {
    "arith-careful": (0.03, "high", 0.2, 11),
    "arith-sloppy": (0.18, "high", 1.0, 23),
    "arith-parrot": (0.08, "low", 1.3, 37),
    "arith-echo": (0.05, "low", 1.3, 37),
}

RUNS = [
    ("story-careful-sloppy", "story-framing", ["arith-careful", "arith-sloppy"], 120),
    ("direct-careful-parrot-echo", "direct-framing", ["arith-careful", "arith-parrot", "arith-echo"], 80),
    ("quiz-sloppy-parrot", "quiz-framing", ["arith-sloppy", "arith-parrot"], 60),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_LOGINS = [
    DemoLogin("demo-expert", "demo-expert-pass", Role.EXPERT),
    DemoLogin("demo-lead", "demo-lead-pass", Role.LEAD),
    DemoLogin("demo-admin", "demo-admin-pass", Role.ADMIN),
]


def demo_project_create(*, execute_runs_inline: bool = False) -> Project:
    """Create the demo project; runs are queued for the worker unless told otherwise."""
    with transaction.atomic():
        project = project_create(slug=DEMO_SLUG, name="Arithmetic word problems (demo)")
        project.description = (
            "Rule-based generators write word problems in three framings; some get answers wrong on purpose. "
            "32 hand-written problems are the real anchors."
        )
        project.save(update_fields=["description"])
        for login in DEMO_LOGINS:
            membership_set(project=project, username=login.username, role=login.role, password=login.password)
        versions = {
            name: template_version_create(project=project, template_name=name, text=text,
                                          variables=["facts", "question"], output_format="math")
            for name, text in FRAMINGS.items()
        }
        generators = {
            name: generator_create(
                project=project, name=name, kind=GeneratorKind.PROGRAMMATIC, model_name=f"rules/{name}",
                derived_from=["rules/arithmetic-v1"], programmatic_name="arithmetic-word-problems",
                temperature=temperature, seed=seed, sampling_strategy="rule-based",
                parameters={"error_rate": error_rate, "variety": variety},
            )
            for name, (error_rate, variety, temperature, seed) in GENERATORS.items()
        }
        batch = import_batch_create(project=project, path=REAL_ANCHORS, file_name=REAL_ANCHORS.name,
                                    fmt="jsonl", origin=Origin.REAL)
    import_batch_run(batch_id=batch.pk)
    runs: list[GenerationRun] = []
    for index, (name, template, generator_names, items) in enumerate(RUNS):
        runs.append(run_create_programmatic(
            project=project, name=name, template_version=versions[template],
            generators=[generators[g] for g in generator_names], items=items, seed=1000 + index,
            framing=template.removesuffix("-framing"),
        ))
    if execute_runs_inline:
        for run in runs:
            run_execute(run_id=run.pk)
    # Imported here: the reviews app builds on generation, not the other way round.
    from reviews.tasks import demo_audits_task

    transaction.on_commit(lambda: demo_audits_task.delay(project.pk))
    return project
