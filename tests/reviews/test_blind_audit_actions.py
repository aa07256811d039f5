"""An expert holding open audit items cannot decide them outside the audit, nor learn from
the pages what the audit hides: not in the ordinary queue (a verdict, an undo, the queue's
cursor), not by a near-duplicate group decision. Leads still can."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from generation.models import Sample
from reviews.models import DuplicateGroup, Verdict
from reviews.services.verdicts import verdict_record
from reviews.similarity.membership import MemberSet
from synthreview.projects.access import project_access
from synthreview.projects.models import Project
from tests.reviews.review_helpers import HTMX
from tests.reviews.test_blind_audit import PLAIN_NOTE, blind_audit, fay  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

HELD = "This sample is an item of an open audit; judge it in the audit's queue."


def _status(sample: Sample) -> str:
    return Sample.objects.get(pk=sample.pk).status


@pytest.mark.parametrize("order", ["novelty", "flagged"])
def test_an_expert_cannot_judge_a_held_item_in_the_ordinary_queue(order, project, expert, blind_audit, client_for):
    """Opened by id in a "lowest novelty" or "flagged first" order, a gold item took a normal verdict:
    the redirect's cursor told its place in the order, and the gold (real) sample was rejected."""
    gold, client = blind_audit["gold"], client_for(expert)
    queue = reverse("review_queue", args=[project.slug])
    card = client.get(f"{queue}?sample={gold.pk}&order={order}").content.decode()
    assert "GOLDTEXT-Paris" in card
    assert "after=0:" not in card and "after=1:" not in card and "before=1:" not in card
    response = client.post(
        reverse("verdict_save", args=[project.slug, gold.pk]),
        {"value": "wrong", "error_category": "hallucination", "revision": gold.revision, "order": order},
    )
    assert response.status_code == 400
    assert HELD in unescape(response.content.decode())
    assert _status(gold) == "accepted"
    assert not Verdict.objects.filter(sample=gold, reviewer=expert).exists()


