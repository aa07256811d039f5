"""The eval set: real samples only (in the service and in the database), frozen
into versions identified by a hash over their sorted content hashes, and
exported exactly as frozen."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError

from generation.models import Sample
from reviews.models import EvalSetMember, EvalSetVersion
from reviews.services.eval_sets import (
    EvalSetError,
    eval_set_version_create,
    eval_split_add,
    eval_split_draw,
    eval_split_remove,
)
from synthreview.projects.models import AuditLog
from tests.reviews.export_helpers import exported, jsonl_rows, lead_access
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.postgres(reason="the triggers exist on PostgreSQL only")


def _splits(samples) -> list[str]:
    by_id = dict(Sample.objects.filter(pk__in=[s.pk for s in samples]).values_list("pk", "split"))
    return [by_id[s.pk] for s in samples]


def _frozen(project, lead, samples) -> EvalSetVersion:
    eval_split_add(lead_access(project, lead), sample_ids=[s.pk for s in samples])
    return eval_set_version_create(lead_access(project, lead))


def test_adding_a_synthetic_sample_is_refused_by_name_and_changes_nothing(project, lead):
    real = add_samples(project, 2, origin="real")
    synthetic = add_samples(project, 1)[0]
    with pytest.raises(EvalSetError) as refused:
        eval_split_add(lead_access(project, lead), sample_ids=[real[0].pk, synthetic.pk, real[1].pk])
    assert "real samples only" in str(refused.value)
    assert str(synthetic.pk) in str(refused.value) and str(real[0].pk) not in str(refused.value)
    assert _splits([*real, synthetic]) == ["", "", ""]
    assert not AuditLog.objects.filter(action="eval_split.add").exists()


def test_adding_real_samples_puts_them_in_the_eval_split(project, lead):
    real = add_samples(project, 3, origin="real")
    moved = eval_split_add(lead_access(project, lead), sample_ids=[real[0].pk, real[2].pk])
    assert moved == 2
    assert _splits(real) == ["eval", "", "eval"]
    assert AuditLog.objects.get(action="eval_split.add").details["sample_ids"] == [real[0].pk, real[2].pk]


def test_a_sample_of_another_project_is_refused(project, other_project, lead):
    foreign = add_samples(other_project, 1, origin="real")[0]
    with pytest.raises(EvalSetError, match=str(foreign.pk)):
        eval_split_add(lead_access(project, lead), sample_ids=[foreign.pk])
    assert _splits([foreign]) == [""]


def test_the_sample_table_refuses_a_synthetic_sample_in_the_eval_split(project):
    synthetic = add_samples(project, 1)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Sample.objects.filter(pk=synthetic.pk).update(split="eval")


@on_postgresql
def test_postgresql_refuses_a_synthetic_eval_member_inserted_below_the_orm(project, lead):
    version = _frozen(project, lead, add_samples(project, 2, origin="real"))
    synthetic = add_samples(project, 1)[0]
    # The copied origin says "real", so only the trigger, which reads the sample itself, can catch it.
    with pytest.raises(DatabaseError, match="real samples only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO reviews_evalsetmember (version_id, sample_id, content_hash, origin) "
                "VALUES (%s, %s, %s, 'real')",
                [version.pk, synthetic.pk, synthetic.content_hash],
            )
    assert EvalSetMember.objects.filter(version=version).count() == 2


def test_a_version_freezes_the_members_under_a_hash_of_their_sorted_content_hashes(project, lead):
    real = add_samples(project, 4, origin="real")
    Sample.objects.filter(pk=real[0].pk).update(content_hash="f" * 64)  # out of id order once sorted
    members = [real[0], real[1], real[3]]
    version = _frozen(project, lead, members)
    hashes = sorted(Sample.objects.filter(pk__in=[s.pk for s in members]).values_list("content_hash", flat=True))
    expected = hashlib.sha256("".join(f"{h}\n" for h in hashes).encode("ascii")).hexdigest()
    assert version.content_hash == expected
    assert (version.version, version.member_count) == (1, 3)
    assert sorted(version.members.values_list("sample_id", flat=True)) == sorted(s.pk for s in members)
    assert set(version.members.values_list("origin", flat=True)) == {"real"}
    logged = AuditLog.objects.get(action="eval_set.version_create")
    assert logged.details["hash"] == expected and logged.details["members"] == 3


def test_freezing_again_without_a_change_is_refused_and_a_change_is_a_new_version(project, lead):
    real = add_samples(project, 3, origin="real")
    first = _frozen(project, lead, real[:2])
    with pytest.raises(EvalSetError, match="has not changed since v1"):
        eval_set_version_create(lead_access(project, lead))
    assert EvalSetVersion.objects.filter(project=project).count() == 1
    eval_split_add(lead_access(project, lead), sample_ids=[real[2].pk])
    eval_split_remove(lead_access(project, lead), sample_ids=[real[0].pk])
    second = eval_set_version_create(lead_access(project, lead))
    assert second.version == 2 and second.content_hash != first.content_hash
    assert sorted(first.members.values_list("sample_id", flat=True)) == [real[0].pk, real[1].pk]
    assert sorted(second.members.values_list("sample_id", flat=True)) == [real[1].pk, real[2].pk]


def test_an_empty_eval_split_cannot_be_frozen(project, lead):
    add_samples(project, 2, origin="real")
    with pytest.raises(EvalSetError, match="empty"):
        eval_set_version_create(lead_access(project, lead))


def test_the_model_refuses_to_save_a_changed_version(project, lead):
    version = _frozen(project, lead, add_samples(project, 1, origin="real"))
    version.note = "rewritten"
    with pytest.raises(ValidationError):
        version.save()


@on_postgresql
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE reviews_evalsetmember SET content_hash = 'x' WHERE version_id = %s",
        "DELETE FROM reviews_evalsetmember WHERE version_id = %s",
        "UPDATE reviews_evalsetversion SET content_hash = 'x' WHERE id = %s",
        "DELETE FROM reviews_evalsetversion WHERE id = %s",
    ],
)
def test_postgresql_refuses_to_change_a_frozen_version_below_the_orm(project, lead, statement):
    version = _frozen(project, lead, add_samples(project, 2, origin="real"))
    with pytest.raises(DatabaseError, match="frozen"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [version.pk])
    version.refresh_from_db()
    assert version.members.count() == 2
    assert set(version.members.values_list("content_hash", flat=True)) != {"x"} and version.content_hash != "x"


def test_a_seeded_draw_takes_free_real_samples_only(project, lead):
    real = add_samples(project, 10, origin="real")
    add_samples(project, 10)  # synthetic: never drawn
    rejected = add_samples(project, 3, origin="real", status="rejected")
    assert eval_split_draw(lead_access(project, lead), count=4, seed=11) == 4
    drawn = set(Sample.objects.filter(project=project, split="eval").values_list("pk", flat=True))
    assert len(drawn) == 4 and drawn <= {s.pk for s in real}
    assert not drawn & {s.pk for s in rejected}
    with pytest.raises(EvalSetError, match="Only 6 real samples are free"):
        eval_split_draw(lead_access(project, lead), count=7, seed=1)


def test_an_eval_export_holds_exactly_the_versions_members_and_refuses_nothing(project, lead):
    real = add_samples(project, 5, origin="real", status="accepted")
    add_samples(project, 6, status="accepted")  # synthetic, unaudited: irrelevant to an eval export
    version = _frozen(project, lead, real[:3])
    # The split moves on after freezing; the version, and so the export, does not.
    eval_split_remove(lead_access(project, lead), sample_ids=[real[0].pk])
    eval_split_add(lead_access(project, lead), sample_ids=[real[4].pk])
    export = exported(project, lead, split="eval")
    assert export.status == "completed" and export.refusals == []
    rows = jsonl_rows(export.stored_path)
    assert [row["id"] for row in rows] == [s.pk for s in real[:3]]
    assert {row["origin"] for row in rows} == {"real"}
    assert export.manifest["eval_set"]["version"] == 1
    assert export.manifest["eval_set"]["hash"] == version.content_hash
    assert [d["outcome"] for d in export.manifest["decisions"]] == ["passed"]
    assert export.manifest["counts"]["by_origin"] == {"real": 3, "synthetic": 0}
