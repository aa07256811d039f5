"""Planning a run: the grid, the variable table and the injected constraints.

Pure functions over plain data, so the preview and the worker make exactly the
same items, and the figures a lead sees can be tested without a database.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import random
from dataclasses import dataclass, field
from fractions import Fraction

from generation.prompts import PromptRenderError, render_prompt, template_variables

# Placeholders the run fills itself, never the variable table.
EXAMPLES_VARIABLE = "examples"
CONSTRAINT_VARIABLE = "constraint"
RESERVED_VARIABLES = frozenset({EXAMPLES_VARIABLE, CONSTRAINT_VARIABLE})

# What each known constraint value asks of the model; other values are passed on as "dimension: value".
CONSTRAINT_TEXT: dict[str, dict[str, str]] = {
    "length": {
        "short": "Keep the answer under 50 words.",
        "medium": "Answer in 50 to 150 words.",
        "long": "Answer in 150 to 400 words.",
    },
    "format": {
        "paragraph": "Answer in plain paragraphs.",
        "list": "Answer as a bulleted list.",
        "steps": "Answer as numbered steps.",
        "table": "Answer with a small table.",
        "dialogue": "Answer as a short dialogue.",
    },
    "style": {
        "formal": "Write in a formal register.",
        "casual": "Write casually, as to a friend.",
        "technical": "Write for an expert, with precise terms.",
        "simple": "Write for a 12-year-old, with plain words.",
    },
}


class PlanError(ValueError):
    """A run that cannot be planned; `errors` lists every problem found, with line numbers."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class GridCell:
    temperature: float | None
    top_p: float | None
    seed: int | None

    def as_params(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}


