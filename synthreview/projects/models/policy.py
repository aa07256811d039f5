"""Choices and defaults of a project's policy: what reviewers may not see, how
near-duplicates are told from variants, and how often quality is checked."""

from __future__ import annotations

from django.db import models

DEFAULT_HIDDEN_METADATA_KEYS = (
    "expected_answer",
    "deliberately_wrong",
    "truth_values",
    "gold_verdict",
    "reference_answer",
    "answer",
)


def default_hidden_metadata_keys() -> list[str]:
    return list(DEFAULT_HIDDEN_METADATA_KEYS)


class VariantRule(models.TextChoices):
    SLOTS = "slots", "Content decides: differing numbers, names, literals or answers make variants"
    OFF = "off", "Embedding only: every pair over the threshold is a near-duplicate"


class QualityCheckSchedule(models.TextChoices):
    OFF = "off", "Never (only when asked)"
    MINUTE = "minute", "Every minute (for trying it out)"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
