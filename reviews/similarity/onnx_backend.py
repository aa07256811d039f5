"""An ONNX Runtime copy of the packaged sentence-transformers model, for CPU workers.

The transformer is exported from the packaged weights with torch.onnx.export, offline, once
per model and library versions, and cached under DATA_DIR. onnxruntime's transformer
optimiser then fuses attention, LayerNorm and GELU, and the MatMul weights are quantised to
int8 per output channel. Mean pooling and normalisation run in numpy, as the model's pooling
config says. Before a worker uses the int8 model, its vectors are compared with the fp32
model's on a fixed calibration set: below GATE_MIN_MEAN_COSINE the caller falls back to fp32.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnxruntime

logger = logging.getLogger(__name__)

PRECISIONS = ("int8", "fp32")
GATE_MIN_MEAN_COSINE = 0.99
# Bumped whenever the export, fusion or quantisation changes, so old caches are not reused.
RECIPE = "bert-eager-fused-matmul-int8-per-channel-ffn-out-fp32-2"
# Rows per ONNX run. On CPU the work is compute-bound by 32 rows; smaller batches of texts
# sorted by token count pad less than the GPU-sized batches the caller asks for.
MAX_BATCH_ROWS = 32
_LIBRARIES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")


class UnsupportedModel(Exception):
    """The model's modules are not a BERT-style transformer followed by mean pooling."""


@dataclass(frozen=True)
class GateResult:
    mean_cosine: float
    min_cosine: float
    texts: int

    def passes(self, min_mean_cosine: float) -> bool:
        return self.mean_cosine >= min_mean_cosine


@dataclass(frozen=True)
class LoadOutcome:
    """What load_onnx_encoder gives: an encoder, or None and why the caller should use fp32."""

    encoder: OnnxEncoder | None
    message: str


class OnnxEncoder:
    """texts -> L2-normalised float32 vectors, as SentenceTransformer.encode gives them."""

    def __init__(self, model_file: Path, model_dir: Path, *, precision: str, gate: GateResult | None) -> None:
        from transformers import AutoTokenizer

        self.model_file = model_file
        self.precision = precision
        self.gate = gate
        self.max_seq_length = _max_seq_length(model_dir)
        self.dimension = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self._sessions: dict[int, onnxruntime.InferenceSession] = {}
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, batch_size: int | None = None, threads: int | None = None) -> np.ndarray:
        session = self._session(threads or _available_cores())
        input_names = {node.name for node in session.get_inputs()}
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length)
        token_ids: list[list[int]] = encoded["input_ids"]
        type_ids: list[list[int]] = encoded.get("token_type_ids") or [[0] * len(ids) for ids in token_ids]
        vectors = np.empty((len(token_ids), self.dimension), dtype=np.float32)
        rows = min(batch_size or MAX_BATCH_ROWS, MAX_BATCH_ROWS)
        # Longest first, so a batch's padding is only the spread of lengths inside it.
        order = sorted(range(len(token_ids)), key=lambda i: -len(token_ids[i]))
        for start in range(0, len(order), rows):
            batch = order[start : start + rows]
            width = len(token_ids[batch[0]])
            ids = np.zeros((len(batch), width), dtype=np.int64)
            types = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, index in enumerate(batch):
                length = len(token_ids[index])
                ids[row, :length] = token_ids[index]
                types[row, :length] = type_ids[index]
                mask[row, :length] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = session.run(None, {name: value for name, value in feed.items() if name in input_names})[0]
            vectors[batch] = _mean_pool_normalised(hidden, mask)
        return vectors

    def _session(self, threads: int) -> onnxruntime.InferenceSession:
        with self._lock:
            if threads not in self._sessions:
                self._sessions[threads] = _inference_session(self.model_file, threads)
            return self._sessions[threads]


def load_onnx_encoder(
    model_dir: Path, cache_root: Path, *, precision: str = "int8", min_mean_cosine: float | None = None
) -> LoadOutcome:
    """The cached ONNX model for model_dir, exported on first use; None when the int8 model
    fails its quality gate (GATE_MIN_MEAN_COSINE unless given) or the model cannot be
    exported (the message says why)."""
    if min_mean_cosine is None:
        min_mean_cosine = GATE_MIN_MEAN_COSINE
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    try:
        cache_dir = onnx_cache_dir(model_dir, cache_root)
        ensure_onnx_models(model_dir, cache_dir)
    except UnsupportedModel as error:
        return LoadOutcome(None, f"ONNX backend unavailable for {model_dir.name}, using fp32: {error}")
    gate = read_gate(cache_dir)
    if precision == "int8" and not gate.passes(min_mean_cosine):
        return LoadOutcome(
            None,
            f"int8 ONNX model failed its quality gate (mean cosine to fp32 {gate.mean_cosine:.4f} < "
            f"{min_mean_cosine} on {gate.texts} calibration texts): using fp32",
        )
    encoder = OnnxEncoder(cache_dir / f"{precision}.onnx", model_dir, precision=precision, gate=gate)
    return LoadOutcome(
        encoder, f"ONNX {precision} (mean cosine to fp32 {gate.mean_cosine:.4f}, min {gate.min_cosine:.4f})"
    )


