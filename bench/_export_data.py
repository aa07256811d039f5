"""The export bench's data: one project of accepted samples, loaded by bulk SQL (INSERT ... SELECT over
generate_series) with real texts from ../shared/data, for bench/export.py."""

from __future__ import annotations

import time
from typing import Any

from _common import SERVER_URL, lineage_create, unique_database_name  # bench/ is on sys.path as the script's folder
from _pages_data import GENERATOR_NAMES, TEMPLATE_VERSIONS, text_pools
from _pages_sql import DRAW_FUNCTION

BENCH_DATABASE = unique_database_name("synthreview_bench_export")
PROJECT_SLUG = "bench-export"
TARGET_MODEL = "bench-target-8b"
REAL_SHARE = 0.20
DEEP_SHARE = 0.15
LABELS = ("math", "open_qa", "rewrite", "classification")
INSERT_CHUNK = 100_000


_INSERT_SAMPLES = f"""
INSERT INTO generation_sample (id, project_id, origin, run_id, generator_id, template_version_id, import_batch_id,
                               input, output, label, metadata, content_hash, split, status, generation_depth,
                               revision, created_at, updated_at)
SELECT r.id, %(project)s, r.origin, r.run_id, r.generator_id, r.template_version_id, NULL,
       r.input, r.output, r.label, r.metadata,
       encode(sha256(convert_to(r.input || chr(31) || r.output, 'UTF8')), 'hex'),
       r.split, 'accepted', r.depth, 1, r.created_at, r.created_at + interval '2 days'
FROM (
    SELECT c.id,
           CASE WHEN c.is_real THEN 'real' ELSE 'synthetic' END AS origin,
           CASE WHEN NOT c.is_real AND c.run < 3 THEN (%(runs)s::bigint[])[c.run + 1] END AS run_id,
           CASE WHEN NOT c.is_real THEN (%(generators)s::bigint[])[c.generator + 1] END AS generator_id,
           CASE WHEN NOT c.is_real
                THEN (%(versions)s::bigint[])[CASE WHEN c.run < 3 THEN c.run ELSE c.version END + 1] END
               AS template_version_id,
           p.input || ' (v' || c.id || ')' AS input,
           p.output,
           CASE WHEN pg_temp.u(c.id, 60) < 0.25
                THEN (%(labels)s::text[])[1 + floor(pg_temp.u(c.id, 61) * {len(LABELS)})::int] END AS label,
           CASE WHEN c.is_real THEN jsonb_build_object('source', 'self-instruct', 'instance', c.id %% 7)
                ELSE jsonb_build_object('temperature', (ARRAY[0.2, 0.7, 1.0])[1 + floor(pg_temp.u(c.id, 15) * 3)::int],
                                        'seed', c.id %% 100000, 'max_tokens', 512)
           END AS metadata,
           CASE WHEN c.is_real AND pg_temp.u(c.id, 10) < 0.5 THEN 'train' ELSE '' END AS split,
           CASE WHEN NOT c.is_real AND pg_temp.u(c.id, 12) < {DEEP_SHARE} THEN 1 ELSE 0 END AS depth,
           %(epoch)s::timestamptz + c.id * interval '20 seconds' AS created_at
    FROM (
        SELECT g AS id,
               pg_temp.u(g, 1) < {REAL_SHARE} AS is_real,
               floor(pg_temp.u(g, 2) * 4)::int AS generator,
               -- 0-2: one of the runs (four in five synthetic samples); 3: imported without a run.
               floor(pg_temp.u(g, 4) * 3.75)::int AS run,
               floor(pg_temp.u(g, 9) * 3)::int AS version
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
    ) c
    JOIN pg_temp.pool p
      ON p.kind = CASE WHEN c.is_real THEN 'r' ELSE 's' END
     AND p.k = floor(pg_temp.u(c.id, 3) * CASE WHEN c.is_real THEN %(real_pool)s ELSE %(synthetic_pool)s END)::int
) r
"""

_SAMPLE_COUNTS = """
INSERT INTO generation_samplecount (project_id, origin, status, count)
SELECT %(project)s, origin, status, count(*) FROM generation_sample WHERE project_id = %(project)s GROUP BY 1, 2, 3
"""


