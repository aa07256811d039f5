"""`manage.py import_samples` as a user meets it: what it says when a file is wrong, its
help, and that every import it starts ends done or failed, even when it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from generation.management.commands.import_samples import Command
from generation.models import ImportBatch, Sample
from synthreview.progress import progress_get, progress_key
from synthreview.projects.models import Project
from tests.generation.ingest_helpers import assert_nothing_imported, import_fails, import_ok, write_csv, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def _subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, pointed at the test database, so a child process sees what the test committed."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", **(extra or {})}


# --- the count of problems matches what is listed --------------------------------------


@pytest.mark.django_db
def test_a_file_without_an_output_column_lists_fifty_lines_and_counts_them_all(
    project: Project, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "answers.jsonl", [{"prompt": f"q{i}", "text": f"a{i}"} for i in range(1, 61)])

    message, lines = import_fails(project, path, "--generator", "g")

    line_errors = [line for line in lines if line.startswith("line ")]
    assert line_errors == [f"line {n}: missing output" for n in range(1, 51)]
    assert message == "nothing imported: showing the first 50 of 60 problems in answers.jsonl"
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_a_few_bad_lines_are_counted_as_listed(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "few.jsonl"
    path.write_text('{"input": "a", "output": "b"}\n{"input": "c"}\nnot json\n{"input": "d", "output": 5}\n')

    message, lines = import_fails(project, path, "--generator", "g")

    assert message == "nothing imported: 2 problems in few.jsonl"
    assert len(lines) == 2 and lines[0] == "line 2: missing output" and lines[1].startswith("line 3: invalid JSON")


@pytest.mark.django_db
def test_one_bad_line_is_one_problem(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "one.jsonl", [{"input": "a", "output": "b"}, {"input": "c"}])
    message, lines = import_fails(project, path, "--generator", "g")
    assert message == "nothing imported: 1 problem in one.jsonl"
    assert lines == ["line 2: missing output"]


# --- a missing output column is explained once -------------------------------------------


@pytest.mark.django_db
def test_a_missing_output_column_names_the_aliases_tried_and_the_files_columns_once(
    project: Project, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "qa.csv", ["question", "reply", "source"], [["2+2?", "4", "book"], ["3+3?", "6", "web"]]
    )

    _, lines = import_fails(project, path, "--generator", "g")

    hints = [line for line in lines if "--map output=" in line]
    assert len(hints) == 1
    hint = hints[0]
    for alias in ("output", "response", "completion", "answer", "target"):
        assert alias in hint
    assert "question, reply, source" in hint
    # The input's column is not offered as the output.
    assert "--map output=reply" in hint
    # Followed, the advice imports the file.
    assert import_ok(project, path, "--generator", "g", "--map", "output=reply") == "imported 2, skipped 0 duplicates"


@pytest.mark.django_db
def test_an_output_mapped_to_a_column_the_file_lacks_names_the_files_columns(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"prompt": "q", "reply": "a"}])
    _, lines = import_fails(project, path, "--generator", "g", "--map", "output=answer_text")
    assert lines[0].startswith("line 1: missing field") and "answer_text" in lines[0]
    assert len([line for line in lines if "'answer_text' mapped to output is not in the file" in line]) == 1
    assert "prompt, reply" in lines[-1]


@pytest.mark.django_db
def test_one_row_without_output_among_good_rows_gets_no_whole_file_hint(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "a", "output": "b"}, {"input": "c", "note": "d"}])
    _, lines = import_fails(project, path, "--generator", "g")
    assert lines == ["line 2: missing output"]


def test_help_says_an_output_is_required_and_explains_map_and_the_aliases() -> None:
    text = " ".join(Command().create_parser("manage.py", "import_samples").format_help().split())
    assert "Every row needs an output" in text
    assert "output, response, completion, answer, target" in text
    assert "--map FIELD=COLUMN" in text and "input, output, label, origin, generator, template" in text
    assert "--origin real" in text and "--generator NAME" in text


# --- the default origin ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bare_synthetic_import_says_once_what_to_pass_and_starts_nothing(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": f"q{i}", "output": f"a{i}"} for i in range(30)])

    message, lines = import_fails(project, path)

    assert "--origin real" in message and "--generator NAME" in message
    assert lines == []  # not once per row
    assert not ImportBatch.objects.exists()
    # Either way out of it works.
    assert import_ok(project, path, "--origin", "real") == "imported 30, skipped 0 duplicates"
    assert Sample.objects.filter(project=project, origin="real").count() == 30


@pytest.mark.django_db
def test_a_mapped_generator_column_is_enough_for_a_synthetic_import(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "q", "output": "a", "model": "m1"}])
    assert import_ok(project, path, "--map", "generator=model") == "imported 1, skipped 0 duplicates"


# --- a crash never leaves the batch queued --------------------------------------------------


@pytest.mark.django_db
def test_an_unexpected_error_marks_the_cli_batch_failed(project: Project, tmp_path: Path, monkeypatch) -> None:
    from generation.services import imports as service

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "_import_rows", explode)
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "q", "output": "a"}])
    with pytest.raises(RuntimeError):
        call_command("import_samples", project.slug, str(path), "--no-progress", "--origin", "real", stdout=StringIO())
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "failed"
    assert batch.errors == ["the import stopped on an unexpected error (RuntimeError); nothing was imported"]
    assert batch.finished_at is not None
    # The user's own file is never deleted.
    assert path.is_file()


def _big_file(path: Path, rows: int) -> Path:
    with path.open("w") as out:
        for i in range(rows):
            out.write(json.dumps({"input": f"question {i}", "output": f"answer {i}"}) + "\n")
    return path


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_cli_import_stopped_midway_ends_failed_not_queued(project: Project, tmp_path: Path, stop: int) -> None:
    path = _big_file(tmp_path / "big.jsonl", 200_000)
    started = time.time()
    child = subprocess.Popen(
        [sys.executable, "manage.py", "import_samples", project.slug, str(path), "--origin", "real", "--no-progress"],
        cwd=ROOT,
        env=_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Stop it once it is importing: its batch exists and it has reported progress.
        deadline = time.monotonic() + 90
        while True:
            batch = ImportBatch.objects.filter(project=project).first()
            # Newer than the start: the cache outlives a test, and a reused id could find an old entry.
            progress = progress_get(progress_key("import", batch.pk)) if batch is not None else None
            if progress is not None and progress.updated >= started:
                break
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the import never reported progress"
            time.sleep(0.05)
        child.send_signal(stop)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert child.returncode == 130, err
    assert f"interrupted: nothing imported (import {batch.pk} is marked failed)" in err
    batch.refresh_from_db()
    assert batch.status == "failed"
    assert batch.errors == ["the import was interrupted; nothing was imported"]
    assert not Sample.objects.filter(project=project).exists()
    assert path.is_file()


# --- nothing from kombu on stderr -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", [None, "filesystem://"], ids=["default-broker", "filesystem-url-without-host"])
def test_a_cli_import_prints_no_broker_warning(project: Project, tmp_path: Path, broker: str | None) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "q", "output": "a"}, {"input": "q2", "output": "a2"}])
    env = _subprocess_env({"DATA_DIR": str(tmp_path / "data")})
    env.pop("CELERY_BROKER_URL", None)
    if broker is not None:
        env["CELERY_BROKER_URL"] = broker

    done = subprocess.run(
        [sys.executable, "manage.py", "import_samples", project.slug, str(path), "--origin", "real"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 2, skipped 0 duplicates"
    assert "No hostname was supplied" not in done.stderr
    # The work it queued after commit reached the broker's folder.
    assert list((tmp_path / "data" / "broker" / "queue").iterdir())
