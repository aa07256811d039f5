"""Reads for an export: the selection, its counts, its rows, and what the manifest names besides them.

The export service calls these inside one snapshot of the database, so the counts
the gates judge, the manifest's figures and the rows written agree.
"""

from __future__ import annotations

from collections import Counter, abc
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    Func,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Substr

from generation.models import Generator, Origin, PromptTemplateVersion, Sample, SampleStatus, Split
from reviews.governance.gates import GroupCount
from reviews.governance.manifest import ManifestReads
from reviews.models import EvalLeak, EvalLeakCheck, EvalSetMember, Export, ExportSplit
from synthreview.projects.models import Project

ROW_FIELDS = (
    "id",
    "input",
    "output",
    "label",
    "origin",
    "generator_id",
    "template_version_id",
    "run_id",
    "generation_depth",
    "split",
    "content_hash",
    "metadata_text",
)
READ_CHUNK = 5000
# A held-back sample is counted under the first of these that applies.
HELD_BACK_ORDER = ("eval_member", "eval_leak", "leak_unchecked", "excluded_generator", "too_deep")
# Held-back leaks the manifest names one by one (with the eval item each is too close to); the rest are counted.
LISTED_LEAKS = 1000
LEAK_SNIPPET_CHARS = 120


@dataclass(frozen=True)
class ExportSelection:
    """What an export takes, as the selection reads it: an Export's own fields, or those of a check,
    which has no Export row to read the generators left out from."""

    project_id: int
    split: str
    max_generation_depth: int
    eval_set_version_id: int | None
    excluded_generator_ids: tuple[int, ...] = ()

    @classmethod
    def of(cls, export: Export | ExportSelection) -> ExportSelection:
        if isinstance(export, ExportSelection):
            return export
        return cls(
            project_id=export.project_id,
            split=export.split,
            max_generation_depth=export.max_generation_depth,
            eval_set_version_id=export.eval_set_version_id,
            excluded_generator_ids=tuple(export.excluded_generators.values_list("id", flat=True)),
        )


class MetadataObject(Func):
    """A sample's metadata as a JSON object, as the database renders it: an object as it is stored (on
    PostgreSQL jsonb's key order, shorter keys first, and its own number text), SQL or JSON null as {},
    and any other value (only code could store one; imports always store objects) as {"value": ...},
    so every line's `metadata` is an object a loader can type as one column."""

    output_field = JSONField()
    template = (
        "CASE coalesce(jsonb_typeof(%(expressions)s), 'null') WHEN 'object' THEN %(expressions)s "
        "WHEN 'null' THEN '{}'::jsonb ELSE jsonb_build_object('value', %(expressions)s) END"
    )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        return super().as_sql(
            compiler,
            connection,
            template=(
                "CASE coalesce(json_type(%(expressions)s), 'null') WHEN 'object' THEN %(expressions)s "
                "WHEN 'null' THEN '{}' ELSE json_object('value', json(%(expressions)s)) END"
            ),
            **extra,
        )


def _metadata_text() -> Cast:
    """The metadata object's JSON text: the JSONL writers put it in the line as it is, the other
    formats in a cell of their own."""
    return Cast(MetadataObject("metadata"), output_field=TextField())


def _train_selection(export: Export | ExportSelection) -> tuple[QuerySet[Sample], dict[str, Q]]:
    """Accepted samples outside the eval split, each marked with why it is held back, if it is."""
    export = ExportSelection.of(export)
    samples = Sample.objects.filter(project_id=export.project_id, status=SampleStatus.ACCEPTED).exclude(
        split=Split.EVAL
    )
    held = {"too_deep": Q(generation_depth__gt=export.max_generation_depth)}
    excluded_ids = list(export.excluded_generator_ids)
    if excluded_ids:
        held["excluded_generator"] = Q(generator_id__in=excluded_ids)
    if export.eval_set_version_id:
        held["eval_member"] = Q(
            Exists(EvalSetMember.objects.filter(version_id=export.eval_set_version_id, sample_id=OuterRef("pk")))
        )
        held["eval_leak"] = Q(
            Exists(EvalLeak.objects.filter(version_id=export.eval_set_version_id, sample_id=OuterRef("pk")))
        )
        # Samples that arrived after the leak check finished are not known to be clean: held back, counted.
        checked_through = (
            EvalLeakCheck.objects.filter(version_id=export.eval_set_version_id)
            .values_list("checked_through_id", flat=True)
            .first()
            or 0
        )
        held["leak_unchecked"] = Q(id__gt=checked_through)
    return samples, held


