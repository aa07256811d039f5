"""The leak check: train-side samples too close to an eval-set version.

Every sample of the project that is not a member of the version is compared,
synthetic or real, whatever its split today (a sample moved out of the eval
split later is still caught), in the order of how sure the match is:
- exact: the same content hash (prompt and answer);
- prompt: the same prompt, normalised as content hashes normalise it, whatever
  the answer (a model that trained on an eval prompt has seen the eval item);
- near: cosine similarity of prompt and answer together at or above the
  project's threshold;
- prompt_near: the prompt alone as similar (a paraphrased eval prompt).
An empty prompt matches nothing. FAISS and the encoder run here, in the worker;
the leaks go to the database, where exports leave them out and the review queue
shows them as flags.

The check is incremental by sample id, so each export only checks what arrived
since the last one. A changed threshold or embedding model starts it over.
"""

from __future__ import annotations

import hashlib

import faiss
import numpy as np
from django.db import transaction
from django.db.models import Max

from generation.hashing import normalise_text
from generation.models import Sample, SampleFlag
from reviews.models import (
    EvalLeak,
    EvalLeakCheck,
    EvalSetMember,
    EvalSetVersion,
    LeakCheckStatus,
    LeakKind,
    SampleEmbedding,
)
from reviews.services import embeddings
from reviews.services.embeddings import embedding_key, missing_embeddings
from reviews.services.eval_sets import eval_set_latest
from synthreview.projects.models import EmbeddingText, Project

LEAK_FLAG = "eval-leak"
# Train-side vectors read and searched at a time: 20,000 × 384 floats ≈ 30 MB.
SEARCH_CHUNK = 20000
# Train-side prompts read at a time for the same-prompt lookup.
READ_CHUNK = 5000
# Prompts alone are embedded under this text kind, beside the project's own choice.
PROMPT_TEXT = EmbeddingText.INPUT
FLAG_WORDING: dict[str, str] = {
    LeakKind.EXACT: "Same content as",
    LeakKind.PROMPT: "Same prompt as",
    LeakKind.NEAR: "Near-duplicate of",
    LeakKind.PROMPT_NEAR: "Paraphrases the prompt of",
}


def prompt_hash(input_text: str) -> str | None:
    """sha256 of the normalised prompt; None for an empty one, which must never match another."""
    text = normalise_text(input_text or "")
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None


def _text_kinds(text_kind: str) -> list[str]:
    """The project's embedded text, and the prompt alone unless that is already what it embeds."""
    return [text_kind] if text_kind == PROMPT_TEXT else [text_kind, PROMPT_TEXT]


def eval_leak_check(*, version_id: int, embed_missing: bool = True) -> EvalLeakCheck:
    version = EvalSetVersion.objects.select_related("project").get(pk=version_id)
    project = version.project
    model_name, text_kind = embedding_key(project)
    current = _check_if_current(version, model_name)
    if current is not None:
        return current
    if embed_missing:
        # Called through its module so that tests can stand in for the encoder.
        for kind in _text_kinds(text_kind):
            embeddings.embeddings_compute(project_id=project.pk, text_kind=kind)
    through = Sample.objects.filter(project=project).aggregate(top=Max("id"))["top"] or 0
    # Only as far as every sample has its vectors: one embedded later is checked next time, not skipped.
    for kind in _text_kinds(text_kind):
        first_missing = missing_embeddings(project, text_kind=kind).order_by("id").values_list("id", flat=True).first()
        if first_missing is not None:
            through = min(through, first_missing - 1)
    with transaction.atomic():
        check, _ = EvalLeakCheck.objects.select_for_update().get_or_create(
            version=version, defaults={"threshold": project.eval_leak_threshold, "model_name": model_name}
        )
        if check.threshold != project.eval_leak_threshold or check.model_name != model_name:
            EvalLeak.objects.filter(version=version).delete()
            check.threshold, check.model_name = project.eval_leak_threshold, model_name
            check.checked_through_id = check.samples_checked = 0
        if check.checked_through_id >= through and check.status == LeakCheckStatus.DONE:
            return check
        check.status = LeakCheckStatus.RUNNING
        checked = _check_range(
            version,
            check,
            after_id=check.checked_through_id,
            through_id=through,
            model_name=model_name,
            text_kind=text_kind,
        )
        check.checked_through_id = through
        check.samples_checked += checked
        check.leaks_found = EvalLeak.objects.filter(version=version).count()
        check.status = LeakCheckStatus.DONE
        check.error = ""
        check.save()
        if version == eval_set_latest(project.pk):
            _flags_sync(project, version)
    return check


def _check_if_current(version: EvalSetVersion, model_name: str) -> EvalLeakCheck | None:
    """The version's finished check if it already covers the project's newest sample under today's threshold
    and model: then there is nothing to embed or compare, and an export need not scan the project for
    samples without vectors (three anti-joins over every sample) to learn that."""
    project = version.project
    check = EvalLeakCheck.objects.filter(version=version).first()
    if (
        check is None
        or check.status != LeakCheckStatus.DONE
        or check.threshold != project.eval_leak_threshold
        or check.model_name != model_name
    ):
        return None
    newest = Sample.objects.filter(project=project).aggregate(top=Max("id"))["top"] or 0
    return check if check.checked_through_id >= newest else None


