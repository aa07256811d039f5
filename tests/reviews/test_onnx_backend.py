"""The ONNX Runtime embedding backend against the packaged fp32 model, on real texts.

The export runs once per test session (a module-scoped cache folder): about 15 s on two
quiet cores. Texts come from ../shared/data: GSM8K worked solutions (long) and the
Self-Instruct answers of 8 models and the experts (several near-duplicates per prompt)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from reviews.similarity import embedder, onnx_backend
from reviews.similarity.onnx_quality import group_agreement_f1, near_duplicate_groups
from tests.conftest import SHARED_DATA

MODEL_DIR = Path(embedder.model_path(embedder.DEFAULT_MODEL))

needs_data = pytest.mark.skipif(not (SHARED_DATA / "gsm8k").is_dir(), reason="../shared/data is absent")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DATA_DIR whose onnx/ folder holds one export for the whole module."""
    root = tmp_path_factory.mktemp("onnx_data")
    outcome = onnx_backend.load_onnx_encoder(MODEL_DIR, root / "onnx")
    assert outcome.encoder is not None, outcome.message
    return root


@pytest.fixture
def onnx_settings(settings, data_dir: Path):
    settings.DATA_DIR = data_dir
    settings.EMBEDDING_DEVICE = "cpu"
    embedder.load_onnx.cache_clear()
    yield settings
    embedder.load_onnx.cache_clear()


def fp32(texts: list[str]) -> np.ndarray:
    model = embedder.load_model(embedder.DEFAULT_MODEL, "cpu")
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def gsm8k_texts(count: int) -> list[str]:
    problems = json.loads((SHARED_DATA / "gsm8k" / "gsm8k_train.json").read_text())
    return [f"{problem['instruction']}\n{problem['output']}" for problem in problems[:count]]


def self_instruct_answers(prompts: int) -> list[str]:
    """The experts' and 7 instruction-following models' answers to the first prompts (raw
    davinci's rambling answers left out: they are long and rarely near anything)."""
    folder = SHARED_DATA / "self_instruct_user_oriented"
    lines = (folder / "user_oriented_instructions.jsonl").read_text().splitlines()[:prompts]
    answers = [json.loads(line)["instances"][0]["output"] for line in lines]
    for path in sorted((folder / "predictions").glob("*.jsonl")):
        if path.stem == "davinci":
            continue
        rows = path.read_text().splitlines()[:prompts]
        answers.extend(json.loads(row)["response"] for row in rows)
    return answers


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


