"""The project's audit log as leads read it: filtered, newest first, in keyset
pages, with each entry's action in words, a link to its object, and its details
as short key: value lines.

Nothing here counts the whole log: a project may hold millions of entries, so
pages move by id (`before` / `after`) and the CSV streams in id-ordered chunks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from reviews.models import ErrorCategory
from synthreview.projects.models import AuditLog, Membership, Project

PAGE_SIZE = 50
CSV_CHUNK = 2000
# Long id lists (a bulk action's sample_ids) show their first few and a count of the rest.
DETAIL_LIST_LIMIT = 20
DETAIL_TEXT_LIMIT = 300
# The action picker lists what the app records plus every action the project's log holds, found
# by skipping through the (project, action) index: one probe per distinct action, where a
# DISTINCT reads every entry (75 ms for the newest 5,000 alone at a million samples).
_DISTINCT_ACTIONS = """
WITH RECURSIVE actions(action) AS (
    SELECT min(action) FROM {table} WHERE project_id = %s
    UNION ALL
    SELECT (SELECT min(later.action) FROM {table} later WHERE later.project_id = %s AND later.action > actions.action)
    FROM actions WHERE actions.action IS NOT NULL
)
SELECT action FROM actions WHERE action IS NOT NULL
"""

ACTION_LABELS: dict[str, str] = {
    "project.create": "Project created",
    "membership.set": "Member role set",
    "membership.add": "Member added",
    "membership.role_change": "Member role changed",
    "membership.remove": "Member removed",
    "api_token.create": "API token made",
    "api_token.revoke": "API token revoked",
    "generator.create": "Generator added",
    "run.create": "Generation run started",
    "import": "Samples imported",
    "verdict.record": "Verdict recorded",
    "verdict.undo": "Verdict undone",
    "samples.bulk_accept": "Bulk accept",
    "samples.bulk_reject": "Bulk reject",
    "duplicate_group.resolve": "Near-duplicate group resolved",
    "duplicate_group.not_duplicates": "Group marked not duplicates",
    "duplicate_group.split": "Sample split off a group",
    "variant_family.trim": "Variant family trimmed",
    "audit.create": "Audit drawn",
    "audit.verdict": "Audit verdict",
    "audit.verdict_undo": "Audit verdict undone",
    "audit.adjudicate": "Disagreement adjudicated",
    "audit.close": "Audit closed",
    "gold.set": "Gold answer set",
    "gold.remove": "Gold answer removed",
    "eval_split.add": "Added to the eval split",
    "eval_split.remove": "Removed from the eval split",
    "eval_split.draw": "Eval split drawn",
    "eval_set.version_create": "Eval-set version frozen",
    "export.request": "Export requested",
    "export.completed": "Export completed",
    "export.refused": "Export refused",
    "export.failed": "Export failed",
    "export.override": "Audit gate overridden",
    "policy.set": "Policy changed",
    "similarity_settings.set": "Similarity settings changed",
    "threshold.set": "Alert threshold set",
    "alerts.channel": "Alert channel set",
    "alert.acknowledge": "Alert acknowledged",
}

# object_type → (label, URL name of its page, whether that URL takes the object's id).
# A URL name that does not resolve (a page still being written) leaves the object unlinked.
OBJECT_TYPES: dict[str, tuple[str, str | None, bool]] = {
    "generation.sample": ("Sample", "sample_detail", True),
    "reviews.audit": ("Audit", "audit_detail", True),
    "reviews.export": ("Export", "export_detail", True),
    "reviews.evalsetversion": ("Eval-set version", "eval_set", False),
    "reviews.duplicategroup": ("Near-duplicate group", None, False),
    "generation.generationrun": ("Run", None, False),
    "generation.generator": ("Generator", None, False),
    "generation.importbatch": ("Import", "import_detail", True),
    "generation.project": ("Project", "project_detail", False),
    "generation.membership": ("Membership", None, False),
    "reviews.qualitythreshold": ("Alert threshold", None, False),
    "reviews.alertchannel": ("Alert channel", None, False),
    "reviews.alert": ("Alert", None, False),
    "bulk": ("Bulk action", None, False),
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action) or action.replace("_", " ").replace(".", " · ").capitalize()


def object_type_label(object_type: str) -> str:
    return OBJECT_TYPES.get(object_type, (object_type, None, False))[0]


def action_choices(project: Project) -> list[tuple[str, Any]]:
    """Actions for the filter's select, grouped by prefix ("export." matches every export action)."""
    with connection.cursor() as cursor:
        cursor.execute(_DISTINCT_ACTIONS.format(table=AuditLog._meta.db_table), [project.pk, project.pk])
        present = {action for (action,) in cursor.fetchall()}
    groups: dict[str, list[str]] = {}
    for action in sorted(present | set(ACTION_LABELS)):
        groups.setdefault(action.split(".", 1)[0], []).append(action)
    choices: list[tuple[str, Any]] = [("", "Any action")]
    for prefix, actions in sorted(groups.items()):
        if len(actions) == 1 and "." not in actions[0]:
            choices.append((actions[0], action_label(actions[0])))
            continue
        choices.append(
            (
                f"{prefix}.*",
                [(f"{prefix}.", f"Every {prefix}.* action"), *((action, action_label(action)) for action in actions)],
            )
        )
    return choices


