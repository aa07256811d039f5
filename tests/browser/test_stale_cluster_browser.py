"""A cluster an expert opened before an import is not rejected as it is now, in Chromium.

A lead imports a file through the import page into a project that already has
clusters (tasks inline: the import, the embedding and the incremental build run
behind the upload). An expert whose clusters tab was open before the import
rejects a cluster the new samples joined: the action is refused, naming how many
joined; after looking again, exactly the members shown are rejected. Screenshots
of the similarity view (groups and clusters) and of a diff go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import expect

from generation.models import Sample, SampleStatus
from reviews.models import Cluster, DuplicateGroup, DuplicateGroupMember, SampleSimilarity
from reviews.services.embeddings import embeddings_compute
from reviews.services.similarity_build import similarity_build
from synthreview.projects.models import AuditLog
from tests.browser.conftest import make_sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# The upload's response waits for the import, the embedding and the build behind it.
SLOW_MS = 120_000
NAMES = ["Ann", "Bruno", "Chen", "Dara", "Emil", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia", "Omar"]
CAPITALS = [
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Ghana", "Accra"),
    ("Nepal", "Kathmandu"),
    ("Laos", "Vientiane"),
    ("Mali", "Bamako"),
    ("Oman", "Muscat"),
    ("Chad", "N'Djamena"),
    ("Fiji", "Suva"),
    ("Togo", "Lomé"),
    ("Cuba", "Havana"),
    ("Iran", "Tehran"),
    ("Iraq", "Baghdad"),
    ("Niger", "Niamey"),
]


@pytest.fixture
def clustered(project, generator, run_tasks_inline):
    """30 samples on two topics, embedded and fitted: clusters exist before the import.
    Adding 6 or fewer (20% of 30) keeps the next build an increment."""
    for n, name in enumerate(NAMES):
        make_sample(
            project,
            generator,
            f"{name} has {n + 5} apples and eats two. How many are left?",
            f"{name} has {n + 3} apples left.",
        )
    for country, capital in CAPITALS:
        make_sample(project, generator, f"What is the capital city of {country}?", f"The capital is {capital}.")
    embeddings_compute(project_id=project.pk)
    summary = similarity_build(project_id=project.pk)
    assert summary.mode == "full" and summary.clusters >= 2
    return project


def _file(tmp_path: Path) -> Path:
    rows = [
        {
            "input": f"{name} has {n} apples and eats two. How many are left?",
            "output": f"{name} has {n - 2} apples left.",
        }
        for name, n in (("Pia", 31), ("Quin", 42), ("Rui", 53))
    ]
    rows.append(
        {
            "input": "Quels soins dentaires pour une carie profonde ?",
            "output": "Le dentiste nettoie la carie puis pose un plombage ou une couronne.",
        }
    )
    path = tmp_path / "more.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def _member_ids(cluster: Cluster) -> set[int]:
    return set(SampleSimilarity.objects.filter(cluster=cluster).values_list("sample_id", flat=True))


def test_an_expert_rejecting_a_stale_cluster_is_refused_then_rejects_exactly_what_is_shown(
    open_page, live_server, clustered, lead, expert, tmp_path
):
    project = clustered
    base = f"{live_server.url}/p/{project.slug}"
    before = {cluster.pk: _member_ids(cluster) for cluster in Cluster.objects.filter(project=project)}

    # The expert opens the clusters tab and leaves it open.
    reviewer = open_page(expert)
    reviewer.goto(f"{base}/similarity/?tab=clusters")
    expect(reviewer.get_by_test_id("cluster").first).to_be_visible()

    # The lead imports a file through the import page.
    importer = open_page(lead)
    importer.goto(f"{base}/imports/new/")
    importer.set_input_files("#id_file", str(_file(tmp_path)))
    importer.fill("#id_generator", "gpt-x")
    importer.get_by_role("button", name="Import").click(timeout=SLOW_MS)
    importer.wait_for_url(f"{base}/imports/*/", timeout=SLOW_MS)
    expect(importer.locator("#import-status .status")).to_have_text("Completed", timeout=SLOW_MS)
    imported = list(
        Sample.objects.filter(
            project=project, input__contains=" has ", id__gt=max(pk for members in before.values() for pk in members)
        ).order_by("id")
    )
    assert len(imported) == 3
    joined_to = Counter(row.cluster_id for row in SampleSimilarity.objects.filter(sample__in=imported))
    assert None not in joined_to, "samples like the clusters' members join one"
    target_id, joined = joined_to.most_common(1)[0]
    target = Cluster.objects.get(pk=target_id)
    assert _member_ids(target) == before[target.pk] | {
        row.sample_id for row in SampleSimilarity.objects.filter(sample__in=imported, cluster=target)
    }
    french = Sample.objects.get(project=project, input__startswith="Quels soins")
    # Far from every cluster: it waits for the next refit instead of joining one.
    assert SampleSimilarity.objects.get(sample=french).cluster_id is None

    # The expert, on the page opened before the import, rejects that cluster.
    card = reviewer.locator(f"#cluster-{target.pk}")
    expect(card).to_contain_text(f"{len(before[target.pk])} samples")
    card.get_by_test_id("reject-cluster").click()
    reviewer.wait_for_url(f"{base}/samples/bulk/*")
    expect(reviewer.get_by_test_id("problem")).to_have_text(
        f"{joined} sample{'s' if joined > 1 else ''} joined this cluster since you opened it; look again."
    )
    assert not Sample.objects.filter(project=project, status=SampleStatus.REJECTED).exists()
    assert not AuditLog.objects.filter(action="samples.bulk_reject").exists()

    # Looking again: the page now shows every member, the three new ones included; confirming
    # rejects exactly those.
    now = _member_ids(target)
    expect(reviewer.get_by_test_id("bulk-count")).to_have_text(str(len(now)))
    reviewer.screenshot(path=str(_shot("stale_cluster_refused.png")), full_page=True)
    reviewer.locator("#confirm-bulk").click()
    reviewer.wait_for_url(f"{base}/samples/**")
    expect(reviewer.locator("ul.messages")).to_contain_text(f"Rejected {len(now)} of {len(now)} matching samples")
    rejected = set(Sample.objects.filter(project=project, status=SampleStatus.REJECTED).values_list("id", flat=True))
    assert rejected == now
    assert french.pk not in rejected
    target.refresh_from_db()
    assert target.status == "rejected"
    entry = AuditLog.objects.get(action="samples.bulk_reject")
    assert entry.actor == expert and set(entry.details["sample_ids"]) == now

    # The clusters tab, current after the increment.
    reviewer.goto(f"{base}/similarity/?tab=clusters")
    expect(reviewer.locator(f"#cluster-{target.pk}")).to_contain_text(f"{len(now)} samples")
    _screenshots(reviewer, "similarity_clusters")
    # The refusal is a 409 page, which Chromium logs as a failed load.
    assert reviewer.errors.unexpected(allow=("409 (Conflict)",)) == [] and importer.errors.unexpected() == []


def test_member_cards_show_their_own_text_and_stay_inside_the_group_at_390px(
    open_page, live_server, project, generator, expert
):
    keeper = make_sample(project, generator, "Bruno has 6 apples, gets 2 more. How many apples?", "6 more. 6 + 2 = 8")
    member = make_sample(project, generator, "Bruno has 2 apples, gets 6 more. How many apples?", "2 + 6 = 8")
    url = make_sample(project, generator, "Fetch https://example.com/" + "a-very-long-path-segment/" * 12, "x" * 300)
    group = DuplicateGroup.objects.create(
        project=project,
        kind="near",
        signature="b" * 64,
        size=3,
        min_similarity=0.9,
        threshold=0.9,
        representative=keeper,
        representative_reason="earliest sample",
    )
    for sample, similarity in ((keeper, 1.0), (member, 0.95), (url, 0.9)):
        DuplicateGroupMember.objects.create(group=group, sample=sample, similarity=similarity)
    page = open_page(expert)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/p/{project.slug}/similarity/")
        card = page.locator(f"#group-{group.pk}")
        texts = card.locator(f'article[data-sample="{member.pk}"] .text')
        # The member's own words, nothing of the keeper's woven in.
        expect(texts.nth(0)).to_have_text("Bruno has 2 apples, gets 6 more. How many apples?")
        expect(texts.nth(1)).to_have_text("2 + 6 = 8")
        edges = page.evaluate(
            """id => {
            const group = document.getElementById(id).getBoundingClientRect();
            return [...document.querySelectorAll('#' + id + ' article.member, #' + id + ' article.member .text')]
              .map(el => ({right: el.getBoundingClientRect().right, inside: group.right,
                           scroll: el.scrollWidth, client: el.clientWidth}));
        }""",
            f"group-{group.pk}",
        )
        for edge in edges:
            assert edge["right"] <= edge["inside"] + 0.5, f"a member runs past the card at {width}px: {edge}"
            assert edge["scroll"] <= edge["client"] + 1, f"a member's text is cut off at {width}px: {edge}"
        _screenshots(page, f"similarity_groups_diff_{width}", widths=())
    assert page.errors.unexpected() == []


def _shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / name


def _screenshots(page, name: str, widths: tuple[int, ...] = (1440, 390)) -> None:
    if not widths:
        page.screenshot(path=str(_shot(f"{name}.png")), full_page=True)
        return
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(_shot(f"{name}_{width}.png")), full_page=True)