def onnx_cache_dir(model_dir: Path, cache_root: Path) -> Path:
    """One folder per model content and library versions: a new wheel or library re-exports."""
    digest = hashlib.sha256(RECIPE.encode())
    for name in _LIBRARIES:
        digest.update(f"{name}=={version(name)}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(model_dir)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return cache_root / f"{model_dir.name}-{digest.hexdigest()[:16]}"


def ensure_onnx_models(model_dir: Path, cache_dir: Path) -> None:
    """fp32.onnx, int8.onnx and gate.json in cache_dir; the gate is written last, so its
    presence means the folder is complete. A file lock keeps two workers from exporting at once."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache_dir / ".lock"):
        if (cache_dir / "gate.json").exists():
            return
        _check_supported(model_dir)
        logger.info("exporting %s to ONNX in %s", model_dir.name, cache_dir)
        exported = cache_dir / "exported.onnx.tmp"
        reference = _export(model_dir, exported)
        _optimise(model_dir, exported, cache_dir / "fp32.onnx")
        exported.unlink()
        _quantise(cache_dir / "fp32.onnx", cache_dir / "int8.onnx")
        int8 = OnnxEncoder(cache_dir / "int8.onnx", model_dir, precision="int8", gate=None)
        gate = gate_measure(int8.encode(list(_calibration_texts())), reference)
        temporary = cache_dir / "gate.json.tmp"
        temporary.write_text(json.dumps(gate.__dict__))
        os.replace(temporary, cache_dir / "gate.json")


def read_gate(cache_dir: Path) -> GateResult:
    return GateResult(**json.loads((cache_dir / "gate.json").read_text()))


def gate_measure(candidate: np.ndarray, reference: np.ndarray) -> GateResult:
    cosines = np.einsum("ij,ij->i", candidate, reference)
    return GateResult(mean_cosine=float(cosines.mean()), min_cosine=float(cosines.min()), texts=len(cosines))


def _calibration_texts() -> tuple[str, ...]:
    from reviews.similarity.onnx_calibration import CALIBRATION_TEXTS

    return CALIBRATION_TEXTS


def _check_supported(model_dir: Path) -> None:
    modules = json.loads((model_dir / "modules.json").read_text())
    kinds = [module["type"].rsplit(".", 1)[-1] for module in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(kind != "Normalize" for kind in kinds[2:]):
        raise UnsupportedModel(f"modules {kinds}, expected Transformer, Pooling[, Normalize]")
    pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
    modes = sorted(key for key, on in pooling.items() if key.startswith("pooling_mode") and on)
    if modes != ["pooling_mode_mean_tokens"]:
        raise UnsupportedModel(f"pooling {modes}, only mean pooling is exported")
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "bert":
        raise UnsupportedModel(f"model_type {config.get('model_type')!r}, the fusions are for bert")


def _export(model_dir: Path, target: Path) -> np.ndarray:
    """Exports the transformer and returns the fp32 model's vectors for the calibration texts."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    reference = model.encode(list(_calibration_texts()), normalize_embeddings=True, convert_to_numpy=True)
    transformer: Any = model[0].auto_model
    transformer.eval()
    # The optimiser's attention fusion matches the eager attention graph, not SDPA's.
    transformer.set_attn_implementation("eager")
    sample = model.tokenizer(["a short text", "a somewhat longer second text"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _last_hidden_state(transformer),
            tuple(sample[name] for name in names),
            str(target),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return np.asarray(reference, dtype=np.float32)


def _last_hidden_state(transformer: Any) -> Any:
    """The transformer wrapped so that the graph's one output is the token embeddings."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            output = self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return output.last_hidden_state

    return LastHiddenState()


def _optimise(model_dir: Path, source: Path, target: Path) -> None:
    from onnxruntime.transformers import optimizer

    config = json.loads((model_dir / "config.json").read_text())
    optimised = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=config["num_attention_heads"],
        hidden_size=config["hidden_size"],
        opt_level=0,
    )
    temporary = target.with_suffix(".tmp")
    optimised.save_model_to_file(str(temporary))
    os.replace(temporary, target)


def _quantise(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    temporary = target.with_suffix(".tmp")
    graph = onnx.load(str(source), load_external_data=False).graph
    # MatMul only, per output channel: int8 on every op (embeddings, attention) cost too much
    # cosine (0.956), and per-tensor scales lost more than per-channel ones. The feed-forward
    # output projection stays fp32: its input is the GELU's, whose long tail one activation
    # scale serves badly; quantised, it alone moved near-duplicate groups from F1 0.99 to 0.97.
    feed_forward_outputs = [node.name for node in graph.node if node.name.endswith("/output/dense/MatMul")]
    feed_forward_outputs = [name for name in feed_forward_outputs if "/attention/" not in name]
    quantize_dynamic(
        str(source),
        str(temporary),
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=feed_forward_outputs,
        per_channel=True,
        weight_type=QuantType.QInt8,
        # The fused ops come from onnxruntime's own domain, which shape inference cannot type.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    os.replace(temporary, target)


def _inference_session(model_file: Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn a core waiting for work; on a shared 2-core machine that core
    # is another process's, and the encode was faster without it.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def _mean_pool_normalised(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _max_seq_length(model_dir: Path) -> int:
    config = json.loads((model_dir / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


def _available_cores() -> int:
    return len(os.sched_getaffinity(0))


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
