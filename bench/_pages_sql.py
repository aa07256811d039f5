"""The pages bench's bulk SQL: INSERT ... SELECT over generate_series, for each table the pages read, and the
shares of the recipe it follows (see bench/pages.py for what the project holds and why). bench/_pages_data.py
runs it."""

from __future__ import annotations

REVIEWERS = ("lead", "expert-a", "expert-b")
# Names the automated checks register (generation.checks), so the browser's flag filter offers them.
CHECK_NAMES = ("math-answer", "json", "length-outlier", "refusal")
CHECK_REASONS = (
    "The final number does not match the reference answer.",
    "The output is not valid JSON for the template's schema.",
    "The output is longer than the template allows.",
    "The output refuses the task.",
)
ERROR_CATEGORIES = ("wrong_label", "hallucination", "incomplete", "off_topic", "unsafe", "duplicate", "other")

REAL_SHARE = 0.10
# Samples come in blocks of 8 ids; a block is a near-duplicate group with this
# probability, of 2-6 members (4 on average), so groups cover ~2% of samples.
GROUP_BLOCK = 8
GROUP_BLOCK_SHARE = 0.04
FLAG_SHARE = 0.02
UNSURE_SHARE = 0.01
LOW_NOVELTY_CLUSTER_SHARE = 0.06
# Of the groups: decided "not duplicates", and resolved (keeper kept, the rest rejected).
NOT_DUPLICATES_SHARE = 0.15
RESOLVED_SHARE = 0.15
NEIGHBOURS = 10


# u(id, salt): a deterministic uniform draw in [0, 1) per id and purpose, so every
# table can recompute what the sample table decided (its origin, its group) without
# reading it back. hashint8 is PostgreSQL's own integer hash.
DRAW_FUNCTION = """
CREATE FUNCTION pg_temp.u(bigint, integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8($1 * 8191 + $2) & 2147483647)::double precision / 2147483648.0 $$
"""

# The first id of a sample's block, and whether the sample belongs to the block's group.
# (%% is psycopg's escape for %: these run with parameters.)
_REP = f"(g - (g - 1) %% {GROUP_BLOCK})"
_GROUPED = (
    f"(pg_temp.u({_REP}, 7) < {GROUP_BLOCK_SHARE} AND (g - 1) %% {GROUP_BLOCK} < 2 + floor(pg_temp.u({_REP}, 8) * 5))"
)

INSERT_SAMPLES = f"""
INSERT INTO generation_sample (id, project_id, origin, run_id, generator_id, template_version_id, import_batch_id,
                               input, output, label, metadata, content_hash, split, status, generation_depth,
                               revision, created_at, updated_at)
SELECT r.id, %(project)s, r.origin, r.run_id, r.generator_id, r.template_version_id, NULL,
       r.input, r.output, NULL, r.metadata,
       encode(sha256(convert_to(r.input || chr(31) || r.output, 'UTF8')), 'hex'),
       r.split, r.status, 0, CASE WHEN r.status <> 'pending' OR r.unsure THEN 1 ELSE 0 END,
       r.created_at, r.created_at
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
           CASE WHEN c.is_real THEN '{{}}'::jsonb
                ELSE jsonb_build_object('temperature', (ARRAY[0.2, 0.7, 1.0])[1 + floor(pg_temp.u(c.id, 15) * 3)::int])
           END AS metadata,
           CASE WHEN NOT c.is_real THEN ''
                WHEN pg_temp.u(c.id, 10) < 0.2 THEN 'eval' WHEN pg_temp.u(c.id, 10) < 0.5 THEN 'train' ELSE '' END
               AS split,
           CASE WHEN c.is_real THEN CASE WHEN c.draw < 0.5 THEN 'accepted' ELSE 'pending' END
                WHEN c.draw < 0.12 THEN 'accepted' WHEN c.draw < 0.18 THEN 'rejected' ELSE 'pending' END AS status,
           NOT c.is_real AND c.draw >= 0.18 AND pg_temp.u(c.id, 12) < {UNSURE_SHARE} AS unsure,
           %(epoch)s::timestamptz + c.id * interval '20 seconds' AS created_at,
           c.is_real, c.text_of
    FROM (
        SELECT b.id,
               NOT b.grouped AND pg_temp.u(b.id, 1) < {REAL_SHARE} AS is_real,
               floor(pg_temp.u(b.id, 2) * 4)::int AS generator,
               -- 0-2: one of the runs (four in five samples); 3: imported without a run.
               floor(pg_temp.u(b.id, 4) * 3.75)::int AS run,
               floor(pg_temp.u(b.id, 9) * 3)::int AS version,
               pg_temp.u(b.id, 6) AS draw,
               -- A group's members share their text, up to the variation: near-duplicates.
               CASE WHEN b.grouped THEN b.rep ELSE b.id END AS text_of
        FROM (SELECT g AS id, {_REP} AS rep, {_GROUPED} AS grouped
              FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g) b
    ) c
    JOIN pg_temp.pool p
      ON p.kind = CASE WHEN c.is_real THEN 'r' ELSE 's' END
     AND p.k = floor(pg_temp.u(c.text_of, 3) * CASE WHEN c.is_real THEN %(real_pool)s ELSE %(synthetic_pool)s END)::int
) r
"""