def actor_choices(project: Project) -> list[tuple[str, str]]:
    names = (
        Membership.objects.filter(project=project).order_by("user__username").values_list("user__username", flat=True)
    )
    return [("", "Anyone"), *((name, name) for name in names), ("-", "System (no user)")]


def audit_log_filtered(project: Project, filters: dict[str, Any]) -> QuerySet[AuditLog]:
    """The project's entries matching the audit-log page's cleaned filters."""
    queryset = AuditLog.objects.filter(project=project)
    action = filters.get("action") or ""
    if action.endswith("."):
        queryset = queryset.filter(action__startswith=action)
    elif action:
        queryset = queryset.filter(action=action)
    actor = filters.get("actor") or ""
    if actor == "-":
        queryset = queryset.filter(actor__isnull=True)
    elif actor:
        queryset = queryset.filter(actor__username=actor)
    if filters.get("object_type"):
        queryset = queryset.filter(object_type=filters["object_type"])
    if filters.get("object_id"):
        queryset = queryset.filter(object_id=filters["object_id"])
    # Whole days in the site's time zone: "to" includes its own day.
    if filters.get("date_from"):
        queryset = queryset.filter(created_at__gte=_day_start(filters["date_from"]))
    # The calendar's last day has no next day to stop before, and nothing is logged after it.
    if filters.get("date_to") and filters["date_to"] < dt.date.max:
        queryset = queryset.filter(created_at__lt=_day_start(filters["date_to"] + dt.timedelta(days=1)))
    return queryset


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass(frozen=True)
class LogRow:
    id: int
    created_at: dt.datetime
    actor: str
    # A program (the CLI, the demo, a worker) rather than a member: the page sets it apart.
    actor_is_system: bool
    action: str
    label: str
    object_label: str
    object_url: str | None
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    newer: int | None  # cursor for the page above (larger ids): ?after=
    older: int | None  # cursor for the page below (smaller ids): ?before=


