"""Read a Parquet file one bounded record batch at a time, refusing by row what cannot be read.

A Parquet file is compressed, so its size on disk says nothing about what it holds:
a 4 KB file can hold a 100 MB cell, and a dictionary page can hold one large value
that every row repeats. Each row group is therefore checked from the footer before
it is read, read in batches sized from those figures, and each batch's rows are
held to the row limit before any of them becomes Python objects. Any error pyarrow
raises on a damaged file becomes a refusal naming the row group.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from generation.ingest.rows import RawRow, RowError
from generation.ingest.strict_json import MAX_DEPTH, shown

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

MAX_BATCH_ROWS = 1024
# A batch may hold what this many rows at the limit would: small enough to bound
# memory, large enough that the per-batch cost of pyarrow stays small.
BATCH_BUDGET_ROWS = 16
# Column chunks are read through a buffer of this size rather than whole.
READ_BUFFER_BYTES = 1 << 20
# An error from pyarrow quoted in a refusal is cut to this many characters.
ERROR_CHARS = 200


def _brief(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= ERROR_CHARS else f"{text[: ERROR_CHARS - 3]}..."


def read_parquet(fh: BinaryIO, *, max_row_bytes: int) -> Iterator[RawRow | RowError]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(fh, buffer_size=READ_BUFFER_BYTES)
        metadata = parquet.metadata
        schema = parquet.schema_arrow
    except Exception as error:  # pyarrow raises OSError, ArrowInvalid, ValueError... on a damaged footer
        yield RowError(1, f"not a readable Parquet file ({_brief(error)})", fatal=True, unit="row")
        return
    problem = _schema_problem(schema)
    if problem:
        yield RowError(1, problem, fatal=True, unit="row")
        return
    first_row = 1
    groups = metadata.num_row_groups
    for index in range(groups):
        rows = metadata.row_group(index).num_rows
        group = f"row group {index + 1} of {groups}"
        if rows > 0:
            yield from _read_row_group(parquet, fh, index, first_row, group, max_row_bytes)
        first_row += rows


def _read_row_group(
    parquet: pq.ParquetFile, fh: BinaryIO, index: int, first_row: int, name: str, max_row_bytes: int
) -> Iterator[RawRow | RowError]:
    group = parquet.metadata.row_group(index)
    rows = group.num_rows
    where = f"{name} (rows {first_row}-{first_row + rows - 1})"
    size = group.total_byte_size  # uncompressed, as the footer says
    if size > rows * max_row_bytes:
        yield RowError(
            first_row,
            f"{where} holds {size:,} bytes uncompressed, more than its {rows:,} row(s) may hold "
            f"at {max_row_bytes:,} bytes a row",
            unit="row",
        )
        return
    # Each row may repeat the largest value of each dictionary page: bound the batch by those too.
    per_row = max(1, size // rows)
    dictionaries = 0
    for column in range(group.num_columns):
        chunk = group.column(column)
        if not chunk.has_dictionary_page:
            continue
        dictionary = _page_size(fh, chunk.dictionary_page_offset)
        if dictionary is None:
            dictionary = chunk.total_uncompressed_size
        if dictionary > max_row_bytes:
            yield RowError(
                first_row,
                f"{where}: column {shown(chunk.path_in_schema)} has a dictionary of {dictionary:,} bytes, "
                f"more than the limit of {max_row_bytes:,} bytes a row",
                unit="row",
            )
            return
        dictionaries += dictionary
    batch_rows = max(1, min(MAX_BATCH_ROWS, BATCH_BUDGET_ROWS * max_row_bytes // max(per_row, dictionaries)))
    row = first_row
    batches = parquet.iter_batches(batch_size=batch_rows, row_groups=[index], use_threads=False)
    while True:
        try:
            batch = next(batches, None)
        except Exception as error:  # a damaged page: pyarrow's OSError, ArrowInvalid, ArrowNotImplementedError...
            yield RowError(row, f"{where} cannot be read ({_brief(error)})", unit="row")
            return
        if batch is None:
            return
        yield from _batch_rows(batch, row, name, max_row_bytes)
        row += batch.num_rows


def _batch_rows(batch: pa.RecordBatch, first_row: int, group: str, max_row_bytes: int) -> Iterator[RawRow | RowError]:
    if batch.nbytes <= max_row_bytes:
        try:
            converted = batch.to_pylist()
        except Exception:  # some row cannot become Python values: find it, one row at a time
            pass
        else:
            for offset, data in enumerate(converted):
                yield RawRow(first_row + offset, data)
            return
    names = batch.schema.names
    for offset in range(batch.num_rows):
        row = first_row + offset
        one = batch.slice(offset, 1)
        if one.nbytes > max_row_bytes:
            biggest = max(range(len(names)), key=lambda column: one.column(column).nbytes)
            yield RowError(
                row,
                f"the row holds {one.nbytes:,} bytes, more than the limit of {max_row_bytes:,} "
                f"(column {shown(names[biggest])} holds {one.column(biggest).nbytes:,}; {group})",
                unit="row",
            )
            continue
        try:
            data = one.to_pylist()[0]
        except Exception as error:  # a value Python cannot hold, such as a date past year 9999
            yield RowError(row, f"a value cannot be read ({_brief(error)}; {group})", unit="row")
            continue
        yield RawRow(row, data)


def _schema_problem(schema: pa.Schema) -> str | None:
    import pyarrow as pa

    names = schema.names
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        return f"the file repeats the column(s) {', '.join(map(shown, repeated))}"
    stack: list[tuple[str, pa.DataType, int]] = [(field.name, field.type, 1) for field in schema]
    while stack:
        name, kind, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"column {shown(name)} is nested more than {MAX_DEPTH} levels deep"
        if isinstance(kind, pa.StructType):
            fields = [kind.field(i) for i in range(kind.num_fields)]
            inner = [field.name for field in fields]
            twice = sorted({field for field in inner if inner.count(field) > 1})
            if twice:
                return f"column {shown(name)} repeats the field(s) {', '.join(map(shown, twice))}"
            stack.extend((name, field.type, depth + 1) for field in fields)
        elif isinstance(kind, (pa.ListType, pa.LargeListType, pa.FixedSizeListType, pa.ListViewType)):
            stack.append((name, kind.value_type, depth + 1))
        elif isinstance(kind, pa.MapType):
            stack.append((name, kind.key_type, depth + 1))
            stack.append((name, kind.item_type, depth + 1))
    return None


def _page_size(fh: BinaryIO, offset: int | None) -> int | None:
    """The uncompressed size in a page's header: field 2 of a Thrift compact-protocol
    PageHeader (parquet.thrift), after field 1, the page type. None if it cannot be read."""
    if offset is None or offset < 0:
        return None
    try:
        fh.seek(offset)
        head = fh.read(24)
    except (OSError, ValueError):
        return None
    pos = 0
    field = 0

    def varint() -> int | None:
        nonlocal pos
        value = shift = 0
        while pos < len(head) and shift < 64:
            byte = head[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (value >> 1) ^ -(value & 1)  # zigzag
            shift += 7
        return None

    while pos < len(head):
        header = head[pos]
        pos += 1
        delta, kind = header >> 4, header & 0x0F
        if not delta or kind != 5:  # only short-form i32 fields come first in a PageHeader
            return None
        field += delta
        value = varint()
        if value is None:
            return None
        if field == 2:
            return value if value >= 0 else None
    return None
