"""The sample browser: filters, keyset pages and counts that stay cheap at 1M samples."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, Func, JSONField, OuterRef, QuerySet, Sum

from generation.models import PromptTemplateVersion, Sample, SampleFlag
from generation.selectors.text_search import samples_matching_text
from reviews.models import DuplicateGroupMember, SampleSimilarity, Verdict
from reviews.selectors.blinding import SEES_ALL, Blinding
from reviews.selectors.sample_view import LINEAGE_RELATED
from reviews.similarity.membership import MemberSet
from synthreview.projects.models import AuditLog, AuditLogSample, Project
from synthreview.projects.selectors.counters import sample_count

PAGE_SIZE = 50
# Counting matches stops here: past it the page says "more than 1,000".
COUNT_CAP = 1000
# Where PostgreSQL expects at least this many matches the page shows its estimate and counts
# nothing: a count of matches spread thinly over a million samples reads most of them.
ESTIMATE_FROM = 2 * COUNT_CAP
# Filters the per-project counters answer exactly.
_COUNTER_FILTERS = {"origin", "status"}


def samples_filtered(project: Project, filters: dict[str, Any], *, blinding: Blinding = SEES_ALL) -> QuerySet[Sample]:
    """Samples of the project matching the sample browser's cleaned filters; a filter on what an
    audit hides never returns the items the reader holds."""
    queryset = blinding.filtered(Sample.objects.filter(project=project), filters)
    simple = {
        "origin": "origin",
        "status": "status",
        "split": "split",
        "generator": "generator",
        "run": "run",
    }
    for key, lookup in simple.items():
        value = filters.get(key)
        if value not in (None, ""):
            queryset = queryset.filter(**{lookup: value})
    if filters.get("template") not in (None, ""):
        # The template's versions (a handful) as a list: the samples' own column then meets
        # the (project, template_version, id) index, where a join to the versions would not.
        versions = list(
            PromptTemplateVersion.objects.filter(template_id=filters["template"]).values_list("id", flat=True)
        )
        queryset = queryset.filter(template_version__in=versions)
    verdict = filters.get("verdict")
    if verdict == "none":
        queryset = queryset.filter(~Exists(Verdict.objects.filter(sample=OuterRef("pk"))))
    elif verdict:
        queryset = queryset.filter(Exists(Verdict.objects.filter(sample=OuterRef("pk"), value=verdict)))
    flag = (filters.get("flag") or "").strip()
    if flag:
        flags = SampleFlag.objects.filter(sample=OuterRef("pk"))
        queryset = queryset.filter(Exists(flags if flag == "any" else flags.filter(check_name=flag)))
    if filters.get("novelty_min") is not None:
        queryset = queryset.filter(similarity__novelty__gte=filters["novelty_min"])
    if filters.get("novelty_max") is not None:
        queryset = queryset.filter(similarity__novelty__lte=filters["novelty_max"])
    if filters.get("cluster") is not None:
        queryset = queryset.filter(similarity__project=project, similarity__cluster_id=filters["cluster"])
    if filters.get("group") is not None:
        queryset = queryset.filter(
            Exists(DuplicateGroupMember.objects.filter(sample=OuterRef("pk"), group_id=filters["group"]))
        )
    if filters.get("ids"):
        queryset = queryset.filter(pk__in=filters["ids"])
    return samples_matching_text(queryset, filters.get("q") or "", project_id=project.pk)


@dataclass(frozen=True)
class SamplePage:
    rows: list[Sample]
    # Cursors: ids newest first, browser_sort's tokens in its other orders.
    newer: int | str | None  # cursor for the page before (larger ids)
    older: int | str | None  # cursor for the page after (smaller ids)
    # The first page, and nothing after it: the rows are every match, so they are the count.
    complete: bool = False
    # How many matches the page read while fetching its ids (up to `count_up_to` + 1), when asked to.
    counted: int | None = None


def sample_page(
    queryset: QuerySet[Sample],
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
    count_up_to: int = 0,
) -> SamplePage:
    """Newest first, by keyset on id: `after` continues below an id, `before` goes back above one.

    The page's ids come first, from the filters alone; then those rows with their lineage. With
    the five lineage joins in the same query PostgreSQL plans the joins and the filters together,
    and for a rare combination chose a parallel scan of the project over the indexes (~1 s).

    With `count_up_to`, the first page reads that many ids and more, and counts them: for a rare
    filter PostgreSQL gathers and sorts every match for one page anyway, and a separate count
    would gather them again (samples_count_known says when)."""
    if before is not None:
        ids = list(queryset.filter(pk__gt=before).order_by("id").values_list("id", flat=True)[: size + 1])
        has_newer = len(ids) > size
        rows = _with_lineage(queryset, ids[:size])[::-1]
        return SamplePage(rows, rows[0].pk if rows and has_newer else None, rows[-1].pk if rows else None)
    if after is not None:
        queryset = queryset.filter(pk__lt=after)
    counting = after is None and count_up_to > size
    ids = list(queryset.order_by("-id").values_list("id", flat=True)[: (count_up_to if counting else size) + 1])
    has_older = len(ids) > size
    rows = _with_lineage(queryset, ids[:size])
    return SamplePage(
        rows,
        rows[0].pk if rows and after is not None else None,
        rows[-1].pk if rows and has_older else None,
        complete=after is None and not has_older,
        counted=len(ids) if counting else None,
    )


def _with_lineage(queryset: QuerySet[Sample], ids: list[int]) -> list[Sample]:
    """The samples with these ids, in this order, with what a row of the list shows."""
    if not ids:
        return []
    found = queryset.model.objects.select_related(*LINEAGE_RELATED, "similarity").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


EXACT, ESTIMATED, CAPPED = "exact", "estimated", "capped"


@dataclass(frozen=True)
class CountFigure:
    value: int
    kind: str = EXACT  # EXACT; ESTIMATED: the planner's guess; CAPPED: at least `value + 1`

    @property
    def exact(self) -> bool:
        return self.kind == EXACT

    def __str__(self) -> str:
        if self.kind == ESTIMATED:
            return f"about {_two_figures(self.value):,}"
        if self.kind == CAPPED:
            return f"more than {self.value:,}"
        return f"{self.value:,}"


def _two_figures(value: int) -> int:
    """An estimate shown as no more precise than it is: 12,345 as 12,000."""
    digits = len(str(value))
    return value if digits <= 2 else round(value, 2 - digits)


def samples_count(queryset: QuerySet[Sample], *, page: SamplePage | None = None) -> CountFigure:
    """The count where samples_count_known has none: from `page` when it holds every match or
    counted the ids up to COUNT_CAP, else a count that stops past COUNT_CAP. Exact up to it,
    "more than" it beyond."""
    if page is not None and page.complete:
        return CountFigure(len(page.rows))
    if page is not None and page.counted is not None:
        return _capped(page.counted)
    return _capped(queryset.order_by()[: COUNT_CAP + 1].count())


def _capped(found: int) -> CountFigure:
    """A count of at most COUNT_CAP + 1 matches, as the page says it."""
    return CountFigure(found) if found <= COUNT_CAP else CountFigure(COUNT_CAP, CAPPED)


def _counters_answer(filters: dict[str, Any], blinding: Blinding) -> bool:
    used = {key for key, value in filters.items() if value not in (None, "", [])}
    # The counters count held items too, which the filtered rows leave out for a blinded reader.
    return used <= _COUNTER_FILTERS and not blinding.excludes_from(filters)


def samples_count_known(
    project: Project, filters: dict[str, Any], queryset: QuerySet[Sample], *, blinding: Blinding = SEES_ALL
) -> CountFigure | None:
    """The count when it costs no counting: from the counters, or PostgreSQL's estimate where it
    expects ESTIMATE_FROM matches or more. None: the matches are to be counted, up to COUNT_CAP."""
    if _counters_answer(filters, blinding):
        return CountFigure(sample_count(project.pk, origin=filters.get("origin"), status=filters.get("status")))
    if connection.vendor == "postgresql":
        estimate = _planner_estimate(queryset)
        if estimate >= ESTIMATE_FROM:
            return CountFigure(estimate, ESTIMATED)
    return None


def samples_member_set(queryset: QuerySet[Sample]) -> MemberSet:
    """The count and token of exactly the samples a bulk confirmation shows, in one aggregate
    (as costly as the count it replaces): the action that follows writes these or nothing."""
    found = queryset.order_by().aggregate(n=Count("id"), total=Sum("id"), squares=Sum(F("id") * F("id")))
    return MemberSet(found["n"], int(found["total"] or 0), int(found["squares"] or 0))


def _planner_estimate(queryset: QuerySet[Sample]) -> int:
    plan = json.loads(queryset.order_by().values("id").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def similar_samples(project: Project, sample_id: int, *, blinding: Blinding = SEES_ALL) -> list[tuple[Sample, float]]:
    """A sample's stored neighbours, nearest first: "find similar" never searches an index.
    A held sample's neighbours are not shown: who it resembles hints at where it came from."""
    if blinding.hides(sample_id):
        return []
    row = SampleSimilarity.objects.filter(project=project, sample_id=sample_id).only("neighbours").first()
    if row is None:
        return []
    pairs = [(int(i), float(s)) for i, s in row.neighbours or []]
    found = (
        Sample.objects.select_related(*LINEAGE_RELATED, "similarity")
        .filter(project=project)
        .in_bulk([i for i, _ in pairs])
    )
    blinding.mark(found.values())
    return [(found[i], s) for i, s in pairs if i in found]


