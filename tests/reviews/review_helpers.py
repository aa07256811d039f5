"""Helpers shared by the review-UI tests: samples that keep the counters right,
their similarity rows, near-duplicate groups and clusters, and readers for the
ids a page shows."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from html import unescape
from typing import Any

from django.http import HttpResponse

from generation.models import (
    GenerationRun,
    Generator,
    PromptTemplate,
    PromptTemplateVersion,
    Sample,
    SampleFlag,
)
from reviews.models import (
    Cluster,
    DuplicateGroup,
    DuplicateGroupMember,
    SampleSimilarity,
)
from reviews.similarity.membership import MemberSet
from synthreview.projects.models import Project
from synthreview.projects.services.counters import sample_count_add

HTMX = {"HX-Request": "true"}
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

_unique = itertools.count(1)


def generator(project: Project, name: str = "gen-a") -> Generator:
    # As an import makes it: the generator's name is the model the file says made its samples.
    return Generator.objects.get_or_create(
        project=project, name=name, defaults={"kind": "imported", "model_name": name}
    )[0]


def template_version(project: Project, name: str = "tpl-a") -> PromptTemplateVersion:
    template = PromptTemplate.objects.get_or_create(project=project, name=name)[0]
    return PromptTemplateVersion.objects.get_or_create(template=template, version=1)[0]


def run(project: Project, name: str, version: PromptTemplateVersion, *generators: Generator) -> GenerationRun:
    created = GenerationRun.objects.create(project=project, name=name, template_version=version, status="completed")
    created.generators.set(generators)
    return created


def add_samples(
    project: Project,
    count: int = 1,
    *,
    origin: str = "synthetic",
    status: str = "pending",
    gen: Generator | None = None,
    texts: list[tuple[str, str]] | None = None,
    **fields: Any,
) -> list[Sample]:
    """Samples in id order, counted in SampleCount as the import would count them."""
    if origin == "synthetic" and gen is None:
        gen = generator(project)
    rows = []
    for index in range(count):
        number = next(_unique)
        text_in, text_out = texts[index] if texts else (f"question {number}", f"answer {number}")
        rows.append(
            Sample(
                project=project,
                origin=origin,
                generator=gen if origin == "synthetic" else None,
                input=text_in,
                output=text_out,
                content_hash=f"{number:064x}",
                status=status,
                **fields,
            )
        )
    created = Sample.objects.bulk_create(rows)
    sample_count_add(project_id=project.pk, origin=origin, status=status, delta=count)
    return sorted(created, key=lambda s: s.pk)


def add_sample(project: Project, **kwargs: Any) -> Sample:
    text = (kwargs.pop("input", None), kwargs.pop("output", None))
    if text != (None, None):
        kwargs["texts"] = [(text[0] or "", text[1] or "")]
    return add_samples(project, 1, **kwargs)[0]


def flag(sample: Sample, check_name: str = "length", reason: str = "too long") -> SampleFlag:
    return SampleFlag.objects.create(sample=sample, project_id=sample.project_id, check_name=check_name, reason=reason)


def score(
    sample: Sample,
    novelty: float | None,
    *,
    neighbours: list[list[float]] | None = None,
    cluster: Cluster | None = None,
) -> SampleSimilarity:
    return SampleSimilarity.objects.create(
        sample=sample,
        project_id=sample.project_id,
        novelty=novelty,
        neighbours=neighbours or [],
        cluster=cluster,
        top_similarity=neighbours[0][1] if neighbours else None,
    )


def cluster(
    project: Project,
    number: int,
    members: Sequence[Sample] = (),
    *,
    density: float = 0.5,
    low: bool = False,
    label: str = "",
) -> Cluster:
    created = Cluster.objects.create(
        project=project,
        number=number,
        size=max(len(members), 1),
        density=density,
        synthetic_share=1.0,
        label=label,
        is_low_novelty=low,
        generator_mix={"gen-a": len(members)},
        template_mix={},
    )
    for sample in members:
        SampleSimilarity.objects.update_or_create(sample=sample, defaults={"project": project, "cluster": created})
    if members:
        created.membership = MemberSet.of(s.pk for s in members).token
        created.save(update_fields=["membership"])
    return created


def members_token(target: DuplicateGroup | Cluster) -> str:
    """The token of the members a card for this group or cluster shows now (worked out from the rows)."""
    if isinstance(target, DuplicateGroup):
        ids = DuplicateGroupMember.objects.filter(group=target).values_list("sample_id", flat=True)
    else:
        ids = SampleSimilarity.objects.filter(cluster=target).values_list("sample_id", flat=True)
    return MemberSet.of(ids).token


def group(
    project: Project, members: list[Sample], *, kind: str = "near", similarities: list[float] | None = None
) -> DuplicateGroup:
    """A group with the first member as its representative; the others get
    descending similarities unless given."""
    similarities = similarities or [1.0] + [round(0.99 - 0.001 * i, 3) for i in range(len(members) - 1)]
    created = DuplicateGroup.objects.create(
        project=project,
        kind=kind,
        signature=f"{next(_unique):064x}",
        size=len(members),
        min_similarity=min(similarities),
        threshold=0.9,
        representative=members[0],
        representative_reason="earliest sample",
    )
    DuplicateGroupMember.objects.bulk_create(
        [
            DuplicateGroupMember(group=created, sample=sample, similarity=similarity)
            for sample, similarity in zip(members, similarities)
        ]
    )
    return created


def body(response: HttpResponse) -> str:
    return response.content.decode()


def link(response: HttpResponse, element_id: str) -> str:
    """The href of the element with this id, unescaped."""
    match = re.search(rf'<a id="{element_id}" href="([^"]*)"', body(response))
    assert match, f"no link #{element_id} on the page"
    return unescape(match.group(1))


def statuses(samples: list[Sample]) -> list[str]:
    by_id = dict(Sample.objects.filter(pk__in=[s.pk for s in samples]).values_list("pk", "status"))
    return [by_id[s.pk] for s in samples]


MAP_COLUMNS = ("origin", "status", "generator", "template", "cluster", "group")


def map_points(html: str) -> list[dict]:
    """The map tab's points, unpacked the way map.js unpacks them: one dict per point with its
    id, x and y in [0, 1], each colouring's name, and novelty (None when unknown or hidden)."""
    import json

    match = re.search(r'<script id="map-points" type="application/json">(.*?)</script>', html, re.S)
    if not match:
        return []
    data = json.loads(match.group(1))

    def column(packed: str, width: int) -> list[int]:
        return [int(packed[at : at + width], 36) for at in range(0, len(packed), width)]

    gaps = [int(gap) for gap in data["id_gaps"].split(",")] if data["id_gaps"] else []
    xs, ys, novelty = column(data["x"], 2), column(data["y"], 2), column(data["novelty"], 2)
    codes = {key: column(data[key]["codes"], data[key]["width"]) for key in MAP_COLUMNS}
    points, pk = [], 0
    for n, gap in enumerate(gaps):
        pk += gap
        point = {
            "id": pk,
            "x": xs[n] / data["grid"],
            "y": ys[n] / data["grid"],
            "novelty": None if novelty[n] == data["no_novelty"] else novelty[n] / 100,
        }
        point.update({key: data[key]["names"][codes[key][n]] for key in MAP_COLUMNS})
        points.append(point)
    return points
