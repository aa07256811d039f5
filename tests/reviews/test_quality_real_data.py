"""The quality measures on real data: Self-Instruct's 252 expert answers as the real
set and 8 models' answers to the same 252 prompts as 8 generators.

Only the answers are embedded (the app's "output" text), with the app's embedder:
every generator answered the same prompts, so with the prompt in the text every
synthetic sample would sit beside its real counterpart whatever it said.
Embedding the 2,268 answers takes about 80 s on two CPU cores, once per module.

What the data shows, read by hand before these tests were written (word counts
over the answers; the expert answers have mean 52 words, none empty):
- davinci, raw GPT-3 without instruction tuning, never stops by itself: it
  answers, then invents further "Input: ... Output: ..." pairs and repeats them
  up to the token limit (mean 657 words, 78% longer than the longest expert answer).
- davinci-t0-ft was fine-tuned on T0, whose tasks are mostly classification
  and short-answer QA: on these open requests it returns nothing (48 of 252) or
  a word or two (47% of its answers have at most 2 words).
- The other six (text-davinci-001/2/3 and the Self-Instruct and SuperNI fine-tunes)
  answer at about the expert length.
The assertions are orderings and coarse bounds with wide margins, not the figures.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pytest

from reviews.quality.embedding_measures import (
    frechet_distance,
    mean_pairwise_distance,
    nearest_real_summary,
    precision_recall_knn,
    vendi_score,
)
from reviews.quality.text_measures import distinct_n, ks_distance, length_summary, word_counts, words
from reviews.similarity.text import NO_BOILERPLATE, embedding_text
from tests.conftest import SHARED_DATA

SELF_INSTRUCT = SHARED_DATA / "self_instruct_user_oriented"
RAW = "davinci"
T0 = "davinci-t0-ft"
BEST = "text-davinci-003"
# The cosine at which the privacy figure calls a synthetic answer a copy of a real one.
COPY_THRESHOLD = 0.95


@dataclass
class Answers:
    texts: list[str]
    vectors: np.ndarray

    @cached_property
    def lengths(self) -> list[int]:
        return word_counts(self.texts)


@dataclass
class SelfInstruct:
    real: Answers
    generators: dict[str, Answers]

    def others(self, *excluded: str) -> dict[str, Answers]:
        return {name: answers for name, answers in self.generators.items() if name not in excluded}

    def similarity_to_real(self, name: str) -> np.ndarray:
        """Cosine of each of the generator's answers (rows) to each expert answer
        (columns); row i and column i answer the same prompt."""
        return self.generators[name].vectors @ self.real.vectors.T


def answer_text(output: str) -> str:
    return embedding_text(input_text="", output_text=output, kind="output", boilerplate=NO_BOILERPLATE)


@pytest.fixture(scope="module")
def self_instruct() -> SelfInstruct:
    if not SELF_INSTRUCT.is_dir():
        pytest.skip(f"real data folder {SELF_INSTRUCT} is absent (it sits beside the project in CI)")
    from reviews.similarity.embedder import encode

    lines = (SELF_INSTRUCT / "user_oriented_instructions.jsonl").read_text().splitlines()
    real = [answer_text(json.loads(line)["instances"][0]["output"]) for line in lines]
    synthetic: dict[str, list[str]] = {}
    for path in sorted((SELF_INSTRUCT / "predictions").glob("*_predictions.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        synthetic[path.name.removesuffix("_predictions.jsonl")] = [answer_text(row["response"]) for row in rows]
    vectors = encode(real + [text for texts in synthetic.values() for text in texts])
    size = len(real)
    generators = {
        name: Answers(texts, vectors[size * (i + 1) : size * (i + 2)])
        for i, (name, texts) in enumerate(synthetic.items())
    }
    return SelfInstruct(real=Answers(real, vectors[:size]), generators=generators)


def test_the_run_is_eight_generators_answering_the_same_252_prompts(self_instruct):
    assert len(self_instruct.real.texts) == 252
    assert len(self_instruct.generators) == 8
    assert {len(a.texts) for a in self_instruct.generators.values()} == {252}
    assert {RAW, T0, BEST} <= self_instruct.generators.keys()


def test_the_real_set_against_itself_is_a_perfect_match(self_instruct):
    real = self_instruct.real.vectors
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    result = precision_recall_knn(real, real)
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_raw_davinci_rambles_far_longer_than_the_experts(self_instruct):
    """Raw davinci keeps writing to the token limit (see the module docstring), so
    nearly every answer is longer than nearly every expert answer."""
    real, raw = self_instruct.real, self_instruct.generators[RAW]
    assert length_summary(raw.texts).mean > 5 * length_summary(real.texts).mean
    assert ks_distance(raw.lengths, real.lengths) > 0.8
    others = self_instruct.others(RAW)
    assert ks_distance(raw.lengths, real.lengths) > max(ks_distance(a.lengths, real.lengths) for a in others.values())


def test_raw_davinci_repeats_itself(self_instruct):
    """Its invented "Input: ... Output: ..." pairs come back again and again, so
    few of its bigrams are new. Distinct-n also falls as a corpus grows, and raw
    davinci writes 13 times as many words as the experts; so the check is repeated
    on the first 50 words of every answer, where the lengths are alike and the
    loops have already begun."""
    raw, best = self_instruct.generators[RAW], self_instruct.generators[BEST]
    assert distinct_n(raw.texts, 2) < 0.25 * distinct_n(best.texts, 2)

    def opening(texts: list[str]) -> list[str]:
        return [" ".join(words(text)[:50]) for text in texts]

    assert distinct_n(opening(raw.texts), 2) < 0.7 * distinct_n(opening(best.texts), 2)
    assert distinct_n(opening(raw.texts), 2) < min(
        distinct_n(opening(a.texts), 2) for a in self_instruct.others(RAW).values()
    )


def test_t0_finetuned_davinci_often_answers_nothing(self_instruct):
    """T0's training targets are class labels and short spans: on open requests
    it stops at once. No other model leaves more than a couple of answers empty."""

    def empty_share(answers: Answers) -> float:
        return sum(1 for text in answers.texts if not text) / len(answers.texts)

    assert empty_share(self_instruct.generators[T0]) > 0.1
    assert max(empty_share(a) for a in self_instruct.others(T0).values()) < 0.02


def test_t0_finetuned_davinci_is_further_from_the_experts_than_text_davinci_003(self_instruct):
    """Its empty and one-word answers pull its length distribution and its
    embeddings away from the expert answers, and cover fewer of them: a larger
    KS length distance, a larger Fréchet distance, a lower recall. Its precision
    is not asserted: with 252 expert answers in 384 dimensions every ball is
    wide, and even the empty answer lies in one (precision is near 1 for every
    generator but raw davinci)."""
    real = self_instruct.real
    t0, best = self_instruct.generators[T0], self_instruct.generators[BEST]
    assert ks_distance(t0.lengths, real.lengths) > ks_distance(best.lengths, real.lengths) + 0.25
    assert frechet_distance(real.vectors, t0.vectors) > 1.5 * frechet_distance(real.vectors, best.vectors)
    assert precision_recall_knn(real.vectors, t0.vectors).recall < (
        precision_recall_knn(real.vectors, best.vectors).recall - 0.03
    )


def test_the_two_degenerate_generators_have_the_largest_frechet_distance(self_instruct):
    """Raw davinci writes something other than an answer, and the T0 fine-tune
    next to nothing; the six others answer like the experts."""
    real = self_instruct.real.vectors
    distance = {name: frechet_distance(real, a.vectors) for name, a in self_instruct.generators.items()}
    answering = [d for name, d in distance.items() if name not in (RAW, T0)]
    assert min(distance[RAW], distance[T0]) > 1.3 * max(answering)


def test_raw_davinci_has_the_lowest_precision_and_recall(self_instruct):
    """Its looping pseudo-examples look like no expert answer (precision), and
    they look like each other, so their balls cover few expert answers (recall)."""
    real = self_instruct.real.vectors
    results = {name: precision_recall_knn(real, a.vectors) for name, a in self_instruct.generators.items()}
    raw = results.pop(RAW)
    assert raw.precision < min(r.precision for r in results.values()) - 0.04
    assert raw.recall < 0.8
    assert raw.recall < min(r.recall for r in results.values()) - 0.2


def test_the_degenerate_generators_are_the_least_diverse(self_instruct):
    """48 identical empty answers count as one sample for the Vendi score, and
    raw davinci's answers share their looping scaffold; the six answering
    generators are about as diverse as the experts."""
    diversity = {name: mean_pairwise_distance(a.vectors) for name, a in self_instruct.generators.items()}
    vendi = {name: vendi_score(a.vectors) for name, a in self_instruct.generators.items()}
    answering = [name for name in self_instruct.generators if name not in (RAW, T0)]
    for degenerate in (RAW, T0):
        assert diversity[degenerate] < min(diversity[name] for name in answering) - 0.05
        assert vendi[degenerate] < 0.75 * vendi[BEST]
    assert vendi_score(self_instruct.real.vectors) > 0.9 * max(vendi[name] for name in answering)


def test_copies_of_expert_answers_are_right_answers_to_closed_tasks(self_instruct):
    """Many of these tasks have one right answer: a label ("True", "offensive"),
    a translation ("bonsoir"), the corrected input. A model that gets it right
    writes the expert's answer word for word, so the copy share here measures
    right short answers, not leaked real data: nearly every copy is nearest to
    the expert answer of its own prompt, and half of them are a word or two.
    Raw davinci never stops after an answer, so it copies nothing."""
    real_answers = set(self_instruct.real.texts)
    copy_lengths: list[int] = []
    same_prompt = copies = 0
    for name, answers in self_instruct.generators.items():
        similarity = self_instruct.similarity_to_real(name)
        summary = nearest_real_summary(similarity.max(axis=1).tolist(), copy_threshold=COPY_THRESHOLD)
        identical = sum(1 for text in answers.texts if text and text in real_answers)
        # An answer identical to an expert answer embeds identically: cosine 1.
        assert summary.copy_count >= identical, name
        assert sum(summary.counts) == 252
        if name == RAW:
            assert summary.copy_count == 0
            continue
        assert summary.copy_share > 0.04, name
        for row in np.flatnonzero(similarity.max(axis=1) >= COPY_THRESHOLD):
            copies += 1
            same_prompt += int(similarity[row].argmax() == row)
            copy_lengths.append(len(words(answers.texts[row])))
    assert same_prompt / copies > 0.85
    assert statistics.median(copy_lengths) <= 5
