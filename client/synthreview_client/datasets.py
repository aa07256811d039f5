"""Hugging Face `datasets` in and out: push a Dataset (or a list of dicts) as samples, and pull an
approved export back as a Dataset with its manifest. `datasets` is imported only when used:
install it with `pip install 'synthreview-client[datasets]'`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthreview_client.errors import Conflict
from synthreview_client.models import Manifest, PushSummary
from synthreview_client.progress import Progress

if TYPE_CHECKING:
    import datasets

    from synthreview_client.project import Project

# The `datasets` builder that reads each export format.
BUILDERS = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}
# Rows read from a Dataset at a time: its columnar batches are far cheaper than row by row.
READ_BATCH_ROWS = 1000


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ImportError(
            "this needs the Hugging Face `datasets` package: pip install 'synthreview-client[datasets]'"
        ) from None
    return datasets


def push_dataset(
    project: Project,
    data: datasets.Dataset | Iterable[Mapping[str, Any]],
    *,
    origin: str,
    mapping: Mapping[str, str] | None = None,
    generator: str | None = None,
    template: str | None = None,
    batch_size: int = 5000,
    idempotency_key: str | None = None,
    progress: Progress | None = None,
) -> PushSummary:
    """Push a Dataset's rows (or a list of dicts) as samples. `mapping` maps the import's fields to
    the dataset's columns, `{"output": "answer", "input": "question"}`, exactly as the import's
    mapping does (it is sent as the server's `map`, so unmapped columns become each sample's
    metadata there as for any import). A mapped column the Dataset lacks is refused before
    anything is sent."""
    rows: Iterable[Mapping[str, Any]]
    if isinstance(data, Mapping) and data and all(hasattr(split, "column_names") for split in data.values()):
        raise TypeError(f"a DatasetDict holds several splits ({', '.join(data)}): push one, e.g. data['train']")
    if hasattr(data, "column_names") and hasattr(data, "iter"):
        columns = list(data.column_names)
        missing = sorted(set((mapping or {}).values()) - set(columns))
        if missing:
            raise ValueError(f"the dataset has no column {', '.join(map(repr, missing))}; its columns: {columns}")
        rows = _SizedRows(data)
    else:
        rows = data  # an iterable of mappings, checked record by record
    return project.push(
        rows,
        origin=origin,
        generator=generator,
        template=template,
        mapping=mapping,
        batch_size=batch_size,
        idempotency_key=idempotency_key,
        progress=progress,
    )


class _SizedRows:
    """A Dataset read in columnar batches, one dict a row, with its length for progress."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for columns in self.dataset.iter(batch_size=READ_BATCH_ROWS):
            names = list(columns)
            for values in zip(*(columns[name] for name in names)):
                yield dict(zip(names, values))


def pull_export(
    project: Project,
    export_id: int,
    *,
    directory: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> tuple[datasets.Dataset, Manifest]:
    """A completed export as a `datasets.Dataset`, read as a training job reads it
    (`datasets.load_dataset`), with its manifest. The file is downloaded into `directory`
    (a new temporary folder if not given) and checked against the manifest's sha256."""
    hf = _datasets()
    export = project.export(export_id)
    if export.get("status") != "completed":
        reasons = "; ".join(str(r.get("reason", r)) for r in export.get("refusals") or [])
        raise Conflict(
            409,
            "conflict",
            f"export {export_id} is {export.get('status')}, not completed" + (f": {reasons}" if reasons else ""),
        )
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="synthreview-export-"))
    folder.mkdir(parents=True, exist_ok=True)
    manifest = project.export_manifest(export_id)
    file_info = manifest.get("file") or {}
    name = str(file_info.get("name") or export.get("file_name") or f"export-{int(export_id)}.{export['format']}")
    path = project.download_export(
        export_id, folder / Path(name).name, progress=progress, sha256=file_info.get("sha256") or None
    )
    builder = BUILDERS[str(export.get("format") or file_info.get("format"))]
    dataset = hf.load_dataset(
        builder,
        data_files=str(path),
        split="train",
        cache_dir=str(cache_dir) if cache_dir is not None else str(folder / "hf-cache"),
    )
    return dataset, manifest
