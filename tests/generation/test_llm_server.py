"""The OpenAI-compatible test server that the client tests and the benches run against."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.llm_server import METADATA_URL, MODEL_ID, start_llm_server


@pytest.fixture
def server():
    with start_llm_server() as running:
        yield running


def chat(client: httpx.Client, server, text: str, **params) -> httpx.Response:
    body = {
        "model": "tiny",
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}],
        **params,
    }
    return client.post(f"{server.base_url}/chat/completions", json=body)


def content(response: httpx.Response) -> str:
    return response.json()["choices"][0]["message"]["content"]


def test_the_same_request_gets_the_same_answer_and_other_sampling_another(server):
    with httpx.Client() as client:
        first = chat(client, server, "Name three primes.", temperature=0.7, seed=1)
        again = chat(client, server, "Name three primes.", temperature=0.7, seed=1)
        hotter = chat(client, server, "Name three primes.", temperature=1.2, seed=1)
        reseeded = chat(client, server, "Name three primes.", temperature=0.7, seed=2)
    assert content(first) == content(again)
    assert content(hotter) != content(first)
    assert content(reseeded) != content(first)
    text = content(first)
    assert text.endswith(".") and text.count(". ") == 2  # three sentences


def test_an_answer_has_the_openai_shape_and_word_count_usage(server):
    with httpx.Client() as client:
        data = chat(client, server, "Name three primes.").json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "tiny"
    assert data["created"] == 1_700_000_000
    assert data["id"].startswith("chatcmpl-")
    assert data["choices"][0]["message"]["role"] == "assistant"
    assert data["choices"][0]["finish_reason"] == "stop"
    # "You are terse." is 3 words and "Name three primes." 3 more.
    assert data["usage"]["prompt_tokens"] == 6
    assert data["usage"]["completion_tokens"] == len(content_of(data).split())


def content_of(data: dict) -> str:
    return data["choices"][0]["message"]["content"]


def test_status_directive_fails_the_first_n_identical_requests_then_answers(server):
    with httpx.Client() as client:
        statuses = [chat(client, server, "Go [[status:429x2]]").status_code for _ in range(3)]
        limited = chat(client, server, "Other body [[status:429x2]]")
    assert statuses == [429, 429, 200]
    assert limited.status_code == 429  # a different body counts on its own
    assert limited.headers["Retry-After"] == "0"
    assert server.requests.by_status == {429: 3, 200: 1}


def test_server_errors_carry_no_retry_after(server):
    with httpx.Client() as client:
        first = chat(client, server, "Go [[status:500x1]]")
        second = chat(client, server, "Go [[status:500x1]]")
    assert first.status_code == 500 and "Retry-After" not in first.headers
    assert second.status_code == 200


def test_slow_directive_and_server_latency_delay_the_answer():
    with start_llm_server(latency_ms=100) as server, httpx.Client() as client:
        started = time.monotonic()
        chat(client, server, "Wait [[slow:300]]")
        assert time.monotonic() - started >= 0.4
        started = time.monotonic()
        chat(client, server, "No wait")
        assert 0.1 <= time.monotonic() - started < 0.4


def test_finish_length_cuts_mid_sentence(server):
    with httpx.Client() as client:
        data = chat(client, server, "Tell me [[finish:length]]").json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert not content_of(data).endswith(".")


def test_max_tokens_cuts_the_answer_to_that_many_words(server):
    with httpx.Client() as client:
        data = chat(client, server, "Tell me", max_tokens=5).json()
    assert len(content_of(data).split()) == 5
    assert data["choices"][0]["finish_reason"] == "length"


def test_malformed_directives(server):
    with httpx.Client() as client:
        not_json = chat(client, server, "x [[malformed]]")
        no_choices = chat(client, server, "x [[malformed:nochoices]]")
    assert not_json.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(not_json.content)
    assert no_choices.status_code == 200 and "choices" not in no_choices.json()


def test_content_directives(server):
    with httpx.Client() as client:
        assert content(chat(client, server, "x [[empty]]")) == ""
        assert content(chat(client, server, "x [[refuse]]")) == "As an AI language model, I cannot help with that."
        repeated = content(chat(client, server, "x [[repeat]]"))
        sentence = repeated[: repeated.index(".") + 1]
        assert repeated == " ".join([sentence] * 30)
        assert isinstance(json.loads(content(chat(client, server, "x [[json]]"))), dict)
        assert content(chat(client, server, "Add 40 and 2 [[math:42]]")).endswith("The answer is 42.")
        assert "usage" not in chat(client, server, "x [[nousage]]").json()


def test_api_key_is_required_when_the_server_has_one():
    with start_llm_server(api_key="sk-test") as server, httpx.Client() as client:
        missing = client.get(f"{server.base_url}/models")
        wrong = client.get(f"{server.base_url}/models", headers={"Authorization": "Bearer sk-nope"})
        right = client.get(f"{server.base_url}/models", headers={"Authorization": "Bearer sk-test"})
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200
    assert [model["id"] for model in right.json()["data"]] == [MODEL_ID]


def test_redirect_path_points_at_the_metadata_service(server):
    with httpx.Client() as client:
        response = client.post(f"{server.redirect_url}/chat/completions", json={})
    assert response.status_code == 307
    assert response.headers["Location"] == METADATA_URL


def test_one_client_reuses_one_kept_alive_connection(server):
    with httpx.Client() as client:
        for index in range(5):
            assert chat(client, server, f"Question {index}").status_code == 200
    assert len(server.requests) == 5
    assert server.requests.connections == 1


def test_unknown_paths_and_bad_bodies_are_client_errors(server):
    with httpx.Client() as client:
        assert client.get(f"{server.base_url}/engines").status_code == 404
        assert client.post(f"{server.base_url}/chat/completions", content=b"{not json").status_code == 400
        assert client.post(f"{server.base_url}/chat/completions", json={"model": "tiny"}).status_code == 400