@dataclass
class ConstraintMix:
    """Per dimension, the values and their weights, e.g. {"length": {"short": 2, "long": 1}}."""

    weights: dict[str, dict[str, Fraction]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ConstraintMix:
        """One dimension per line: `length: short=2, medium=2, long=1` (a bare value weighs 1)."""
        weights: dict[str, dict[str, Fraction]] = {}
        errors: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            dimension, colon, values = line.partition(":")
            dimension = dimension.strip().lower()
            if not colon or not dimension.replace("_", "").replace("-", "").isalnum():
                errors.append(f"line {number}: expected 'dimension: value=weight, …', got {line!r}")
                continue
            if dimension in weights:
                errors.append(f"line {number}: {dimension} is given twice")
                continue
            parsed: dict[str, Fraction] = {}
            errors_before = len(errors)
            for part in values.split(","):
                value, _, weight = part.strip().partition("=")
                value = value.strip()
                if not value:
                    continue
                try:
                    share = Fraction(weight.strip() or "1")
                except (ValueError, ZeroDivisionError):
                    errors.append(f"line {number}: the weight of {value!r} is not a number")
                    continue
                if share <= 0:
                    errors.append(f"line {number}: the weight of {value!r} must be above 0")
                    continue
                parsed[value] = parsed.get(value, Fraction(0)) + share
            if not parsed:
                if len(errors) == errors_before:
                    errors.append(f"line {number}: {dimension} has no values")
                continue
            weights[dimension] = parsed
        if errors:
            raise PlanError(errors)
        return cls(weights)

    def assign(self, rows: int, seed: int) -> list[dict[str, str]]:
        """Each row's constraint. Every dimension's values get their exact share of
        the rows (largest remainder), in an order shuffled by `seed`."""
        assigned: list[dict[str, str]] = [{} for _ in range(rows)]
        for dimension, shares in self.weights.items():
            values = _apportion(shares, rows)
            random.Random(f"{seed}:{dimension}").shuffle(values)
            for row, value in zip(assigned, values):
                row[dimension] = value
        return assigned

    def describe(self) -> dict[str, dict[str, str]]:
        total = {d: sum(s.values()) for d, s in self.weights.items()}
        return {d: {v: f"{float(w / total[d]):.0%}" for v, w in s.items()} for d, s in self.weights.items()}


def _apportion(shares: dict[str, Fraction], rows: int) -> list[str]:
    total = sum(shares.values())
    exact = {value: share * rows / total for value, share in shares.items()}
    counts = {value: int(quota) for value, quota in exact.items()}
    leftover = rows - sum(counts.values())
    # Largest remainders first; ties by the order the lead wrote them.
    by_remainder = sorted(exact, key=lambda value: exact[value] - counts[value], reverse=True)
    for value in by_remainder[:leftover]:
        counts[value] += 1
    return [value for value, count in counts.items() for _ in range(count)]


def constraint_text(constraint: dict[str, str]) -> str:
    lines = []
    for dimension, value in constraint.items():
        known = CONSTRAINT_TEXT.get(dimension, {}).get(value)
        lines.append(known or f"{dimension.capitalize()}: {value}.")
    return " ".join(lines)


def parse_number_list(text: str, kind: type, what: str) -> list:
    """'0.2, 0.7 1.0' → [0.2, 0.7, 1.0]; empty → [None] (the generator's own value)."""
    parts = [part for part in text.replace(",", " ").split() if part]
    if not parts:
        return [None]
    values = []
    for part in parts:
        try:
            values.append(kind(part))
        except ValueError:
            raise PlanError([f"{what}: {part!r} is not a {'whole number' if kind is int else 'number'}"]) from None
    return list(dict.fromkeys(values))


def grid_cells(temperatures: list, top_ps: list, seeds: list) -> list[GridCell]:
    for value in temperatures:
        if value is not None and not 0.0 <= value <= 2.0:
            raise PlanError([f"temperature {value} is outside 0–2"])
    for value in top_ps:
        if value is not None and not 0.0 < value <= 1.0:
            raise PlanError([f"top_p {value} is outside (0, 1]"])
    return [GridCell(t, p, s) for t, p, s in itertools.product(temperatures, top_ps, seeds)]


def read_variable_table(data: bytes, file_name: str, *, max_rows: int) -> list[dict[str, str]]:
    """Rows of a CSV or JSONL upload, all or nothing: any bad line refuses the whole
    table, and every error names its line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PlanError([f"the file is not UTF-8 (byte {error.start})"]) from None
    name = file_name.lower()
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        rows, errors = _jsonl_rows(text)
    elif name.endswith(".csv"):
        rows, errors = _csv_rows(text)
    else:
        raise PlanError([f"{file_name}: the variable table must be .csv or .jsonl"])
    if len(rows) > max_rows:
        errors.append(f"the table has {len(rows):,} rows; a run takes at most {max_rows:,}")
    if not rows and not errors:
        errors.append("the table has no rows")
    if errors:
        raise PlanError(errors[:50] + ([f"… and {len(errors) - 50} more"] if len(errors) > 50 else []))
    return [row for _, row in rows]


def _jsonl_rows(text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    rows, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            errors.append(f"line {number}: not JSON ({error.msg})")
            continue
        if not isinstance(value, dict):
            errors.append(f"line {number}: expected an object of variables")
            continue
        rows.append((number, {str(k): _as_text(v) for k, v in value.items()}))
    return rows, errors


def _csv_rows(text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, errors = [], []
    try:
        header = next(reader)
    except StopIteration:
        return [], ["the CSV file is empty"]
    except csv.Error as error:
        return [], [f"line 1: {error}"]
    header = [column.strip() for column in header]
    if len(set(header)) != len(header) or not all(header):
        return [], ["line 1: column names must be present and distinct"]
    try:
        for values in reader:
            number = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                errors.append(f"line {number}: {len(values)} cells, the header has {len(header)}")
                continue
            rows.append((number, dict(zip(header, values))))
    except csv.Error as error:
        errors.append(f"line {reader.line_num}: {error}")
    return rows, errors


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def check_rows_fill_template(template_text: str, rows: list[dict], first_line: int = 2) -> None:
    """Every row gives every variable the template needs (bar the ones the run fills)."""
    needed = [name for name in template_variables(template_text) if name not in RESERVED_VARIABLES]
    errors = []
    for index, row in enumerate(rows):
        missing = [name for name in needed if name not in row]
        if missing:
            errors.append(f"row {index + 1}: no value for {', '.join(missing)}")
    if errors:
        raise PlanError(errors[:50] + ([f"… and {len(errors) - 50} more"] if len(errors) > 50 else []))


def constraint_counts(plan: list[dict]) -> dict[str, dict[str, int]]:
    """How many rows got each constraint value, per dimension: kept with the run so its
    page never reads the plan itself."""
    counts: dict[str, dict[str, int]] = {}
    for entry in plan:
        for dimension, value in (entry.get("constraint") or {}).items():
            counts.setdefault(dimension, {}).setdefault(value, 0)
            counts[dimension][value] += 1
    return counts


def item_prompt(template_text: str, variables: dict, constraint: dict) -> str:
    """The prompt as sent: the constraint goes where the template puts {{constraint}},
    else after the prompt, so every template can take one."""
    text = constraint_text(constraint)
    values = {**variables, CONSTRAINT_VARIABLE: text}
    try:
        prompt = render_prompt(template_text, values)
    except PromptRenderError as error:
        raise PlanError([str(error)]) from None
    if text and CONSTRAINT_VARIABLE not in template_variables(template_text):
        prompt = f"{prompt.rstrip()}\n\n{text}"
    return prompt


def idempotency_key(run_id: int, row_index: int, generator_id: int, params: dict) -> str:
    canonical = json.dumps([run_id, row_index, generator_id, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def estimate_tokens(text: str) -> int:
    # About four characters a token for English under the common BPE vocabularies;
    # shown as an estimate, replaced by the server's own counts once it answers.
    return max(1, (len(text) + 3) // 4)
