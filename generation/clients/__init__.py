"""Clients of the model endpoints that generators call."""

from generation.clients.openai_compatible import (
    Completion,
    GeneratorCallError,
    OpenAICompatibleClient,
    client_for_generator,
    generator_api_key,
    generator_params,
)

__all__ = [
    "Completion",
    "GeneratorCallError",
    "OpenAICompatibleClient",
    "client_for_generator",
    "generator_api_key",
    "generator_params",
]
