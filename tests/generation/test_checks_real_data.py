"""The checks on real published data (../shared/data, see its README).

Figures measured when the checks were written, and read by hand:
- davinci (base model, 252 responses): 249 flagged `repetition` (98.8%). Ten flagged
  responses read were all loops ("Input: Python list / Output:" ×40, one sentence 99
  times, a paragraph 8 times). The 3 unflagged are degenerate too, but not by repeated
  words: a chain of translations into new languages (100), counting with growing
  numbers (149), and an emoji loop, which has no words at all (185).
- text-davinci-003: 2 of 252 flagged (a list of ten near-identical paper titles, and
  "a small piece of …" looping); the 252 expert targets: none.
- GSM8K train (7,473 solutions; this copy has no "#### N" line): a final number is
  found in every solution but two, read by hand: 1979 ends on a question, and 6519's
  last line is the wrapped word "days.".
"""

from __future__ import annotations

import json
from pathlib import Path

from generation.checks import CheckContext, SampleInput, run_checks

PREDICTIONS = Path("self_instruct_user_oriented") / "predictions"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def flagged(outputs: list[str], check: str) -> list[int]:
    return [
        index for index, output in enumerate(outputs) if run_checks(SampleInput(output=output), [check], CheckContext())
    ]


def test_exactly_the_empty_t0_responses_are_flagged_empty(shared_data: Path) -> None:
    responses = [row["response"] for row in rows(shared_data / PREDICTIONS / "davinci-t0-ft_predictions.jsonl")]
    empties = [index for index, response in enumerate(responses) if not response.strip()]
    assert len(responses) == 252 and len(empties) == 48

    assert flagged(responses, "empty") == empties


def test_davinci_degenerate_responses_are_flagged_repetition(shared_data: Path) -> None:
    responses = [row["response"] for row in rows(shared_data / PREDICTIONS / "davinci_predictions.jsonl")]
    repetitive = flagged(responses, "repetition")

    # Measured: 249 of 252 (98.8%); the bound leaves room for tuning, not for a broken check.
    assert len(repetitive) / len(responses) >= 0.95
    # The three it misses, read by hand: translations chain, growing numbers, emoji loop.
    assert sorted(set(range(len(responses))) - set(repetitive)) == [100, 149, 185]


def test_repetition_rarely_fires_on_good_generators_and_never_on_expert_targets(shared_data: Path) -> None:
    predictions = rows(shared_data / PREDICTIONS / "text-davinci-003_predictions.jsonl")
    responses = [row["response"] for row in predictions]
    targets = [row["target"] for row in predictions]

    # Measured: 2 of 252 (0.8%), both genuinely repetitive lists.
    assert len(flagged(responses, "repetition")) / len(responses) <= 0.02
    assert flagged(targets, "repetition") == []


def test_expert_targets_are_not_called_empty_truncated_or_refusals(shared_data: Path) -> None:
    targets = [row["target"] for row in rows(shared_data / PREDICTIONS / "text-davinci-003_predictions.jsonl")]

    for check in ("empty", "truncated", "refusal"):
        assert flagged(targets, check) == [], check


def test_gsm8k_solutions_have_a_final_number_but_two(shared_data: Path) -> None:
    solutions = [item["output"] for item in json.loads((shared_data / "gsm8k" / "gsm8k_train.json").read_text())]
    assert len(solutions) == 7473

    missing = flagged(solutions, "math-answer")

    assert missing == [1979, 6519]
    assert solutions[1979].endswith("What is the total number of seeds in a watermelon?")
    assert solutions[6519].endswith("in 5\ndays.")
