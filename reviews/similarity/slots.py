"""Slot values: what a templated variant changes and a near-duplicate keeps.

Sentence embeddings hardly see numbers, names or code literals, so "36 + 9 = 45"
and "32 + 17 = 49" embed alike. Content tells them apart: two samples over the
threshold whose slot values or final answers differ are variants of one
skeleton, never near-duplicates. The values are read from the compared content
only (the template's boilerplate removed first), so a template's own wording
never counts as a slot.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from reviews.similarity.text import Boilerplate

# Not after a letter, digit or point: "GPT4", "v1.2" and the "3" of "2-3"'s "2" are no numbers of their own;
# thousands separators only in groups of three, so "1,2,3" stays three numbers.
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_STRING = re.compile(r"\"((?:[^\"\\\n]|\\.)*)\"|'((?:[^'\\\n]|\\.)*)'")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A sentence starts the text, a line, or follows . ! ? or a colon ("Question: How many ...").
_SENTENCE_BREAK = re.compile(r"(?<=[.!?:;])\s+|\n+")
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][A-Za-z'’-]*")
_LEADING_MARKS = " \t\"'“‘([*#>•-–—"
_NOT_NAMES = frozenset({"I", "I'm", "I've", "I'll", "I'd", "OK"})
# "#### 72" (GSM8K), "Answer: 72", "Final answer: 72", "The answer is 72." at the start of a line.
# The marker needs its "is", ":" or "=": "The answer to 'How many legs…' is worth a thought" marks nothing.
_ANSWER = re.compile(r"(?im)^\s*(?:#{4}|(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|[:=]))\s*(\S[^\n]*)$")
_SHOWN_VALUES = 8


@dataclass(frozen=True)
class Slots:
    """The content's slot values, in the order they appear (order matters: "6 apples, gets 2" is not
    "2 apples, gets 6"), and its final answer where the format has one."""

    numbers: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    literals: tuple[str, ...] = ()
    answer: str | None = None
    # The distinct numbers of the output beside a prompt: a table answered with other figures is
    # another answer, while a worked answer that repeats the prompt's numbers in another order is not.
    output_numbers: tuple[str, ...] = ()

    def key(self) -> tuple:
        return (self.numbers, self.names, self.literals, self.answer, self.output_numbers)

    def differs(self, other: Slots) -> bool:
        return self.key() != other.key()

    def describe(self) -> str:
        """A short line for the group card: what this member fills the skeleton with."""
        parts = []
        if self.numbers:
            parts.append("numbers " + _listed(self.numbers))
        if self.names:
            parts.append("names " + _listed(self.names))
        if self.literals:
            parts.append("literals " + _listed(self.literals))
        if self.answer is not None:
            parts.append(f"answer {self.answer[:40]}")
        if self.output_numbers:
            parts.append("output numbers " + _listed(self.output_numbers))
        return " · ".join(parts) or "no slot values"


def _listed(values: tuple[str, ...]) -> str:
    shown = ", ".join(value[:24] for value in values[:_SHOWN_VALUES])
    return shown + (f" (+{len(values) - _SHOWN_VALUES})" if len(values) > _SHOWN_VALUES else "")


def normalised_number(raw: str) -> str:
    """ "1,000" is "1000", "3.50" is "3.5", "-0" is "0"."""
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return raw
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def numbers_in(text: str) -> tuple[str, ...]:
    return tuple(normalised_number(match.group()) for match in _NUMBER.finditer(text))


def names_in(prose: str) -> tuple[str, ...]:
    """Capitalised words that do not open a sentence: names of people, places, things."""
    found: dict[str, None] = {}
    for sentence in _SENTENCE_BREAK.split(prose):
        sentence = sentence.lstrip(_LEADING_MARKS)
        for match in _CAPITALISED.finditer(sentence):
            if match.start() == 0:
                continue
            word = re.sub(r"['’]s$", "", match.group()).rstrip("'’-")
            if word and word not in _NOT_NAMES:
                found.setdefault(word, None)
    return tuple(found)


def code_literals(text: str) -> tuple[tuple[str, ...], str]:
    """String literals and identifiers in fenced code, and inline `code`; returns them and the prose left."""
    found: dict[str, None] = {}
    for block in _FENCE.findall(text):
        for match in _STRING.finditer(block):
            found.setdefault(repr(match.group(1) if match.group(1) is not None else match.group(2)), None)
        without_strings = _STRING.sub(" ", block)
        for identifier in _IDENTIFIER.findall(without_strings):
            found.setdefault(identifier, None)
    prose = _FENCE.sub("\n", text)
    for span in _INLINE_CODE.findall(prose):
        found.setdefault(span.strip(), None)
    return tuple(found), _INLINE_CODE.sub(" ", prose)


def final_answer(output: str) -> str | None:
    """The answer where the format has one: a marked answer line, a JSON value, else the last number."""
    marked = _ANSWER.findall(output)
    if marked:
        return _normalised_answer(marked[-1])
    stripped = output.strip()
    if stripped[:1] in "{[":
        try:
            return json.dumps(json.loads(stripped), sort_keys=True, separators=(",", ":"))
        except ValueError:
            pass
    numbers = numbers_in(output)
    return numbers[-1] if numbers else None


def _normalised_answer(raw: str) -> str:
    numbers = numbers_in(raw)
    if numbers:
        return " ".join(numbers)
    return re.sub(r"[\s.!]+$", "", raw.strip()).lower()


def slots_of(*, input_text: str, output_text: str, kind: str, boilerplate: Boilerplate) -> Slots:
    """The slot values of what the project compares (its embedded text kind), boilerplate removed."""
    content = boilerplate.strip(input_text).strip() if kind != "output" else ""
    output = output_text if kind != "input" else ""
    # The prompt's values are the slots, in order; the output adds its final answer and the set of
    # its numbers, since a worked answer repeats the prompt's values in an order of its own. With no
    # prompt to read, the output is the content.
    text = content or output.strip()
    # Code is content wherever it sits: a solution that prints "goodbye" is not one that prints "hello".
    literals = code_literals(f"{text}\n{output}" if content else text)[0]
    prose = code_literals(text)[1]
    return Slots(
        numbers=numbers_in(text),
        names=names_in(prose),
        literals=literals,
        answer=final_answer(output) if output.strip() else None,
        output_numbers=_distinct_by_value(numbers_in(output)) if content else (),
    )


def _distinct_by_value(numbers: tuple[str, ...]) -> tuple[str, ...]:
    def value(number: str) -> tuple[float, str]:
        try:
            return float(number), number
        except ValueError:
            return float("inf"), number

    return tuple(sorted(set(numbers), key=value))