INSERT_VERDICTS = f"""
INSERT INTO reviews_verdict (sample_id, reviewer_id, audit_id, value, error_category, note, time_spent_ms,
                             previous_status, previous_value, previous_error_category, sample_revision,
                             created_at, updated_at)
SELECT s.id,
       CASE WHEN s.status = 'pending' THEN %(lead)s
            ELSE (%(reviewers)s::bigint[])[1 + floor(pg_temp.u(s.id, 11) * {len(REVIEWERS)})::int] END,
       NULL,
       CASE s.status WHEN 'accepted' THEN 'correct' WHEN 'rejected' THEN 'wrong' ELSE 'unsure' END,
       CASE WHEN s.status = 'rejected'
            THEN (%(categories)s::text[])[1 + floor(pg_temp.u(s.id, 16) * {len(ERROR_CATEGORIES)})::int] ELSE '' END,
       '', 3000 + floor(pg_temp.u(s.id, 17) * 40000)::int, 'pending', '', '', 1,
       s.created_at + interval '2 days', s.created_at + interval '2 days'
FROM generation_sample s
WHERE s.project_id = %(project)s AND s.id BETWEEN %(lo)s AND %(hi)s AND s.revision = 1
"""

INSERT_VERDICT_LOG = """
INSERT INTO reviews_auditlog (project_id, actor_id, action, object_type, object_id, details, created_at)
SELECT %(project)s, v.reviewer_id, 'verdict.record', 'generation.sample', v.sample_id::text,
       jsonb_build_object('value', v.value, 'error_category', v.error_category,
                          'status', jsonb_build_object('from', 'pending', 'to', s.status)),
       v.created_at
FROM reviews_verdict v JOIN generation_sample s ON s.id = v.sample_id
WHERE s.project_id = %(project)s AND s.id BETWEEN %(lo)s AND %(hi)s
ORDER BY v.created_at, v.sample_id
"""

INSERT_FLAGS = f"""
INSERT INTO generation_sampleflag (sample_id, project_id, check_name, reason, created_at)
SELECT s.id, %(project)s, (%(checks)s::text[])[k], (%(reasons)s::text[])[k], s.created_at + interval '1 hour'
FROM (SELECT id, created_at, 1 + floor(pg_temp.u(id, 14) * {len(CHECK_NAMES)})::int AS k
      FROM generation_sample
      WHERE project_id = %(project)s AND id BETWEEN %(lo)s AND %(hi)s AND origin = 'synthetic'
        AND pg_temp.u(id, 13) < {FLAG_SHARE}) s
"""

ENSURE_CLUSTERS = f"""
INSERT INTO reviews_cluster (project_id, number, size, density, synthetic_share, real_anchor_distance, label,
                             generator_mix, template_mix, is_low_novelty, low_novelty_reason, status, built_at,
                             membership)
SELECT %(project)s, n, 0, round((0.55 + 0.4 * pg_temp.u(n, 40))::numeric, 4), 0,
       round((0.1 + 0.6 * pg_temp.u(n, 41))::numeric, 4), '', '{{}}', '{{}}',
       pg_temp.u(n, 42) < {LOW_NOVELTY_CLUSTER_SHARE}, '', 'open', now(), ''
FROM generate_series(0, %(clusters)s - 1) n
ON CONFLICT (project_id, number) DO NOTHING
"""

_CLUSTER_NUMBER = "floor(%(clusters)s * power(pg_temp.u({id}, 5), 1.5))::int"


def _neighbours_json() -> str:
    """A JSON text [[id, cosine], ...]: a group's member first lists a fellow member,
    the rest are spread over the whole project; cosines fall from the top one."""
    entries = []
    for i in range(NEIGHBOURS):
        if i == 0:
            neighbour = (
                "CASE WHEN b.grouped THEN CASE WHEN b.id = b.rep THEN b.rep + 1 ELSE b.rep END "
                "ELSE 1 + (b.id + floor(pg_temp.u(b.id, 20) * (%(total)s - 1))::bigint) %% %(total)s END"
            )
        else:
            neighbour = f"1 + (b.id + floor(pg_temp.u(b.id, {20 + i}) * (%(total)s - 1))::bigint) %% %(total)s"
        cosine = f"round((b.top - {0.012 * i:.3f} - 0.008 * pg_temp.u(b.id, {50 + i}))::numeric, 5)"
        entries.append(f"'[' || ({neighbour}) || ', ' || {cosine} || ']'")
    return "'[' || " + " || ', ' || ".join(entries) + " || ']'"