class _DetailsWithoutSampleIds(Func):
    """An entry's details less its `sample_ids`: a bulk action lists tens of thousands of ids,
    which the history never shows, so the database keeps them rather than send and parse them."""

    arity = 1
    output_field = JSONField()
    template = "json_remove(%(expressions)s, '$.sample_ids')"

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(compiler, connection, template="(%(expressions)s - 'sample_ids')", **extra_context)


def sample_history(sample: Sample, *, limit: int = 50, blinding: Blinding = SEES_ALL) -> list[AuditLog]:
    """The audit-log entries about this sample: its own, and the bulk actions and group decisions that
    listed it. Of a held sample, only the reader's own entries (others' say its verdicts and gold-ness)."""
    own = list(
        AuditLog.objects.filter(object_type="generation.sample", object_id=str(sample.pk))
        .select_related("actor")
        .order_by("-id")[:limit]
    )
    # Bulk actions and group decisions reach the sample through their links to it: an index lookup
    # on the sample, whatever the number and size of the project's other bulk actions.
    newest_links = AuditLogSample.objects.filter(sample_id=sample.pk).order_by("-entry_id").values("entry_id")[:limit]
    listed: list[AuditLog] = list(
        AuditLog.objects.filter(pk__in=newest_links, project_id=sample.project_id)
        .select_related("actor")
        .defer("details")
        .annotate(shown_details=_DetailsWithoutSampleIds("details"))
        .order_by("-id")
    )
    for entry in listed:
        entry.details = entry.shown_details  # type: ignore[attr-defined]  # the annotation above
    entries = sorted(own + listed, key=lambda entry: entry.pk, reverse=True)[:limit]
    return blinding.own_only(sample.pk, entries, author="actor_id")


