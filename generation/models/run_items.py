"""The items of a generation run, one per prompt × generator × parameter cell.

Items are written when a run is launched, before any call is made, so every
item is accounted for: pending, done (with its sample) or failed (with its
error). A worker that dies leaves its unfinished items pending; the next one
picks them up, and the item's idempotency key keeps a sample from being
written twice.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from generation.models.core import GenerationRun, Generator, Sample


class RunItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RunItem(models.Model):
    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="items", db_index=False)
    generator = models.ForeignKey(Generator, on_delete=models.PROTECT, related_name="+", db_index=False)
    # The row of the variable table (or the index of a programmatic item).
    row_index = models.PositiveIntegerField()
    # The grid cell: temperature, top_p and seed (None where the generator's own applies).
    params = models.JSONField(default=dict, blank=True)
    # sha256 over (run, row, generator, params): the same work always has the same key.
    idempotency_key = models.CharField(max_length=64)
    variables = models.JSONField(default=dict, blank=True)
    # The constraint injected into this item's prompt, e.g. {"length": "short", "style": "formal"}.
    constraint = models.JSONField(default=dict, blank=True)
    prompt = models.TextField(blank=True, help_text="The prompt exactly as sent.")
    # 0 when every few-shot seed was real; one more than the deepest synthetic seed otherwise.
    generation_depth = models.PositiveSmallIntegerField(default=0)
    seed_sample_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=8, choices=RunItemStatus.choices, default=RunItemStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    sample = models.ForeignKey(
        Sample, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # Done, but its output was already a sample of this run and generator: no second copy.
    duplicate = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "idempotency_key"], name="run_item_unique_key"),
            models.CheckConstraint(condition=Q(status__in=RunItemStatus.values), name="run_item_status_valid"),
        ]
        indexes = [
            # A lane reads its generator's pending items in order.
            models.Index(fields=["run", "generator", "status", "id"], name="run_item_lane"),
            models.Index(fields=["run", "status", "id"], name="run_item_run_status"),
        ]

    def __str__(self) -> str:
        return f"item {self.row_index} of run {self.run_id} ({self.status})"


class RunLane(models.Model):
    """One generator's share of a run, with counters the run page polls."""

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="lanes")
    generator = models.ForeignKey(Generator, on_delete=models.PROTECT, related_name="+")
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    items_failed = models.PositiveIntegerField(default=0)
    samples_created = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    latency_ms_total = models.BigIntegerField(default=0)
    # The worker executing this lane holds a lease it renews every second; a lane
    # whose lease lapsed (its worker died) may be taken over, a live one may not.
    owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "generator_id"]
        constraints = [models.UniqueConstraint(fields=["run", "generator"], name="run_lane_unique")]

    def __str__(self) -> str:
        return f"lane of generator {self.generator_id} in run {self.run_id}"

    @property
    def items_pending(self) -> int:
        return self.items_total - self.items_done - self.items_failed

    @property
    def cost_estimate(self) -> float | None:
        generator = self.generator
        rates = (generator.cost_per_million_input_tokens, generator.cost_per_million_output_tokens)
        if rates == (None, None):
            return None
        return (float(rates[0] or 0) * self.prompt_tokens + float(rates[1] or 0) * self.completion_tokens) / 1e6