def export_selection_counts(
    export: Export | ExportSelection, marks: list[int] | None = None, *, hold_unchecked: bool = True
) -> tuple[list[GroupCount], Counter]:
    """The included samples by origin × generator × template version × run × audit freshness mark, and the
    held-back ones by reason. `marks` are the closed audits' drawn-through sample ids, ascending: each
    synthetic sample falls under the first mark at or above its id (None above them all), so one grouped
    pass tells the audit gate how many samples each audit could have seen.

    With `hold_unchecked` off (a check, which runs no leak check), samples that arrived after the last
    leak check count as included, as the export would include them once it has checked them, and their
    number comes back as held_back["leak_unchecked"] all the same."""
    export = ExportSelection.of(export)
    if export.split == ExportSplit.EVAL:
        rows = (
            Sample.objects.filter(eval_memberships__version_id=export.eval_set_version_id)
            .values("origin", "generator_id", "template_version_id", "run_id")
            .annotate(n=Count("id"))
        )
        return [
            GroupCount(r["origin"], r["generator_id"], r["template_version_id"], r["run_id"], r["n"]) for r in rows
        ], Counter()
    samples, held = _train_selection(export)
    unchecked = held.pop("leak_unchecked", None) if not hold_unchecked else None
    # One pass: each sample gets the first reason that holds it back (or none), then grouped.
    reason = Case(
        *(When(held[name], then=Value(name)) for name in HELD_BACK_ORDER if name in held),
        default=Value(""),
        output_field=CharField(),
    )
    mark = Case(
        *(When(Q(origin=Origin.SYNTHETIC, id__lte=m), then=Value(m)) for m in marks or ()),
        default=Value(None),
        output_field=BigIntegerField(),
    )
    unchecked_mark = Case(When(unchecked, then=Value(True)), default=Value(False)) if unchecked else Value(False)
    groups: list[GroupCount] = []
    held_back: Counter = Counter()
    for row in (
        samples.annotate(held=reason, mark=mark, unchecked=unchecked_mark)
        .values("held", "origin", "generator_id", "template_version_id", "run_id", "mark", "unchecked")
        .annotate(n=Count("id"))
        .order_by()
    ):
        if row["unchecked"] and not row["held"]:
            held_back["leak_unchecked"] += row["n"]
        if row["held"]:
            held_back[row["held"]] += row["n"]
        else:
            groups.append(
                GroupCount(
                    row["origin"], row["generator_id"], row["template_version_id"], row["run_id"], row["n"], row["mark"]
                )
            )
    return groups, held_back


def _included(export: Export | ExportSelection) -> QuerySet[Sample]:
    """The samples the file holds: the eval set's members, or the train selection less every held-back one."""
    export = ExportSelection.of(export)
    if export.split == ExportSplit.EVAL:
        return Sample.objects.filter(eval_memberships__version_id=export.eval_set_version_id)
    query, held = _train_selection(export)
    for condition in held.values():
        query = query.exclude(condition)
    return query


def _included_rows(export: Export) -> QuerySet[Sample, tuple[Any, ...]]:
    return _included(export).annotate(metadata_text=_metadata_text()).order_by("id").values_list(*ROW_FIELDS)


def export_template_versions(project: Project) -> dict[int, tuple[str, int]]:
    """Each template version of the project as (template name, version number)."""
    return {
        pk: (name, number)
        for pk, name, number in PromptTemplateVersion.objects.filter(template__project=project).values_list(
            "id", "template__name", "version"
        )
    }


def export_rows(export: Export, names: dict, versions: dict, models: dict) -> abc.Iterator[tuple]:
    """The included samples in sample id order, each with its lineage spelled out, as the writers take them."""
    generator_names, run_names = names["generator"], names["run"]
    for (
        pk,
        input_text,
        output_text,
        label,
        origin,
        generator_id,
        version_id,
        run_id,
        depth,
        split,
        content_hash,
        metadata,
    ) in _included_rows(export).iterator(chunk_size=READ_CHUNK):
        template, version = versions.get(version_id, (None, None))
        yield (
            pk,
            input_text,
            output_text,
            label,
            origin,
            origin == Origin.SYNTHETIC,
            generator_names.get(generator_id),
            models.get(generator_id),
            template,
            version,
            run_names.get(run_id),
            depth,
            split or None,
            content_hash,
            metadata,
        )


# One JSONL line per sample, as reviews.governance.writers.jsonl_line writes it: row_to_json names the
# keys after the columns, in their order, with no spaces; writes None as null, a boolean as true or
# false and an integer as its digits; and escapes a text exactly as Python's json module does with
# ensure_ascii off (the two-character escapes for \b \f \n \r \t " and \\, \u00xx for the other control
# characters, everything else as it is). `metadata` is jsonb, which row_to_json writes as its text, the
# same text jsonl_line takes from _metadata_text() and writes as it is. The ORDER BY is outside the selection, so the planner may
# build the lines in parallel workers and merge them in id order.
_JSONL_SQL = """SELECT row_to_json(line) FROM (
    SELECT r.id, r.input, r.output, r.label, r.origin, r.origin = %s AS synthetic, r.generator_name AS generator,
           r.generator_model, r.template_name AS template, r.template_number AS template_version,
           r.run_name AS run, r.generation_depth, nullif(r.split, '') AS split, r.content_hash,
           r.metadata_object AS metadata
    FROM ({selection}) AS r
) AS line ORDER BY line.id"""
# COPY's CSV format writes a value as it is unless it holds the delimiter, the quote, CR or LF. A JSON
# line holds none of these (JSON escapes every control character), so each row comes out as its line
# and "\n", byte for byte; the text format would double every backslash instead.
_COPY_OPTIONS = "(FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
# Bytes handed on at a time: a few hundred lines, so the memory stays bounded whatever the export's size.
JSONL_CHUNK_BYTES = 1 << 20


