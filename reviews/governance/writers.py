"""Export file writers: JSON Lines, CSV and Parquet, streamed a chunk of rows at a time.

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
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import islice, repeat
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

from synthreview.csv_safety import FORMULA_STARTS, csv_safe_cell

if TYPE_CHECKING:
    from _csv import Writer as CsvWriter

    import pyarrow as pa

COLUMNS = (
    "id",
    "input",
    "output",
    "label",
    "origin",
    "synthetic",
    "generator",
    "generator_model",
    "template",
    "template_version",
    "run",
    "generation_depth",
    "split",
    "content_hash",
    "metadata",
)
# Rows per Parquet row group (and per progress report): fixed, so the file's layout is too.
BATCH_ROWS = 10_000

Row = tuple  # in COLUMNS order
# Columns whose cell is JSON text already (the metadata object as the database renders it): JSONL puts
# it in the line as it is, so `metadata` is an object there; CSV and Parquet keep the text in a cell.
JSON_TEXT_COLUMNS = frozenset({"metadata"})

_encode = json.encoder.encode_basestring  # the C encoder, ensure_ascii=False


def _json_value(value: str | int | None) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    return _encode(value)


def _json_text(value: object) -> str:
    """A JSON text cell as the line takes it. The database renders JSON on one line; should a text hold
    a line break all the same, it is written again compactly, so each row stays one line."""
    if not isinstance(value, str):
        raise TypeError("a JSON text cell must be a str")
    if "\n" in value or "\r" in value:
        return json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))
    return value


def jsonl_line(row: Row) -> str:
    """One row's line: the definition of the format (write_jsonl writes the same bytes, faster)."""
    return (
        "{"
        + ",".join(
            f'"{key}":{_json_text(value) if key in JSON_TEXT_COLUMNS else _json_value(value)}'
            for key, value in zip(COLUMNS, row, strict=True)
        )
        + "}\n"
    )


# write_jsonl's hot loop: each column of a chunk of rows goes through the C JSON encoder
# in one call, with "\n" between items. An encoded None, bool, int or str never holds a
# raw newline (JSON escapes it), so splitting on "\n" gives back the column's cells, the
# same text _json_value makes; a row's line is then a fixed template filled in. Chunks of
# ~1,000 rows stay in the CPU's caches (10,000 are ~20% slower).
_encode_cells = json.JSONEncoder(ensure_ascii=False, separators=("\n", ":"), check_circular=False).encode
_LINE = "{" + ",".join(f'"{key}":%s' for key in COLUMNS) + "}\n"
# Rows per encoded chunk (JSONL and CSV); a divisor of BATCH_ROWS, so progress is reported
# every BATCH_ROWS rows as before.
ENCODE_ROWS = 1000


def jsonl_lines(rows: list[Row]) -> bytes:
    """The rows' lines, UTF-8: exactly b"".join(jsonl_line(row).encode() for row in rows)."""
    if not rows:
        return b""
    columns = list(zip(*rows, strict=True))
    if len(columns) != len(COLUMNS):
        raise ValueError(f"a row has {len(columns)} values where the export has {len(COLUMNS)} columns")
    cells = []
    for key, column in zip(COLUMNS, columns, strict=True):
        if key in JSON_TEXT_COLUMNS:
            try:
                joined = "\x00".join(column)  # C speed: every cell a str, and none with a line break
            except TypeError:
                raise TypeError("a JSON text cell must be a str") from None
            cells.append(column if "\n" not in joined and "\r" not in joined else [_json_text(v) for v in column])
            continue
        encoded = _encode_cells(column)[1:-1].split("\n")
        if len(encoded) != len(rows):  # a list or dict value: JSONL cells are None, bool, int or str
            raise TypeError("an export cell must be None, a bool, an int or a str")
        cells.append(encoded)
    # Each line on its own: one non-BMP character would make a joined str four bytes per character.
    return b"".join([(_LINE % line).encode("utf-8") for line in zip(*cells)])


