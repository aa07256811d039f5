"""Which text of a sample is embedded, with its template's boilerplate taken out.

Samples rendered from one prompt template share its fixed wording. Left in, that
wording makes every pair of the template look alike and pairs across templates
look different, whatever their content. So the embedded input keeps only what
the template's variables contributed: the template's literal segments when its
text is known, otherwise the prefix, suffix, lines and sentences that most of
its samples share.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

# A literal segment shorter than this is punctuation or a joining word; removing it would eat content.
_MIN_SEGMENT_CHARS = 6
# A line or sentence piece is boilerplate when at least this share of a template's samples carry it.
_SHARED_LINE_SHARE = 0.6
# Too few samples to tell boilerplate from coincidence.
_MIN_SAMPLES_TO_INFER = 8
# The model reads 256 word pieces at most. Capping the input at about half of that
# keeps the output in view: otherwise a long prompt fills the window, and every
# answer to it embeds the same.
INPUT_BUDGET_CHARS = 600
_PLACEHOLDER = re.compile(r"\{\{?\s*[A-Za-z_][A-Za-z0-9_]*\s*\}?\}")
# Where one sentence ends. A second variable ("tutor for {grade} pupils with word
# problems. Read the problem below...") ends the shared prefix early and leaves its
# line unshared, but the template's wording around it is still the same in every
# sample: whole sentences, and the opening or closing words of the sentence that
# holds the variable.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\S+")
# A sentence's opening or closing run counts from this many words: two-word
# openings such as "How many" are the content's own common wording.
_MIN_PHRASE_WORDS = 3


@dataclass(frozen=True)
class Boilerplate:
    prefix: str = ""
    suffix: str = ""
    segments: tuple[str, ...] = ()
    lines: frozenset[str] = field(default_factory=frozenset)

    def strip(self, text: str) -> str:
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix) :]
        if self.suffix and text.endswith(self.suffix):
            text = text[: len(text) - len(self.suffix)]
        for segment in self.segments:
            text = text.replace(segment, "\n")
        if self.lines:
            text = "\n".join(line for line in text.split("\n") if line.strip() not in self.lines)
        return text.strip()


NO_BOILERPLATE = Boilerplate()


def boilerplate_from_template(template_text: str) -> Boilerplate:
    """The literal text between a template's {placeholders}."""
    if not _PLACEHOLDER.search(template_text):
        return NO_BOILERPLATE
    pieces = _PLACEHOLDER.split(template_text)
    prefix, suffix = pieces[0], pieces[-1]
    middle = tuple(sorted((p for p in pieces[1:-1] if len(p.strip()) >= _MIN_SEGMENT_CHARS), key=len, reverse=True))
    return Boilerplate(
        prefix=prefix if len(prefix.strip()) >= _MIN_SEGMENT_CHARS else "",
        suffix=suffix if len(suffix.strip()) >= _MIN_SEGMENT_CHARS else "",
        segments=middle,
    )


def boilerplate_from_samples(inputs: Iterable[str]) -> Boilerplate:
    """Shared prefix, suffix, lines and sentence pieces of a template's rendered inputs."""
    texts = [text for text in inputs if text]
    if len(texts) < _MIN_SAMPLES_TO_INFER:
        return NO_BOILERPLATE
    prefix = _common_prefix(texts)
    suffix = _common_prefix([text[::-1] for text in texts])[::-1]
    line_counts: Counter[str] = Counter()
    piece_counts: Counter[str] = Counter()
    for text in texts:
        line_counts.update({line.strip() for line in text.split("\n") if line.strip()})
        piece_counts.update(_sentence_pieces(text))
    least = _SHARED_LINE_SHARE * len(texts)
    shared = frozenset(
        line for line, count in line_counts.items() if count >= least and len(line) >= _MIN_SEGMENT_CHARS
    )
    pieces = sorted(
        (piece for piece, count in piece_counts.items() if count >= least and len(piece) >= _MIN_SEGMENT_CHARS),
        key=len,
        reverse=True,
    )
    # "pupils with word problems." is shared, and so is every shorter tail of it.
    segments: list[str] = []
    for piece in pieces:
        if not any(piece in longer for longer in segments):
            segments.append(piece)
    return Boilerplate(
        prefix=prefix if len(prefix.strip()) >= _MIN_SEGMENT_CHARS else "",
        suffix=suffix if len(suffix.strip()) >= _MIN_SEGMENT_CHARS else "",
        segments=tuple(segments),
        lines=shared,
    )


def _sentence_pieces(text: str) -> set[str]:
    """Each sentence, and its opening and closing runs of whole words."""
    pieces: set[str] = set()
    for sentence in _SENTENCE_BREAK.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        pieces.add(sentence)
        words = list(_WORD.finditer(sentence))
        for count in range(_MIN_PHRASE_WORDS, len(words)):
            pieces.add(sentence[: words[count - 1].end()])
            pieces.add(sentence[words[len(words) - count].start() :])
    return pieces


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    length = 0
    for a, b in zip(first, last):
        if a != b:
            break
        length += 1
    prefix = first[:length]
    # Stop at a word boundary, so a shared first letter of the content stays.
    if length < len(first) and prefix and not prefix[-1].isspace():
        cut = max(prefix.rfind(" "), prefix.rfind("\n"))
        prefix = prefix[: cut + 1] if cut >= 0 else ""
    return prefix


def embedding_text(*, input_text: str, output_text: str, kind: str, boilerplate: Boilerplate) -> str:
    content = boilerplate.strip(input_text)
    if kind == "output":
        return output_text.strip()
    if kind == "input":
        return content
    return f"{content[:INPUT_BUDGET_CHARS]}\n{output_text.strip()}".strip()