INSERT_SIMILARITY = f"""
INSERT INTO reviews_samplesimilarity (sample_id, project_id, neighbours, top_similarity, novelty, nearest_real_id,
                                      nearest_real_similarity, cluster_id, updated_at)
SELECT b.id, %(project)s, ({_neighbours_json()})::jsonb, round(b.top::numeric, 5), b.novelty, anchor.id,
       round(greatest(1 - b.novelty - 0.05 * pg_temp.u(b.id, 33), 0)::numeric, 5), k.id, now()
FROM (
    SELECT g AS id, {_REP} AS rep, {_GROUPED} AS grouped,
           CASE WHEN {_GROUPED} THEN 0.9 + 0.09 * pg_temp.u(g, 30) ELSE 0.45 + 0.44 * pg_temp.u(g, 30) END AS top,
           round((0.02 + 0.75 * power(pg_temp.u(g, 31), 2))::numeric, 5)::float AS novelty
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
) b
JOIN pg_temp.real_ids anchor ON anchor.rn = floor(pg_temp.u(b.id, 32) * %(reals)s)::int
JOIN reviews_cluster k ON k.project_id = %(project)s AND k.number = {_CLUSTER_NUMBER.format(id="b.id")}
"""

REASSIGN_CLUSTERS = f"""
UPDATE reviews_samplesimilarity s SET cluster_id = k.id
FROM reviews_cluster k
WHERE s.project_id = %(project)s AND s.sample_id < %(lo)s
  AND k.project_id = %(project)s AND k.number = {_CLUSTER_NUMBER.format(id="s.sample_id")}
"""

CLUSTER_FIGURES = """
WITH counts AS (
    SELECT s.cluster_id, x.origin, x.generator_id, x.template_version_id, count(*) AS n
    FROM reviews_samplesimilarity s JOIN generation_sample x ON x.id = s.sample_id
    WHERE s.project_id = %(project)s
    GROUP BY 1, 2, 3, 4
), totals AS (
    SELECT cluster_id, sum(n) AS size, coalesce(sum(n) FILTER (WHERE origin = 'synthetic'), 0) AS synthetic
    FROM counts GROUP BY 1
), generators AS (
    SELECT cluster_id, jsonb_object_agg(name, n ORDER BY n DESC) AS mix
    FROM (SELECT c.cluster_id, coalesce(g.name, 'real') AS name, sum(c.n) AS n
          FROM counts c LEFT JOIN generation_generator g ON g.id = c.generator_id GROUP BY 1, 2) t
    GROUP BY 1
), templates AS (
    SELECT cluster_id, jsonb_object_agg(name, n ORDER BY n DESC) AS mix
    FROM (SELECT c.cluster_id, coalesce(t.name, '—') AS name, sum(c.n) AS n
          FROM counts c LEFT JOIN generation_prompttemplateversion v ON v.id = c.template_version_id
          LEFT JOIN generation_prompttemplate t ON t.id = v.template_id GROUP BY 1, 2) t
    GROUP BY 1
)
UPDATE reviews_cluster k
SET size = t.size, synthetic_share = round(t.synthetic / t.size, 4), generator_mix = g.mix, template_mix = tm.mix,
    label = coalesce((SELECT array_to_string((regexp_split_to_array(lower(p.input), '[^a-z]+'))[1:4], ' · ')
                      FROM pg_temp.pool p WHERE p.kind = 's' AND p.k = k.number), ''),
    low_novelty_reason = CASE WHEN k.is_low_novelty
        THEN format('dense (%%s) and %%s%%%% synthetic', k.density, round(100 * t.synthetic / t.size)) ELSE '' END
FROM totals t JOIN generators g USING (cluster_id) JOIN templates tm USING (cluster_id)
WHERE k.id = t.cluster_id
"""

