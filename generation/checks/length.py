"""The length-outlier check: a sample's length against the project's real anchors."""

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


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def log_words(words: int) -> float:
    # log(1 + n) keeps an empty output finite.
    return math.log1p(words)


def length_anchors_from(word_counts: Iterable[int]) -> LengthAnchors | None:
    """Median and median absolute deviation of log(1 + words) over the real anchors, or None below 20 anchors."""
    logs = [log_words(count) for count in word_counts]
    if len(logs) < MIN_REAL_ANCHORS:
        return None
    median = statistics.median(logs)
    mad = statistics.median(abs(value - median) for value in logs)
    return LengthAnchors(count=len(logs), median_log_words=median, mad_log_words=mad)


def check_length_outlier(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Flag an output whose log word count has a modified z-score beyond ±3.5 against
    the real anchors. Skipped with fewer than 20 anchors, and for empty outputs (`empty` says it)."""
    anchors = context.length_anchors
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
        f"{words} words, far {side} than the {anchors.count} real anchors (median {typical} words; "
        f"modified z-score {z_score:+.1f}, limit ±{MODIFIED_Z_LIMIT})",
    )