def audit_log_page(
    project: Project,
    queryset: QuerySet[AuditLog],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> LogPage:
    """Newest first, by keyset on id: `before` continues below an id, `after` goes back above one."""
    queryset = queryset.select_related("actor")
    if after is not None:
        entries = list(queryset.filter(pk__gt=after).order_by("id")[: size + 1])
        has_newer = len(entries) > size
        entries = list(reversed(entries[:size]))
        rows = log_rows(project, entries)
        return LogPage(rows, rows[0].id if rows and has_newer else None, rows[-1].id if rows else None)
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    entries = list(queryset.order_by("-id")[: size + 1])
    has_older = len(entries) > size
    rows = log_rows(project, entries[:size])
    return LogPage(
        rows, rows[0].id if rows and before is not None else None, rows[-1].id if rows and has_older else None
    )


def log_rows(project: Project, entries: list[AuditLog]) -> list[LogRow]:
    urls: dict[tuple[str, str], str | None] = {}
    rows = []
    for entry in entries:
        key = (entry.object_type, entry.object_id)
        if key not in urls:
            urls[key] = object_url(project, *key)
        url = urls[key]
        if entry.action.startswith("policy."):
            url = reverse("policy_settings", args=[project.slug])
        rows.append(
            LogRow(
                id=entry.pk,
                created_at=entry.created_at,
                actor=entry.actor.username if entry.actor else str(entry.details.get("system_actor") or "system"),
                actor_is_system=entry.actor is None,
                action=entry.action,
                label=action_label(entry.action),
                object_label=_object_label(entry),
                object_url=url,
                details=detail_pairs(entry.action, entry.details),
            )
        )
    return rows


def _object_label(entry: AuditLog) -> str:
    if not entry.object_type:
        return ""
    label = object_type_label(entry.object_type)
    return f"{label} {entry.object_id}" if entry.object_id else label


def object_url(project: Project, object_type: str, object_id: str) -> str | None:
    _, url_name, with_id = OBJECT_TYPES.get(object_type, ("", None, False))
    if url_name is None or (with_id and not object_id.isdigit()):
        return None
    try:
        return reverse(url_name, args=[project.slug, int(object_id)] if with_id else [project.slug])
    except NoReverseMatch:
        return None


# Detail values stored as codes, shown as their labels: an error category reads "Wrong label".
_CODE_LABELS: dict[str, dict[str, str]] = {"error_category": dict(ErrorCategory.choices)}


def detail_pairs(action: str, details: object) -> list[tuple[str, str]]:
    """An entry's details as (key, text) pairs; the template escapes both."""
    if not isinstance(details, dict):
        return [("", _text(details))] if details not in (None, "", []) else []
    pairs = []
    for key, value in details.items():
        if value is None or value == "":
            continue  # an unset optional field ("error category" of a correct verdict) says nothing
        # policy.set records {field: [old, new]}.
        if action == "policy.set" and isinstance(value, list) and len(value) == 2:
            text = f"{_text(value[0])} → {_text(value[1])}"
        elif isinstance(value, str) and value in _CODE_LABELS.get(key, {}):
            text = _CODE_LABELS[key][value]
        else:
            text = _text(value)
        pairs.append((str(key).replace("_", " "), text))
    return pairs


def _text(value: object, depth: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        shown = ", ".join(_text(item, depth + 1) for item in value[:DETAIL_LIST_LIMIT])
        more = len(value) - DETAIL_LIST_LIMIT
        return f"{shown} and {more:,} more" if more > 0 else shown or "none"
    if isinstance(value, dict):
        if set(value) == {"from", "to"}:
            return f"{_text(value['from'], depth + 1)} → {_text(value['to'], depth + 1)}"
        if depth >= 2:
            return _truncate(json.dumps(value, cls=DjangoJSONEncoder))
        return "; ".join(f"{key}: {_text(item, depth + 1)}" for key, item in value.items()) or "none"
    return _truncate(str(value))


def _truncate(text: str) -> str:
    return text if len(text) <= DETAIL_TEXT_LIMIT else text[: DETAIL_TEXT_LIMIT - 1] + "…"


CSV_COLUMNS = ["id", "time", "actor", "action", "object_type", "object_id", "details"]


def audit_log_csv_rows(queryset: QuerySet[AuditLog], *, chunk: int = CSV_CHUNK) -> Iterator[list[object]]:
    """Every matching entry, newest first, fetched in keyset chunks so memory stays flat and no
    cursor stays open between the chunks a slow download pulls."""
    queryset = queryset.select_related("actor").order_by("-id")
    before: int | None = None
    while True:
        page = queryset if before is None else queryset.filter(pk__lt=before)
        entries = list(page[:chunk])
        for entry in entries:
            yield [
                entry.pk,
                timezone.localtime(entry.created_at).isoformat(),
                entry.actor.username if entry.actor else "",
                entry.action,
                entry.object_type,
                entry.object_id,
                json.dumps(entry.details, cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False),
            ]
        if len(entries) < chunk:
            return
        before = entries[-1].pk


def policy_history(project: Project, *, limit: int = 5) -> list[LogRow]:
    """The latest policy changes: through the object index (the project is their object), not a scan by action."""
    entries = list(
        AuditLog.objects.filter(
            object_type="generation.project", object_id=str(project.pk), project=project, action="policy.set"
        )
        .select_related("actor")
        .order_by("-id")[:limit]
    )
    return log_rows(project, entries)
