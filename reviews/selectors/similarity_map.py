"""The map tab: the stored 2D points with what each can be coloured by, and one
point's text, fetched when it is hovered.

The page carries no sample text (with it, 912 points made 358 KB). What it
carries is packed into columns of fixed-width base-36 digits: coordinates to a
thousandth in two digits each, novelty in percent in two, each colouring as a
code into its short list of names in one or two, and ids as the gaps from the
previous id. A JSON list spends three bytes on ", 7"; this spends one, and
keeps 3,000 points near 60 KB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models.expressions import RawSQL

from generation.models import Sample
from reviews.models import DuplicateGroupMember, EmbeddingMap, SampleSimilarity
from reviews.selectors.blinding import SEES_ALL, Blinding
from synthreview.projects.models import Project

# What the map's points can be coloured by, in the selector's order.
COLOURINGS = {
    "cluster": "Cluster",
    "generator": "Generator",
    "template": "Template",
    "status": "Status",
    "novelty": "Novelty",
    "group": "Group (variant family or duplicates)",
    "origin": "Origin",
}
HIDDEN = "hidden"
NONE = "none"
# The map's grid: coordinates in [0, 1] are sent as integers in [0, GRID].
GRID = 1000
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# Two base-36 digits hold 0..1295: the grid, and novelty in percent with NO_NOVELTY for none.
NO_NOVELTY = 36 * 36 - 1
_TWO_DIGITS = [DIGITS[v // 36] + DIGITS[v % 36] for v in range(36 * 36)]
# A sample in several groups is coloured by the one that says most about its structure.
GROUP_KIND_ORDER = {"variant": 0, "near": 1, "exact": 2}


@dataclass(frozen=True)
class MapPayload:
    data: dict
    shown: int
    embedded_total: int
    method: str
    built_at: datetime


class _Codes:
    """Names in order of first appearance, and each point's code into them."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.codes: list[int] = []
        self._index: dict[str, int] = {}

    def add(self, name: str) -> None:
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        self.codes.append(self._index[name])

    def as_dict(self) -> dict:
        width = 1 if len(self.names) <= 36 else 2 if len(self.names) <= 36 * 36 else 3
        return {"names": self.names, "width": width, "codes": _packed(self.codes, width)}


def _packed(values: list[int], width: int) -> str:
    """Each value as `width` base-36 digits, one after another."""
    if width == 1:
        return "".join(DIGITS[v] for v in values)
    if width == 2:
        return "".join(_TWO_DIGITS[v] for v in values)
    return "".join(DIGITS[v // 1296] + _TWO_DIGITS[v % 1296] for v in values)


def _id_list(ids: list[int]) -> RawSQL:
    """The map's ids as one parameter, for `__in`: Django prepares each of 3,000 `IN (%s, …)`
    parameters on its own, which cost the map page more CPU than the rows it reads."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(ids),))


def _groups_of(project: Project, ids: list[int]) -> dict[int, str]:
    """Each sample's group as a name ("variant family #12"), preferring a variant family."""
    rows = DuplicateGroupMember.objects.filter(group__project=project, sample_id__in=_id_list(ids)).values_list(
        "sample_id", "group_id", "group__kind"
    )
    best: dict[int, tuple[int, int, str]] = {}
    for sample_id, group_id, kind in rows:
        rank = (GROUP_KIND_ORDER.get(kind, 9), group_id)
        if sample_id not in best or rank < best[sample_id][:2]:
            best[sample_id] = (*rank, kind)
    words = {"variant": "variant family", "near": "near-duplicates", "exact": "exact duplicates"}
    return {sample_id: f"{words.get(kind, kind)} #{group_id}" for sample_id, (_, group_id, kind) in best.items()}


def embedding_map_points(project: Project, *, blinding: Blinding = SEES_ALL) -> MapPayload | None:
    """The stored points in id order, packed for the page; a held item shows only where it lies."""
    stored = EmbeddingMap.objects.filter(project=project).first()
    if stored is None:
        return None
    coords = {int(i): (x, y) for i, x, y in stored.points}
    rows = list(
        Sample.objects.filter(project=project, pk__in=_id_list(list(coords)))
        .order_by("id")
        .values_list(
            "id",
            "origin",
            "status",
            "generator__name",
            "template_version__template__name",
            "similarity__cluster__number",
            "similarity__novelty",
        )
    )
    groups = _groups_of(project, [row[0] for row in rows]) if rows else {}
    columns = {key: _Codes() for key in COLOURINGS if key != "novelty"}
    gaps, xs, ys, novelty = [], [], [], []
    previous = 0
    for pk, origin, status, generator, template, cluster, novel in rows:
        x, y = coords[pk]
        gaps.append(pk - previous)
        previous = pk
        xs.append(min(max(round(x * GRID), 0), GRID))
        ys.append(min(max(round(y * GRID), 0), GRID))
        if blinding.hides(pk):
            # Its cluster, group and novelty say how it relates to real and accepted samples: its lineage.
            for column in columns.values():
                column.add(HIDDEN)
            novelty.append(NO_NOVELTY)
            continue
        columns["origin"].add(origin)
        columns["status"].add(status)
        columns["generator"].add(generator or ("real" if origin == "real" else NONE))
        columns["template"].add(template or NONE)
        columns["cluster"].add(f"cluster {cluster}" if cluster is not None else NONE)
        columns["group"].add(groups.get(pk, NONE))
        novelty.append(NO_NOVELTY if novel is None else min(max(round(novel * 100), 0), 100))
    data = {
        "grid": GRID,
        "count": len(rows),
        "id_gaps": ",".join(map(str, gaps)),
        "x": _packed(xs, 2),
        "y": _packed(ys, 2),
        "novelty": _packed(novelty, 2),
        "no_novelty": NO_NOVELTY,
        **{key: column.as_dict() for key, column in columns.items()},
    }
    return MapPayload(
        data=data, shown=len(rows), embedded_total=stored.embedded_total, method=stored.method, built_at=stored.built_at
    )


@dataclass(frozen=True)
class MapPoint:
    sample: Sample
    cluster_number: int | None
    novelty: float | None


def map_point(sample: Sample, *, blinding: Blinding = SEES_ALL) -> MapPoint:
    """What a hovered point shows: its text and, unless it is held, its lineage, cluster and novelty.
    `sample` comes from the access helper with its lineage loaded."""
    blinding.mark([sample])
    if blinding.hides(sample.pk):
        return MapPoint(sample=sample, cluster_number=None, novelty=None)
    similarity = SampleSimilarity.objects.select_related("cluster").filter(sample_id=sample.pk).first()
    cluster = similarity.cluster if similarity is not None else None
    return MapPoint(
        sample=sample,
        cluster_number=cluster.number if cluster is not None else None,
        novelty=similarity.novelty if similarity is not None else None,
    )
