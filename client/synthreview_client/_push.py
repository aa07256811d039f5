"""A push cut into JSONL batches, each with an Idempotency-Key the same records always get again,
and the server's line numbers turned back into the caller's record indexes."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from synthreview_client.errors import ErrorDetail, SynthreviewError

# Bumped if the way a key is derived ever changes, so old and new keys never collide.
KEY_SCHEME = "sr1"


@dataclass(frozen=True)
class Batch:
    index: int
    first_index: int
    records: int
    body: bytes


def encode_record(record: Any, index: int) -> bytes:
    """One record as one JSONL line. Unpaired surrogates cannot be sent as UTF-8, so such a
    record goes escaped and the server names it (with its line) like any other bad value."""
    if not isinstance(record, Mapping):
        raise TypeError(f"record {index} is a {type(record).__name__}, not a mapping of field to value")
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_plain)
    except TypeError as error:
        raise TypeError(f"record {index}: {error}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=_plain).encode("ascii")


def _plain(value: Any) -> Any:
    """Values that pipelines hold and JSON lacks: numpy scalars and arrays, dates, decimals."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def batches(records: Iterable[Any], batch_size: int) -> Iterator[Batch]:
    """The records in order, `batch_size` to a batch, each encoded once."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    lines: list[bytes] = []
    index = first = 0
    for position, record in enumerate(records):
        lines.append(encode_record(record, position))
        if len(lines) == batch_size:
            yield Batch(index, first, len(lines), b"\n".join(lines) + b"\n")
            index, first, lines = index + 1, position + 1, []
    if lines:
        yield Batch(index, first, len(lines), b"\n".join(lines) + b"\n")


def batch_key(slug: str, batch: Batch, params: list[tuple[str, str]], given: str | None) -> str:
    """The Idempotency-Key of one batch. Derived from the project, the batch's place in the push,
    what the batch says about its records (origin, generator, template, mapping: the same bytes
    under another generator are another import) and a sha256 of its bytes, so a retried or rerun
    push presents the same keys and the server replays instead of adding. A caller's own key
    gets the batch index appended: one key per batch."""
    if given:
        return f"{given}-{batch.index}"
    digest = hashlib.sha256()
    for part in (KEY_SCHEME, slug, str(batch.index), json.dumps(sorted(params))):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    digest.update(hashlib.sha256(batch.body).digest())
    return f"{KEY_SCHEME}-{digest.hexdigest()}"


def records_named(error: SynthreviewError, batch: Batch) -> list[ErrorDetail]:
    """The server's problems with the caller's record index beside each line it names (line n of
    the batch body is record first_index + n - 1)."""
    named = []
    for detail in error.errors or [ErrorDetail(error.message, error.field, error.line)]:
        index = None
        if detail.line is not None and 1 <= detail.line <= batch.records:
            index = batch.first_index + detail.line - 1
        named.append(ErrorDetail(detail.message, detail.field, detail.line, index))
    return named
