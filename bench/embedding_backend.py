"""The CPU embedding backend: our ONNX int8 encode against a bare fp32 SentenceTransformer.encode.

On real text from ../shared/data (see its README):
- speed: --texts GSM8K problems with their worked solutions (long texts, 41 to 364 tokens,
  the longest cut at the model's 256), split into --rounds chunks. Each chunk is encoded by
  (a) ours, reviews.similarity.embedder.encode with EMBEDDING_BACKEND=onnx-int8, and
  (b) bare, SentenceTransformer.encode with the settings' batch size and normalize_embeddings=True,
  back to back in alternating order (ab, ba, ab, ...), so a load that comes and goes on a
  shared machine falls on both sides alike. Both run on the same CPU threads (2 here).
  Each chunk is one encode call, as the pipeline makes one per block of samples: bare pads a
  call's texts to its longest in batches of --bare-batch-size, ours to the longest of 32 texts
  of similar token length, so part of the ratio is padding saved (--bare-batch-size 32 shows how much).
  ratio = bare seconds / ours seconds over all chunks. The goal is ratio >= 2.5.
- quality: the cosine of each of (a)'s vectors to (b)'s (mean and min), and the near-duplicate
  groups (tight groups of pairs >= 0.90, as the similarity build makes them) of the 2,268
  Self-Instruct answers (8 models' and the experts') with each backend's vectors: F1 over
  the pairs put in one group, (b)'s groups as the truth. Goals: mean cosine >= 0.99, F1 >= 0.98.

The ONNX model is exported into DATA_DIR (default: a temporary folder) and both models are
loaded and warmed up before any clock starts. --quick: 120 texts, 300 answers.
Last line: `RESULT onnx_speedup=R goal=>=2.5 ok|MISS` (MISS too when a quality goal is missed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
from _common import REPO_ROOT, SHARED_DATA  # bench/ is on sys.path as the script's folder

SPEED_GOAL = 2.5
COSINE_GOAL = 0.99
F1_GOAL = 0.98
NEAR_DUPLICATE_THRESHOLD = 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="120 texts and 300 answers, under 60 s")
    parser.add_argument("--texts", type=int, default=1200, help="GSM8K texts timed (default 1200)")
    parser.add_argument("--rounds", type=int, default=10, help="chunks timed in alternating order")
    parser.add_argument("--answers", type=int, default=None, help="Self-Instruct answers grouped (default all)")
    parser.add_argument(
        "--bare-batch-size",
        type=int,
        default=None,
        help="bare encode's batch size (default: the settings', as the pipeline)",
    )
    args = parser.parse_args()
    if args.quick:
        args.texts, args.rounds, args.answers = 120, 4, 300
    if not (SHARED_DATA / "gsm8k").is_dir():
        sys.exit(f"{SHARED_DATA} is missing: this bench needs the real data beside the checkout")

    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    os.environ["EMBEDDING_BACKEND"] = "onnx-int8"
    os.environ["EMBEDDING_DEVICE"] = "cpu"
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench_embedding_backend_"))
    os.environ.setdefault("CELERY_BROKER_URL", "memory://localhost/")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    import torch
    from django.conf import settings

    from reviews.similarity import embedder
    from reviews.similarity.onnx_quality import group_agreement_f1, near_duplicate_groups

    print(f"load average at start: {_load()}")
    started = time.perf_counter()
    print(f"backend: {embedder.backend_description()} (export and gate: {time.perf_counter() - started:.1f} s)")
    bare_model = embedder.load_model(settings.EMBEDDING_MODEL, "cpu")
    batch_size = args.bare_batch_size or settings.EMBEDDING_BATCH_SIZE

    def bare(texts: list[str]) -> np.ndarray:
        return np.asarray(
            bare_model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True),
            dtype=np.float32,
        )

    def ours(texts: list[str]) -> np.ndarray:
        return embedder.encode(texts)

    texts = _gsm8k_texts(args.texts)
    bare(texts[:8])
    ours(texts[:8])
    print(
        f"{len(texts)} GSM8K texts, {args.rounds} rounds, torch threads {torch.get_num_threads()}, batch {batch_size}"
    )
    seconds = {"ours": 0.0, "bare": 0.0}
    vectors: dict[str, list[np.ndarray]] = {"ours": [], "bare": []}
    size = -(-len(texts) // args.rounds)
    for round_number, start in enumerate(range(0, len(texts), size)):
        chunk = texts[start : start + size]
        order = [("ours", ours), ("bare", bare)]
        for name, function in order if round_number % 2 == 0 else order[::-1]:
            clock = time.perf_counter()
            vectors[name].append(function(chunk))
            seconds[name] += time.perf_counter() - clock
    ratio = seconds["bare"] / seconds["ours"]
    cosines = np.einsum("ij,ij->i", np.concatenate(vectors["ours"]), np.concatenate(vectors["bare"]))
    print(
        f"bare fp32 {len(texts) / seconds['bare']:.1f} texts/s, ours {len(texts) / seconds['ours']:.1f} texts/s: "
        f"ratio {ratio:.2f}; load average {_load()}"
    )
    print(f"cosine to fp32: mean {cosines.mean():.5f}, min {cosines.min():.5f} (goal mean >= {COSINE_GOAL})")

    if args.answers == 0:
        print(f"near-duplicate groups skipped (--answers 0); load average at end: {_load()}")
        print(f"RESULT onnx_speedup={ratio:.2f} goal=>={SPEED_GOAL} MISS (quality not measured)")
        return
    answers = _self_instruct_answers(args.answers)
    reference = near_duplicate_groups(bare(answers), NEAR_DUPLICATE_THRESHOLD)
    candidate = near_duplicate_groups(ours(answers), NEAR_DUPLICATE_THRESHOLD)
    f1 = group_agreement_f1(reference, candidate)
    linked = sum(len(group) for group in reference)
    print(
        f"near-duplicate groups of {len(answers)} Self-Instruct answers at {NEAR_DUPLICATE_THRESHOLD}: "
        f"fp32 {len(reference)} groups ({linked} answers), ours {len(candidate)}; pair F1 {f1:.4f} "
        f"(goal >= {F1_GOAL})"
    )
    print(f"load average at end: {_load()}")
    passed = ratio >= SPEED_GOAL and cosines.mean() >= COSINE_GOAL and f1 >= F1_GOAL
    print(f"RESULT onnx_speedup={ratio:.2f} goal=>={SPEED_GOAL} {'ok' if passed else 'MISS'}")


def _gsm8k_texts(count: int) -> list[str]:
    problems = json.loads((SHARED_DATA / "gsm8k" / "gsm8k_train.json").read_text())
    return [f"{problem['instruction']}\n{problem['output']}" for problem in problems[:count]]


def _self_instruct_answers(limit: int | None) -> list[str]:
    folder = SHARED_DATA / "self_instruct_user_oriented"
    answers: list[str] = []
    for line in (folder / "user_oriented_instructions.jsonl").read_text().splitlines():
        answers.extend(instance["output"] for instance in json.loads(line)["instances"][:1])
    for path in sorted((folder / "predictions").glob("*.jsonl")):
        answers.extend(json.loads(line)["response"] for line in path.read_text().splitlines() if line.strip())
    # Round-robin over the sources, so a --quick subset still holds several answers per prompt.
    return answers if limit is None else _interleaved(answers, sources=9)[:limit]


def _interleaved(answers: list[str], *, sources: int) -> list[str]:
    per_source = len(answers) // sources
    return [answers[s * per_source + i] for i in range(per_source) for s in range(sources)]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