INSERT_GROUPS = f"""
INSERT INTO reviews_duplicategroup (project_id, kind, status, signature, size, min_similarity, threshold,
                                    representative_id, representative_reason, created_at, resolved_at,
                                    resolved_by_id, note)
SELECT %(project)s, 'near', r.status,
       encode(sha256(convert_to(array_to_string(ARRAY(SELECT generate_series(r.rep, r.rep + r.size - 1)), ','),
                                'UTF8')), 'hex'),
       r.size, round((0.9 + 0.05 * pg_temp.u(r.rep, 44))::numeric, 5), %(threshold)s, r.rep, 'earliest sample',
       now(), CASE WHEN r.status <> 'open' THEN now() END, CASE WHEN r.status <> 'open' THEN %(lead)s END, ''
FROM (SELECT g AS rep, 2 + floor(pg_temp.u(g, 8) * 5)::int AS size,
             CASE WHEN pg_temp.u(g, 43) < {NOT_DUPLICATES_SHARE} THEN 'not_duplicates'
                  WHEN pg_temp.u(g, 43) < {NOT_DUPLICATES_SHARE + RESOLVED_SHARE} THEN 'resolved'
                  ELSE 'open' END AS status
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint, {GROUP_BLOCK}) g
      WHERE pg_temp.u(g, 7) < {GROUP_BLOCK_SHARE}) r
"""

INSERT_GROUP_MEMBERS = """
INSERT INTO reviews_duplicategroupmember (group_id, sample_id, similarity, note)
SELECT d.id, d.representative_id + j,
       CASE WHEN j = 0 THEN 1.0
            ELSE round((d.min_similarity + (0.999 - d.min_similarity) * pg_temp.u(d.representative_id + j, 45))::numeric,
                       5) END, ''
FROM reviews_duplicategroup d CROSS JOIN LATERAL generate_series(0, d.size - 1) j
WHERE d.project_id = %(project)s AND d.representative_id BETWEEN %(lo)s AND %(hi)s
"""

# As duplicate_group_resolve leaves them: the other members rejected, and the
# decisions in the audit log (a resolve lists the ids it rejected).
RESOLVE_GROUPS = """
UPDATE generation_sample s SET status = 'rejected', revision = s.revision + 1, updated_at = now()
FROM reviews_duplicategroup d JOIN reviews_duplicategroupmember m ON m.group_id = d.id
WHERE d.project_id = %(project)s AND d.representative_id BETWEEN %(lo)s AND %(hi)s AND d.status = 'resolved'
  AND m.sample_id <> d.representative_id AND s.id = m.sample_id AND s.status <> 'rejected'
"""

INSERT_GROUP_LOG = """
INSERT INTO reviews_auditlog (project_id, actor_id, action, object_type, object_id, details, created_at)
SELECT %(project)s, %(lead)s,
       CASE WHEN d.status = 'resolved' THEN 'duplicate_group.resolve' ELSE 'duplicate_group.not_duplicates' END,
       'reviews.duplicategroup', d.id::text,
       CASE WHEN d.status = 'resolved'
            THEN jsonb_build_object('kept', d.representative_id, 'suggested', d.representative_id,
                                    'sample_ids', rejected.ids, 'rejected', rejected.ids)
            ELSE '{}'::jsonb END,
       d.resolved_at
FROM reviews_duplicategroup d
CROSS JOIN LATERAL (SELECT jsonb_agg(m.sample_id ORDER BY m.sample_id) AS ids FROM reviews_duplicategroupmember m
                    WHERE m.group_id = d.id AND m.sample_id <> d.representative_id) rejected
WHERE d.project_id = %(project)s AND d.representative_id BETWEEN %(lo)s AND %(hi)s AND d.status <> 'open'
ORDER BY d.id
"""

# A lead's bulk rejection by filter: the audit log lists the ids it changed.
INSERT_BULK_LOG = """
INSERT INTO reviews_auditlog (project_id, actor_id, action, object_type, object_id, details, created_at)
SELECT %(project)s, %(lead)s, 'samples.bulk_reject', 'bulk', '',
       jsonb_build_object('filter', jsonb_build_object('generator', %(generator)s, 'status', 'rejected'),
                          'matched', count(*), 'changed', count(*), 'status', 'rejected',
                          'sample_ids', jsonb_agg(id ORDER BY id)),
       max(created_at) + interval '3 days'
FROM generation_sample
WHERE project_id = %(project)s AND id BETWEEN %(start)s AND %(start)s + 2500 AND status = 'rejected'
HAVING count(*) > 0
"""

# What audit_log_record(samples=...) writes beside each entry: a sample's history reads these links.
LINK_AUDIT_SAMPLES = """
INSERT INTO projects_auditlogsample (entry_id, sample_id)
SELECT l.id, x::bigint FROM reviews_auditlog l CROSS JOIN LATERAL jsonb_array_elements_text(l.details->'sample_ids') x
WHERE l.project_id = %(project)s AND l.object_type IN ('bulk', 'reviews.duplicategroup') AND l.details ? 'sample_ids'
ON CONFLICT DO NOTHING
"""

SAMPLE_COUNTS = """
INSERT INTO generation_samplecount (project_id, origin, status, count)
SELECT %(project)s, origin, status, count(*) FROM generation_sample WHERE project_id = %(project)s GROUP BY 1, 2, 3
"""