def export_jsonl_copy_sql(export: Export) -> tuple[str, tuple]:
    """PostgreSQL only: a COPY ... TO STDOUT whose output is the export's JSONL file, built by the database.

    The selection is the same queryset the Python path reads (held-back samples left out by anti-joins in
    the same query) and the lineage names come from joins, so both paths write the same bytes."""
    rows = _included(export).values(
        "id",
        "input",
        "output",
        "label",
        "origin",
        "generation_depth",
        "split",
        "content_hash",
        generator_name=F("generator__name"),
        generator_model=F("generator__model_name"),
        template_name=F("template_version__template__name"),
        template_number=F("template_version__version"),
        run_name=F("run__name"),
        metadata_object=MetadataObject("metadata"),
    )
    selection, params = rows.order_by().query.sql_with_params()
    sql = f"COPY ({_JSONL_SQL.format(selection=selection)}) TO STDOUT WITH {_COPY_OPTIONS}"
    return sql, (Origin.SYNTHETIC, *params)


def export_jsonl_chunks(export: Export) -> abc.Generator[tuple[bytes, int]]:
    """PostgreSQL only: the export's JSONL file as (bytes, lines in them), about JSONL_CHUNK_BYTES at a time,
    streamed from one COPY on the caller's connection (and so inside its snapshot)."""
    sql, params = export_jsonl_copy_sql(export)
    with connection.cursor() as cursor:
        # The planner prices a line at one function call, so it keeps the work in one process; a line
        # costs far more than handing it to the leader, so let parallel workers build them.
        cursor.execute("SET LOCAL parallel_setup_cost = 0")
        cursor.execute("SET LOCAL parallel_tuple_cost = 0")
        yield from _copy_chunks(cursor, sql, params)
        cursor.execute("RESET parallel_setup_cost")
        cursor.execute("RESET parallel_tuple_cost")


def _copy_chunks(cursor: Any, sql: str, params: tuple) -> abc.Iterator[tuple[bytes, int]]:
    with cursor.cursor.copy(sql, params) as copy:
        parts: list[bytes] = []
        size = 0
        # COPY sends one message per row.
        for row in copy:
            parts.append(row)
            size += len(row)
            if size >= JSONL_CHUNK_BYTES:
                yield b"".join(parts), len(parts)
                parts, size = [], 0
        if parts:
            yield b"".join(parts), len(parts)


def _leaks_held_back(export: Export) -> dict | None:
    """Which eval item each held-back leak is too close to; the first LISTED_LEAKS by sample id."""
    if export.split != ExportSplit.TRAIN or not export.eval_set_version_id:
        return None
    leaks = EvalLeak.objects.filter(
        version_id=export.eval_set_version_id,
        sample__project_id=export.project_id,
        sample__status=SampleStatus.ACCEPTED,
    ).exclude(sample__split=Split.EVAL)
    rows = leaks.order_by("sample_id").annotate(eval_input=Substr("eval_sample__input", 1, LEAK_SNIPPET_CHARS + 1))
    listed = [
        {
            "sample_id": row["sample_id"],
            "eval_sample_id": row["eval_sample_id"],
            "kind": row["kind"],
            "similarity": round(row["similarity"], 4),
            "eval_input": (
                row["eval_input"][:LEAK_SNIPPET_CHARS] + "…"
                if len(row["eval_input"]) > LEAK_SNIPPET_CHARS
                else row["eval_input"]
            ),
        }
        for row in rows.values("sample_id", "eval_sample_id", "kind", "similarity", "eval_input")[:LISTED_LEAKS]
    ]
    total = len(listed) if len(listed) < LISTED_LEAKS else leaks.count()
    return {"total": total, "listed": listed}


def export_manifest_reads(export: Export) -> ManifestReads:
    """What the manifest names besides the counts and the gates' decisions."""
    version = export.eval_set_version
    return ManifestReads(
        created_by=export.created_by.get_username() if export.created_by else None,
        excluded_generators=sorted(export.excluded_generators.values_list("name", flat=True)),
        eval_set_version=version,
        leak_check=getattr(version, "leak_check", None) if version else None,
        generators=list(Generator.objects.filter(project_id=export.project_id).order_by("name")),
        leaks_held_back=_leaks_held_back(export),
    )
