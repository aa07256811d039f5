"""Stream rows out of a file with the line (or row) each one started on.

Readers never hold the whole file: JSONL and CSV go line by line, JSON arrays
are decoded one element at a time, Parquet one record batch at a time. A row
that cannot be read comes out as a RowError carrying its line, so the importer
can report every bad line and still stay all-or-nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from generation.models import ImportFormat

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_JSON_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    data: dict


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str
    # A fatal error means the reader cannot find the next row, so reading stops.
    fatal: bool = False
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.reason}"


def detect_format(file_name: str) -> str:
    lowered = file_name.lower()
    for suffix, fmt in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "json"),
        (".csv", "csv"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
    ):
        if lowered.endswith(suffix):
            return fmt
    raise ValueError(
        f"cannot tell the format of {file_name!r}: name it .jsonl, .json, .csv or .parquet, or give the format"
    )


def _encoding_problem(head: bytes) -> str | None:
    if head.startswith(_UTF16_BOMS):
        return "the file is UTF-16 or UTF-32 encoded; save it as UTF-8"
    return None


def read_rows(fh: BinaryIO, fmt: str, *, max_line_bytes: int) -> Iterator[RawRow | RowError]:
    """Rows of an open binary file. The caller may read fh.tell() for progress."""
    if fmt == ImportFormat.PARQUET:
        yield from _read_parquet(fh)
        return
    problem = _encoding_problem(fh.read(4))
    fh.seek(0)
    if problem:
        yield RowError(1, problem, fatal=True)
        return
    if fmt == ImportFormat.JSONL:
        yield from _read_jsonl(fh, max_line_bytes)
    elif fmt == ImportFormat.JSON:
        yield from _read_json_array(fh, max_line_bytes)
    elif fmt == ImportFormat.CSV:
        yield from _read_csv(fh, max_line_bytes)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _decode_line(raw: bytes, line: int) -> str | RowError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return RowError(line, f"not valid UTF-8 (byte {error.start + 1} of the line); save the file as UTF-8")


def _read_jsonl(fh: BinaryIO, max_line_bytes: int) -> Iterator[RawRow | RowError]:
    loads = json.loads
    line = 0
    while True:
        raw = fh.readline(max_line_bytes + 1)
        if not raw:
            return
        line += 1
        if len(raw) > max_line_bytes:
            yield RowError(line, f"line is longer than {max_line_bytes} bytes", fatal=True)
            return
        if line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        text = _decode_line(raw, line)
        if isinstance(text, RowError):
            yield text
            continue
        if not text.strip():
            continue
        try:
            data = loads(text)
        except json.JSONDecodeError as error:
            yield RowError(line, f"invalid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(data, dict):
            yield RowError(line, f"expected a JSON object, got {_json_type(data)}")
            continue
        yield RawRow(line, data)


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "an object"


def _read_json_array(fh: BinaryIO, max_item_bytes: int) -> Iterator[RawRow | RowError]:
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="strict")
    decoder = json.JSONDecoder()
    buffer = ""
    pos = 0
    line = 1
    eof = False

    def fill() -> bool:
        nonlocal buffer, pos, eof
        if eof:
            return False
        chunk = text.read(_JSON_CHUNK)
        if not chunk:
            eof = True
            return False
        buffer = buffer[pos:] + chunk
        pos = 0
        return True

    def skip_space() -> str | None:
        nonlocal pos, line
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                if buffer[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buffer):
                return buffer[pos]
            if not fill():
                return None

    try:
        first = skip_space()
        if first != "[":
            yield RowError(
                line, "a .json file must hold an array of objects; use .jsonl for one object per line", fatal=True
            )
            return
        pos += 1
        expect_item = True
        while True:
            char = skip_space()
            if char is None:
                yield RowError(line, "the file ends before the array is closed with ]", fatal=True)
                return
            if char == "]":
                pos += 1
                if skip_space() is not None:
                    yield RowError(line, "unexpected content after the closing ]", fatal=True)
                return
            if not expect_item:
                if char != ",":
                    yield RowError(line, f"invalid JSON (expected , or ] but found {char!r})", fatal=True)
                    return
                pos += 1
                expect_item = True
                continue
            start_line = line
            while True:
                try:
                    item, end = decoder.raw_decode(buffer, pos)
                    break
                except json.JSONDecodeError as error:
                    # The element may only be cut off by the end of the buffer: read on, up to the limit.
                    if len(buffer) - pos <= max_item_bytes and fill():
                        continue
                    # An error well inside the limit is a real syntax error, whatever follows it.
                    cut_off = error.pos - pos >= max_item_bytes or error.msg.startswith("Unterminated string")
                    if eof or not cut_off:
                        where = start_line + buffer.count("\n", pos, error.pos)
                        yield RowError(where, f"invalid JSON ({error.msg})", fatal=True)
                    else:
                        yield RowError(start_line, f"array element is longer than {max_item_bytes} bytes", fatal=True)
                    return
            # An element that fitted in the buffer is held to the same limit as one that did not.
            if end - pos > max_item_bytes // 4 and len(buffer[pos:end].encode("utf-8")) > max_item_bytes:
                yield RowError(start_line, f"array element is longer than {max_item_bytes} bytes", fatal=True)
                return
            line += buffer.count("\n", pos, end)
            pos = end
            expect_item = False
            if isinstance(item, dict):
                yield RawRow(start_line, item)
            else:
                yield RowError(start_line, f"expected a JSON object, got {_json_type(item)}")
    except UnicodeDecodeError:
        yield RowError(line, "not valid UTF-8; save the file as UTF-8", fatal=True)


def _read_csv(fh: BinaryIO, max_field_bytes: int) -> Iterator[RawRow | RowError]:
    csv.field_size_limit(max_field_bytes)
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text)
    try:
        try:
            header = next(reader)
        except StopIteration:
            return
        names = [name.strip() for name in header]
        if any(not name for name in names):
            yield RowError(1, "the header has an empty column name", fatal=True)
            return
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            yield RowError(1, f"the header repeats the column(s) {', '.join(duplicated)}", fatal=True)
            return
        while True:
            start_line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield RowError(start_line, f"unreadable CSV ({error})")
                continue
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if len(values) != len(names):
                yield RowError(start_line, f"expected {len(names)} fields, got {len(values)}")
                continue
            yield RawRow(start_line, dict(zip(names, values)))
    except UnicodeDecodeError:
        yield RowError(reader.line_num + 1, "not valid UTF-8; save the file as UTF-8", fatal=True)


def _read_parquet(fh: BinaryIO) -> Iterator[RawRow | RowError]:
    import pyarrow.parquet as pq
    from pyarrow.lib import ArrowException

    try:
        parquet = pq.ParquetFile(fh)
    except (ArrowException, OSError) as error:
        yield RowError(1, f"not a readable Parquet file ({error})", fatal=True, unit="row")
        return
    row = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for data in batch.to_pylist():
            row += 1
            yield RawRow(row, data)


def parquet_row_count(path: Path) -> int | None:
    import pyarrow.parquet as pq
    from pyarrow.lib import ArrowException

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (ArrowException, OSError):
        return None  # the reader reports the real error, with its row
