"""The length-outlier check: a synthetic sample's length against the right reference.

Real anchors come with no template, so like with like for a templated sample is the
other samples of its template version, once there are 20 or more: a template that asks
for worked steps is answered at another length than hand-written anchors of another
form, and a check that fires on every sample of a run says nothing about any one of
them (how far the whole distribution moved is the dashboard's length figure, not this
flag). Below 20, and for samples with no template, the reference is the project's real
anchors. Real anchors are never flagged: they are the distribution, not samples judged by it.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable

from generation.checks.base import CheckContext, Flag, LengthAnchors, SampleInput

# Below this many real anchors a median and MAD are too unsteady to call anything an outlier.
MIN_REAL_ANCHORS = 20
# Modified z-score cut-off (Iglewicz & Hoaglin 1993): |0.6745 (x - median) / MAD| > 3.5.
MODIFIED_Z_LIMIT = 3.5
# A floor on the MAD, in log words (about ±10%), so anchors of one identical length
# do not make every other length an outlier.
MIN_MAD_LOG_WORDS = 0.1
_WORD = re.compile(r"\w+")
REAL = "real"


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def log_words(words: int) -> float:
    # log(1 + n) keeps an empty output finite.
    return math.log1p(words)


def length_anchors_from(word_counts: Iterable[int], reference: str = "real anchors") -> LengthAnchors | None:
    """Median and median absolute deviation of log(1 + words) over the reference, or None below 20 of them."""
    logs = [log_words(count) for count in word_counts]
    if len(logs) < MIN_REAL_ANCHORS:
        return None
    median = statistics.median(logs)
    mad = statistics.median(abs(value - median) for value in logs)
    return LengthAnchors(count=len(logs), median_log_words=median, mad_log_words=mad, reference=reference)


def length_reference(sample: SampleInput, context: CheckContext) -> LengthAnchors | None:
    """The statistics a synthetic sample is judged by (see the module's note); None for a real anchor."""
    if sample.origin == REAL:
        return None
    if sample.template_version_id is not None and (
        peers := context.length_by_template_version.get(sample.template_version_id)
    ):
        return peers
    return context.length_anchors


def check_length_outlier(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Flag a synthetic output whose log word count has a modified z-score beyond ±3.5 against
    its reference. Skipped below 20 in the reference, for real anchors, and for empty outputs
    (`empty` says it)."""
    anchors = length_reference(sample, context)
    if anchors is None or not sample.output.strip():
        return None
    words = word_count(sample.output)
    mad = max(anchors.mad_log_words, MIN_MAD_LOG_WORDS)
    z_score = 0.6745 * (log_words(words) - anchors.median_log_words) / mad
    if abs(z_score) <= MODIFIED_Z_LIMIT:
        return None
    typical = round(math.expm1(anchors.median_log_words))
    side = "shorter" if z_score < 0 else "longer"
    return Flag(
        "length-outlier",
        f"{words} words, far {side} than the {anchors.count} {anchors.reference} (median {typical} words; "
        f"modified z-score {z_score:+.1f}, limit ±{MODIFIED_Z_LIMIT})",
    )
