"""Everything the queue card and the detail page show about one sample, in a
fixed handful of queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from generation.models import Sample, SampleFlag
from reviews.models import DuplicateGroupMember, SampleSimilarity, Verdict
from reviews.selectors.blinding import SEES_ALL, Blinding
from synthreview.projects.models import Project

LINEAGE_RELATED = ("generator", "run", "template_version__template", "import_batch")


def sample_in_project(project: Project, sample_id: int) -> Sample | None:
    """The project's sample with this id and its lineage, as the pages fetch it
    (generation.access.get_sample_with_access); None when the project has none such."""
    return Sample.objects.select_related(*LINEAGE_RELATED).filter(project=project, pk=sample_id).first()


@dataclass(frozen=True)
class Neighbour:
    sample: Sample
    similarity: float


@dataclass
class SampleView:
    sample: Sample
    similarity: SampleSimilarity | None
    neighbours: list[Neighbour] = field(default_factory=list)
    nearest_real: Neighbour | None = None
    flags: list[SampleFlag] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    memberships: list[DuplicateGroupMember] = field(default_factory=list)
    # The reader holds this sample in an open audit: its lineage, signals and others' verdicts stay hidden.
    blinded: bool = False
    # The nearest real sample is one the reader holds in an audit, so neither it nor its similarity is shown.
    nearest_real_withheld: bool = False
    metadata: dict = field(default_factory=dict)

    @property
    def novelty(self) -> float | None:
        return self.similarity.novelty if self.similarity else None

    @property
    def cluster(self):  # noqa: ANN201 - a Cluster or None
        return self.similarity.cluster if self.similarity else None


def sample_view(sample: Sample, *, neighbour_limit: int = 5, blinding: Blinding = SEES_ALL) -> SampleView:
    view = SampleView(
        sample=sample,
        similarity=None,
        blinded=blinding.hides(sample.pk),
        metadata=blinding.metadata(sample.metadata, sample_id=sample.pk),
    )
    blinding.mark([sample])
    verdicts = Verdict.objects.filter(sample=sample).select_related("reviewer").order_by("-updated_at")
    view.verdicts = blinding.own_only(sample.pk, verdicts, author="reviewer_id")
    if view.blinded:
        # Checks, novelty, clusters, groups and neighbours all hint at origin; the audit card shows none of them.
        return view
    similarity = SampleSimilarity.objects.select_related("cluster").filter(sample_id=sample.pk).first()
    view.similarity = similarity
    if similarity is not None:
        pairs = [(int(i), float(s)) for i, s in (similarity.neighbours or [])[:neighbour_limit]]
        wanted = [i for i, _ in pairs]
        if similarity.nearest_real_id:
            wanted.append(similarity.nearest_real_id)
        # Their generator only (the API names it); the pages show origin, status and text.
        found = Sample.objects.select_related("generator").filter(project_id=sample.project_id).in_bulk(wanted)
        blinding.mark(found.values())
        view.neighbours = [Neighbour(found[i], s) for i, s in pairs if i in found]
        if blinding.hides(similarity.nearest_real_id):
            view.nearest_real_withheld = True
        elif similarity.nearest_real_id in found:
            view.nearest_real = Neighbour(found[similarity.nearest_real_id], similarity.nearest_real_similarity or 0.0)
    view.flags = blinding.flag_reasons(SampleFlag.objects.filter(sample=sample))
    view.memberships = list(DuplicateGroupMember.objects.filter(sample=sample).select_related("group"))
    return view
