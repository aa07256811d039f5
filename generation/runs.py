"""Generation runs: create, then execute in a worker."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from generation.hashing import content_hash
from generation.models import (
    GenerationRun,
    Generator,
    GeneratorKind,
    Origin,
    Project,
    PromptTemplateVersion,
    RunStatus,
    Sample,
    SampleStatus,
)
from generation.programmatic import get_programmatic
from generation.services import sample_count_add
from reviews.services import audit_log_record, similarity_refresh


def run_create_programmatic(
    *,
    project: Project,
    name: str,
    template_version: PromptTemplateVersion,
    generators: list[Generator],
    items: int,
    seed: int,
    framing: str,
    actor: AbstractBaseUser | None = None,
) -> GenerationRun:
    """Queue a run of rule-based generators; a worker executes it after commit."""
    from generation.tasks import run_execute_task

    if items < 1:
        raise ValueError("a run needs at least one item")
    for generator in generators:
        if generator.kind != GeneratorKind.PROGRAMMATIC or generator.project_id != project.pk:
            raise ValueError(f"{generator.name} is not a programmatic generator of this project")
        get_programmatic(generator.programmatic_name)
    with transaction.atomic():
        run = GenerationRun.objects.create(
            project=project,
            name=name,
            template_version=template_version,
            parameters={"items": items, "seed": seed, "framing": framing},
            status=RunStatus.QUEUED,
            items_total=items * len(generators),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        run.generators.set(generators)
        audit_log_record(project=project, actor=actor, action="run.create", obj=run,
                         details={"items": items, "generators": [g.name for g in generators]})
        transaction.on_commit(lambda: run_execute_task.delay(run.pk))
    return run


def run_execute(*, run_id: int) -> GenerationRun:
    """Generate every item of a queued run in one transaction: a worker that dies
    part-way leaves the run queued and nothing written, so the retry starts clean."""
    with transaction.atomic():
        run = (
            GenerationRun.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=run_id, status=RunStatus.QUEUED)
            .select_related("template_version")
            .first()
        )
        if run is None:
            return GenerationRun.objects.get(pk=run_id)
        items = int(run.parameters["items"])
        seed = int(run.parameters.get("seed", 0))
        framing = run.parameters.get("framing", "story")
        created = 0
        for generator in run.generators.order_by("id"):
            builder = get_programmatic(generator.programmatic_name)(
                seed=seed if generator.seed is None else generator.seed, parameters=generator.parameters
            )
            seen: set[str] = set()
            batch: list[Sample] = []
            for index in range(items):
                item = builder.generate(index, framing=framing)
                digest = content_hash(item.input, item.output)
                if digest in seen:
                    continue  # the same source twice: one sample, as for imports
                seen.add(digest)
                batch.append(
                    Sample(
                        project_id=run.project_id,
                        origin=Origin.SYNTHETIC,
                        run=run,
                        generator=generator,
                        template_version=run.template_version,
                        input=item.input,
                        output=item.output,
                        label=item.label,
                        metadata={**item.metadata, "item_index": index},
                        content_hash=digest,
                    )
                )
            Sample.objects.bulk_create(batch, batch_size=500)
            created += len(batch)
        sample_count_add(project_id=run.project_id, origin=Origin.SYNTHETIC, status=SampleStatus.PENDING,
                         delta=created)
        run.status = RunStatus.COMPLETED
        run.items_done = run.items_total
        run.samples_created = created
        run.started_at = run.started_at or timezone.now()
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "items_done", "samples_created", "started_at", "finished_at"])
        if created:
            similarity_refresh(project_id=run.project_id)
    return run
