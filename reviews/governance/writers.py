"""Export file writers: JSON Lines, CSV and Parquet, streamed row by row.

The same rows in the same order give the same bytes: keys and columns come in a
fixed order, nothing time- or host-dependent is written, and Parquet row groups
have a fixed size. Every format carries each row's lineage, so synthetic data is
flagged in the file itself, not only in the manifest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from synthreview.csv_safety import csv_safe_cell

COLUMNS = ("id", "input", "output", "label", "origin", "synthetic", "generator", "generator_model", "template",
           "template_version", "run", "generation_depth", "split", "content_hash", "metadata")
# Rows per Parquet row group (and per CSV/JSONL write): fixed, so the file's layout is too.
BATCH_ROWS = 10_000

Row = tuple  # in COLUMNS order

_encode = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C encoder, ensure_ascii=False


def _json_value(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    return _encode(value)


def jsonl_line(row: Row) -> str:
    # Built by hand rather than json.dumps(dict): the keys never change, and this is the export's hot loop.
    return "{" + ",".join(f'"{key}":{_json_value(value)}' for key, value in zip(COLUMNS, row, strict=True)) + "}\n"


class _HashingFile:
    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.handle.write(data)
        self.size += len(data)


def write_jsonl(rows: Iterable[Row], path: Path, on_batch=None) -> tuple[str, int, int]:  # type: ignore[no-untyped-def]
    written = 0
    with open(path, "wb") as handle:
        out = _HashingFile(handle)
        batch: list[str] = []
        for row in rows:
            batch.append(jsonl_line(row))
            if len(batch) == BATCH_ROWS:
                out.write("".join(batch).encode("utf-8"))
                written += len(batch)
                batch = []
                if on_batch:
                    on_batch(written)
        if batch:
            out.write("".join(batch).encode("utf-8"))
            written += len(batch)
    return out.digest.hexdigest(), out.size, written


def _csv_cell(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_safe_cell(value)


def write_csv(rows: Iterable[Row], path: Path, on_batch=None) -> tuple[str, int, int]:  # type: ignore[no-untyped-def]
    written = 0
    buffer = io.StringIO()
    # RFC 4180's "\r\n", fixed so the bytes do not depend on the platform; with it as the terminator the
    # writer also quotes any cell holding a lone "\r", which a reader would otherwise split the row at.
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    with open(path, "wb") as handle:
        out = _HashingFile(handle)
        writer.writerow(COLUMNS)
        count = 0
        for row in rows:
            writer.writerow([_csv_cell(value) for value in row])
            count += 1
            if count == BATCH_ROWS:
                out.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
                written += count
                count = 0
                if on_batch:
                    on_batch(written)
        out.write(buffer.getvalue().encode("utf-8"))
        written += count
    return out.digest.hexdigest(), out.size, written


def parquet_schema():  # type: ignore[no-untyped-def]
    import pyarrow as pa

    return pa.schema([
        ("id", pa.int64()), ("input", pa.string()), ("output", pa.string()), ("label", pa.string()),
        ("origin", pa.string()), ("synthetic", pa.bool_()), ("generator", pa.string()),
        ("generator_model", pa.string()), ("template", pa.string()), ("template_version", pa.int64()),
        ("run", pa.string()), ("generation_depth", pa.int64()), ("split", pa.string()),
        ("content_hash", pa.string()), ("metadata", pa.string()),
    ])


def write_parquet(rows: Iterable[Row], path: Path, on_batch=None) -> tuple[str, int, int]:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    written = 0

    def flush(batch: list[Row]) -> None:
        columns = list(zip(*batch, strict=True))
        writer.write_table(pa.Table.from_arrays([pa.array(col, type=schema.field(i).type)
                                                 for i, col in enumerate(columns)], schema=schema),
                           row_group_size=BATCH_ROWS)

    # No pandas metadata and no write timestamps: the file is a function of the rows (and pyarrow's version).
    with pq.ParquetWriter(path, schema, compression="zstd", write_statistics=True) as writer:
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                flush(batch)
                written += len(batch)
                batch = []
                if on_batch:
                    on_batch(written)
        if batch:
            flush(batch)
            written += len(batch)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest(), path.stat().st_size, written


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}
EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