def _check_range(
    version: EvalSetVersion, check: EvalLeakCheck, *, after_id: int, through_id: int, model_name: str, text_kind: str
) -> int:
    members = list(EvalSetMember.objects.filter(version=version).values_list("sample_id", "content_hash"))
    member_ids = {pk for pk, _ in members}
    by_hash = {content_hash: pk for pk, content_hash in members}
    train_side = Sample.objects.filter(project=version.project, id__gt=after_id, id__lte=through_id).exclude(
        id__in=EvalSetMember.objects.filter(version=version).values("sample_id")
    )
    leaks: dict[int, EvalLeak] = {}
    for sample_id, content_hash in (
        train_side.filter(content_hash__in=list(by_hash))
        .values_list("id", "content_hash")
        .iterator(chunk_size=READ_CHUNK)
    ):
        leaks[sample_id] = EvalLeak(
            version=version,
            sample_id=sample_id,
            eval_sample_id=by_hash[content_hash],
            similarity=1.0,
            kind=LeakKind.EXACT,
        )
    # The eval prompts by hash, lowest id first; the train side's prompts are read once, in this
    # id range only, and looked up in it: one pass, no query per sample.
    eval_prompts: dict[str, int] = {}
    prompted_members: set[int] = set()
    for pk, input_text in Sample.objects.filter(pk__in=member_ids).order_by("id").values_list("id", "input"):
        key = prompt_hash(input_text)
        if key is not None:
            eval_prompts.setdefault(key, pk)
            prompted_members.add(pk)
    if eval_prompts:
        for sample_id, input_text in train_side.order_by().values_list("id", "input").iterator(chunk_size=READ_CHUNK):
            key = prompt_hash(input_text)
            if key in eval_prompts and sample_id not in leaks:
                leaks[sample_id] = EvalLeak(
                    version=version,
                    sample_id=sample_id,
                    eval_sample_id=eval_prompts[key],
                    similarity=1.0,
                    kind=LeakKind.PROMPT,
                )
    searches = [(text_kind, member_ids, LeakKind.NEAR)]
    if text_kind != PROMPT_TEXT:
        searches.append((PROMPT_TEXT, prompted_members, LeakKind.PROMPT_NEAR))
    for kind, eval_side, leak_kind in searches:
        index, eval_ids = _eval_index(eval_side, model_name, kind)
        if index is not None:
            _nearest_search(
                version,
                index,
                eval_ids,
                member_ids,
                leaks,
                after_id=after_id,
                through_id=through_id,
                model_name=model_name,
                text_kind=kind,
                threshold=check.threshold,
                leak_kind=leak_kind,
            )
    EvalLeak.objects.bulk_create(leaks.values(), batch_size=2000, ignore_conflicts=True)
    return train_side.count()


def _nearest_search(
    version: EvalSetVersion,
    index: faiss.Index,
    eval_ids: np.ndarray,
    member_ids: set[int],
    leaks: dict[int, EvalLeak],
    *,
    after_id: int,
    through_id: int,
    model_name: str,
    text_kind: str,
    threshold: float,
    leak_kind: str,
) -> None:
    """Each train-side vector of the range against its nearest eval vector; a leak at or above the threshold
    unless the sample already leaks in a surer way."""
    last = after_id
    while True:
        rows = list(
            SampleEmbedding.objects.filter(
                project=version.project,
                model_name=model_name,
                text_kind=text_kind,
                sample_id__gt=last,
                sample_id__lte=through_id,
            )
            .order_by("sample_id")
            .values_list("sample_id", "vector")[:SEARCH_CHUNK]
        )
        if not rows:
            return
        last = rows[-1][0]
        rows = [(pk, vector) for pk, vector in rows if pk not in member_ids and pk not in leaks]
        if not rows:
            continue
        vectors = np.frombuffer(b"".join(bytes(v) for _, v in rows), dtype=np.float32).reshape(len(rows), -1)
        similarity, position = index.search(np.ascontiguousarray(vectors), 1)
        for (sample_id, _), sim, pos in zip(rows, similarity[:, 0], position[:, 0], strict=True):
            if pos >= 0 and sim >= threshold:
                leaks[sample_id] = EvalLeak(
                    version=version,
                    sample_id=sample_id,
                    eval_sample_id=int(eval_ids[pos]),
                    similarity=float(min(sim, 1.0)),
                    kind=leak_kind,
                )


def _eval_index(eval_side: set[int], model_name: str, text_kind: str) -> tuple[faiss.Index | None, np.ndarray]:
    rows = list(
        SampleEmbedding.objects.filter(sample_id__in=eval_side, model_name=model_name, text_kind=text_kind)
        .order_by("sample_id")
        .values_list("sample_id", "vector")
    )
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
        sample_id__in=leaked.values("sample_id")
    ).delete()
    SampleFlag.objects.bulk_create(
        (
            SampleFlag(
                project=project,
                sample_id=leak.sample_id,
                check_name=LEAK_FLAG,
                reason=(
                    f"{FLAG_WORDING.get(leak.kind, 'Near-duplicate of')} "
                    f"eval sample {leak.eval_sample_id} (cosine {leak.similarity:.3f}) "
                    f"in eval set v{version.version}; kept out of training exports."
                ),
            )
            for leak in leaked.only("sample_id", "eval_sample_id", "similarity", "kind").iterator(chunk_size=2000)
        ),
        batch_size=2000,
        ignore_conflicts=True,
    )


def eval_leaks_after_build(*, project_id: int) -> None:
    """After a similarity build: check the latest version against what arrived since."""
    version = eval_set_latest(project_id)
    if version is not None:
        eval_leak_check(version_id=version.pk, embed_missing=False)