def test_an_expert_cannot_judge_a_held_synthetic_item_by_htmx_either(project, expert, blind_audit, client_for):
    held = blind_audit["synthetic"][1]
    response = client_for(expert).post(
        reverse("verdict_save", args=[project.slug, held.pk]),
        {"value": "correct", "revision": held.revision, "order": "novelty"},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert HELD in unescape(response.content.decode())
    assert "HX-Push-Url" in response  # the card shows the same item, with the refusal
    assert _status(held) == "pending"


def test_an_expert_cannot_undo_a_verdict_on_an_item_drawn_into_an_audit_since(project, fay, blind_audit, client_for):
    """fay judged the gold item in the ordinary queue before the audit drew it; undoing it now would
    change a held item outside the audit."""
    gold = blind_audit["gold"]
    response = client_for(fay).post(reverse("verdict_undo", args=[project.slug]), {"order": "oldest"}, headers=HTMX)
    assert response.status_code == 409
    assert HELD in unescape(response.content.decode())
    assert Verdict.objects.filter(sample=gold, reviewer=fay, audit__isnull=True, note=PLAIN_NOTE).exists()


def test_a_refused_undo_on_a_held_item_does_not_tell_its_status(project, fay, lead, blind_audit, client_for):
    gold = blind_audit["gold"]
    # A lead's verdict since changes the item's revision: the undo would have been refused as stale,
    # saying "it is now accepted", which tells a held item's status (and that it is real).
    verdict_record(
        project_access(lead, project),
        sample_id=gold.pk,
        value="correct",
        seen_revision=Sample.objects.get(pk=gold.pk).revision,
    )
    response = client_for(fay).post(reverse("verdict_undo", args=[project.slug]), {"order": "oldest"})
    page = unescape(response.content.decode())
    assert response.status_code == 409
    assert HELD in page
    assert "it is now" not in page


def test_a_lead_may_still_judge_a_held_item_in_the_ordinary_queue(project, lead, blind_audit, client_for):
    held = blind_audit["synthetic"][4]
    response = client_for(lead).post(
        reverse("verdict_save", args=[project.slug, held.pk]),
        {"value": "wrong", "revision": held.revision, "order": "novelty"},
    )
    assert response.status_code == 302
    assert _status(held) == "rejected"


@pytest.mark.parametrize("action", ["group_resolve", "group_not_duplicates", "group_split"])
def test_an_expert_cannot_decide_a_near_duplicate_group_holding_an_audit_item(
    action, project, expert, blind_audit, client_for
):
    """The group [gold, beside, synthetic 1] was shown before the audit was drawn; keeping `beside`
    would reject the gold item, and any decision on it would settle held items outside the audit."""
    near, beside = blind_audit["group"], blind_audit["beside"]
    members = [blind_audit["gold"], beside, blind_audit["synthetic"][1]]
    token = MemberSet.of([m.pk for m in members]).token
    response = client_for(expert).post(
        reverse(action, args=[project.slug, near.pk]),
        {"keep": beside.pk, "sample": beside.pk, "members": token},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert HELD in unescape(response.content.decode())
    assert [_status(m) for m in members] == ["accepted", "pending", "pending"]
    assert DuplicateGroup.objects.get(pk=near.pk).status == "open"
    assert DuplicateGroup.objects.get(pk=near.pk).members.count() == 3


def test_a_held_items_metadata_is_withheld_whole_so_its_keys_cannot_tell_a_run_sample_from_gold(
    project, expert, lead, blind_audit, client_for
):
    """A run's samples carry run_item_id, params, finish_reason; a gold item from a real import carries
    none. Hiding listed keys left the rest to say "synthetic, from this run"."""
    held = blind_audit["synthetic"][2]
    Sample.objects.filter(pk=held.pk).update(
        metadata={"run_item_id": "RUNITEM-77", "finish_reason": "stop", "params": {"temperature": 0.7}}
    )
    url = reverse("sample_detail", args=[project.slug, held.pk])
    pages = {
        sample: unescape(
            client_for(expert).get(reverse("sample_detail", args=[project.slug, sample.pk])).content.decode()
        )
        for sample in (held, blind_audit["gold"])
    }
    for page in pages.values():
        assert "RUNITEM-77" not in page and "finish_reason" not in page and "TOPIC-visible" not in page
        assert "Not shown while this sample is an item of an open audit" in page
    assert "RUNITEM-77" in client_for(lead).get(url).content.decode()


def test_answer_and_reference_answer_are_hidden_from_experts_by_default(project, expert, client_for):
    from tests.reviews.review_helpers import add_samples

    fresh = Project.objects.create(name="Fresh", slug="fresh-defaults")
    assert {"answer", "reference_answer"} <= set(fresh.hidden_metadata_keys)
    project.hidden_metadata_keys = fresh.hidden_metadata_keys
    project.save(update_fields=["hidden_metadata_keys"])
    sample = add_samples(
        project, 1, metadata={"reference_answer": "REF-1234", "answer": "ANS-5678", "source": "SOURCE-ok"}
    )[0]
    page = client_for(expert).get(reverse("sample_detail", args=[project.slug, sample.pk])).content.decode()
    assert "REF-1234" not in page and "ANS-5678" not in page
    assert "SOURCE-ok" in page


def _nearest_real_block(page: str) -> str:
    start = page.index("<h3>Nearest real sample</h3>")
    return page[start : page.index("</div>", start)]


def test_a_held_nearest_real_reads_exactly_like_no_anchor(project, expert, blind_audit, client_for):
    """`beside` (not held) has the gold item as its nearest real sample. "Withheld: it is an item of an
    open audit" there said that some held item is real, and the neighbour list beside it says which."""
    from reviews.models import SampleSimilarity
    from tests.reviews.review_helpers import add_samples

    lonely = add_samples(project, 1, texts=[("Alone?", "LONELY-syn")])[0]
    SampleSimilarity.objects.create(sample=lonely, project=project, neighbours=[], novelty=0.4, top_similarity=0.6)
    client = client_for(expert)
    beside = client.get(reverse("sample_detail", args=[project.slug, blind_audit["beside"].pk])).content.decode()
    alone = client.get(reverse("sample_detail", args=[project.slug, lonely.pk])).content.decode()
    assert "No real anchor to compare with yet." in _nearest_real_block(alone)
    assert _nearest_real_block(beside) == _nearest_real_block(alone)


def test_a_leak_flag_does_not_name_a_held_eval_sample_to_an_expert(project, expert, lead, blind_audit, client_for):
    """Eval sets hold only real samples: "Same prompt as eval sample <gold>" on another sample's page told
    the expert that the gold item is real."""
    from reviews.services.eval_leaks import eval_leak_check
    from reviews.services.eval_sets import eval_set_version_create, eval_split_add
    from tests.reviews.export_helpers import lead_access
    from tests.reviews.review_helpers import add_samples

    gold = blind_audit["gold"]
    eval_split_add(lead_access(project, lead), sample_ids=[gold.pk])
    version = eval_set_version_create(lead_access(project, lead))
    reused = add_samples(
        project, 1, gen=blind_audit["generator"], status="accepted", texts=[("Capital of France?", "Lyon, surely.")]
    )[0]
    eval_leak_check(version_id=version.pk)
    url = reverse("sample_detail", args=[project.slug, reused.pk])
    page = unescape(client_for(expert).get(url).content.decode())
    assert "Same prompt as an eval sample" in page
    assert f"eval sample {gold.pk}" not in page
    assert f"Same prompt as eval sample {gold.pk}" in unescape(client_for(lead).get(url).content.decode())


def test_a_closed_audit_does_not_show_others_verdicts_on_items_an_open_audit_holds(
    project, expert, lead, fay, blind_audit, client_for
):
    """A sample can sit in a closed audit and an open one: the closed audit's disagreements listed fay's
    and the lead's verdicts and notes on it for every expert to read."""
    from reviews.models import Audit, AuditItem
    from reviews.services.audits import audit_close, audit_create, audit_verdict_record

    held_ids = {s.pk for s in blind_audit["held"]}
    earlier = audit_create(
        project_access(lead, project), scope="project", sample_size=12, overlap=2, seed=3, name="Earlier audit"
    )
    items = list(AuditItem.objects.filter(audit=earlier).order_by("position"))
    held = next(i for i in items if i.sample_id in held_ids)
    free = next(i for i in items if i.sample_id not in held_ids)
    for item, note in ((held, "HELDSPLIT-1"), (free, "FREESPLIT-2")):
        audit_verdict_record(
            project_access(fay, project),
            audit=earlier,
            sample_id=item.sample_id,
            value="wrong",
            error_category="hallucination",
            note=note,
        )
        audit_verdict_record(project_access(lead, project), audit=earlier, sample_id=item.sample_id, value="correct")
    audit_close(project_access(lead, project), audit=earlier, reason="two split items; enough for this check")
    assert Audit.objects.get(pk=earlier.pk).status == "closed"
    url = reverse("audit_detail", args=[project.slug, earlier.pk])
    page = client_for(expert).get(url).content.decode()
    assert "FREESPLIT-2" in page
    assert "HELDSPLIT-1" not in page
    assert f"/samples/{held.sample_id}/" not in page
    assert "HELDSPLIT-1" in client_for(lead).get(url).content.decode()


def test_a_lead_acting_with_an_experts_access_is_refused_held_items_too(project, lead, blind_audit):
    """An API token capped at expert gives its lead owner an expert's access; the services decide
    blindness from that access, not from the owner's own role."""
    from django.core.exceptions import ValidationError

    from synthreview.projects.access import ProjectAccess
    from synthreview.projects.models import Role

    capped = ProjectAccess(project=project, role=Role.EXPERT, user=lead)
    held = blind_audit["held"][1]
    with pytest.raises(ValidationError):
        verdict_record(
            capped, sample_id=held.pk, value="correct", seen_revision=Sample.objects.get(pk=held.pk).revision
        )
    assert not Verdict.objects.filter(sample=held, reviewer=lead, audit__isnull=True).exists()
    # With the owner's full role the same verdict goes through: leads are never blind.
    verdict_record(
        project_access(lead, project),
        sample_id=held.pk,
        value="correct",
        seen_revision=Sample.objects.get(pk=held.pk).revision,
    )