class _ChunkWriter:
    """Encodes, hashes and writes chunks of rows in a thread of its own, in the order they come.

    The caller's thread only reads the rows, so what it reads them from (a database cursor in
    its transaction) stays on that thread; while it waits for the next rows the GIL is free, and
    the chunks it has read are encoded meanwhile (sha256 and the writes release the GIL too). A
    queue of a few chunks bounds the memory.
    """

    def __init__(self, handle: IO[bytes], encode: Callable[[list[Row]], bytes], header: bytes = b"") -> None:
        self.handle = handle
        self.encode = encode
        self.digest = hashlib.sha256()
        self.size = 0
        self.write(header)
        self._pending: queue.Queue[list[Row] | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="export-file-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (chunk := self._pending.get()) is not None:
            if self._error is not None:
                continue  # keep taking chunks, so the caller never blocks on a full queue
            try:
                self.write(self.encode(chunk))
            except BaseException as error:  # noqa: BLE001  # raised again in the caller's thread
                self._error = error

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.handle.write(data)
        self.size += len(data)

    def put(self, chunk: list[Row]) -> None:
        if self._error is not None:
            raise self._error
        self._pending.put(chunk)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._pending.put(None)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error


def _write_chunks(
    rows: Iterable[Row],
    path: Path,
    on_batch: Callable[[int], object] | None,
    encode: Callable[[list[Row]], bytes],
    header: bytes = b"",
) -> tuple[str, int, int]:
    """Hand the rows to a _ChunkWriter ENCODE_ROWS at a time; report every BATCH_ROWS handed over."""
    written = 0
    source = iter(rows)
    with open(path, "wb") as handle, _ChunkWriter(handle, encode, header) as out:
        while chunk := list(islice(source, ENCODE_ROWS)):
            out.put(chunk)
            written += len(chunk)
            if on_batch and written % BATCH_ROWS == 0:
                on_batch(written)
    return out.digest.hexdigest(), out.size, written


def write_jsonl(
    rows: Iterable[Row], path: Path, on_batch: Callable[[int], object] | None = None
) -> tuple[str, int, int]:
    return _write_chunks(rows, path, on_batch, jsonl_lines)


def _csv_cell(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_safe_cell(value)


_NUMBERS = {int, type(None)}
_TEXTS = {str, type(None)}


def _csv_column(column: tuple) -> Sequence[object]:
    """A column's cells as _csv_cell makes them. Most columns need no change (numbers, or texts none
    of which starts like a formula), and that is checked at C speed; the others go cell by cell."""
    kinds = set(map(type, column))
    if kinds <= _NUMBERS:
        return column
    if kinds <= _TEXTS and not any(map(str.startswith, filter(None, column), repeat(FORMULA_STARTS))):
        return column
    return [_csv_cell(value) for value in column]


def _csv_writer(buffer: io.StringIO) -> CsvWriter:
    # RFC 4180's "\r\n", fixed so the bytes do not depend on the platform; with it as the terminator the
    # writer also quotes any cell holding a lone "\r", which a reader would otherwise split the row at.
    return csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def csv_lines(rows: list[Row]) -> bytes:
    """The rows' CSV records, UTF-8: the same bytes as writerow([_csv_cell(v) for v in row]) for each."""
    buffer = io.StringIO()
    _csv_writer(buffer).writerows(zip(*[_csv_column(column) for column in zip(*rows, strict=True)]))
    return buffer.getvalue().encode("utf-8")


def write_csv(rows: Iterable[Row], path: Path, on_batch: Callable[[int], object] | None = None) -> tuple[str, int, int]:
    header = io.StringIO()
    _csv_writer(header).writerow(COLUMNS)
    return _write_chunks(rows, path, on_batch, csv_lines, header=header.getvalue().encode("utf-8"))


def parquet_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.int64()),
            ("input", pa.string()),
            ("output", pa.string()),
            ("label", pa.string()),
            ("origin", pa.string()),
            ("synthetic", pa.bool_()),
            ("generator", pa.string()),
            ("generator_model", pa.string()),
            ("template", pa.string()),
            ("template_version", pa.int64()),
            ("run", pa.string()),
            ("generation_depth", pa.int64()),
            ("split", pa.string()),
            ("content_hash", pa.string()),
            ("metadata", pa.string()),
        ]
    )


def write_parquet(
    rows: Iterable[Row], path: Path, on_batch: Callable[[int], object] | None = None
) -> tuple[str, int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    written = 0

    def flush(batch: list[Row]) -> None:
        columns = list(zip(*batch, strict=True))
        writer.write_table(
            pa.Table.from_arrays(
                [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)], schema=schema
            ),
            row_group_size=BATCH_ROWS,
        )

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
