"""The Python client (client/synthreview_client) against the real server on pytest-django's
live_server: pushes that add nothing twice and name a bad record by its index, an audit reviewed
through the expert's own token, an export refused and then passing, and the export pulled into
`datasets` as a training job would read it.

What the API does not do is set up the way the pages' tests do: the export's worker runs here in
the test (as a Celery worker would), since eager tasks would also embed every pushed sample."""

from __future__ import annotations

import pytest
from synthreview_client import Client, Forbidden, Invalid, NotFound, PushRefused, SynthreviewError, Unauthenticated
from synthreview_client.datasets import pull_export, push_dataset

from generation.models import ImportBatch, Sample
from reviews.services.exports import export_run
from synthreview.projects.services.api_tokens import api_token_create

pytestmark = pytest.mark.usefixtures("transactional_db")

GENERATOR = "tutor-gen-a"


def client_as(live_server, user) -> Client:
    # No sleeping between retries: a live test that needed one would show it as a failure instead.
    return Client(live_server.url, api_token_create(user, name="client test").secret, backoff=0)


def problems(count: int, *, start: int = 0) -> list[dict]:
    """Word problems with their answers, each different, in the columns a pipeline writes."""
    return [
        {
            "question": f"A crate holds {n} apples and {n + 3} pears. How many fruits are in it?",
            "answer": str(2 * n + 3),
            "difficulty": "easy" if n % 2 else "medium",
        }
        for n in range(start, start + count)
    ]


def stored_outputs(project) -> list[str]:
    return list(Sample.objects.filter(project=project).order_by("pk").values_list("output", flat=True))


def test_a_push_imports_a_retry_adds_nothing_and_a_bad_batch_names_its_records(live_server, project, lead):
    records = problems(12)
    with client_as(live_server, lead) as client:
        math = client.project("math")
        seen: list[tuple[int, int | None]] = []
        first = math.push(
            records,
            origin="synthetic",
            generator=GENERATOR,
            mapping={"input": "question", "output": "answer"},
            batch_size=5,
            progress=lambda done, total: seen.append((done, total)),
        )
        assert [(b.first_index, b.records, b.imported, b.replayed) for b in first.batches] == [
            (0, 5, 5, False),
            (5, 5, 5, False),
            (10, 2, 2, False),
        ]
        assert (first.imported, first.duplicates, first.replayed) == (12, 0, 0)
        assert seen == [(5, 12), (10, 12), (12, 12)]
        assert stored_outputs(project) == [str(2 * n + 3) for n in range(12)]
        # The unmapped column is kept as the sample's metadata, as any import keeps it.
        assert Sample.objects.get(project=project, output="3").metadata == {"difficulty": "medium"}

        # The same push again (a pipeline rerun after a crash): every batch replayed, nothing added.
        again = math.push(
            records,
            origin="synthetic",
            generator=GENERATOR,
            mapping={"input": "question", "output": "answer"},
            batch_size=5,
        )
        assert [b.replayed for b in again.batches] == [True, True, True]
        assert [b.batch_id for b in again.batches] == [b.batch_id for b in first.batches]
        assert again.imported == 0
        assert Sample.objects.filter(project=project).count() == 12
        assert ImportBatch.objects.filter(project=project).count() == 3

        # Records 17 and 19 are bad; they sit in the second batch (records 15-19), lines 3 and 5.
        more = problems(10, start=100)
        del more[7]["answer"]
        more[9]["answer"] = ["not", "text"]
        with pytest.raises(PushRefused) as refused:
            math.push(
                more,
                origin="synthetic",
                generator=GENERATOR,
                mapping={"input": "question", "output": "answer"},
                batch_size=5,
            )
    error = refused.value
    assert error.status == 422
    assert error.indexes == [7, 9]
    assert [(d.line, d.index) for d in error.errors] == [(3, 7), (5, 9)]
    assert "missing field 'answer'" in error.errors[0].message
    assert "output must be text" in error.errors[1].message
    assert "record 7:" in str(error) and "record 9:" in str(error)
    # The first batch of that push went in; the refused batch added nothing.
    assert error.imported_before.imported == 5
    assert Sample.objects.filter(project=project).count() == 12 + 5
    assert not Sample.objects.filter(project=project, input__contains="crate holds 105 apples").exists()


def test_the_wrong_token_or_role_is_told_so(live_server, project, lead, expert, outsider):
    with Client(live_server.url, "sr_not_a_real_token", backoff=0) as stranger:
        with pytest.raises(Unauthenticated):
            stranger.project("math").push(problems(1), origin="synthetic", generator=GENERATOR)
    with client_as(live_server, outsider) as client, pytest.raises(NotFound):
        client.project("math").push(problems(1), origin="synthetic", generator=GENERATOR)
    with client_as(live_server, expert) as client, pytest.raises(Forbidden) as forbidden:
        client.project("math").push(problems(1), origin="synthetic", generator=GENERATOR)
    assert "may not import" in str(forbidden.value)
    assert Sample.objects.filter(project=project).count() == 0


