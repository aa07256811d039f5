"""The renderings bench/template_dedup.py imports: GSM8K problems framed by five prompt templates, one JSONL
file per template."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

# How many framings a problem gets, and how often.
FRAMINGS_PER_PROBLEM = ((1, 0.15), (2, 0.50), (3, 0.35))
GRADES = ("year-three", "year-four", "year-five", "year-six")


@dataclass(frozen=True)
class Template:
    name: str
    text: str  # {problem}, or {context} and {question}; maybe {grade}
    answer_format: str  # the output in the answer variant

    def render(self, problem: str, rng: random.Random) -> str:
        text = self.text.replace("{grade}", rng.choice(GRADES))
        if "{problem}" in text:
            return text.replace("{problem}", problem)
        context, question = split_question(problem)
        return text.replace("{context}", context).replace("{question}", question)


TEMPLATES = (
    Template(
        "tutor-preamble",
        "You are a patient mathematics tutor who helps {grade} pupils with word problems. Read the problem "
        "below carefully, work out each quantity in turn, and show every calculation on its own line. Finish "
        "with the final number on a line by itself.\n\n{problem}",
        "{answer}",
    ),
    Template("solve-oneline", "Solve: {problem}", "The answer is {answer}."),
    Template("problem-steps", "Problem: {problem}\nAnswer step by step.", "Answer: {answer}"),
    Template(
        "context-question",
        "Read the situation and answer the question that follows.\n\nSituation: {context}\n\nQuestion: {question}",
        "{answer}",
    ),
    Template(
        "exam-after",
        "{problem}\n\nThe question above comes from a grade-school mathematics exam. Explain your reasoning in "
        "plain words, check each arithmetic step before moving on, and make sure the final answer has the "
        "right units.",
        "Final answer: {answer}",
    ),
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'$0-9])")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
PLACEHOLDER = re.compile(r"\{[a-z]+\}")


def split_question(problem: str) -> tuple[str, str]:
    """The problem's last sentence is its question; the sentences before are the context."""
    sentences = _SENTENCE_END.split(problem.strip())
    if len(sentences) < 2:
        return "", problem.strip()
    return " ".join(sentences[:-1]), sentences[-1]


def final_answer(solution: str) -> str:
    """The last number of a GSM8K solution (this layout has no '#### N' line)."""
    numbers = _NUMBER.findall(solution)
    return numbers[-1].rstrip(".").replace(",", "") if numbers else solution.strip().splitlines()[-1]


@dataclass(frozen=True)
class Rendering:
    problem_id: int
    template: Template


def renderings_choose(problem_count: int, rng: random.Random) -> list[Rendering]:
    counts, weights = zip(*FRAMINGS_PER_PROBLEM)
    renderings = []
    for problem_id in range(problem_count):
        for template in rng.sample(TEMPLATES, rng.choices(counts, weights)[0]):
            renderings.append(Rendering(problem_id, template))
    return renderings


def jsonl_write(
    work_dir: Path, variant: str, problems: list[dict], renderings: list[Rendering], rng: random.Random
) -> dict[str, Path]:
    """One file per template; rows shuffled, so sample ids say nothing about the problem."""
    paths = {}
    for template in TEMPLATES:
        rows = [r for r in renderings if r.template == template]
        rng.shuffle(rows)
        path = work_dir / f"{variant}-{template.name}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for rendering in rows:
                problem = problems[rendering.problem_id]
                solution = problem["output"]
                output = (
                    solution if variant == "solution" else template.answer_format.format(answer=final_answer(solution))
                )
                # problem_id is no field of ours, so the import keeps it in the sample's metadata.
                fh.write(
                    json.dumps(
                        {
                            "instruction": template.render(problem["instruction"], rng),
                            "output": output,
                            "problem_id": rendering.problem_id,
                        }
                    )
                    + "\n"
                )
        paths[template.name] = path
    return paths
