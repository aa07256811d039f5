"""One project's endpoints as typed methods: `client.project("math").push(records, ...)`.

Every list method returns an iterator that follows the server's cursor page after page; wrap it in
list() to hold the whole list. Long work (runs, exports) and audits have `wait_for_*` methods that
poll until it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from synthreview_client import _retry
from synthreview_client._push import batch_key, batches, records_named
from synthreview_client.client import MAX_PAGE_SIZE
from synthreview_client.errors import Conflict, Invalid, PushRefused
from synthreview_client.models import (
    Accepted,
    Alert,
    Audit,
    BatchResult,
    Cluster,
    DuplicateGroup,
    EvalSetVersion,
    Export,
    Generator,
    ImportBatch,
    Manifest,
    Neighbours,
    NoiseFloorReport,
    PushSummary,
    Quality,
    Run,
    Sample,
    SampleDetail,
    Verdict,
)
from synthreview_client.progress import Progress

if TYPE_CHECKING:
    from synthreview_client.client import Client

T = TypeVar("T")
PUSH_CONTENT_TYPE = "application/x-ndjson"
DEFAULT_BATCH_SIZE = 5000
# Statuses after which an export or a run changes no more.
EXPORT_DONE = frozenset({"completed", "refused", "failed"})
RUN_DONE = frozenset({"completed", "failed", "cancelled"})


class Project:
    def __init__(self, client: Client, slug: str) -> None:
        self.client = client
        self.slug = slug
        self._path = f"projects/{quote(slug, safe='')}"
        # Where each export this handle asked for is polled: the 202's own url.
        self._export_urls: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"<Project {self.slug!r} at {self.client.api_root}>"

    # -- samples in ------------------------------------------------------------------------------

    def push(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        origin: str,
        generator: str | None = None,
        template: str | None = None,
        mapping: Mapping[str, str] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> PushSummary:
        """Import records (one dict each, as a JSONL import's lines) in batches of `batch_size`.

        Each batch is imported whole or not at all, under an Idempotency-Key derived from its
        content, so a push that is retried or run again adds nothing twice (its batches come back
        `replayed`). `mapping` maps the import's fields (input, output, label, origin, generator,
        template) to your records' keys, as the CLI's --map does. A refused batch raises
        PushRefused naming the bad records by their index in `records`; the batches before it
        stay imported."""
        params: list[tuple[str, str]] = [("origin", origin)]
        if generator:
            params.append(("generator", generator))
        if template:
            params.append(("template", template))
        params.extend(("map", f"{target}={source}") for target, source in (mapping or {}).items())
        total = len(records) if isinstance(records, Sized) else None
        summary = PushSummary()
        done = 0
        for batch in batches(records, batch_size):
            key = batch_key(self.slug, batch, params, idempotency_key)
            delivered: list[bool] = []
            try:
                answer = self._push_batch(
                    batch.body, params, key, derived_key=idempotency_key is None, delivered=delivered
                )
            except Invalid as refused:
                raise PushRefused(
                    refused.status,
                    refused.code,
                    f"batch {batch.index} (records {batch.first_index}-{batch.first_index + batch.records - 1}) "
                    f"was refused: {refused.message}",
                    refused.field,
                    refused.line,
                    records_named(refused, batch),
                    batch_index=batch.index,
                    first_index=batch.first_index,
                    imported_before=summary,
                ) from None
            summary.batches.append(
                BatchResult(
                    index=batch.index,
                    first_index=batch.first_index,
                    records=batch.records,
                    batch_id=answer["batch_id"],
                    imported=answer["imported"],
                    duplicates=answer["duplicates"],
                    # A try of this push that reached the server but whose answer was lost imported
                    # the batch; the retry is then told "replayed", yet the samples are this push's.
                    replayed=bool(answer.get("replayed")) and not any(delivered),
                    idempotency_key=key,
                )
            )
            done += batch.records
            if progress is not None:
                progress(done, total)
        return summary

    def _push_batch(
        self, body: bytes, params: list[tuple[str, str]], key: str, *, derived_key: bool, delivered: list[bool]
    ) -> ImportBatch:
        attempt = 0
        while True:
            try:
                response = self.client.request(
                    "POST",
                    f"{self._path}/samples",
                    params=params,
                    content=body,
                    headers={"Content-Type": PUSH_CONTENT_TYPE, "Idempotency-Key": key},
                    idempotent=True,
                    delivered=delivered,
                )
                return cast(ImportBatch, response.json())
            except Conflict:
                # A derived key is a digest of the body, so its 409 can only mean "this push is still
                # being imported" (an earlier try the client gave up on): wait and ask again, and the
                # answer is its result. A caller's own key may really name another body: no retry.
                if not derived_key or attempt >= self.client.retry.max_retries:
                    raise
                # The busy try is the one this push's earlier, unanswered try started.
                delivered.append(True)
                _retry.sleep(self.client.retry.delay(attempt))
                attempt += 1

    def import_batch(self, batch_id: int) -> ImportBatch:
        return cast(ImportBatch, self.client.get(f"{self._path}/imports/{int(batch_id)}"))

    # -- samples out -----------------------------------------------------------------------------

    def samples(self, *, page_size: int = MAX_PAGE_SIZE, **filters: Any) -> Iterator[Sample]:
        """Samples matching the sample browser's filters (origin, status, generator, run, verdict,
        flag, q, novelty_min, ...), newest first, every page."""
        return self.client.pages(f"{self._path}/samples", filters, page_size=page_size)

    def sample(self, sample_id: int) -> SampleDetail:
        """One sample with its lineage, check flags, novelty, neighbours and verdicts."""
        return cast(SampleDetail, self.client.get(f"{self._path}/samples/{int(sample_id)}"))

    def neighbours(self, sample_id: int, *, limit: int = 50) -> Neighbours:
        """The sample's nearest stored neighbours, nearest first (`withheld` with none for a sample
        the caller holds in an open audit)."""
        path = f"{self._path}/samples/{int(sample_id)}/neighbours"
        return cast(Neighbours, self.client.get(path, {"limit": limit}))

    # -- verdicts and audits ---------------------------------------------------------------------

    def verdicts(
        self,
        *,
        reviewer: str | None = None,
        audit: int | None = None,
        sample: int | None = None,
        since: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Verdict]:
        """Verdicts, newest first (an expert's token sees its own only)."""
        filters = {"reviewer": reviewer, "audit": audit, "sample": sample, "since": since}
        return self.client.pages(f"{self._path}/verdicts", filters, page_size=page_size)

    def record_verdict(
        self,
        sample_id: int,
        verdict: str,
        *,
        revision: int,
        error_category: str = "",
        note: str = "",
        time_spent_ms: int | None = None,
    ) -> Verdict:
        """The review queue's verdict on a sample (correct accepts it, wrong rejects it, unsure leaves
        it pending). `revision` is the sample's revision as read; a newer one raises Conflict, whose
        message gives the revision to send again."""
        body = _verdict_body(sample_id, verdict, error_category, note, time_spent_ms)
        body["revision"] = int(revision)
        return cast(Verdict, self.client.post(f"{self._path}/verdicts", body))

    def record_audit_verdict(
        self,
        audit_id: int,
        sample_id: int,
        verdict: str,
        *,
        error_category: str = "",
        note: str = "",
        time_spent_ms: int | None = None,
    ) -> Verdict:
        """A verdict on one item of an audit (it never changes the sample); the reviewer may revise
        their own while the audit is open."""
        body = _verdict_body(sample_id, verdict, error_category, note, time_spent_ms)
        return cast(Verdict, self.client.post(f"{self._path}/audits/{int(audit_id)}/verdicts", body))

    def audits(self, *, page_size: int | None = None, **filters: Any) -> Iterator[Audit]:
        return self.client.pages(f"{self._path}/audits", filters, page_size=page_size)

    def audit(self, audit_id: int) -> Audit:
        return cast(Audit, self.client.get(f"{self._path}/audits/{int(audit_id)}"))

    def create_audit(
        self,
        *,
        scope: str = "project",
        run: int | None = None,
        generator: int | None = None,
        template_version: int | None = None,
        sample_size: int = 60,
        overlap: int = 1,
        gold_items: int = 0,
        expected_error_rate: int = 10,
        seed: int | None = None,
        name: str = "",
    ) -> Audit:
        """Draw an audit as the audit page does: `scope` is project, run, generator or
        template_version, and `run`, `generator` or `template_version` names the one audited."""
        body = {
            "name": name,
            "scope": scope,
            "run": run,
            "generator": generator,
            "template_version": template_version,
            "sample_size": sample_size,
            "overlap": overlap,
            "gold_items": gold_items,
            "expected_error_rate": expected_error_rate,
            "seed": seed,
        }
        return cast(Audit, self.client.post(f"{self._path}/audits", {k: v for k, v in body.items() if v is not None}))

    def close_audit(self, audit_id: int, *, reason: str = "") -> Audit:
        return cast(Audit, self.client.post(f"{self._path}/audits/{int(audit_id)}/close", {"reason": reason}))

    def wait_for_audit(self, audit_id: int, *, poll: float = 5, timeout: float | None = None) -> Audit:
        """Poll the audit until it is closed (its last verdict closes it, or a lead does); a
        TimeoutError after `timeout` seconds."""
        return self._wait(lambda: self.audit(audit_id), lambda a: a["status"] == "closed", poll, timeout, None)

    def noise_floor(self, *, by: str = "generator") -> NoiseFloorReport:
        """The noise floor pooled over closed audits, by generator, template or run."""
        return cast(NoiseFloorReport, self.client.get(f"{self._path}/noise-floor", {"by": by}))

    # -- similarity and quality ------------------------------------------------------------------

    def duplicate_groups(self, *, page_size: int | None = None, **filters: Any) -> Iterator[DuplicateGroup]:
        """Near-duplicate groups (status open by default; kind, status as on the page)."""
        return self.client.pages(f"{self._path}/duplicate-groups", filters, page_size=page_size)

    def variant_families(self, *, page_size: int | None = None, **filters: Any) -> Iterator[DuplicateGroup]:
        return self.client.pages(f"{self._path}/variant-families", filters, page_size=page_size)

    def clusters(self, *, page_size: int | None = None, **filters: Any) -> Iterator[Cluster]:
        return self.client.pages(f"{self._path}/clusters", filters, page_size=page_size)

    def quality(self) -> Quality:
        return cast(Quality, self.client.get(f"{self._path}/quality"))

    def alerts(self, *, state: str = "all", page_size: int | None = None) -> Iterator[Alert]:
        return self.client.pages(f"{self._path}/alerts", {"state": state}, page_size=page_size)

    # -- generation ------------------------------------------------------------------------------

    def generators(self, *, page_size: int | None = None) -> Iterator[Generator]:
        return self.client.pages(f"{self._path}/generators", None, page_size=page_size)

    def runs(self, *, page_size: int | None = None, **filters: Any) -> Iterator[Run]:
        return self.client.pages(f"{self._path}/runs", filters, page_size=page_size)

    def run(self, run_id: int) -> Run:
        return cast(Run, self.client.get(f"{self._path}/runs/{int(run_id)}"))

    def create_run(self, *, name: str, template_version: int, generators: list[int], **fields: Any) -> Accepted:
        """Create a run and launch it, as the run page's form does: a template version's id, the
        generators' ids, and the page's other fields (temperatures, top_ps, seeds, variables,
        fewshot_per_item, fewshot_items, fewshot_allow_synthetic, constraints, seed). Answers at
        once; wait_for_run() follows it."""
        body = {"name": name, "template_version": int(template_version), "generators": list(generators), **fields}
        return cast(Accepted, self.client.post(f"{self._path}/runs", body))

    def wait_for_run(
        self, run_id: int, *, progress: Progress | None = None, poll: float = 2, timeout: float | None = None
    ) -> Run:
        """Poll the run until it completes, fails or is cancelled; progress(done, total) in items."""

        def report(run: Run) -> None:
            if progress is not None:
                done, total = _run_progress(run)
                progress(done, total)

        def finished(run: Run) -> bool:
            return bool(run.get("finished", run["status"] in RUN_DONE))

        return self._wait(lambda: self.run(run_id), finished, poll, timeout, report)

    # -- exports and the eval set ----------------------------------------------------------------

    def exports(self, *, page_size: int | None = None) -> Iterator[Export]:
        return self.client.pages(f"{self._path}/exports", None, page_size=page_size)

    def export(self, export_id: int) -> Export:
        url = self._export_urls.get(int(export_id), f"{self._path}/exports/{int(export_id)}")
        return cast(Export, self.client.get(url))

    def create_export(self, **form: Any) -> Accepted:
        """Ask for an export with the export page's fields (format, split, target_model,
        max_generation_depth, eval_set_version, excluded_generators, audit_override_reason).
        The gates are decided by a worker: wait_for_export() tells how it ended."""
        accepted = cast(Accepted, self.client.post(f"{self._path}/exports", form))
        self._export_urls[int(accepted["id"])] = accepted["url"]
        return accepted

    def wait_for_export(
        self, export_id: int, *, progress: Progress | None = None, poll: float = 1, timeout: float | None = None
    ) -> Export:
        """Poll the export until it is completed, refused (by a gate: see its `refusals`) or failed;
        progress(rows_written, rows_total) on the way."""

        def report(export: Export) -> None:
            if progress is not None:
                done, total = _export_progress(export)
                progress(done, total)

        return self._wait(lambda: self.export(export_id), lambda e: e["status"] in EXPORT_DONE, poll, timeout, report)

    def download_export(
        self, export_id: int, path: str | Path, *, progress: Progress | None = None, sha256: str | None = None
    ) -> Path:
        """The export's file, streamed to `path` (a folder takes the server's file name). A file whose
        sha256 is not the export's (or the `sha256` given) is not kept."""
        destination = Path(path)
        export = self.export(export_id)
        if destination.is_dir():
            destination = destination / Path(export.get("file_name") or f"export-{int(export_id)}").name
        file_url = export.get("file_url") or f"{self._path}/exports/{int(export_id)}/file"
        expected = sha256 or export.get("sha256") or None
        return self.client.stream_to(file_url, destination, progress=progress, sha256=expected)

    def export_manifest(self, export_id: int) -> Manifest:
        return cast(Manifest, self.client.get(f"{self._path}/exports/{int(export_id)}/manifest"))

    def eval_set_versions(self, *, page_size: int | None = None) -> Iterator[EvalSetVersion]:
        return self.client.pages(f"{self._path}/eval-set/versions", None, page_size=page_size)

    def freeze_eval_set(self, *, note: str = "") -> EvalSetVersion:
        """Freeze the eval set's current members as a new version."""
        return cast(EvalSetVersion, self.client.post(f"{self._path}/eval-set/versions", {"note": note}))

    # -- polling ---------------------------------------------------------------------------------

    def _wait(
        self,
        read: Callable[[], T],
        done: Callable[[T], bool],
        poll: float,
        timeout: float | None,
        report: Callable[[T], None] | None,
    ) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = read()
            if report is not None:
                report(current)
            if done(current):
                return current
            if deadline is not None and time.monotonic() + poll > deadline:
                status = current.get("status") if isinstance(current, dict) else None
                raise TimeoutError(f"still {status!r} after {timeout} s")
            _retry.sleep(poll)


def _verdict_body(
    sample_id: int, verdict: str, error_category: str, note: str, time_spent_ms: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"sample_id": int(sample_id), "verdict": verdict, "error_category": error_category}
    body["note"] = note
    if time_spent_ms is not None:
        body["time_spent_ms"] = int(time_spent_ms)
    return body


def _run_progress(run: Run) -> tuple[int, int | None]:
    """Items finished (done or failed for good) of the run's items."""
    progress = run.get("progress")
    if progress:
        return int(progress["done"]) + int(progress["failed"]), int(progress["items_total"]) or None
    return int(run.get("items_done") or 0) + int(run.get("items_failed") or 0), run.get("items_total") or None


def _export_progress(export: Export) -> tuple[int, int | None]:
    """Rows written of the rows the snapshot counted: the worker's live figure while it writes."""
    live = export.get("progress")
    if live and live.get("unit") == "rows":
        return int(live.get("done") or 0), live.get("total")
    return int(export.get("rows_written") or 0), export.get("rows_total") or None