# The columns a list of samples gives over the API, in this order: one query, no model instances,
# and none of the lineage objects' JSON columns (an import's errors, a run's settings) that
# select_related would carry along on every row.
SAMPLE_LIST_COLUMNS = (
    "id",
    "origin",
    "status",
    "split",
    "input",
    "output",
    "label",
    "metadata",
    "generator_id",
    "listed_generator_name",
    "listed_template_id",
    "listed_template_name",
    "listed_template_version",
    "run_id",
    "created_at",
    "listed_novelty",
)


def _listed(queryset: QuerySet[Sample], *, after: int | None, size: int) -> QuerySet[Sample]:
    """One page more than `size` of the queryset, newest first, with the joined columns named."""
    if after is not None:
        queryset = queryset.filter(pk__lt=after)
    return queryset.order_by("-id").annotate(
        listed_generator_name=F("generator__name"),
        listed_template_id=F("template_version__template_id"),
        listed_template_name=F("template_version__template__name"),
        listed_template_version=F("template_version__version"),
        listed_novelty=F("similarity__novelty"),
    )[: size + 1]


@dataclass(frozen=True)
class SampleRowPage:
    rows: list[tuple]
    older: int | None  # cursor for the page after (smaller ids)


def sample_row_page(queryset: QuerySet[Sample], *, after: int | None = None, size: int = PAGE_SIZE) -> SampleRowPage:
    """As sample_page, newest first by keyset on id, but as SAMPLE_LIST_COLUMNS tuples."""
    rows = list(_listed(queryset, after=after, size=size).values_list(*SAMPLE_LIST_COLUMNS))
    has_older = len(rows) > size
    rows = rows[:size]
    return SampleRowPage(rows, rows[-1][0] if rows and has_older else None)


@dataclass(frozen=True)
class SampleJsonPage:
    items_json: str  # a JSON array of SampleItem objects, built by PostgreSQL
    older: int | None


def sample_json_page(
    queryset: QuerySet[Sample],
    *,
    after: int | None = None,
    size: int = PAGE_SIZE,
    hidden_metadata_keys: Iterable[str] = (),
) -> SampleJsonPage:
    """sample_row_page's page with PostgreSQL writing the JSON, for a reader who holds no audit item:
    a pipeline lists a million samples through the API, and building and encoding each row in Python
    costs several times the read itself. The objects have exactly the keys and values the row path gives."""
    inner = _listed(queryset, after=after, size=size).values(*SAMPLE_LIST_COLUMNS)
    inner_sql, inner_params = inner.query.sql_with_params()
    sql = f"""
        WITH listed AS (SELECT row_number() OVER (ORDER BY rows.id DESC) AS position, rows.* FROM ({inner_sql}) rows)
        SELECT coalesce(json_agg(json_build_object(
                   'id', id, 'blinded', false, 'origin', origin, 'status', status, 'split', split,
                   'input', input, 'output', output, 'label', label,
                   'metadata', coalesce(metadata, '{{}}'::jsonb) - %s::text[],
                   'generator', CASE WHEN generator_id IS NULL THEN NULL
                                ELSE json_build_object('id', generator_id, 'name', listed_generator_name) END,
                   'template', CASE WHEN listed_template_id IS NULL THEN NULL
                               ELSE json_build_object('id', listed_template_id, 'name', listed_template_name,
                                                      'version', listed_template_version) END,
                   'run_id', run_id,
                   -- As Python's isoformat writes it: six digits of microseconds, none when they are zero.
                   'created_at', to_char(created_at AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', created_at) = created_at
                       THEN 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"' END),
                   'novelty', listed_novelty
               ) ORDER BY position) FILTER (WHERE position <= %s), '[]')::text,
               count(*),
               min(id) FILTER (WHERE position <= %s)
        FROM listed
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*inner_params, sorted(hidden_metadata_keys), size, size])
        items_json, found, last_id = cursor.fetchone()
    return SampleJsonPage(items_json, last_id if found > size else None)
