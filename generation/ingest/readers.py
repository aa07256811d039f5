"""Stream rows out of a file with the line (or row) each one started on.

Readers never hold the whole file: JSONL and CSV go line by line, JSON arrays
are decoded one element at a time, Parquet one bounded record batch at a time
(generation/ingest/parquet.py). No row may exceed IMPORT_MAX_LINE_BYTES. A row
that cannot be read comes out as a RowError carrying its line, so the importer
can report every bad line and still stay all-or-nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from generation.ingest.parquet import read_parquet
from generation.ingest.rows import RawRow, RowError
from generation.ingest.strict_json import JsonRefused, StrictJson, shown
from generation.models import ImportFormat

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_JSON_CHUNK = 1 << 20


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
        yield from read_parquet(fh, max_row_bytes=max_line_bytes)
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
    loads = StrictJson().loads
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
        except JsonRefused as refused:
            yield RowError(line, str(refused))
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
    decoder = StrictJson()
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
                    item, end, problem = decoder.raw_decode(buffer, pos)
                    break
                except JsonRefused as refused:
                    yield RowError(start_line, str(refused), fatal=True)
                    return
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
            if problem is not None:
                yield RowError(start_line, problem)
            elif isinstance(item, dict):
                yield RawRow(start_line, item)
            else:
                yield RowError(start_line, f"expected a JSON object, got {_json_type(item)}")
    except UnicodeDecodeError:
        yield RowError(line, "not valid UTF-8; save the file as UTF-8", fatal=True)


class _CsvRefused(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


# A lone CR ends a line too, as it does for a text file opened with newline="".
_BARE_CR = re.compile(r"(?<=\r)(?!\n)")


class _CsvLines:
    """The file's lines for csv.reader, each decoded on its own, so that a bad byte is
    reported on the line that holds it, and no row (its quoted newlines included) may
    run past the size limit."""

    def __init__(self, fh: BinaryIO, max_row_bytes: int) -> None:
        self.fh = fh
        self.max_row_bytes = max_row_bytes
        self.line = 0
        self.row_bytes = 0
        self._queued: list[str] = []

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        if self._queued:
            self.line += 1
            return self._queued.pop()
        raw = self.fh.readline(self.max_row_bytes + 1)
        if not raw:
            raise StopIteration
        self.line += 1
        self.row_bytes += len(raw)
        if self.row_bytes > self.max_row_bytes:
            raise _CsvRefused(self.line, f"the row is longer than {self.max_row_bytes} bytes")
        if self.line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _CsvRefused(
                self.line, f"not valid UTF-8 (byte {error.start + 1} of the line); save the file as UTF-8"
            ) from None
        # A CR anywhere but in a closing CRLF or as the last character ends a line inside this one.
        if text.find("\r", 0, len(text) - (2 if text.endswith("\r\n") else 1)) != -1:
            pieces = [piece for piece in _BARE_CR.split(text) if piece]
            self._queued = pieces[:0:-1]
            text = pieces[0]
        return text


def _read_csv(fh: BinaryIO, max_row_bytes: int) -> Iterator[RawRow | RowError]:
    # A backstop only: _CsvLines holds a whole row to the limit first.
    csv.field_size_limit(max_row_bytes)
    lines = _CsvLines(fh, max_row_bytes)
    reader = csv.reader(lines)
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
            yield RowError(1, f"the header repeats the column(s) {', '.join(map(shown, duplicated))}", fatal=True)
            return
        while True:
            start_line = lines.line + 1
            lines.row_bytes = 0
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
    except _CsvRefused as refused:
        # Fatal: past a bad line, the reader cannot tell where the next row starts.
        yield RowError(refused.line, refused.reason, fatal=True)


def parquet_row_count(path: Path) -> int | None:
    import pyarrow.parquet as pq
    from pyarrow.lib import ArrowException

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (ArrowException, OSError, ValueError):
        return None  # the reader reports the real error, with its row
