"""Checks on free text: empty, truncated, refusal, repetition."""

from __future__ import annotations

import re
from collections import Counter

import re2

from generation.checks.base import CheckContext, Flag, SampleInput
from generation.checks.budget import deadline_check

# str.strip() already drops Unicode whitespace; these invisible characters are not whitespace to Python.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), " ")


def check_empty(sample: SampleInput, context: CheckContext) -> Flag | None:
    if sample.output.translate(_INVISIBLE).strip():
        return None
    return Flag("empty", "the output is empty" if not sample.output else "the output is only whitespace")


# --- truncated ---------------------------------------------------------------

TRUNCATION_MIN_WORDS = 20
TRUNCATION_LAST_LINE_MIN_WORDS = 8
_CUT_ENDINGS = ",:(-–—"
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•·―–—>#\[]|\d{1,3}[.)-]|[a-zA-Z][.)]\s)")
_ENUMERATION_MAX_WORDS_PER_ITEM = 4


def _is_enumeration(line: str) -> bool:
    items = line.split(",")
    return len(items) >= 4 and len(line.split()) / len(items) <= _ENUMERATION_MAX_WORDS_PER_ITEM


def check_truncated(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Flag a generator stopped at its length limit, or a text cut mid-sentence.

    `metadata["finish_reason"] == "length"` always flags. Otherwise the rule is
    conservative, because lists, tables, titles and sign-offs end without a full
    stop too. A text is cut mid-sentence only when all of these hold:
    - it has at least 20 words, and its last line at least 8 (short last lines
      are titles, labels, sign-offs);
    - its last character is a letter or one of , : ( - – — (not a digit: prices, times);
    - its last line is no list item (`- `, `* `, `• `, `1.`, `1)`, `1-`, `a)`), heading
      (`#`), quote (`>`), attribution (`―`), bracketed label, or table row (holds `|` or a tab);
    - its last line is no comma enumeration (4+ items of at most 4 words on average),
      and its last word no hashtag, mention or link;
    - it does not end inside an open code fence (```).
    """
    if sample.metadata.get("finish_reason") == "length":
        return Flag("truncated", 'the generator stopped at its length limit (finish reason "length")')
    text = sample.output.rstrip()
    if len(text.split()) < TRUNCATION_MIN_WORDS:
        return None
    # A final digit is left alone: measurements, prices and times end lines without a full stop.
    if not (text[-1].isalpha() or text[-1] in _CUT_ENDINGS):
        return None
    last_line = text.splitlines()[-1].strip()
    if len(last_line.split()) < TRUNCATION_LAST_LINE_MIN_WORDS or "|" in last_line or "\t" in last_line:
        return None
    if _LIST_ITEM.match(last_line) or _is_enumeration(last_line) or text.count("```") % 2 == 1:
        return None
    if last_line.split()[-1].startswith(("#", "@", "http")):
        return None
    return Flag("truncated", f"the text ends mid-sentence: “…{last_line[-40:]}”")


# --- refusal -----------------------------------------------------------------

_REFUSAL_PATTERNS = [
    r"as an ai(?: language)? model",
    r"as an? (?:large )?language model",
    r"as an ai assistant",
    r"as an artificial intelligence",
    r"i(?:'m| am) (?:just |only )?an ai\b",
    r"i(?:'m| am) sorry,? but i (?:can't|cannot|can not|won't|am unable|'m unable|am not able|'m not able)",
    r"i apologi[sz]e,? but i (?:can't|cannot|can not|won't|am unable|'m unable|am not able|'m not able)",
    r"i (?:cannot|can't|can not|am unable to|'m unable to|won't) (?:assist|help) with",
    r"i (?:cannot|can't|can not) (?:fulfill|comply with) (?:this|that|your)",
    r"i do(?:n't| not) have (?:personal )?(?:opinions|feelings|beliefs|emotions)",
    r"i do(?:n't| not) have (?:access to )?real-time",
    r"as of my (?:last )?(?:knowledge )?(?:update|cutoff)",
    r"my (?:knowledge|training) cut-?off",
]
# On re2: thirteen case-insensitive alternatives tried at every position cost Python's re
# about a second per megabyte of output; re2 reads a megabyte in a few milliseconds.
_REFUSAL = re2.compile("(?i)" + "|".join(f"(?:{pattern})" for pattern in _REFUSAL_PATTERNS))
_CURLY_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


def check_refusal(sample: SampleInput, context: CheckContext) -> Flag | None:
    # Apostrophes are straightened first; the replacement keeps every offset, so the
    # matched phrase is quoted from the original text.
    text = sample.output.translate(_CURLY_APOSTROPHES)
    try:
        match = _REFUSAL.search(text)
    except UnicodeEncodeError:
        # re2 reads UTF-8, which a lone surrogate has no form in; each becomes one "?", so offsets hold.
        match = _REFUSAL.search(text.encode("utf-8", "replace").decode("utf-8"))
    if match is None:
        return None
    return Flag("refusal", f"refusal or assistant boilerplate: “{sample.output[match.start() : match.end()]}”")


# --- repetition --------------------------------------------------------------

REPETITION_NGRAM = 4
REPETITION_MIN_WORDS = 40
REPEATED_NGRAM_SHARE = 0.5
REPEATED_UNIT_MIN_WORDS = 5
REPEATED_UNIT_MIN_TIMES = 5
REPETITION_MAX_CHARS = 100_000
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_DIGITS = re.compile(r"\d+")
_SENTENCE_END = re.compile(r"[.!?。！？]\s+")
# A full stop after these is no sentence end ("Ravens vs. Bengals", "William G. Macready").
_ABBREVIATIONS = {"vs", "mr", "mrs", "ms", "dr", "st", "jr", "sr", "etc", "e.g", "i.e", "no", "fig", "approx"}


def sentences(line: str) -> list[str]:
    """A line cut at sentence ends, except after an abbreviation or a single-letter initial."""
    pieces, start = [], 0
    for end in _SENTENCE_END.finditer(line):
        before = line[start : end.start()].split()
        word = before[-1].lower() if before else ""
        if len(word) <= 1 or word in _ABBREVIATIONS:
            continue
        pieces.append(line[start : end.end()].strip())
        start = end.end()
    pieces.append(line[start:].strip())
    return [piece for piece in pieces if piece]


def repeated_ngram_share(words: list[str], n: int = REPETITION_NGRAM) -> float:
    """Share of the word n-grams that repeat an earlier one: 1 - distinct / total (0 when there are none)."""
    total = len(words) - n + 1
    if total <= 0:
        return 0.0
    distinct = len({tuple(words[i : i + n]) for i in range(total)})
    return 1 - distinct / total


def most_repeated_unit(text: str) -> tuple[str, int]:
    """The line or sentence of at least 5 words that appears most often, and how often (case and spacing ignored)."""
    units: Counter[str] = Counter()
    first_seen: dict[str, str] = {}
    for line in text.splitlines():
        deadline_check()
        for unit in sentences(line):
            words = _WORD.findall(unit.lower())
            if len(words) < REPEATED_UNIT_MIN_WORDS:
                continue
            key = " ".join(words)
            units[key] += 1
            first_seen.setdefault(key, unit.strip())
    if not units:
        return "", 0
    key, times = units.most_common(1)[0]
    return first_seen[key], times


def check_repetition(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Flag degenerate repetition in a text of at least 40 words: at least half of its
    word 4-grams repeat an earlier one, or one line or sentence of 5+ words appears
    5 times or more. Only the first 100,000 characters are read (a loop shows well before
    that, and the count is per word in Python: the whole of a megabyte-long output would
    take seconds); a reason found there says so."""
    text = sample.output[:REPETITION_MAX_CHARS]
    words = _WORD.findall(text.lower())
    if len(words) < REPETITION_MIN_WORDS:
        return None
    # Digits inside words are masked, so a counting loop ("item_136, item_137, …") reads as the
    # repetition it is; bare numbers are kept, or every table and number grid would repeat.
    masked: list[str] = []
    for start in range(0, len(words), 10_000):
        deadline_check()
        masked.extend(_DIGITS.sub("0", word) if not word.isdigit() else word for word in words[start : start + 10_000])
    share = repeated_ngram_share(masked)
    unit, times = most_repeated_unit(text)
    if share < REPEATED_NGRAM_SHARE and times < REPEATED_UNIT_MIN_TIMES:
        return None
    reason = f"{share:.0%} of {REPETITION_NGRAM}-word sequences repeat"
    if len(sample.output) > REPETITION_MAX_CHARS:
        reason += f" in its first {REPETITION_MAX_CHARS:,} characters"
    if times >= 2:
        shown = unit if len(unit) <= 80 else unit[:77] + "…"
        reason += f" (the sentence “{shown}” appears {times} times)"
    return Flag("repetition", reason)
