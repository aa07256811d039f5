"""One call per item: an OpenAI-compatible endpoint or a rule-based generator."""

from __future__ import annotations

from dataclasses import dataclass, field

from generation.clients.openai_compatible import (
    GeneratorCallError,
    client_for_generator,
    generator_params,
)
from generation.models import GenerationRun, Generator, GeneratorKind
from generation.programmatic import get_programmatic

GRID_PARAMS = ("temperature", "top_p", "seed")


@dataclass(frozen=True)
class ItemWork:
    item_id: int
    row_index: int
    params: dict
    variables: dict
    constraint: dict
    prompt: str
    generation_depth: int
    attempts: int


@dataclass(frozen=True)
class CallOutput:
    input: str
    output: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    label: str | None = None
    metadata: dict = field(default_factory=dict)


class OpenAICaller:
    """Chat completions; the prompt is one user message."""

    concurrent = True

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.client = client_for_generator(generator)
        self.base_params = generator_params(generator)

    def call(self, work: ItemWork) -> CallOutput:
        generator = self.generator
        # The generator's own settings (its free-form parameters, then its named fields),
        # then the run's grid cell wherever the cell sets a value.
        params = {
            **self.base_params,
            **{key: value for key, value in work.params.items() if key in GRID_PARAMS and value is not None},
        }
        completion = self.client.complete(
            model=generator.model_name, messages=[{"role": "user", "content": work.prompt}], params=params
        )
        return CallOutput(
            input=work.prompt,
            output=completion.text,
            finish_reason=completion.finish_reason,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency_s=completion.latency_s,
        )

    def close(self) -> None:
        self.client.close()


class ProgrammaticCaller:
    """A registered rule-based generator: the item index and seed fix its output."""

    concurrent = False

    def __init__(self, generator: Generator, run: GenerationRun) -> None:
        self.generator = generator
        self.builder_class = get_programmatic(generator.programmatic_name)
        self.run_seed = int(run.parameters.get("seed", 0))
        # A run made on the Runs page names no framing: the one whose template the run uses, if any.
        template_text = run.template_version.text if run.template_version else ""
        self.default_framing = run.parameters.get("framing") or self.builder_class.framing_of(template_text) or "story"

    def call(self, work: ItemWork) -> CallOutput:
        seed = _first_set(work.params.get("seed"), self.generator.seed, default=self.run_seed)
        builder = self.builder_class(seed=seed, parameters=self.generator.parameters)
        framing = work.constraint.get("framing") or work.variables.get("framing") or self.default_framing
        try:
            item = builder.generate(work.row_index, framing=framing)
        except ValueError as error:
            raise GeneratorCallError(str(error), retryable=False) from None
        return CallOutput(input=item.input, output=item.output, label=item.label, metadata=dict(item.metadata))

    def close(self) -> None:
        pass


def caller_for(generator: Generator, run: GenerationRun) -> OpenAICaller | ProgrammaticCaller:
    if generator.kind == GeneratorKind.OPENAI_COMPATIBLE:
        return OpenAICaller(generator)
    if generator.kind == GeneratorKind.PROGRAMMATIC:
        return ProgrammaticCaller(generator, run)
    raise GeneratorCallError(f"{generator.name} is an imported generator; it cannot generate", retryable=False)


def _first_set(*values: int | None, default: int) -> int:
    return next((value for value in values if value is not None), default)
