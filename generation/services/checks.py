"""Writes of the automated checks: run them on stored samples and keep SampleFlag rows.

Flags are keyed by (sample, check name), so a rerun writes nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from generation.checks import CheckContext, SampleInput, checks_for_template, run_checks
from generation.checks.length import length_anchors_from, word_count
from generation.models import ImportBatch, Origin, Sample, SampleFlag

CHECK_CHUNK_SIZE = 2000
# The median of log length settles long before this; a bound keeps a million-row
# real set from being read for every batch.
MAX_LENGTH_ANCHORS = 10_000


@dataclass
class ChecksResult:
    written: int = 0
    raised: Counter[str] = field(default_factory=Counter)

    def add(self, other: ChecksResult) -> None:
        self.written += other.written
        self.raised.update(other.raised)


def check_context_for_project(*, project_id: int) -> CheckContext:
    """The per-project facts the checks compare against: the real anchors' length statistics."""
    outputs = (
        Sample.objects.filter(project_id=project_id, origin=Origin.REAL)
        .exclude(output="")
        .order_by("pk")
        .values_list("output", flat=True)[:MAX_LENGTH_ANCHORS]
    )
    return CheckContext(
        length_anchors=length_anchors_from(word_count(output) for output in outputs),
        time_budget_ms=settings.CHECK_TIME_BUDGET_MS,
    )


def _template_version_lengths(context: CheckContext, samples: list[Sample]) -> None:
    """Fill in the length statistics of each template version these synthetic samples came from.
    Read when first needed (the samples in hand are written already, so a run's first batch
    counts itself) and again while there are fewer than 20."""
    wanted = {
        sample.template_version_id
        for sample in samples
        if sample.origin != Origin.REAL
        and sample.template_version_id is not None
        and context.length_by_template_version.get(sample.template_version_id) is None
    }
    for version_id in sorted(wanted):
        outputs = (
            Sample.objects.filter(template_version_id=version_id, origin=Origin.SYNTHETIC)
            .exclude(output="")
            .order_by("pk")
            .values_list("output", flat=True)[:MAX_LENGTH_ANCHORS]
        )
        version = next(s.template_version for s in samples if s.template_version_id == version_id)
        label = f"samples of template {version.template.name} v{version.version}" if version else "samples"
        context.length_by_template_version[version_id] = length_anchors_from(
            (word_count(output) for output in outputs), label
        )


def _sample_input(sample: Sample) -> SampleInput:
    version = sample.template_version
    return SampleInput(
        output=sample.output,
        input=sample.input,
        metadata=sample.metadata if isinstance(sample.metadata, dict) else {},
        output_format=version.output_format if version else "text",
        output_schema=version.output_schema if version else None,
        code_language=version.code_language if version else "",
        origin=sample.origin,
        template_version_id=sample.template_version_id,
    )


def _checks_write(
    samples: Iterable[Sample], *, only: list[str] | None, replace: bool, contexts: dict[int, CheckContext]
) -> ChecksResult:
    result = ChecksResult()
    raised: list[SampleFlag] = []
    checked: dict[int, list[str]] = {}
    samples = list(samples)
    for project_id in {sample.project_id for sample in samples}:
        if project_id not in contexts:
            contexts[project_id] = check_context_for_project(project_id=project_id)
        _template_version_lengths(contexts[project_id], [s for s in samples if s.project_id == project_id])
    for sample in samples:
        names = checks_for_template(sample.template_version)
        if only is not None:
            names = [name for name in names if name in only]
        checked[sample.pk] = names
        for flag in run_checks(_sample_input(sample), names, contexts[sample.project_id]):
            raised.append(
                SampleFlag(
                    sample_id=sample.pk, project_id=sample.project_id, check_name=flag.check_name, reason=flag.reason
                )
            )
            result.raised[flag.check_name] += 1
    if not checked:
        return result
    with transaction.atomic():
        existing = {
            (sample_id, check_name): pk
            for pk, sample_id, check_name in SampleFlag.objects.filter(sample_id__in=checked).values_list(
                "pk", "sample_id", "check_name"
            )
        }
        if replace:
            # A recheck drops the flags that the checks it ran no longer raise.
            now_raised = {(flag.sample_id, flag.check_name) for flag in raised}
            stale = [pk for key, pk in existing.items() if key not in now_raised and key[1] in checked[key[0]]]
            SampleFlag.objects.filter(pk__in=stale).delete()
        new = [flag for flag in raised if (flag.sample_id, flag.check_name) not in existing]
        # ignore_conflicts covers a second worker checking the same samples at the same time.
        SampleFlag.objects.bulk_create(new, ignore_conflicts=True)
    result.written = len(new)
    return result


def new_samples_check(*, samples: list[Sample], contexts: dict[int, CheckContext]) -> int:
    """Check samples just written, from the objects in hand (each with its pk and its
    template_version set): the run engine calls this in the transaction that wrote them."""
    return _checks_write(samples, only=None, replace=False, contexts=contexts).written


def _samples_with_templates(sample_ids: list[int]) -> list[Sample]:
    return list(
        Sample.objects.filter(pk__in=sample_ids)
        .select_related("template_version")
        .only("pk", "project_id", "origin", "input", "output", "metadata", "template_version")
        .order_by("pk")
    )


def _keyset_checks_run(
    queryset: QuerySet[Sample], *, project_id: int, only: list[str] | None, replace: bool
) -> ChecksResult:
    contexts = {project_id: check_context_for_project(project_id=project_id)}
    result = ChecksResult()
    last_pk = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:CHECK_CHUNK_SIZE])
        if not chunk:
            return result
        samples = _samples_with_templates(chunk)
        result.add(_checks_write(samples, only=only, replace=replace, contexts=contexts))
        last_pk = chunk[-1]


def import_checks_run(*, batch_id: int) -> int:
    """Check every sample an import batch brought in, in chunks of 2,000. Returns flags written."""
    batch = ImportBatch.objects.only("pk", "project_id").get(pk=batch_id)
    samples = Sample.objects.filter(project_id=batch.project_id, import_batch_id=batch.pk)
    return _keyset_checks_run(samples, project_id=batch.project_id, only=None, replace=False).written


def project_checks_run(*, project_id: int, only: list[str] | None = None) -> ChecksResult:
    """Recheck every sample of a project: new flags written, flags no longer raised removed.
    The result counts the flags raised per check."""
    samples = Sample.objects.filter(project_id=project_id)
    return _keyset_checks_run(samples, project_id=project_id, only=only, replace=True)