def _project() -> dict[str, Any]:
    from synthreview.projects.models import Phase, Project

    project = Project.objects.create(
        slug=PROJECT_SLUG,
        name="Export benchmark",
        phase=Phase.PROTOTYPE,
        # The recursion gate refuses an export for a model the project has not declared.
        target_models=[{"name": TARGET_MODEL, "derived_from": []}],
    )
    generators, versions, runs = lineage_create(project, GENERATOR_NAMES, TEMPLATE_VERSIONS)
    return {
        "project": project.pk,
        "generators": [g.pk for g in generators],
        "versions": [v.pk for v in versions],
        "runs": [r.pk for r in runs],
    }


def load_samples(rows: int) -> None:
    from datetime import UTC, datetime

    import psycopg
    from django.db import connections

    from generation.hashing import content_hash
    from generation.models import Sample

    started = time.perf_counter()
    params = _project()
    pools = text_pools()
    params.update(
        {
            "labels": list(LABELS),
            "epoch": datetime(2024, 1, 1, tzinfo=UTC),
            "real_pool": len(pools["r"]),
            "synthetic_pool": len(pools["s"]),
        }
    )
    connections.close_all()
    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn:
        conn.execute(DRAW_FUNCTION)
        conn.execute("CREATE TEMP TABLE pool (kind text, k int, input text, output text, PRIMARY KEY (kind, k))")
        with conn.cursor().copy("COPY pg_temp.pool (kind, k, input, output) FROM STDIN") as copy:
            for kind, pairs in pools.items():
                for k, (input_text, output_text) in enumerate(pairs):
                    copy.write_row((kind, k, input_text, output_text))
        conn.execute("ANALYZE pg_temp.pool")
        conn.commit()
        for lo in range(1, rows + 1, INSERT_CHUNK):
            conn.execute(_INSERT_SAMPLES, {**params, "lo": lo, "hi": min(lo + INSERT_CHUNK - 1, rows)})
            conn.commit()
        conn.execute("SELECT setval(pg_get_serial_sequence('generation_sample', 'id'), %s)", (rows,))
        conn.execute(_SAMPLE_COUNTS, params)
        conn.commit()
    inserted = time.perf_counter()
    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE generation_sample")
        conn.execute("CHECKPOINT")
        table_mb = conn.execute("SELECT pg_total_relation_size('generation_sample') / 1048576.0").fetchone()[0]
        mix = conn.execute(
            "SELECT origin, count(*), avg(length(input) + length(output))::int FROM generation_sample "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    print(
        f"load: {rows:,} accepted samples in {time.perf_counter() - started:.1f} s "
        f"(insert {inserted - started:.1f} s, VACUUM ANALYZE and CHECKPOINT {time.perf_counter() - inserted:.1f} s); "
        f"generation_sample {table_mb:,.0f} MiB with its indexes"
    )
    print(
        f"      texts: {len(pools['s']):,} synthetic (GSM8K, Self-Instruct model responses) and {len(pools['r']):,} "
        f"real (Self-Instruct expert instances) from shared/data, each with a numeric variation; "
        + ", ".join(f"{origin} {n:,} ({chars} chars of input+output on average)" for origin, n, chars in mix)
    )
    for sample in Sample.objects.order_by("-id")[:3]:
        if sample.content_hash != content_hash(sample.input, sample.output):
            raise AssertionError(f"sample {sample.pk}: the bulk load's content hash differs from generation.hashing")


# The eval set the export is gated by: real samples drawn from those in no split, frozen, then checked for leaks.
EVAL_MEMBERS = 1000
# Train-side samples given an eval member's vector (cosine 1, a near-duplicate leak), per member.
LEAKS_PER_MEMBER = 5
VECTOR_DIMENSION = 384
VECTOR_CHUNK = 50_000
VECTOR_SEED = 20


def _vectors_load(project_id: int, rows: int, model_name: str, text_kind: str) -> None:
    """A random unit vector per sample (distinct texts lie far apart), written by COPY: the encoder's
    speed is another bench's, and the export only needs every sample to have its vector."""
    from datetime import UTC, datetime

    import numpy as np
    import psycopg

    rng = np.random.default_rng(VECTOR_SEED)
    now = datetime.now(UTC)
    sql = "COPY reviews_sampleembedding (sample_id, project_id, model_name, text_kind, vector, created_at) FROM STDIN"
    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn:
        with conn.cursor().copy(sql) as copy:
            for lo in range(1, rows + 1, VECTOR_CHUNK):
                hi = min(lo + VECTOR_CHUNK - 1, rows)
                vectors = rng.standard_normal((hi - lo + 1, VECTOR_DIMENSION), dtype=np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                for offset, vector in enumerate(vectors.astype("<f4")):
                    copy.write_row((lo + offset, project_id, model_name, text_kind, vector.tobytes(), now))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE reviews_sampleembedding")


def eval_set_freeze(rows: int) -> dict[str, int]:
    """Embed (stand-in vectors), draw and freeze an eval set of real samples, plant near-duplicate leaks of
    its members, and run the leak check as the worker does after a freeze. Returns what the export must
    then hold back."""
    import psycopg
    from django.db import connections

    from reviews.models import EvalLeak, EvalSetMember
    from reviews.services.embeddings import embedding_key
    from reviews.services.eval_leaks import eval_leak_check
    from reviews.services.eval_sets import eval_set_version_create, eval_split_draw
    from synthreview.projects.access import ProjectAccess, SystemActor
    from synthreview.projects.models import EmbeddingText, Project

    started = time.perf_counter()
    project = Project.objects.get(slug=PROJECT_SLUG)
    # The prompt alone is the project's embedded text, so the leak check needs one vector per sample, not two.
    project.embedding_text = EmbeddingText.INPUT
    project.save(update_fields=["embedding_text"])
    model_name, text_kind = embedding_key(project)
    connections.close_all()
    _vectors_load(project.pk, rows, model_name, text_kind)
    embedded = time.perf_counter()
    access = ProjectAccess.for_system(project, SystemActor("bench:export"))
    members = min(EVAL_MEMBERS, rows // 200)
    eval_split_draw(access, count=members, seed=VECTOR_SEED)
    version = eval_set_version_create(access, note="bench: drawn at random from the real samples in no split")
    member_ids = list(
        EvalSetMember.objects.filter(version=version).order_by("sample_id").values_list("sample_id", flat=True)
    )
    planted: set[int] = set()
    connections.close_all()
    with psycopg.connect(f"{SERVER_URL}/{BENCH_DATABASE}") as conn:
        for index, member in enumerate(member_ids):
            targets = [1 + (member * 7919 + copy * 104_729 + index) % rows for copy in range(LEAKS_PER_MEMBER)]
            targets = [t for t in targets if t not in member_ids and t not in planted]
            planted.update(targets)
            conn.execute(
                "UPDATE reviews_sampleembedding e SET vector = m.vector FROM reviews_sampleembedding m "
                "WHERE m.sample_id = %s AND m.text_kind = %s AND e.text_kind = %s AND e.sample_id = ANY(%s)",
                (member, text_kind, text_kind, targets),
            )
        conn.commit()
    planted_at = time.perf_counter()
    check = eval_leak_check(version_id=version.pk, embed_missing=False)
    leaked = set(EvalLeak.objects.filter(version=version).values_list("sample_id", flat=True))
    if not planted <= leaked:
        raise AssertionError(f"the leak check missed {len(planted - leaked):,} of the {len(planted):,} planted leaks")
    if check.checked_through_id != rows:
        raise AssertionError(f"the leak check stopped at sample {check.checked_through_id:,} of {rows:,}")
    print(
        f"eval set: v{version.version}, {members:,} real samples drawn and frozen; {len(planted):,} near-duplicates "
        f"planted, {check.leaks_found:,} leaks found by the check through sample {check.checked_through_id:,} "
        f"(vectors {embedded - started:.1f} s, draw and freeze and plant {planted_at - embedded:.1f} s, "
        f"leak check {time.perf_counter() - planted_at:.1f} s)"
    )
    return {"version": version.pk, "members": members, "leaks": check.leaks_found, "checked_through": rows}
