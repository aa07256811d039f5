"""Filters that turn the codes stored in manifests and figures (a gate, an outcome, a verdict, an
error category) into the words a reader sees. The codes stay in the files, the API and the log."""

from __future__ import annotations

from django import template

from reviews.governance.gates import OUTCOME_LABELS, gate_title
from reviews.models import ErrorCategory, VerdictValue

register = template.Library()

_CATEGORY_LABELS = dict(ErrorCategory.choices)
_VERDICT_LABELS = dict(VerdictValue.choices)


@register.filter
def gate_label(gate: str) -> str:
    """ "eval_real_only" → "The eval set is real only"."""
    return gate_title(str(gate or ""))


@register.filter
def outcome_label(outcome: str) -> str:
    """ "overridden" → "Overridden"."""
    return OUTCOME_LABELS.get(outcome, str(outcome or "").capitalize())


@register.filter
def error_category_label(category: str) -> str:
    """ "wrong_label" → "Wrong label"; a category no release knows reads as words all the same."""
    return _CATEGORY_LABELS.get(category) or str(category or "").replace("_", " ").capitalize()


@register.filter
def verdict_label(value: str) -> str:
    """ "wrong" → "Wrong"."""
    return _VERDICT_LABELS.get(value) or str(value or "").capitalize()
