"""The models a project trains, as its policy declares them, and the text form
admins type them in: one model per line, its lineage after it, nearest
ancestor first, each step written "<-":

    acme-7b <- llama-3-8b-instruct <- llama-3-8b

A model trained from scratch is its name alone. The stored form is the one
generators use: [{"name": "acme-7b", "derived_from": ["llama-3-8b-instruct", "llama-3-8b"]}].
"""

from __future__ import annotations

import re

ARROW = "<-"
# The same length as Generator.model_name, so any generator's model can be declared.
MAX_NAME_CHARS = 200
MAX_TARGET_MODELS = 50
_ARROWS = re.compile(r"\s*(?:<-|←)\s*")


class TargetModelsError(ValueError):
    """The declaration cannot be read; the message names the line."""


def model_key(name: str) -> str:
    """Model names compare without case or surrounding spaces: "ACME-7B" is "acme-7b"."""
    return name.strip().lower()


def target_models_text(models: list[dict]) -> str:
    return "\n".join(f" {ARROW} ".join([model["name"], *model.get("derived_from", [])]) for model in models)


def _line_problem(names: list[str]) -> str | None:
    if any(not name for name in names):
        return f"a model name is missing around {ARROW!r}"
    # ":" is allowed: Ollama-style names carry a tag ("qwen2.5:1.5b").
    if any("," in name for name in names):
        return f"write a lineage as a chain, one {ARROW!r} between each model and the one it comes from"
    if any(len(name) > MAX_NAME_CHARS for name in names):
        return f"a model name is at most {MAX_NAME_CHARS} characters"
    keys = [model_key(name) for name in names]
    if len(set(keys)) != len(keys):
        return "a model cannot be derived from itself"
    return None


def target_models_parse(text: str) -> list[dict]:
    """The declaration typed on the policy page; blank lines and lines starting with "#" are skipped."""
    models: list[dict] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        names = [name.strip() for name in _ARROWS.split(line)]
        problem = _line_problem(names)
        if problem is None and model_key(names[0]) in seen:
            problem = f"{names[0]} is already declared on line {seen[model_key(names[0])]}"
        if problem:
            raise TargetModelsError(f"Line {number} ({line[:80]}): {problem}.")
        seen[model_key(names[0])] = number
        models.append({"name": names[0], "derived_from": names[1:]})
    if len(models) > MAX_TARGET_MODELS:
        raise TargetModelsError(f"Declare at most {MAX_TARGET_MODELS} target models.")
    return models


def target_models_problems(value: object) -> list[str]:
    """Why a stored declaration is malformed (the service's check; the form's text parses to a good one)."""
    if not isinstance(value, list):
        return ["Target models are a list of {name, derived_from}."]
    if len(value) > MAX_TARGET_MODELS:
        return [f"Declare at most {MAX_TARGET_MODELS} target models."]
    problems: list[str] = []
    seen: set[str] = set()
    for position, model in enumerate(value, start=1):
        if (
            not isinstance(model, dict)
            or set(model) != {"name", "derived_from"}
            or not isinstance(model["name"], str)
            or not isinstance(model["derived_from"], list)
            or not all(isinstance(name, str) for name in model["derived_from"])
        ):
            problems.append(f"Target model {position} is not {{name, derived_from: [names]}}.")
            continue
        names = [model["name"].strip(), *(name.strip() for name in model["derived_from"])]
        problem = _line_problem(names)
        if problem is None and model_key(names[0]) in seen:
            problem = "declared twice"
        if problem:
            problems.append(f"Target model {position} ({names[0][:80]}): {problem}.")
        seen.add(model_key(names[0]))
    return problems
