"""An expert who holds items of an open audit learns nothing the audit hides, on
any page they can reach: not another reviewer's verdict or note, not which item
is gold, not an item's lineage, and never a hidden metadata key. The walk takes
its routes from the URLconf, so a new route fails here until it is walked or
listed as one a reviewer cannot reach."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from generation.models import GenerationRun, ImportBatch, Sample
from reviews.models import AuditItem, EmbeddingMap, SampleSimilarity, SimilaritySearch, Verdict
from reviews.services.audits import audit_create, audit_verdict_record, gold_sample_set
from reviews.services.verdicts import verdict_record
from synthreview.projects.access import project_access
from synthreview.projects.models import Membership, Project, Role
from tests.conftest import PASSWORD
from tests.reviews.review_helpers import (
    HTMX,
    add_samples,
    cluster,
    generator,
    group,
    map_points,
    template_version,
)

pytestmark = pytest.mark.django_db

OTHER_NOTE = "OTHERNOTE-31337"
PLAIN_NOTE = "PLAINNOTE-2718"
GOLD_NOTE = "GOLDNOTE-4040"
ANSWER_KEY = "ANSWERKEY-8675309"
DELIBERATE = "DELIBERATE-5551212"
GENERATOR = "gen-blindspot-7"
TEMPLATE = "tpl-blindspot-7"
RUN = "run-blindspot-7"
GOLD_IMPORT = "gold-real-4242.jsonl"
# Always hidden from the expert, on every page.
NEVER = (OTHER_NOTE, PLAIN_NOTE, GOLD_NOTE, ANSWER_KEY, DELIBERATE, "gold.set", "is a gold item", "fay-expert")
# Hidden where a held item is shown: its lineage, origin and status.
LINEAGE = (
    GENERATOR,
    TEMPLATE,
    RUN,
    GOLD_IMPORT,
    "origin-real",
    "origin-synthetic",
    ">Real<",
    ">Synthetic<",
    '"origin": "real"',
    '"origin": "synthetic"',
    "status status-",
    "generation depth",
)


@pytest.fixture
def fay(project: Project):
    user = get_user_model().objects.create_user(username="fay-expert", password=PASSWORD)
    Membership.objects.create(user=user, project=project, role=Role.EXPERT)
    return user


@pytest.fixture
def blind_audit(project, lead, fay, expert) -> dict:
    """Ten synthetic samples of one generator, all drawn; one real gold item from its own import;
    fay has judged the gold item (and one synthetic item) with distinctive notes. Samples made after
    the draw (a real anchor and a synthetic one of another generator) sit beside the held items in
    neighbour lists, a near-duplicate group, a cluster and the map."""
    version = template_version(project, TEMPLATE)
    gen = generator(project, GENERATOR)
    run = GenerationRun.objects.create(project=project, name=RUN, template_version=version, status="completed")
    secret = {"expected_answer": ANSWER_KEY, "deliberately_wrong": DELIBERATE, "topic": "TOPIC-visible"}
    synthetic = add_samples(
        project,
        10,
        gen=gen,
        template_version=version,
        run=run,
        generation_depth=1,
        metadata=secret,
        texts=[(f"What is {n} + {n}?", f"HELDTEXT-{n}") for n in range(10)],
    )
    batch = ImportBatch.objects.create(project=project, file_name=GOLD_IMPORT, format="jsonl", status="completed")
    gold = add_samples(
        project,
        1,
        origin="real",
        status="accepted",
        import_batch=batch,
        metadata=secret,
        texts=[("Capital of France?", "GOLDTEXT-Paris")],
    )[0]
    gold_sample_set(project_access(lead, project), sample_id=gold.pk, expected_value="correct", note=GOLD_NOTE)
    # Judged in the ordinary queue before the audit was drawn: once held, it takes no verdict outside the audit.
    verdict_record(
        project_access(fay, project),
        sample_id=gold.pk,
        value="correct",
        note=PLAIN_NOTE,
        seen_revision=Sample.objects.get(pk=gold.pk).revision,
    )
    audit = audit_create(
        project_access(lead, project), scope="project", sample_size=10, overlap=2, gold_items=1, seed=7
    )
    assert AuditItem.objects.filter(audit=audit).count() == 11
    audit_verdict_record(
        project_access(fay, project),
        audit=audit,
        sample_id=gold.pk,
        value="wrong",
        error_category="hallucination",
        note=OTHER_NOTE,
    )
    audit_verdict_record(
        project_access(fay, project),
        audit=audit,
        sample_id=synthetic[0].pk,
        value="wrong",
        error_category="hallucination",
        note=OTHER_NOTE,
    )
    # Drawn after the audit: not held.
    anchor = add_samples(project, 1, origin="real", status="accepted", texts=[("Capital?", "ANCHOR-real")])[0]
    beside = add_samples(project, 1, gen=generator(project, "gen-beside"), texts=[("Near?", "BESIDE-syn")])[0]
    neighbours = [[gold.pk, 0.97], [synthetic[1].pk, 0.95], [anchor.pk, 0.9]]
    for sample in (beside, anchor):
        SampleSimilarity.objects.create(
            sample=sample,
            project=project,
            neighbours=neighbours,
            novelty=0.1,
            top_similarity=0.97,
            nearest_real=gold,
            nearest_real_similarity=0.97,
        )
    for sample in (gold, synthetic[1]):
        SampleSimilarity.objects.create(
            sample=sample,
            project=project,
            novelty=0.2,
            top_similarity=0.97,
            neighbours=[[beside.pk, 0.97], [anchor.pk, 0.9]],
            nearest_real=anchor,
            nearest_real_similarity=0.9,
        )
    near = group(project, [gold, beside, synthetic[1]])
    near.representative_reason = "real sample"
    near.save()
    found = cluster(project, 1, [gold, synthetic[2], beside], label="capitals")
    everything = Sample.objects.filter(project=project).order_by("pk")
    EmbeddingMap.objects.create(
        project=project,
        points=[[s.pk, i / 20, i / 20] for i, s in enumerate(everything)],
        embedded_total=everything.count(),
    )
    # The expert's searches, answered: by text, by text with a filter on lineage, and from a held anchor.
    answered = [[gold.pk, 0.9], [synthetic[1].pk, 0.8], [beside.pk, 0.7]]
    searches = [
        SimilaritySearch.objects.create(project=project, user=expert, status="completed", results=answered, **fields)
        for fields in (
            {"query": "capitals"},
            {"query": "capitals", "filters": {"status": "accepted"}},
            {"anchor": synthetic[1]},
        )
    ]
    return {
        "audit": audit,
        "gold": gold,
        "synthetic": synthetic,
        "held": [gold, *synthetic],
        "anchor": anchor,
        "beside": beside,
        "group": near,
        "cluster": found,
        "run": run,
        "generator": gen,
        "batch": batch,
        "searches": searches,
    }


# --- the routes -------------------------------------------------------------------------

# Routes a reviewer never reaches, with the reason. Every other route is walked below.
NOT_REVIEWER_REACHABLE = {
    "admin": "the Django admin is for staff accounts; experts are not staff (it redirects to its own log-in)",
    "logout": "POST only, and shows nothing about samples",
    "member_list": "a project admin's page; an expert is refused (403) before anything is read",
    "member_role": "a project admin's POST; an expert is refused (403) before anything is read",
    "member_remove": "a project admin's POST; an expert is refused (403) before anything is read",
    "project_new": "the site's superusers alone create projects; an expert is refused (403)",
    "password_reset_confirm": "needs an invitation's one-time token; any other shows only that the link is invalid",
}


def _route_names(patterns=None, prefix: str = "") -> set[str]:
    names = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                names.add("admin")
                continue
            # The API is walked from its OpenAPI schema by tests/api/test_api_blind_audit.py.
            if entry.namespace == "api-v1":
                continue
            names |= _route_names(entry.url_patterns, prefix)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(entry.name)
    return names


def _filter_values(project, material) -> dict[str, list[str]]:
    """Every value of every browser filter on what an audit hides."""
    return {
        "origin": ["real", "synthetic"],
        "status": ["pending", "accepted", "rejected"],
        "split": ["train", "eval"],
        "generator": [str(material["generator"].pk)],
        "run": [str(material["run"].pk)],
        "template": [str(material["synthetic"][0].template_version.template_id)],
        "verdict": ["correct", "wrong", "unsure", "none"],
        "flag": ["any"],
        "novelty_min": ["0"],
        "novelty_max": ["1"],
        "cluster": [str(material["cluster"].pk)],
        "group": [str(material["group"].pk)],
    }


def _walk(project, material) -> dict[str, list[str]]:
    """route name -> the GET addresses walked for it."""
    slug, audit, gold = project.slug, material["audit"], material["gold"]
    held = material["held"]
    ids = ",".join(str(s.pk) for s in held)
    samples = reverse("sample_list", args=[slug])
    queue = reverse("review_queue", args=[slug])
    similarity = reverse("similarity_view", args=[slug])
    detail_ids = [gold.pk, held[1].pk, held[2].pk, material["anchor"].pk, material["beside"].pk]
    filters = [
        f"{samples}?{key}={value}&ids={ids}"
        for key, values in _filter_values(project, material).items()
        for value in values
    ]
    filters += [
        f"{samples}?{key}={value}" for key, values in _filter_values(project, material).items() for value in values
    ]
    pk = {"sample": gold.pk, "group": material["group"].pk, "audit": audit.pk}
    return {
        "login": [reverse("login")],
        "password_reset_complete": [reverse("password_reset_complete")],
        "home": [reverse("home")],
        "api_tokens": [reverse("api_tokens")],
        "api_token_revoke": [reverse("api_token_revoke", args=[1])],
        "project_detail": [reverse("project_detail", args=[slug])],
        "import_new": [reverse("import_new", args=[slug])],
        "import_detail": [reverse("import_detail", args=[slug, material["batch"].pk])],
        "template_list": [reverse("template_list", args=[slug])],
        "template_version_new": [reverse("template_version_new", args=[slug])],
        "run_list": [reverse("run_list", args=[slug])],
        "run_new": [reverse("run_new", args=[slug])],
        "run_detail": [reverse("run_detail", args=[slug, material["run"].pk])],
        "run_action": [reverse("run_action", args=[slug, material["run"].pk])],
        "generator_list": [reverse("generator_list", args=[slug])],
        "generator_new": [reverse("generator_new", args=[slug])],
        "generator_edit": [reverse("generator_edit", args=[slug, material["generator"].pk])],
        "review_queue": [
            queue,
            f"{queue}?order=flagged",
            f"{queue}?order=novelty",
            *(f"{queue}?sample={s.pk}" for s in held[:3]),
            f"{queue}?audit={audit.pk}",
            f"{queue}?audit={audit.pk}&sample={gold.pk}",
            f"{queue}?audit={audit.pk}&sample={held[1].pk}",
        ],
        "verdict_save": [reverse("verdict_save", args=[slug, gold.pk])],
        "verdict_undo": [reverse("verdict_undo", args=[slug])],
        "sample_list": [
            samples,
            f"{samples}?ids={ids}",
            f"{samples}?q=HELDTEXT",
            f"{samples}?q=GOLDTEXT",
            *(f"{samples}?similar_to={i}" for i in detail_ids),
            *filters,
        ],
        "samples_bulk": [
            f"{reverse('samples_bulk', args=[slug])}?ids={ids}&action={action}{extra}"
            for action in ("accept", "reject")
            for extra in ("", "&origin=real", "&status=accepted")
        ],
        "sample_detail": [reverse("sample_detail", args=[slug, i]) for i in detail_ids],
        "similarity_view": [
            f"{similarity}?tab={tab}{extra}"
            for tab in ("groups", "clusters", "map")
            for extra in ("", "&status=", "&low=1")
        ],
        "group_resolve": [reverse("group_resolve", args=[slug, pk["group"]])],
        "group_not_duplicates": [reverse("group_not_duplicates", args=[slug, pk["group"]])],
        "group_split": [reverse("group_split", args=[slug, pk["group"]])],
        "map_point": [reverse("map_point", args=[slug, i]) for i in detail_ids],
        "similarity_search": [
            reverse("similarity_search", args=[slug]),
            *(f"{reverse('similarity_search', args=[slug])}?search={s.pk}" for s in material["searches"]),
        ],
        "similarity_search_results": [
            reverse("similarity_search_results", args=[slug, s.pk]) for s in material["searches"]
        ],
        "similarity_status": [reverse("similarity_status", args=[slug])],
        "similarity_rerun": [reverse("similarity_rerun", args=[slug])],
        "similarity_refit": [reverse("similarity_refit", args=[slug])],
        "similarity_settings": [
            reverse("similarity_settings", args=[slug]),
            f"{reverse('similarity_settings', args=[slug])}?preview=0.5",
        ],
        "variant_family_trim": [reverse("variant_family_trim", args=[slug, pk["group"]])],
        "audit_list": [reverse("audit_list", args=[slug])],
        "audit_plan": [reverse("audit_plan", args=[slug])],
        "audit_detail": [reverse("audit_detail", args=[slug, audit.pk])],
        "audit_close": [reverse("audit_close", args=[slug, audit.pk])],
        "audit_adjudicate": [reverse("audit_adjudicate", args=[slug, audit.pk])],
        "gold_set": [reverse("gold_set", args=[slug, gold.pk])],
        "noise_floor": [reverse("noise_floor", args=[slug])],
        "dashboard": [reverse("dashboard", args=[slug])],
        "dashboard_figure": [
            reverse("dashboard_figure", args=[slug, "noise-floor", "csv"]),
            reverse("dashboard_figure", args=[slug, "noise-floor", "json"]),
        ],
        "quality_recompute": [reverse("quality_recompute", args=[slug])],
        "alert_settings": [reverse("alert_settings", args=[slug])],
        "alert_acknowledge": [reverse("alert_acknowledge", args=[slug, 1])],
        "alerts_acknowledge": [reverse("alerts_acknowledge", args=[slug])],
        "alerts_snooze": [reverse("alerts_snooze", args=[slug])],
        "audit_log": [reverse("audit_log", args=[slug]), f"{reverse('audit_log', args=[slug])}?q=gold"],
        "audit_log_csv": [reverse("audit_log_csv", args=[slug])],
        "policy_settings": [reverse("policy_settings", args=[slug])],
        "export_list": [reverse("export_list", args=[slug])],
        "export_detail": [reverse("export_detail", args=[slug, 1])],
        "export_download": [reverse("export_download", args=[slug, 1])],
        "export_manifest": [reverse("export_manifest", args=[slug, 1])],
        "downstream_result_add": [reverse("downstream_result_add", args=[slug, 1])],
        "export_check": [reverse("export_check", args=[slug])],
        "eval_set": [reverse("eval_set", args=[slug])],
    }


def _windows(text: str, project, sample_id: int) -> list[str]:
    """The stretch of a page that shows one sample: each row, list item or card that links to it,
    and its point on the map."""
    found = []
    for match in re.finditer(rf'/p/{project.slug}/samples/{sample_id}/"', text):
        rest = text[match.end() :]
        ends = [rest.find(tag) for tag in ("</tr>", "</li>", "</article>", "</h2>") if rest.find(tag) >= 0]
        found.append(rest[: min(ends)] if ends else rest[:600])
    found += [json.dumps(point) for point in map_points(text) if point["id"] == sample_id]
    return found


def _leaks(text: str, project, material, url: str) -> list[str]:
    text = unescape(text)
    problems = [f"{url}: shows {secret!r}" for secret in NEVER if secret in text]
    for sample in material["held"]:
        for window in _windows(text, project, sample.pk):
            problems += [
                f"{url}: shows {secret!r} beside held sample {sample.pk}" for secret in LINEAGE if secret in window
            ]
    # The held item's own pages show nothing of its lineage anywhere.
    own = re.search(r"/(?:samples|map/points)/(\d+)/$|[?&]sample=(\d+)", url)
    if own and int(own.group(1) or own.group(2)) in {s.pk for s in material["held"]}:
        problems += [f"{url}: its own page shows {secret!r}" for secret in LINEAGE if secret in text]
    # A filter on what the audit hides never returns a held item, whichever value it asks for.
    query = url.partition("?")[2]
    hidden_filter = any(f"{key}=" in query for key in _filter_values(project, material))
    if "/samples/" in url and hidden_filter and "similar_to" not in query:
        problems += [
            f"{url}: a filter on what the audit hides returns held sample {s.pk}"
            for s in material["held"]
            if f'/p/{project.slug}/samples/{s.pk}/"' in text
        ]
    return problems


def test_the_walk_covers_every_route_in_the_urlconf(project, blind_audit):
    walked = set(_walk(project, blind_audit))
    missing = _route_names() - walked - set(NOT_REVIEWER_REACHABLE)
    assert not missing, f"routes neither walked nor listed as not reviewer-reachable: {sorted(missing)}"
    assert not walked - _route_names(), "the walk names a route the URLconf no longer has"


def test_an_expert_holding_audit_items_learns_nothing_the_audit_hides(project, expert, blind_audit, client_for):
    client = client_for(expert)
    problems, walked = [], 0
    for urls in _walk(project, blind_audit).values():
        for url in urls:
            for headers in ({}, HTMX):
                response = client.get(url, headers=headers)
                assert response.status_code < 500, f"{url} answered {response.status_code}"
                walked += 1
                problems += _leaks(response.content.decode(), project, blind_audit, url)
    assert walked > 150
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_expert_still_sees_the_held_items_texts_and_their_own_verdict(project, expert, blind_audit, client_for):
    gold, audit = blind_audit["gold"], blind_audit["audit"]
    audit_verdict_record(
        project_access(expert, project), audit=audit, sample_id=gold.pk, value="correct", note="MYNOTE-1"
    )
    page = client_for(expert).get(reverse("sample_detail", args=[project.slug, gold.pk])).content.decode()
    assert "GOLDTEXT-Paris" in page
    assert "MYNOTE-1" in page
    # Even metadata that is no answer key: which keys a held item has tells where it came from.
    assert "TOPIC-visible" not in page
    assert "Not shown while this sample is an item of an open audit" in page
    assert ANSWER_KEY not in page and OTHER_NOTE not in page
    listed = client_for(expert).get(f"{reverse('sample_list', args=[project.slug])}?ids={gold.pk}")
    assert f'/p/{project.slug}/samples/{gold.pk}/"' in listed.content.decode()


def test_hidden_metadata_keys_are_hidden_from_experts_on_samples_outside_audits(project, expert, lead, client_for):
    sample = add_samples(
        project, 1, metadata={"expected_answer": ANSWER_KEY, "gold_verdict": "GV-99", "source": "SOURCE-ok"}
    )[0]
    url = reverse("sample_detail", args=[project.slug, sample.pk])
    page = client_for(expert).get(url).content.decode()
    assert ANSWER_KEY not in page and "GV-99" not in page
    assert "SOURCE-ok" in page
    assert ANSWER_KEY in client_for(lead).get(url).content.decode()


def test_the_lead_sees_everything_the_expert_may_not(project, lead, blind_audit, client_for):
    client = client_for(lead)
    gold, slug = blind_audit["gold"], project.slug
    page = unescape(client.get(reverse("sample_detail", args=[slug, gold.pk])).content.decode())
    for shown in (
        OTHER_NOTE,
        PLAIN_NOTE,
        ANSWER_KEY,
        DELIBERATE,
        "gold.set",
        "is a gold item",
        "origin-real",
        GOLD_IMPORT,
        "fay-expert",
    ):
        assert shown in page, f"the lead does not see {shown!r}"
    held = blind_audit["synthetic"][1]
    page = unescape(client.get(reverse("sample_detail", args=[slug, held.pk])).content.decode())
    for shown in (GENERATOR, TEMPLATE, RUN, "origin-synthetic"):
        assert shown in page
    real = client.get(f"{reverse('sample_list', args=[slug])}?origin=real&ids={gold.pk}").content.decode()
    assert f'/p/{slug}/samples/{gold.pk}/"' in real
    wrong = client.get(f"{reverse('sample_list', args=[slug])}?verdict=wrong&ids={gold.pk}").content.decode()
    assert f'/p/{slug}/samples/{gold.pk}/"' in wrong
    similar = unescape(
        client.get(f"{reverse('sample_list', args=[slug])}?similar_to={blind_audit['beside'].pk}").content.decode()
    )
    assert "origin-real" in _windows(similar, project, gold.pk)[0]
    points = map_points(client.get(f"{reverse('similarity_view', args=[slug])}?tab=map").content.decode())
    assert next(p for p in points if p["id"] == gold.pk)["origin"] == "real"


def test_a_closed_audit_no_longer_blinds_the_expert(project, expert, lead, blind_audit, client_for):
    from reviews.services.audits import audit_close

    audit_close(project_access(lead, project), audit=blind_audit["audit"], reason="enough for now")
    page = client_for(expert).get(reverse("sample_detail", args=[project.slug, blind_audit["gold"].pk]))
    assert OTHER_NOTE in page.content.decode()
    assert ANSWER_KEY not in page.content.decode()
    assert Verdict.objects.filter(note=OTHER_NOTE).count() == 2


def test_an_expert_cannot_accept_or_reject_held_items_by_id(project, expert, blind_audit, client_for):
    """Accepting the gold item by id would say "accepted 0 of 1" (it is accepted already, so it is real),
    and rejecting a held synthetic item would decide it before the audit does."""
    gold, held = blind_audit["gold"], blind_audit["synthetic"][3]
    client = client_for(expert)
    ids = f"{gold.pk},{held.pk}"
    confirm = client.get(reverse("samples_bulk", args=[project.slug]), {"action": "reject", "ids": ids})
    assert confirm.status_code == 200
    assert confirm.context["count"] == 0
    response = client.post(
        reverse("samples_bulk", args=[project.slug]), {"action": "reject", "ids": ids, "expected_count": 0}, follow=True
    )
    assert response.status_code == 200
    assert "Rejected 0 of 0" in response.content.decode()
    assert Sample.objects.get(pk=gold.pk).status == "accepted"
    assert Sample.objects.get(pk=held.pk).status == "pending"


def test_a_lead_can_still_act_on_held_items_by_id(project, lead, blind_audit, client_for):
    held = blind_audit["synthetic"][3]
    response = client_for(lead).post(
        reverse("samples_bulk", args=[project.slug]), {"action": "reject", "ids": str(held.pk), "expected_count": 1}
    )
    assert response.status_code == 302
    assert Sample.objects.get(pk=held.pk).status == "rejected"