def test_audit_then_export_refused_then_passing_then_pulled_into_datasets(
    live_server, project, lead, expert, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    records = problems(50)
    with client_as(live_server, lead) as lead_client, client_as(live_server, expert) as expert_client:
        as_lead, as_expert = lead_client.project("math"), expert_client.project("math")
        pushed = push_dataset(
            as_lead,
            datasets.Dataset.from_list(records),
            origin="synthetic",
            generator=GENERATOR,
            mapping={"input": "question", "output": "answer"},
        )
        assert pushed.imported == 50

        # The expert accepts every sample from the review queue, with the revision each was read at.
        sample_ids = sorted(sample["id"] for sample in as_expert.samples(status="pending"))
        assert len(sample_ids) == 50
        for sample_id in sample_ids:
            revision = as_expert.sample(sample_id)["lineage"]["revision"]
            as_expert.record_verdict(sample_id, "correct", revision=revision)
        assert {s["status"] for s in as_lead.samples()} == {"accepted"}

        # No audit has cleared the generator yet: the audit gate refuses the export, and there is no file.
        asked = as_lead.create_export(format="jsonl", target_model="math-tutor-under-test")
        assert asked["status"] == "queued"
        export_run(export_id=asked["id"])  # the worker's part
        refused = as_lead.wait_for_export(asked["id"], poll=0)
        assert refused["status"] == "refused"
        assert refused["refused_by"] == ["audit"]
        assert GENERATOR in refused["refusals"][0]["reason"]
        with pytest.raises(SynthreviewError) as no_file:
            pull_export(as_lead, asked["id"], directory=tmp_path / "refused")
        assert no_file.value.status == 409 and "refused" in no_file.value.message

        # An audit of the generator, every item judged correct by the expert through their own token.
        generator_id = next(g["id"] for g in as_lead.generators() if g["name"] == GENERATOR)
        audit = as_lead.create_audit(scope="generator", generator=generator_id, sample_size=50, seed=7)
        assert (audit["status"], audit["progress"]["items"]) == ("open", 50)
        for sample_id in sample_ids:
            as_expert.record_audit_verdict(audit["id"], sample_id, "correct")
        closed = as_lead.wait_for_audit(audit["id"], poll=0, timeout=30)
        assert closed["status"] == "closed"
        assert (closed["noise_floor"]["correct"], closed["noise_floor"]["wrong"]) == (50, 0)

        asked = as_lead.create_export(format="jsonl", target_model="math-tutor-under-test")
        export_run(export_id=asked["id"])
        progress: list[tuple[int, int | None]] = []
        passed = as_lead.wait_for_export(asked["id"], poll=0, progress=lambda d, t: progress.append((d, t)))
        assert passed["status"] == "completed", passed["refusals"]
        assert progress[-1] == (50, 50)

        dataset, manifest = pull_export(as_lead, asked["id"], directory=tmp_path / "pulled")
    assert dataset.num_rows == 50
    assert sorted(dataset["output"]) == sorted(record["answer"] for record in records)
    assert sorted(dataset["input"]) == sorted(record["question"] for record in records)
    assert set(dataset["generator"]) == {GENERATOR}
    assert manifest["export_id"] == asked["id"]
    assert manifest["counts"]["total"] == 50
    assert manifest["file"]["sha256"] == passed["sha256"]
    assert [entry["id"] for entry in manifest["audits"]] == [audit["id"]]


def test_every_read_the_client_names_reaches_its_endpoint(live_server, project, lead):
    with client_as(live_server, lead) as client:
        math = client.project("math")
        pushed = math.push(problems(3), origin="synthetic", generator=GENERATOR, mapping={"output": "answer"})
        batch = math.import_batch(pushed.batches[0].batch_id)
        assert (batch["status"], batch["imported"], batch["rows_read"]) == ("completed", 3, 3)

        listed = list(math.samples(page_size=2))  # two pages, the second by the cursor
        assert [s["output"] for s in listed] == ["7", "5", "3"]  # newest first
        detail = math.sample(listed[0]["id"])
        assert detail["lineage"]["generator"]["name"] == GENERATOR
        # "question" is one of the import's own names for the input; the rest is metadata.
        assert detail["input"] == problems(3)[2]["question"]
        assert detail["metadata"] == {"difficulty": "medium"}
        # No similarity was built: nothing stored to show, but nothing withheld from a lead either.
        assert math.neighbours(listed[0]["id"]) == {"sample_id": listed[0]["id"], "withheld": False, "items": []}

        assert [g["name"] for g in math.generators()] == [GENERATOR]
        assert math.quality() == {"snapshot": None}
        for by in ("generator", "template", "run"):
            report = math.noise_floor(by=by)
            assert (report["by"], report["audits"], report["rows"]) == (by, 0, [])
        empty = [
            math.verdicts(),
            math.audits(),
            math.duplicate_groups(),
            math.variant_families(),
            math.clusters(),
            math.alerts(),
            math.runs(),
            math.exports(),
            math.eval_set_versions(),
        ]
        assert [list(found) for found in empty] == [[]] * len(empty)
        with pytest.raises(Invalid) as nothing_to_freeze:
            math.freeze_eval_set(note="first")
        assert nothing_to_freeze.value.status == 422
        with pytest.raises(NotFound):
            math.sample(10**9)
