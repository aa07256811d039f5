"""The leak check: train-side samples too close to an eval-set version.

Every sample of the project that is not a member of the version is compared,
synthetic or real, whatever its split today (a sample moved out of the eval
split later is still caught): same content hash, or cosine similarity to its
nearest eval sample at or above the project's threshold. FAISS runs here, in the
worker; the leaks go to the database, where exports leave them out and the
review queue shows them as flags.

The check is incremental by sample id, so each export only checks what arrived
since the last one. A changed threshold or embedding model starts it over.
"""

from __future__ import annotations

import faiss
import numpy as np
from django.db import transaction
from django.db.models import Max

from generation.models import Project, Sample, SampleFlag
from reviews.governance.eval_sets import eval_set_latest
from reviews.models import (
    EvalLeak,
    EvalLeakCheck,
    EvalSetMember,
    EvalSetVersion,
    LeakCheckStatus,
    LeakKind,
    SampleEmbedding,
)
from reviews.similarity.embeddings import embedding_key, missing_embeddings

LEAK_FLAG = "eval-leak"
# Train-side vectors read and searched at a time: 20,000 × 384 floats ≈ 30 MB.
SEARCH_CHUNK = 20000


def eval_leak_check(*, version_id: int, embed_missing: bool = True) -> EvalLeakCheck:
    version = EvalSetVersion.objects.select_related("project").get(pk=version_id)
    project = version.project
    model_name, text_kind = embedding_key(project)
    if embed_missing:
        # Imported lazily: the encoder loads torch, which only this step needs.
        from reviews.similarity.embeddings import embeddings_compute

        embeddings_compute(project_id=project.pk)
    through = Sample.objects.filter(project=project).aggregate(top=Max("id"))["top"] or 0
    # Only as far as every sample has a vector: one embedded later is checked next time, not skipped.
    first_missing = missing_embeddings(project).order_by("id").values_list("id", flat=True).first()
    if first_missing is not None:
        through = min(through, first_missing - 1)
    with transaction.atomic():
        check, _ = EvalLeakCheck.objects.select_for_update().get_or_create(
            version=version, defaults={"threshold": project.eval_leak_threshold, "model_name": model_name})
        if check.threshold != project.eval_leak_threshold or check.model_name != model_name:
            EvalLeak.objects.filter(version=version).delete()
            check.threshold, check.model_name = project.eval_leak_threshold, model_name
            check.checked_through_id = check.samples_checked = 0
        if check.checked_through_id >= through and check.status == LeakCheckStatus.DONE:
            return check
        check.status = LeakCheckStatus.RUNNING
        checked = _check_range(version, check, after_id=check.checked_through_id, through_id=through,
                               model_name=model_name, text_kind=text_kind)
        check.checked_through_id = through
        check.samples_checked += checked
        check.leaks_found = EvalLeak.objects.filter(version=version).count()
        check.status = LeakCheckStatus.DONE
        check.error = ""
        check.save()
        if version == eval_set_latest(project.pk):
            _flags_sync(project, version)
    return check


def _check_range(version: EvalSetVersion, check: EvalLeakCheck, *, after_id: int, through_id: int,
                 model_name: str, text_kind: str) -> int:
    members = list(EvalSetMember.objects.filter(version=version).values_list("sample_id", "content_hash"))
    member_ids = {pk for pk, _ in members}
    by_hash = {content_hash: pk for pk, content_hash in members}
    train_side = Sample.objects.filter(project=version.project, id__gt=after_id, id__lte=through_id).exclude(
        id__in=EvalSetMember.objects.filter(version=version).values("sample_id"))
    leaks: dict[int, EvalLeak] = {}
    for sample_id, content_hash in train_side.filter(content_hash__in=list(by_hash)).values_list(
            "id", "content_hash").iterator(chunk_size=5000):
        leaks[sample_id] = EvalLeak(version=version, sample_id=sample_id, eval_sample_id=by_hash[content_hash],
                                    similarity=1.0, kind=LeakKind.EXACT)
    index, eval_ids = _eval_index(version, member_ids, model_name, text_kind)
    checked = train_side.count()
    if index is not None:
        last = after_id
        while True:
            rows = list(SampleEmbedding.objects.filter(
                project=version.project, model_name=model_name, text_kind=text_kind,
                sample_id__gt=last, sample_id__lte=through_id).order_by("sample_id")
                .values_list("sample_id", "vector")[:SEARCH_CHUNK])
            if not rows:
                break
            last = rows[-1][0]
            rows = [(pk, vector) for pk, vector in rows if pk not in member_ids]
            if not rows:
                continue
            vectors = np.frombuffer(b"".join(bytes(v) for _, v in rows), dtype=np.float32).reshape(len(rows), -1)
            similarity, position = index.search(np.ascontiguousarray(vectors), 1)
            for (sample_id, _), sim, pos in zip(rows, similarity[:, 0], position[:, 0], strict=True):
                if pos >= 0 and sim >= check.threshold and sample_id not in leaks:
                    leaks[sample_id] = EvalLeak(version=version, sample_id=sample_id,
                                                eval_sample_id=int(eval_ids[pos]),
                                                similarity=float(min(sim, 1.0)), kind=LeakKind.NEAR)
    EvalLeak.objects.bulk_create(leaks.values(), batch_size=2000, ignore_conflicts=True)
    return checked


def _eval_index(version: EvalSetVersion, member_ids: set[int], model_name: str, text_kind: str
                ) -> tuple[faiss.Index | None, np.ndarray]:
    rows = list(SampleEmbedding.objects.filter(sample_id__in=member_ids, model_name=model_name,
                                               text_kind=text_kind).order_by("sample_id")
                .values_list("sample_id", "vector"))
    if not rows:
        return None, np.empty(0, dtype=np.int64)
    vectors = np.frombuffer(b"".join(bytes(v) for _, v in rows), dtype=np.float32).reshape(len(rows), -1)
    # Exact inner product on normalised vectors is cosine similarity; an eval set is small enough for it.
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors))
    return index, np.asarray([pk for pk, _ in rows], dtype=np.int64)


def _flags_sync(project: Project, version: EvalSetVersion) -> None:
    """The queue and the sample browser show the latest version's leaks as flags."""
    leaked = EvalLeak.objects.filter(version=version)
    SampleFlag.objects.filter(project=project, check_name=LEAK_FLAG).exclude(
        sample_id__in=leaked.values("sample_id")).delete()
    SampleFlag.objects.bulk_create(
        (SampleFlag(project=project, sample_id=leak.sample_id, check_name=LEAK_FLAG,
                    reason=(f"{'Same content as' if leak.kind == LeakKind.EXACT else 'Near-duplicate of'} "
                            f"eval sample {leak.eval_sample_id} (cosine {leak.similarity:.3f}) "
                            f"in eval set v{version.version}; kept out of training exports."))
         for leak in leaked.only("sample_id", "eval_sample_id", "similarity", "kind").iterator(chunk_size=2000)),
        batch_size=2000, ignore_conflicts=True)


def eval_leaks_after_build(*, project_id: int) -> None:
    """After a similarity build: check the latest version against what arrived since."""
    version = eval_set_latest(project_id)
    if version is not None:
        eval_leak_check(version_id=version.pk, embed_missing=False)