@needs_data
def test_int8_vectors_stay_within_cosine_099_of_fp32_on_real_texts(data_dir: Path) -> None:
    texts = gsm8k_texts(40) + self_instruct_answers(6)
    encoder = onnx_backend.load_onnx_encoder(MODEL_DIR, data_dir / "onnx").encoder
    assert encoder is not None
    vectors = encoder.encode(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = cosines(vectors, fp32(texts))
    assert similarity.mean() >= 0.99
    assert similarity.min() >= 0.97


@needs_data
def test_fp32_onnx_model_reproduces_the_torch_vectors(data_dir: Path) -> None:
    # Same tokenisation, truncation at 256 tokens and mean pooling as sentence-transformers.
    texts = gsm8k_texts(8) + ["", "apples", "x " * 400]
    encoder = onnx_backend.load_onnx_encoder(MODEL_DIR, data_dir / "onnx", precision="fp32").encoder
    assert encoder is not None
    assert cosines(encoder.encode(texts), fp32(texts)).min() >= 0.9999


@needs_data
def test_near_duplicate_groups_agree_with_fp32_at_f1_098(data_dir: Path) -> None:
    answers = self_instruct_answers(24)
    encoder = onnx_backend.load_onnx_encoder(MODEL_DIR, data_dir / "onnx").encoder
    assert encoder is not None
    reference = near_duplicate_groups(fp32(answers), 0.90)
    assert len(reference) >= 5, "too few groups for the comparison to mean anything"
    assert group_agreement_f1(reference, near_duplicate_groups(encoder.encode(answers), 0.90)) >= 0.98


def test_second_load_reuses_the_cached_export(data_dir: Path) -> None:
    cache_dir = onnx_backend.onnx_cache_dir(MODEL_DIR, data_dir / "onnx")
    files = [cache_dir / name for name in ("fp32.onnx", "int8.onnx", "gate.json")]
    before = [path.stat().st_mtime_ns for path in files]
    outcome = onnx_backend.load_onnx_encoder(MODEL_DIR, data_dir / "onnx")
    assert outcome.encoder is not None
    assert [path.stat().st_mtime_ns for path in files] == before
    assert sorted(path.name for path in (data_dir / "onnx").iterdir()) == [cache_dir.name]


def test_cache_key_changes_with_the_model_files(tmp_path: Path) -> None:
    model_copy = tmp_path / MODEL_DIR.name
    model_copy.mkdir()
    for name in ("config.json", "modules.json"):
        (model_copy / name).write_text((MODEL_DIR / name).read_text())
    first = onnx_backend.onnx_cache_dir(model_copy, tmp_path)
    (model_copy / "config.json").write_text((MODEL_DIR / "config.json").read_text() + "\n")
    assert onnx_backend.onnx_cache_dir(model_copy, tmp_path) != first


def test_failed_gate_returns_no_encoder_and_says_why(data_dir: Path) -> None:
    outcome = onnx_backend.load_onnx_encoder(MODEL_DIR, data_dir / "onnx", min_mean_cosine=1.01)
    assert outcome.encoder is None
    assert "failed its quality gate" in outcome.message and "using fp32" in outcome.message


def test_failed_gate_makes_encode_fall_back_to_fp32_with_a_warning(onnx_settings, monkeypatch, caplog) -> None:
    onnx_settings.EMBEDDING_BACKEND = "onnx-int8"
    monkeypatch.setattr(onnx_backend, "GATE_MIN_MEAN_COSINE", 1.01)
    texts = ["Maria buys 3 notebooks at $4 each.", "The capital of Australia is Canberra."]
    with caplog.at_level(logging.WARNING, logger="reviews.similarity.embedder"):
        vectors = embedder.encode(texts)
    np.testing.assert_allclose(vectors, fp32(texts), atol=1e-5)
    assert any("failed its quality gate" in record.getMessage() for record in caplog.records)
    assert embedder.backend_description().startswith("torch fp32 on cpu (int8 ONNX model failed its quality gate")


def test_backend_setting_picks_onnx_int8_or_torch(onnx_settings) -> None:
    texts = ["A train leaves at 9:15 at 80 km/h; a second leaves at 10:00 at 100 km/h.", "Write a haiku."]
    encoder = onnx_backend.load_onnx_encoder(MODEL_DIR, onnx_settings.DATA_DIR / "onnx").encoder
    assert encoder is not None
    onnx_settings.EMBEDDING_BACKEND = "onnx-int8"
    np.testing.assert_array_equal(embedder.encode(texts), encoder.encode(texts))
    assert embedder.backend_description().startswith("ONNX int8")
    onnx_settings.EMBEDDING_BACKEND = "torch"
    torch_vectors = embedder.encode(texts)
    np.testing.assert_allclose(torch_vectors, fp32(texts), atol=1e-6)
    assert not np.allclose(torch_vectors, encoder.encode(texts), atol=1e-6)
    assert embedder.backend_description() == "torch fp32 on cpu"


def test_group_agreement_f1_counts_pairs_put_in_one_group() -> None:
    assert group_agreement_f1([[1, 2, 3]], [[3, 2, 1]]) == 1.0
    assert group_agreement_f1([], []) == 1.0
    assert group_agreement_f1([[1, 2]], [[3, 4]]) == 0.0
    # Three pairs against one, one shared: 2 * 1 / (3 + 1).
    assert group_agreement_f1([[1, 2, 3]], [[1, 2]]) == 0.5


def test_near_duplicate_groups_link_vectors_above_the_threshold() -> None:
    vectors = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert near_duplicate_groups(vectors, 0.95) == [[0, 1]]
    assert near_duplicate_groups(vectors, 0.999) == []
