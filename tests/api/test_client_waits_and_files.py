"""The Python client's polling, downloads and Hugging Face input, against a scripted server
(httpx.MockTransport): no Django server, no sleeping; the waits are recorded instead."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from synthreview_client import SynthreviewError, _retry
from synthreview_client.datasets import push_dataset

from tests.api.test_client_retries import Script, imported, ok

EXPORT = "/api/v1/projects/math/exports/4"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(_retry, "sleep", recorded.append)
    return recorded


def export_state(status: str, **fields) -> httpx.Response:
    body = {"id": 4, "status": status, "rows_written": 0, "rows_total": 0, "progress": None, "url": EXPORT}
    return ok({**body, **fields})


def test_waiting_for_an_export_polls_the_202s_url_and_reports_progress(waits):
    server = Script(
        ok({"id": 4, "status": "queued", "url": EXPORT}, 202),
        export_state("running", progress={"done": 10, "total": 50, "unit": "rows", "detail": "writing"}),
        export_state("completed", rows_written=50, rows_total=50),
    )
    seen: list[tuple[int, int | None]] = []
    with server.client() as client:
        math = client.project("math")
        asked = math.create_export(format="jsonl")
        done = math.wait_for_export(asked["id"], poll=2, progress=lambda d, t: seen.append((d, t)))
    assert done["status"] == "completed"
    assert [r.url.path for r in server.requests[1:]] == [EXPORT, EXPORT]
    assert seen == [(10, 50), (50, 50)]
    assert waits == [2]


def test_waiting_for_an_audit_gives_up_after_its_timeout(waits, monkeypatch):
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr("synthreview_client.project.time.monotonic", lambda: next(clock))
    server = Script(*(ok({"id": 1, "status": "open"}) for _ in range(5)))
    with server.client() as client, pytest.raises(TimeoutError, match="still 'open'"):
        client.project("math").wait_for_audit(1, poll=5, timeout=25)


def test_a_download_whose_digest_differs_is_not_kept(waits, tmp_path):
    body = b'{"id": 1}\n'
    server = Script(
        export_state("completed", file_name="math-train-export-4.jsonl", sha256="0" * 64, file_url=EXPORT + "/file"),
        httpx.Response(200, content=body),
    )
    with server.client() as client, pytest.raises(SynthreviewError, match="sha256"):
        client.project("math").download_export(4, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_download_lands_under_the_servers_file_name_when_given_a_folder(waits, tmp_path):
    body = b'{"id": 1}\n{"id": 2}\n'
    server = Script(
        export_state(
            "completed",
            file_name="math-train-export-4.jsonl",
            sha256=hashlib.sha256(body).hexdigest(),
            file_url=EXPORT + "/file",
        ),
        httpx.Response(200, content=body, headers={"Content-Length": str(len(body))}),
    )
    seen: list[tuple[int, int | None]] = []
    with server.client() as client:
        path = client.project("math").download_export(4, tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / "math-train-export-4.jsonl"
    assert path.read_bytes() == body
    assert seen == [(len(body), len(body))]


def test_a_dataset_is_pushed_row_by_row_with_its_mapping_sent_as_the_imports(waits):
    datasets = pytest.importorskip("datasets")
    rows = [{"question": f"q{i}", "answer": str(i), "topic": "sums"} for i in range(3)]
    server = Script(imported)
    with server.client() as client:
        summary = push_dataset(
            client.project("math"),
            datasets.Dataset.from_list(rows),
            origin="real",
            mapping={"input": "question", "output": "answer"},
        )
    assert summary.records == 3
    (request,) = server.requests
    assert request.url.params.get_list("map") == ["input=question", "output=answer"]
    assert request.content.decode().splitlines() == [
        '{"question":"q0","answer":"0","topic":"sums"}',
        '{"question":"q1","answer":"1","topic":"sums"}',
        '{"question":"q2","answer":"2","topic":"sums"}',
    ]


def test_a_mapped_column_the_dataset_lacks_is_refused_before_anything_is_sent(waits):
    datasets = pytest.importorskip("datasets")
    server = Script()
    with server.client() as client, pytest.raises(ValueError, match="no column 'answer'"):
        push_dataset(
            client.project("math"),
            datasets.Dataset.from_list([{"question": "q", "response": "r"}]),
            origin="real",
            mapping={"output": "answer"},
        )
    assert server.requests == []


def test_a_dataset_dict_is_refused_with_its_splits_named(waits):
    datasets = pytest.importorskip("datasets")
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list([{"output": "1"}])})
    server = Script()
    with server.client() as client, pytest.raises(TypeError, match=r"several splits \(train\)"):
        push_dataset(client.project("math"), splits, origin="real")
