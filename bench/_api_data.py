"""The API bench's data, for bench/api.py: a JSONL file of a pipeline's output for the push, and a project
of listed samples loaded by bulk SQL. Texts are the real ones from ../shared/data (GSM8K problems and the
Self-Instruct models' responses, as bench/pages.py reads them), never copied into the project; each row's
question carries its number, so every content hash is unique."""

from __future__ import annotations

import json
import time
from pathlib import Path

from _pages_data import text_pools  # bench/ is on sys.path as the script's folder

# The pipeline's models, one a row in turn: the push maps its `model` column to each sample's generator.
GENERATOR_NAMES = ("llama-3.1-70b-instruct", "mixtral-8x22b", "gpt-4o-mini-2024-07-18", "qwen2.5-72b-instruct")
# The push's columns → the import's fields, as `import_samples --map` and the client's mapping say it.
MAPPING = {"input": "question", "output": "answer", "generator": "model"}
INSERT_CHUNK = 100_000

INSERT_SAMPLES = """
INSERT INTO generation_sample (project_id, origin, run_id, generator_id, template_version_id, import_batch_id,
                               input, output, label, metadata, content_hash, split, status, generation_depth,
                               revision, created_at, updated_at)
SELECT %(project)s, 'synthetic', NULL, (%(generators)s::bigint[])[1 + g %% %(generator_count)s], NULL, NULL,
       s.input, s.output, NULL, jsonb_build_object('source', 'bench-api', 'row', g),
       encode(sha256(convert_to(s.input || chr(31) || s.output, 'UTF8')), 'hex'),
       '', 'pending', 0, 0, now(), now()
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
CROSS JOIN LATERAL (
    SELECT p.input || ' (#' || g || ')' AS input, p.output FROM pg_temp.pool p WHERE p.k = g %% %(pool)s
) s
"""


def pipeline_rows(count: int) -> list[dict[str, str]]:
    """What a generation pipeline writes: a question, the model's answer and the model's name."""
    pool = text_pools()["s"]
    return [
        {
            "question": f"{pool[i % len(pool)][0]} (#{i})",
            "answer": pool[i % len(pool)][1],
            "model": GENERATOR_NAMES[i % len(GENERATOR_NAMES)],
            "pipeline_step": "draft",
        }
        for i in range(count)
    ]


def write_pipeline_file(path: Path, count: int) -> int:
    """The push's input as a JSONL file, the CLI's input too; returns its size in bytes."""
    with open(path, "w", encoding="utf-8") as out:
        for row in pipeline_rows(count):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path.stat().st_size


def load_listed_samples(database_url: str, *, project_id: int, generator_ids: list[int], count: int) -> float:
    """`count` synthetic samples in the project by INSERT ... SELECT (no import, no audit log: only what the
    sample list reads), its counters, then VACUUM ANALYZE; returns seconds."""
    import psycopg

    pool = text_pools()["s"]
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE pool (k int PRIMARY KEY, input text, output text)")
        with conn.cursor().copy("COPY pg_temp.pool (k, input, output) FROM STDIN") as copy:
            for k, (input_text, output_text) in enumerate(pool):
                copy.write_row((k, input_text, output_text))
        conn.execute("ANALYZE pg_temp.pool")
        params = {"project": project_id, "generators": generator_ids, "generator_count": len(generator_ids)}
        for lo in range(1, count + 1, INSERT_CHUNK):
            conn.execute(
                INSERT_SAMPLES, {**params, "lo": lo, "hi": min(lo + INSERT_CHUNK - 1, count), "pool": len(pool)}
            )
            conn.commit()
    from synthreview.projects.services.counters import sample_count_add

    sample_count_add(project_id=project_id, origin="synthetic", status="pending", delta=count)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE generation_sample")
    return time.perf_counter() - started
