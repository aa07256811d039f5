"""Few-shot seeds for a run, drawn from the project's samples.

Real samples by default. A lead may allow synthetic ones; an item seeded with
a synthetic sample of depth n is itself of depth n + 1, which the export's depth
cap reads (recursive generation compounds the generator's mistakes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from generation.models import Origin, Sample, SampleStatus, Split
from synthreview.projects.models import Project

EXAMPLE_CHARS = 2_000  # per example: a few-shot block should not swamp the prompt


@dataclass(frozen=True)
class FewShotRow:
    examples: str
    seed_sample_ids: tuple[int, ...]
    generation_depth: int


def fewshot_rows(*, project: Project, rows: int, per_item: int, allow_synthetic: bool, seed: int) -> list[FewShotRow]:
    """`rows` example blocks of `per_item` samples each, drawn without replacement
    within a block. Rejected samples are never seeds."""
    # Never the eval split: a prompt seeded with eval samples makes training data that paraphrases them.
    candidates = Sample.objects.filter(project=project).exclude(status=SampleStatus.REJECTED).exclude(split=Split.EVAL)
    if not allow_synthetic:
        candidates = candidates.filter(origin=Origin.REAL)
    ids = list(candidates.order_by("id").values_list("id", flat=True))
    if len(ids) < per_item:
        what = "samples" if allow_synthetic else "real samples"
        raise ValueError(f"few-shot needs {per_item} {what} per item; the project has {len(ids)}")
    rng = random.Random(seed)
    picks = [tuple(sorted(rng.sample(ids, per_item))) for _ in range(rows)]
    wanted = {sample_id for pick in picks for sample_id in pick}
    by_id = {
        sample.pk: sample
        for sample in Sample.objects.filter(pk__in=wanted).only("id", "input", "output", "origin", "generation_depth")
    }
    result = []
    for pick in picks:
        seeds = [by_id[sample_id] for sample_id in pick]
        synthetic_depths = [s.generation_depth for s in seeds if s.origin == Origin.SYNTHETIC]
        result.append(
            FewShotRow(
                examples=_examples_block(seeds),
                seed_sample_ids=pick,
                generation_depth=(max(synthetic_depths) + 1) if synthetic_depths else 0,
            )
        )
    return result


def _examples_block(samples: list[Sample]) -> str:
    parts = []
    for number, sample in enumerate(samples, start=1):
        parts.append(
            f"Example {number}\nInput: {sample.input[:EXAMPLE_CHARS]}\nOutput: {sample.output[:EXAMPLE_CHARS]}"
        )
    return "\n\n".join(parts)
