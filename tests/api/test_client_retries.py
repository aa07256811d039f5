"""The Python client's retries, backoff and error shape, against a scripted server
(httpx.MockTransport): no Django server, no sleeping; the waits are recorded instead."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from synthreview_client import (
    Client,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PushRefused,
    RateLimited,
    SynthreviewError,
    Unauthenticated,
    _retry,
)

BASE = "https://synthreview.test"
SAMPLES = f"{BASE}/api/v1/projects/math/samples"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Every wait the client would have slept, in order."""
    recorded: list[float] = []
    monkeypatch.setattr(_retry, "sleep", recorded.append)
    return recorded


class Script:
    """A server that answers each request with the next of `answers`, keeping what it was sent."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def client(self, **options) -> Client:
        return Client(BASE, "sr_test_token", transport=httpx.MockTransport(self), **options)


def refusal(status: int, code: str, message: str, **fields) -> httpx.Response:
    body = {"code": code, "message": message, "field": None, "line": None, "errors": [], **fields}
    return httpx.Response(status, json=body)


def ok(body=None, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {"slug": "math"})


def imported(request: httpx.Request) -> httpx.Response:
    lines = request.content.decode().splitlines()
    return httpx.Response(
        201,
        json={
            "batch_id": 7,
            "status": "completed",
            "rows_read": len(lines),
            "imported": len(lines),
            "duplicates": 0,
            "replayed": False,
            "errors": [],
            "created_at": "2025-01-01T00:00:00Z",
            "finished_at": "2025-01-01T00:00:01Z",
            "url": "/api/v1/projects/math/imports/7",
        },
    )


# --- what is retried, and how long the client waits -----------------------------------------


def test_a_429_waits_out_its_retry_after_then_succeeds(waits):
    server = Script(
        httpx.Response(429, headers={"Retry-After": "3"}, json={"code": "rate_limited", "message": "slow"}), ok()
    )
    with server.client(backoff=0.5) as client:
        assert client.get("projects/math/audits") == {"slug": "math"}
    assert len(server.requests) == 2
    assert len(waits) == 1
    # The server's 3 s in full, plus at most the small spread added so callers do not return together.
    assert 3.0 <= waits[0] <= 3.5


def test_a_503_three_times_is_retried_with_growing_jittered_waits(waits):
    server = Script(*(refusal(503, "error", "busy") for _ in range(3)), ok())
    with server.client(backoff=0.5) as client:
        assert client.get("projects/math/quality") == {"slug": "math"}
    assert len(server.requests) == 4
    assert len(waits) == 3
    # Full jitter: the n-th wait is somewhere in [0, backoff * 2**n].
    for attempt, wait in enumerate(waits):
        assert 0 <= wait <= 0.5 * 2**attempt


def test_the_retries_run_out_and_the_last_answer_is_raised(waits):
    server = Script(*(refusal(502, "error", "bad gateway") for _ in range(4)))
    with server.client(max_retries=3) as client, pytest.raises(SynthreviewError) as failure:
        client.get("projects/math/runs")
    assert failure.value.status == 502
    assert len(server.requests) == 4 and len(waits) == 3


def test_a_plain_post_is_not_retried_on_500(waits):
    server = Script(refusal(500, "error", "server error"), ok())
    with server.client() as client, pytest.raises(SynthreviewError) as failure:
        client.post("projects/math/audits", {"scope": "project"})
    assert (failure.value.status, failure.value.message) == (500, "server error")
    assert len(server.requests) == 1 and waits == []


def test_a_plain_post_is_not_retried_on_503_either(waits):
    # The gateway may have given up after the server acted: a second audit would be drawn.
    server = Script(refusal(503, "error", "unavailable"), ok())
    with server.client() as client, pytest.raises(SynthreviewError):
        client.post("projects/math/exports", {"format": "jsonl"})
    assert len(server.requests) == 1


def test_a_plain_post_is_retried_on_429_which_refuses_before_any_work(waits):
    server = Script(refusal(429, "rate_limited", "slow down"), ok({"id": 1, "status": "queued", "url": "/x"}, 202))
    with server.client() as client:
        assert client.post("projects/math/exports", {"format": "jsonl"})["id"] == 1
    assert len(server.requests) == 2


def test_a_push_is_retried_on_503_with_the_same_idempotency_key(waits):
    server = Script(refusal(503, "error", "unavailable"), imported)
    with server.client() as client:
        summary = client.project("math").push([{"input": "2+2", "output": "4"}], origin="synthetic", generator="g")
    assert summary.imported == 1
    first, second = server.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.content == second.content


def test_a_connection_never_made_is_retried_even_for_a_plain_post(waits):
    server = Script(httpx.ConnectError("refused"), ok({"id": 3}, 201))
    with server.client() as client:
        assert client.post("projects/math/audits", {})["id"] == 3
    assert len(server.requests) == 2


def test_a_connection_lost_mid_request_is_not_retried_for_a_plain_post(waits):
    server = Script(httpx.ReadTimeout("no answer"), ok())
    with server.client() as client, pytest.raises(SynthreviewError) as failure:
        client.post("projects/math/audits", {})
    assert failure.value.code == "unreachable" and "ReadTimeout" in failure.value.message
    assert len(server.requests) == 1


def test_a_connection_lost_mid_request_is_retried_for_a_read(waits):
    server = Script(httpx.ReadTimeout("no answer"), httpx.RemoteProtocolError("cut"), ok())
    with server.client() as client:
        assert client.get("projects/math/alerts") == {"slug": "math"}
    assert len(server.requests) == 3


def test_a_retry_after_too_long_to_wait_raises_rate_limited_at_once(waits):
    server = Script(httpx.Response(429, headers={"Retry-After": "3600"}, json={"code": "rate_limited", "message": "x"}))
    with server.client() as client, pytest.raises(RateLimited) as failure:
        client.get("projects")
    assert failure.value.retry_after == 3600 and waits == []


def test_retry_after_as_an_http_date_is_understood():
    assert _retry.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # long past: no wait
    assert _retry.retry_after_seconds("7") == 7.0
    assert _retry.retry_after_seconds("soon") is None


# --- the error shape ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, Unauthenticated), (403, Forbidden), (404, NotFound), (409, Conflict), (422, Invalid)],
)
def test_each_refusal_raises_its_own_class(waits, status, kind):
    server = Script(refusal(status, "some_code", "Told why."))
    with server.client() as client, pytest.raises(kind) as failure:
        client.get("projects/math/audits/9")
    assert failure.value.status == status and failure.value.code == "some_code"


def test_a_refusal_says_the_servers_message_and_where(waits):
    server = Script(refusal(422, "invalid", "Input should be greater than or equal to 1", field="limit"))
    with server.client() as client, pytest.raises(Invalid) as failure:
        client.get("projects/math/samples", {"limit": 0})
    assert str(failure.value) == "422 invalid: Input should be greater than or equal to 1 (field 'limit')"
    assert failure.value.field == "limit"


def test_a_proxys_html_error_still_raises_with_its_text(waits):
    server = Script(httpx.Response(404, text="<html>nginx: not here</html>"))
    with server.client() as client, pytest.raises(NotFound) as failure:
        client.get("projects/math/exports/1")
    assert failure.value.code == "not_found" and "nginx" in failure.value.message


# --- pushes: batches, keys, and refusals named by record ---------------------------------------


def test_a_push_goes_in_batches_with_stable_keys_and_its_options(waits):
    records = [{"question": f"q{i}", "answer": str(i)} for i in range(5)]
    server = Script(*([imported] * 6))
    with server.client() as client:
        math = client.project("math")
        first = math.push(records, origin="synthetic", generator="g", mapping={"output": "answer"}, batch_size=2)
        math.push(records, origin="synthetic", generator="g", mapping={"output": "answer"}, batch_size=2)
    assert [batch.records for batch in first.batches] == [2, 2, 1]
    assert [b.first_index for b in first.batches] == [0, 2, 4]
    keys = [request.headers["Idempotency-Key"] for request in server.requests]
    assert keys[:3] == keys[3:] and len(set(keys[:3])) == 3
    request = server.requests[0]
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.url.params.get_list("map") == ["output=answer"]
    assert (request.url.params["origin"], request.url.params["generator"]) == ("synthetic", "g")
    assert [json.loads(line) for line in request.content.decode().splitlines()] == records[:2]


def test_the_same_records_under_another_generator_get_other_keys(waits):
    server = Script(imported, imported)
    with server.client() as client:
        client.project("math").push([{"output": "4"}], origin="synthetic", generator="a")
        client.project("math").push([{"output": "4"}], origin="synthetic", generator="b")
    first, second = (r.headers["Idempotency-Key"] for r in server.requests)
    assert first != second


def test_a_callers_key_is_given_one_suffix_per_batch(waits):
    server = Script(imported, imported)
    with server.client() as client:
        client.project("math").push(
            [{"output": "1"}, {"output": "2"}], origin="real", batch_size=1, idempotency_key="nightly-42"
        )
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["nightly-42-0", "nightly-42-1"]


def test_a_refused_batch_names_the_callers_records_by_index(waits):
    bad = refusal(
        422,
        "invalid",
        "Nothing was imported: 2 problem(s) in the push (import 8).",
        line=1,
        errors=[
            {"message": "missing output", "field": None, "line": 1},
            {"message": "not valid JSON", "field": None, "line": 3},
        ],
    )
    records = [{"output": str(i)} for i in range(6)]
    server = Script(imported, bad)
    progress: list[tuple[int, int | None]] = []
    with server.client() as client, pytest.raises(PushRefused) as failure:
        client.project("math").push(records, origin="real", batch_size=3, progress=lambda d, t: progress.append((d, t)))
    refused = failure.value
    # Line 1 and line 3 of the second batch (records 3..5) are records 3 and 5.
    assert refused.indexes == [3, 5]
    assert (refused.batch_index, refused.first_index) == (1, 3)
    assert refused.imported_before.imported == 3
    assert "record 3: missing output" in str(refused) and "record 5: not valid JSON" in str(refused)
    assert progress == [(3, 6)]


def test_a_push_still_running_on_the_server_is_asked_again_until_it_answers(waits):
    busy = refusal(409, "conflict", "A push with this Idempotency-Key is still being imported", field="Idempotency-Key")
    server = Script(busy, busy, imported)
    with server.client() as client:
        summary = client.project("math").push([{"output": "1"}], origin="real")
    assert summary.imported == 1 and len(server.requests) == 3


def test_a_callers_key_reused_for_another_body_is_a_conflict_at_once(waits):
    server = Script(refusal(409, "conflict", "This Idempotency-Key was used for a different body"))
    with server.client() as client, pytest.raises(Conflict):
        client.project("math").push([{"output": "1"}], origin="real", idempotency_key="reused")
    assert len(server.requests) == 1


def test_a_record_that_is_not_a_mapping_is_refused_before_sending(waits):
    server = Script()
    with server.client() as client, pytest.raises(TypeError, match="record 1 is a str"):
        client.project("math").push([{"output": "1"}, "just text"], origin="real")  # type: ignore[list-item]  # a wrong record, on purpose
    assert server.requests == []


# --- lists follow the cursor ----------------------------------------------------------------


def test_a_list_follows_next_cursor_to_the_end(waits):
    server = Script(
        ok({"items": [{"id": 5}, {"id": 4}], "next_cursor": "c1"}),
        ok({"items": [{"id": 3}], "next_cursor": None}),
    )
    with server.client() as client:
        ids = [sample["id"] for sample in client.project("math").samples(origin="synthetic", status=None)]
    assert ids == [5, 4, 3]
    first, second = server.requests
    assert "cursor" not in first.url.params and second.url.params["cursor"] == "c1"
    assert second.url.params["origin"] == "synthetic" and "status" not in second.url.params
    assert second.url.params["limit"] == "500"


def test_the_token_is_sent_as_a_bearer_and_the_api_prefix_added_once(waits):
    server = Script(ok(), ok())
    with Client(BASE + "/", "secret", transport=httpx.MockTransport(server)) as client:
        client.get("me")
    with Client(BASE + "/api/v1", "secret", transport=httpx.MockTransport(server)) as client:
        client.get("me")
    assert [str(r.url) for r in server.requests] == [f"{BASE}/api/v1/me"] * 2
    assert server.requests[0].headers["Authorization"] == "Bearer secret"


def replayed(request: httpx.Request) -> httpx.Response:
    answer = imported(request)
    return httpx.Response(200, json={**answer.json(), "replayed": True})


def test_a_batch_the_server_had_before_this_push_counts_as_replayed_not_imported(waits):
    server = Script(replayed)
    with server.client() as client:
        summary = client.project("math").push([{"output": "1"}, {"output": "2"}], origin="real")
    assert (summary.imported, summary.replayed) == (0, 1)


def test_a_batch_imported_by_this_pushs_unanswered_try_counts_as_imported(waits):
    # The first try reached the server, which imported the batch, but its answer never came back;
    # the retry is told "replayed", yet the samples went in with this push.
    server = Script(httpx.ReadTimeout("answer lost"), replayed)
    with server.client() as client:
        summary = client.project("math").push([{"output": "1"}, {"output": "2"}], origin="real")
    assert (summary.imported, summary.replayed) == (2, 0)
