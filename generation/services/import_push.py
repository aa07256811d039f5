"""Imports pushed through the API: the body streamed to disk, then imported at once, all or nothing,
under an idempotency key so a client may retry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction

from generation.ingest.mapping import FieldMapping
from generation.models import ImportBatch, ImportFormat, ImportStatus
from generation.services.imports import import_batch_create, import_batch_run, import_upload_path
from synthreview.projects.access import ProjectAccess

PUSH_FILE_NAME = "api-push.jsonl"
# Read from the request this much at a time: the body is never held in memory whole.
PUSH_CHUNK_BYTES = 64 * 1024


class PushTooLarge(Exception):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The push is larger than the limit of {max_bytes:,} bytes; split it into smaller pushes.")
        self.max_bytes = max_bytes


class ImportKeyConflict(Exception):
    """The push's idempotency key belongs to another push: one with a different body, or one still running."""


@dataclass(frozen=True)
class StoredPush:
    path: Path
    content_sha256: str
    size: int


@dataclass(frozen=True)
class ImportPush:
    batch: ImportBatch
    # The key's first push had imported this same body already; this one imported nothing.
    replayed: bool


def import_push_store(access: ProjectAccess, *, read: Callable[[int], bytes], max_bytes: int) -> StoredPush:
    """Store a pushed body from `read(n)` chunk by chunk, with its digest and size; past `max_bytes`
    the partial file is deleted and PushTooLarge raised."""
    path = import_upload_path(access.project, ImportFormat.JSONL)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "wb") as out:
            while chunk := read(PUSH_CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise PushTooLarge(max_bytes)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredPush(path=path, content_sha256=digest.hexdigest(), size=size)


def import_push(
    access: ProjectAccess,
    *,
    path: Path,
    content_sha256: str,
    idempotency_key: str = "",
    origin: str,
    generator_name: str = "",
    template_name: str = "",
    mapping: FieldMapping | None = None,
) -> ImportPush:
    """Import a pushed JSONL file at once, all or nothing, as the import page's worker would.

    A key names the push, so a client may retry it safely: the key's completed batch answers a retry
    with the same body and imports nothing; a failed batch gives its key up, so the retry runs afresh;
    a different body, or a push of the key still running, is refused with ImportKeyConflict.
    The file is deleted once its import ends, accepted or refused."""
    # A retry must match the first push in its options too: the same rows under another generator
    # are another push.
    options = json.dumps([origin, generator_name, template_name, (mapping or FieldMapping()).as_dict()], sort_keys=True)
    fingerprint = hashlib.sha256(f"{content_sha256}|{options}".encode()).hexdigest()
    try:
        for _ in range(2):
            try:
                # One transaction from the key's claim to the last row: a push whose process dies rolls
                # back whole, its batch and key with it, and a concurrent push of the same key waits on
                # the key's unique index, then finds the finished batch and replays it.
                with transaction.atomic():
                    if idempotency_key:
                        earlier = _push_key_claim(access, idempotency_key, fingerprint)
                        if earlier is not None:
                            return ImportPush(batch=earlier, replayed=True)
                    batch = import_batch_create(
                        access,
                        path=path,
                        file_name=PUSH_FILE_NAME,
                        fmt=ImportFormat.JSONL,
                        origin=origin,
                        generator_name=generator_name,
                        template_name=template_name,
                        mapping=mapping,
                        idempotency_key=idempotency_key,
                        content_sha256=fingerprint,
                    )
                    return ImportPush(batch=import_batch_run(batch_id=batch.pk), replayed=False)
            except IntegrityError:
                continue  # another push took the key meanwhile: claim again, to replay or refuse
        raise ImportKeyConflict(_KEY_BUSY)
    finally:
        path.unlink(missing_ok=True)


_KEY_BUSY = "A push with this Idempotency-Key is still being imported; retry once it has ended."


def _push_key_claim(access: ProjectAccess, key: str, content_sha256: str) -> ImportBatch | None:
    """The key's completed batch for the same push, or None when the key is free (a failed batch frees it).
    Called inside the push's transaction, so a push holding the key is never seen half done."""
    with transaction.atomic():
        earlier = ImportBatch.objects.select_for_update().filter(project=access.project, idempotency_key=key).first()
        if earlier is None:
            return None
        if earlier.status != ImportStatus.COMPLETED:
            # Refused (nothing imported) or left queued by an import that never ended: the key is free again.
            earlier.idempotency_key = ""
            earlier.save(update_fields=["idempotency_key"])
            return None
        if earlier.content_sha256 != content_sha256:
            raise ImportKeyConflict(
                f"This Idempotency-Key was used for a different push (import {earlier.pk}): another body or "
                "other options. Use a new key for a new push."
            )
        return earlier
