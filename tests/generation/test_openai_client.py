"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from generation.clients import openai_compatible
from generation.clients.openai_compatible import (
    Completion,
    GeneratorCallError,
    OpenAICompatibleClient,
    generator_api_key,
    generator_params,
)
from generation.models import Generator
from tests.llm_server import start_llm_server

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three primes."}]


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture
def server():
    with start_llm_server(api_key="sk-test") as running:
        yield running


@pytest.fixture
def client(server):
    with OpenAICompatibleClient(base_url=server.base_url, api_key="sk-test", timeout_s=5) as made:
        yield made


def ask(client: OpenAICompatibleClient, text: str, **params) -> Completion:
    return client.complete(model="tiny", messages=[{"role": "user", "content": text}], params=params)


def call_error(client: OpenAICompatibleClient, text: str, **params) -> GeneratorCallError:
    with pytest.raises(GeneratorCallError) as caught:
        ask(client, text, **params)
    return caught.value


def test_a_completion_carries_the_servers_text_usage_and_finish_reason(server, client):
    completion = client.complete(model="tiny", messages=MESSAGES, params={"temperature": 0.7, "seed": 1})
    raw = httpx.post(
        f"{server.base_url}/chat/completions",
        headers={"Authorization": "Bearer sk-test"},
        json={"model": "tiny", "messages": MESSAGES, "temperature": 0.7, "seed": 1},
    ).json()
    assert completion.text == raw["choices"][0]["message"]["content"]
    assert completion.finish_reason == "stop"
    assert completion.prompt_tokens == 6  # "You are terse." + "Name three primes."
    assert completion.completion_tokens == len(completion.text.split())
    assert 0 < completion.latency_s < 5


def test_none_parameters_are_dropped_and_the_rest_sent(client):
    # A None seed is left out rather than sent as null; max_tokens reaches the server and cuts the answer.
    completion = client.complete(model="tiny", messages=MESSAGES, params={"seed": None, "max_tokens": 4})
    assert len(completion.text.split()) == 4
    assert completion.finish_reason == "length"


def test_tokens_are_estimated_when_the_server_sends_no_usage(client):
    completion = ask(client, "Hi [[empty]] [[nousage]]")
    assert completion.text == ""
    assert completion.completion_tokens == 0
    assert completion.prompt_tokens == 6  # 24 characters / 4
    completion = ask(client, "Add [[math:7]] [[nousage]]")
    assert completion.completion_tokens == -(-len(completion.text) // 4)


def test_rate_limited_is_retryable_with_the_servers_retry_after(client):
    error = call_error(client, "Go [[status:429x1]]")
    assert (error.status_code, error.retryable, error.retry_after) == (429, True, 0.0)
    assert str(error) == "HTTP 429 (rate limited)"
    assert ask(client, "Go [[status:429x1]]").finish_reason == "stop"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retryable(client, status):
    error = call_error(client, f"Go [[status:{status}x99]]")
    assert error.status_code == status and error.retryable


def test_a_bad_request_is_not_retryable_and_says_why(client):
    with pytest.raises(GeneratorCallError) as caught:
        client.complete(model="", messages=MESSAGES, params={})
    assert caught.value.status_code == 400 and not caught.value.retryable
    assert str(caught.value) == "HTTP 400 (bad request): model and messages are required."


def test_a_wrong_key_is_not_retryable(server):
    with OpenAICompatibleClient(base_url=server.base_url, api_key="sk-wrong") as client:
        error = call_error(client, "Hello")
    assert error.status_code == 401 and not error.retryable
    assert "sk-wrong" not in str(error)


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        ("[[malformed]]", "malformed response: not JSON"),
        ("[[malformed:nochoices]]", "malformed response: no choices"),
    ],
)
def test_malformed_answers_are_not_retryable(client, directive, message):
    error = call_error(client, f"Hello {directive}")
    assert str(error) == message and not error.retryable


def test_a_cut_answer_reports_finish_reason_length(client):
    assert ask(client, "Tell me [[finish:length]]").finish_reason == "length"


def test_a_slow_server_times_out_within_the_deadline_and_is_retryable(server):
    with OpenAICompatibleClient(base_url=server.base_url, api_key="sk-test", timeout_s=0.3) as client:
        started = time.monotonic()
        error = call_error(client, "Wait [[slow:2000]]")
        elapsed = time.monotonic() - started
    assert str(error) == "timed out after 0.3s" and error.retryable
    assert elapsed < 1.0


def test_a_body_over_the_size_cap_is_refused(client, monkeypatch):
    error = call_error(client, "Big [[big:5000000]]")  # 5 MB against the 4 MiB cap
    assert not error.retryable and "larger than 4 MiB" in str(error)
    monkeypatch.setattr(openai_compatible, "MAX_RESPONSE_BYTES", 1000)
    assert len(ask(client, "Small [[big:500]]").text) == 500
    assert "larger than" in str(call_error(client, "Medium [[big:2000]]"))


def test_calls_reuse_pooled_connections_from_many_threads(server, client):
    with ThreadPoolExecutor(max_workers=8) as pool:
        completions = list(pool.map(lambda i: ask(client, f"Question {i}"), range(40)))
    assert len({c.text for c in completions}) > 1
    assert server.requests.by_status == {200: 40}
    assert server.requests.connections <= 8


def test_a_closed_port_is_a_retryable_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OpenAICompatibleClient(base_url=f"http://127.0.0.1:{port}/v1", api_key=None, timeout_s=2) as client:
        error = call_error(client, "Anyone there?")
    assert error.retryable and str(error).startswith("could not connect")


def test_the_key_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("SYNTHREVIEW_KEY_TEST_LLM", "sk-from-env")
    monkeypatch.delenv("SYNTHREVIEW_KEY_TEST_MISSING", raising=False)
    assert generator_api_key(Generator(api_key_env="SYNTHREVIEW_KEY_TEST_LLM")) == "sk-from-env"
    assert generator_api_key(Generator(api_key_env="")) is None
    with pytest.raises(GeneratorCallError) as caught:
        generator_api_key(Generator(api_key_env="SYNTHREVIEW_KEY_TEST_MISSING"))
    assert str(caught.value) == "the environment variable SYNTHREVIEW_KEY_TEST_MISSING is not set"
    assert not caught.value.retryable


def test_generator_params_let_the_named_fields_win_over_free_parameters():
    generator = Generator(temperature=0.2, seed=None, parameters={"temperature": 0.9, "frequency_penalty": 0.5})
    assert generator_params(generator) == {"temperature": 0.2, "frequency_penalty": 0.5}


def test_a_servers_absurd_token_count_is_capped_at_what_the_counters_hold():
    raw = json.dumps(
        {
            "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10**15, "completion_tokens": 3},
        }
    ).encode()
    completion = openai_compatible._completion(raw, [{"role": "user", "content": "x"}], 0.1)
    assert completion.prompt_tokens == 2**31 - 1
    assert completion.completion_tokens == 3
