"""Automated checks: a registry of small pure functions run on every new sample.

Each check takes a `SampleInput` and a `CheckContext` and returns a `Flag`
(its name and a human reason) or None. The service in `generation.services.checks`
loads samples, runs the checks that apply, and stores flags as SampleFlag rows.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from generation.checks.base import Check, CheckContext, Flag, LengthAnchors, SampleInput
from generation.checks.budget import CheckTimedOut, check_budget
from generation.checks.code import check_code_syntax
from generation.checks.json_output import check_json
from generation.checks.length import check_length_outlier
from generation.checks.math_answer import check_math_answer
from generation.checks.text import check_empty, check_refusal, check_repetition, check_truncated

if TYPE_CHECKING:
    from generation.models import PromptTemplateVersion

logger = logging.getLogger(__name__)

__all__ = [
    "REGISTRY",
    "Check",
    "CheckContext",
    "CheckTimedOut",
    "Flag",
    "LengthAnchors",
    "SampleInput",
    "checks_for_template",
    "default_checks_for",
    "run_checks",
]

_CHECKS = [
    Check("empty", "Empty", "The output is empty or only whitespace.", check_empty),
    Check(
        "truncated",
        "Truncated",
        "The generator stopped at its length limit, or the text ends mid-sentence.",
        check_truncated,
    ),
    Check("refusal", "Refusal", 'A refusal or assistant boilerplate ("As an AI language model…").', check_refusal),
    Check("repetition", "Repetition", "Degenerate repetition: repeated word sequences or lines.", check_repetition),
    Check(
        "length-outlier",
        "Length outlier",
        "Far shorter or longer than its template version's other samples (20 or more), else the real anchors.",
        check_length_outlier,
    ),
    Check("json", "Invalid JSON", "Not valid JSON, or not matching the template's output schema.", check_json),
    Check(
        "math-answer",
        "Math answer",
        "No final number, or a final number unequal to the known answer.",
        check_math_answer,
    ),
    Check("code-syntax", "Code syntax", "The code does not parse (Python, JavaScript).", check_code_syntax),
]
REGISTRY: dict[str, Check] = {check.name: check for check in _CHECKS}

# JSON outputs skip `truncated` (a cut JSON document already fails `json`) and
# `repetition` (arrays of similar records repeat keys by design).
_DEFAULTS_BY_FORMAT: dict[str, list[str]] = {
    "text": ["empty", "truncated", "refusal", "repetition", "length-outlier"],
    "json": ["empty", "refusal", "json", "length-outlier"],
    "math": ["empty", "truncated", "refusal", "repetition", "math-answer"],
    "code": ["empty", "refusal", "code-syntax"],
}


def default_checks_for(output_format: str) -> list[str]:
    """The checks a template of this output format gets when it names none; unknown formats get text's."""
    return list(_DEFAULTS_BY_FORMAT.get(output_format, _DEFAULTS_BY_FORMAT["text"]))


def checks_for_template(template_version: PromptTemplateVersion | None) -> list[str]:
    """The template version's own list (unknown names dropped), else its format's defaults;
    samples without a template (imports) get the text defaults."""
    if template_version is None:
        return default_checks_for("text")
    named = [name for name in (template_version.checks or []) if name in REGISTRY]
    return named or default_checks_for(template_version.output_format)


def run_checks(sample: SampleInput, names: list[str], context: CheckContext) -> list[Flag]:
    """Every flag the named checks raise on this sample, in the order named. Pure.

    A check that fails on an output (a parser's recursion limit, say) flags the
    sample under its own name instead of raising: checks run inside the write of a
    run's outputs, so an exception would roll back paid calls and recur on every
    resume of the same deterministic output.

    Each check gets `context.time_budget_ms` on the sample (see generation.checks.budget); one
    that runs past it is stopped and flagged as timed out, so one output cannot stall a worker."""
    flags = []
    budget = context.time_budget_ms
    for name in names:
        started = time.monotonic()
        try:
            with check_budget(budget):
                flag = REGISTRY[name].function(sample, context)
        except CheckTimedOut as timed_out:
            logger.warning("check %s ran past its %d ms budget on a sample", name, budget)
            why = timed_out.detail or f"not checked within the {budget} ms budget"
            flag = Flag(name, f"timed out ({why}); review it by hand")
        except Exception as error:  # noqa: BLE001 - any failure is recorded on the sample
            logger.warning("check %s failed on a sample: %s: %s", name, type(error).__name__, error)
            flag = Flag(name, f"could not be checked ({type(error).__name__}); review it by hand")
        elapsed_ms = (time.monotonic() - started) * 1000
        if elapsed_ms > 2 * budget:
            # A single C call (a parser) cannot be stopped halfway; its result stands, but it should be seen.
            logger.warning("check %s took %.0f ms on a sample (budget %d ms)", name, elapsed_ms, budget)
        if flag is not None:
            flags.append(flag)
    return flags
