from tests.generation.run_helpers import fast_retries, llm_server  # noqa: F401  (fixtures for this folder)
