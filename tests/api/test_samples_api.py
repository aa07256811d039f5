"""GET /projects/{slug}/samples, /samples/{sample_id} and /samples/{sample_id}/neighbours: the sample
browser, the sample page and "find similar", with the pages' filters and an open audit kept blind."""

from __future__ import annotations

import json

import pytest

from generation.models import GenerationRun, Generator, ImportBatch, Sample
from reviews.models import Audit, AuditItem, SampleSimilarity, Verdict
from reviews.services.audits import gold_sample_set
from synthreview.projects.access import project_access
from tests.reviews.review_helpers import XSS, add_sample, add_samples, cluster, flag, generator, group, score
from tests.reviews.review_helpers import template_version as make_template_version
from tests.reviews.test_blind_audit import (  # noqa: F401  (the blind audit's fixtures, shared with the pages' test)
    ANSWER_KEY,
    GENERATOR,
    GOLD_IMPORT,
    OTHER_NOTE,
    RUN,
    TEMPLATE,
    blind_audit,
    fay,
)

pytestmark = pytest.mark.django_db

SAMPLES = "projects/math/samples"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def walk(client, **params) -> list[list[int]]:
    """Every page's ids, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        response = client.get(SAMPLES, {**params, **({"cursor": cursor} if cursor else {})})
        pages.append(ids(response))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


def hold(project, *samples) -> Audit:
    """An open audit holding these samples: experts may not see their lineage."""
    audit = Audit.objects.create(project=project, name="spot check", scope="project", sample_size=1, seed=3)
    for position, sample in enumerate(samples, start=1):
        AuditItem.objects.create(audit=audit, sample=sample, position=position)
    return audit


@pytest.fixture
def lineage(project) -> dict:
    """A run's synthetic sample with a fully described generator, and a real sample from an import."""
    gen = Generator.objects.create(
        project=project,
        name="tutor-v2",
        kind="openai-compatible",
        model_name="llama-3-8b-tutor",
        temperature=0.7,
        top_p=0.9,
        max_tokens=512,
        seed=11,
        sampling_strategy="nucleus",
        parameters={"presence_penalty": 0.1},
        derived_from=["llama-3-8b-instruct", "llama-3-8b"],
    )
    version = make_template_version(project, "word-problems")
    run = GenerationRun.objects.create(project=project, name="june-run", template_version=version, status="completed")
    synthetic = add_sample(
        project,
        gen=gen,
        template_version=version,
        run=run,
        generation_depth=1,
        input="Tom has 3 apples and eats one. How many are left?",
        output="2",
        label="arithmetic",
        metadata={"difficulty": "easy", "expected_answer": "2"},
    )
    batch = ImportBatch.objects.create(project=project, file_name="gsm8k.jsonl", format="jsonl", status="completed")
    real = add_sample(project, origin="real", status="accepted", import_batch=batch, input="What is 5 - 3?", output="2")
    return {"generator": gen, "version": version, "run": run, "synthetic": synthetic, "real": real, "batch": batch}


# --- the list --------------------------------------------------------------------------


def test_the_list_gives_newest_first_with_lineage(project, expert, lineage, api_for):
    response = api_for(expert).get(SAMPLES)
    assert ids(response) == [lineage["real"].pk, lineage["synthetic"].pk]
    real, synthetic = response.json()["items"]
    assert synthetic == {
        "id": lineage["synthetic"].pk,
        "blinded": False,
        "origin": "synthetic",
        "status": "pending",
        "split": "",
        "input": "Tom has 3 apples and eats one. How many are left?",
        "output": "2",
        "label": "arithmetic",
        # An answer key is hidden from an expert, as on the sample page.
        "metadata": {"difficulty": "easy"},
        "generator": {"id": lineage["generator"].pk, "name": "tutor-v2"},
        "template": {"id": lineage["version"].template_id, "name": "word-problems", "version": 1},
        "run_id": lineage["run"].pk,
        "created_at": synthetic["created_at"],
        "novelty": None,
    }
    assert synthetic["created_at"] is not None
    assert (real["origin"], real["status"], real["generator"], real["template"]) == ("real", "accepted", None, None)


def test_a_lead_sees_the_answer_keys_in_metadata(project, lead, lineage, api_for):
    items = api_for(lead).get(SAMPLES).json()["items"]
    assert items[1]["metadata"] == {"difficulty": "easy", "expected_answer": "2"}


def test_the_filters_are_the_browsers(project, expert, lineage, api_for):
    client = api_for(expert)
    other_gen = add_samples(project, 2, gen=generator(project, "gen-other"))
    scored = add_sample(project, gen=lineage["generator"], input="Scored?", output="scored")
    score(scored, 0.8)
    assert ids(client.get(SAMPLES, {"origin": "real"})) == [lineage["real"].pk]
    assert ids(client.get(SAMPLES, {"generator": lineage["generator"].pk})) == [scored.pk, lineage["synthetic"].pk]
    assert ids(client.get(SAMPLES, {"generator": other_gen[0].generator_id})) == [s.pk for s in reversed(other_gen)]
    assert ids(client.get(SAMPLES, {"template": lineage["version"].template_id})) == [lineage["synthetic"].pk]
    assert ids(client.get(SAMPLES, {"run": lineage["run"].pk})) == [lineage["synthetic"].pk]
    assert ids(client.get(SAMPLES, {"status": "accepted"})) == [lineage["real"].pk]
    assert ids(client.get(SAMPLES, {"novelty_min": 0.5})) == [scored.pk]
    assert ids(client.get(SAMPLES, {"q": "apples"})) == [lineage["synthetic"].pk]
    assert client.get(SAMPLES, {"novelty_min": 0.5}).json()["items"][0]["novelty"] == 0.8
    flag(lineage["synthetic"], "length", "too long")
    assert ids(client.get(SAMPLES, {"flag": "any"})) == [lineage["synthetic"].pk]


def test_the_cursor_walks_every_sample_once(project, expert, api_for):
    made = add_samples(project, 7)
    add_samples(project, 2, origin="real")
    pages = walk(api_for(expert), origin="synthetic", limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    walked = [pk for page in pages for pk in page]
    assert walked == sorted((s.pk for s in made), reverse=True)


def test_an_unfiltered_page_lists_in_few_queries(project, expert, api_for, django_assert_max_num_queries):
    for number in range(5):
        score(
            add_sample(
                project, gen=generator(project, f"gen-{number}"), template_version=make_template_version(project)
            ),
            0.5,
        )
    client = api_for(expert)
    with django_assert_max_num_queries(8):
        assert len(ids(client.get(SAMPLES))) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"origin": "made-up"}, "origin"),
        ({"status": "lost"}, "status"),
        ({"verdict": "maybe"}, "verdict"),
        ({"flag": "no-such-check"}, "flag"),
        ({"novelty_min": 2}, "novelty_min"),
        ({"generator": 10**30}, "generator"),
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(project, expert, api_for, params, field):
    response = api_for(expert).get(SAMPLES, params)
    assert response.status_code == 422, response.content
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid", field)


def test_another_projects_generator_is_no_filter_here(project, other_project, expert, api_for):
    theirs = generator(other_project, "their-gen")
    add_samples(other_project, 1, gen=theirs)
    response = api_for(expert).get(SAMPLES, {"generator": theirs.pk})
    assert response.status_code == 422
    assert response.json()["field"] == "generator"


def test_an_empty_novelty_range_is_refused(project, expert, api_for):
    response = api_for(expert).get(SAMPLES, {"novelty_min": 0.9, "novelty_max": 0.1})
    assert response.status_code == 422
    assert "novelty range is empty" in response.json()["message"]


# --- one sample ------------------------------------------------------------------------


def test_a_sample_comes_with_its_lineage_checks_novelty_and_verdicts(project, expert, lead, lineage, api_for):
    sample, real = lineage["synthetic"], lineage["real"]
    flag(sample, "length", "output is 1 character")
    score(sample, 0.35, neighbours=[[real.pk, 0.93]])
    found = cluster(project, 4, [sample], label="apples")
    SampleSimilarity.objects.filter(sample=sample).update(nearest_real=real, nearest_real_similarity=0.93)
    Verdict.objects.create(sample=sample, reviewer=lead, value="wrong", error_category="wrong_label", note="off by one")
    response = api_for(expert).get(f"{SAMPLES}/{sample.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lineage"] == {
        "origin": "synthetic",
        "generator": {
            "id": lineage["generator"].pk,
            "name": "tutor-v2",
            "kind": "openai-compatible",
            "model_name": "llama-3-8b-tutor",
            "temperature": 0.7,
            "top_p": 0.9,
            "max_tokens": 512,
            "seed": 11,
            "sampling_strategy": "nucleus",
            "parameters": {"presence_penalty": 0.1},
            "derived_from": ["llama-3-8b-instruct", "llama-3-8b"],
        },
        "template": {"id": lineage["version"].template_id, "name": "word-problems", "version": 1},
        "run": {"id": lineage["run"].pk, "name": "june-run"},
        "import_batch": None,
        "generation_depth": 1,
        "revision": 0,
    }
    assert body["flags"] == [{"check": "length", "reason": "output is 1 character"}]
    assert body["novelty"] == 0.35
    assert body["cluster"] == {"id": found.pk, "number": 4, "label": "apples", "is_low_novelty": False}
    assert [(n["id"], n["similarity"], n["origin"]) for n in body["neighbours"]] == [(real.pk, 0.93, "real")]
    assert (body["nearest_real"]["id"], body["nearest_real"]["similarity"]) == (real.pk, 0.93)
    assert [(v["reviewer"], v["value"], v["error_category"], v["note"]) for v in body["verdicts"]] == [
        ("lee-lead", "wrong", "wrong_label", "off by one")
    ]
    assert body["metadata"] == {"difficulty": "easy"}
    assert body["gold"] is None


def test_a_real_sample_names_its_import_and_its_gold_verdict_to_a_lead_only(project, expert, lead, lineage, api_for):
    real = lineage["real"]
    gold_sample_set(project_access(lead, project), sample_id=real.pk, expected_value="correct", note="")
    group(project, [real, lineage["synthetic"]])
    by_lead = api_for(lead).get(f"{SAMPLES}/{real.pk}").json()
    assert by_lead["lineage"]["import_batch"] == {"id": lineage["batch"].pk, "file_name": "gsm8k.jsonl"}
    assert (by_lead["lineage"]["generator"], by_lead["lineage"]["template"], by_lead["lineage"]["run"]) == (
        None,
        None,
        None,
    )
    assert by_lead["gold"] == {"expected_value": "correct", "expected_error_category": ""}
    assert [(g["kind"], g["size"]) for g in by_lead["groups"]] == [("near", 2)]
    assert api_for(expert).get(f"{SAMPLES}/{real.pk}").json()["gold"] is None


def test_sample_text_comes_back_verbatim_as_a_json_string(project, expert, api_for):
    sample = add_sample(project, input=XSS, output=f'{XSS} & "quotes" \u2028')
    raw = api_for(expert).get(f"{SAMPLES}/{sample.pk}")
    assert raw["Content-Type"].startswith("application/json")
    body = json.loads(raw.content)
    assert (body["input"], body["output"]) == (XSS, f'{XSS} & "quotes" \u2028')
    assert "&lt;" not in raw.content.decode()
    listed = api_for(expert).get(SAMPLES).json()["items"][0]
    assert listed["input"] == XSS


def test_neighbours_come_nearest_first_with_their_similarity(project, expert, api_for):
    anchor, near, nearer, far = add_samples(project, 4)
    score(anchor, 0.2, neighbours=[[nearer.pk, 0.98], [near.pk, 0.91], [far.pk, 0.5]])
    client = api_for(expert)
    body = client.get(f"{SAMPLES}/{anchor.pk}/neighbours").json()
    assert body["withheld"] is False
    assert [(n["id"], n["similarity"]) for n in body["items"]] == [(nearer.pk, 0.98), (near.pk, 0.91), (far.pk, 0.5)]
    assert body["items"][0]["output"] == nearer.output
    limited = client.get(f"{SAMPLES}/{anchor.pk}/neighbours", {"limit": 2}).json()
    assert [n["id"] for n in limited["items"]] == [nearer.pk, near.pk]
    assert client.get(f"{SAMPLES}/{anchor.pk}/neighbours", {"limit": 501}).status_code == 422
    assert client.get(f"{SAMPLES}/{far.pk}/neighbours").json()["items"] == []


# --- who may read ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/{pk}", "/{pk}/neighbours"])
def test_anonymous_gets_401_and_an_outsider_404(project, outsider, api_for, suffix):
    sample = add_sample(project)
    path = SAMPLES + suffix.format(pk=sample.pk)
    assert api_for(None).get(path).status_code == 401
    response = api_for(outsider).get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("suffix", ["/{pk}", "/{pk}/neighbours"])
def test_another_projects_sample_is_not_found(project, other_project, expert, outsider, api_for, suffix):
    theirs = add_sample(other_project)
    assert api_for(expert).get(SAMPLES + suffix.format(pk=theirs.pk)).status_code == 404
    assert api_for(outsider).get(f"projects/other/samples{suffix.format(pk=theirs.pk)}").status_code == 200


@pytest.mark.parametrize("suffix", ["/{pk}", "/{pk}/neighbours"])
def test_a_huge_sample_id_is_a_422_not_a_server_error(project, expert, api_for, suffix):
    response = api_for(expert).get(SAMPLES + suffix.format(pk=10**30))
    assert response.status_code == 422
    assert response.json()["field"] == "sample_id"


def test_a_token_for_another_project_sees_none_of_this_one(project, other_project, expert, api_for):
    from synthreview.projects.models import Membership

    Membership.objects.create(user=expert, project=other_project, role="expert")
    sample = add_sample(project)
    assert api_for(expert, project=other_project).get(f"{SAMPLES}/{sample.pk}").status_code == 404


# --- an open audit stays blind ---------------------------------------------------------


def test_a_held_item_shows_its_texts_and_nothing_of_its_lineage(project, expert, lead, blind_audit, api_for):
    gold = blind_audit["gold"]
    response = api_for(expert).get(f"{SAMPLES}/{gold.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["blinded"], body["input"], body["output"]) == (True, "Capital of France?", "GOLDTEXT-Paris")
    for hidden in ("origin", "status", "split", "generator", "template", "run_id", "created_at", "novelty"):
        assert body[hidden] is None, hidden
    assert body["lineage"] is None and body["metadata"] == {}
    assert (body["flags"], body["neighbours"], body["groups"], body["verdicts"]) == ([], [], [], [])
    assert (body["cluster"], body["nearest_real"], body["gold"]) == (None, None, None)
    text = response.content.decode()
    for secret in (GOLD_IMPORT, ANSWER_KEY, OTHER_NOTE, "TOPIC-visible", "fay-expert", '"real"'):
        assert secret not in text, secret
    held = blind_audit["synthetic"][1]
    text = api_for(expert).get(f"{SAMPLES}/{held.pk}").content.decode()
    for secret in (GENERATOR, TEMPLATE, RUN, '"synthetic"'):
        assert secret not in text, secret
    # The lead sees all of it.
    by_lead = api_for(lead).get(f"{SAMPLES}/{gold.pk}").json()
    assert by_lead["lineage"]["import_batch"]["file_name"] == GOLD_IMPORT
    assert OTHER_NOTE in [v["note"] for v in by_lead["verdicts"]]


def test_a_held_items_neighbours_are_withheld_and_it_is_blinded_beside_others(project, expert, blind_audit, api_for):
    client = api_for(expert)
    gold, beside = blind_audit["gold"], blind_audit["beside"]
    own = client.get(f"{SAMPLES}/{gold.pk}/neighbours").json()
    assert (own["withheld"], own["items"]) == (True, [])
    near = client.get(f"{SAMPLES}/{beside.pk}/neighbours").json()
    shown = {n["id"]: n for n in near["items"]}
    assert shown[gold.pk]["blinded"] is True
    assert (shown[gold.pk]["origin"], shown[gold.pk]["status"], shown[gold.pk]["generator"]) == (None, None, None)
    assert shown[blind_audit["anchor"].pk]["origin"] == "real"
    detail = client.get(f"{SAMPLES}/{beside.pk}").json()
    # The nearest real sample is held: it reads as no anchor at all, as on the page.
    assert detail["nearest_real"] is None
    assert next(n for n in detail["neighbours"] if n["id"] == gold.pk)["origin"] is None


def test_a_filter_on_what_the_audit_hides_never_returns_a_held_item(project, expert, blind_audit, api_for):
    client = api_for(expert)
    held = {s.pk for s in blind_audit["held"]}
    for params in (
        {"origin": "real"},
        {"origin": "synthetic"},
        {"status": "accepted"},
        {"status": "pending"},
        {"generator": blind_audit["generator"].pk},
        {"run": blind_audit["run"].pk},
        {"verdict": "wrong"},
        {"novelty_max": 1},
        {"cluster": blind_audit["cluster"].pk},
        {"group": blind_audit["group"].pk},
    ):
        assert not held & {pk for page in walk(client, **params) for pk in page}, params
    listed = client.get(SAMPLES, {"q": "GOLDTEXT"}).json()["items"]
    assert [(item["id"], item["blinded"], item["origin"], item["metadata"]) for item in listed] == [
        (blind_audit["gold"].pk, True, None, {})
    ]


def test_a_sample_held_by_a_simple_audit_is_blinded_in_the_list(project, expert, lead, api_for):
    held, free = add_samples(project, 2, metadata={"topic": "t"})
    hold(project, held)
    items = {item["id"]: item for item in api_for(expert).get(SAMPLES).json()["items"]}
    assert (items[held.pk]["blinded"], items[held.pk]["generator"], items[held.pk]["metadata"]) == (True, None, {})
    assert (items[free.pk]["blinded"], items[free.pk]["generator"]["name"]) == (False, "gen-a")
    by_lead = {item["id"]: item for item in api_for(lead).get(SAMPLES).json()["items"]}
    assert (by_lead[held.pk]["blinded"], by_lead[held.pk]["origin"]) == (False, "synthetic")
    assert Sample.objects.filter(project=project).count() == 2


@pytest.mark.postgres(reason="PostgreSQL writes the list's JSON itself")
def test_the_json_postgresql_writes_is_the_items_python_writes(project, expert, lineage, api_for):
    """The list has two writers: PostgreSQL for a reader who holds no audit item, Python for one who
    does. The same samples must come out the same from both, key for key."""
    from reviews.api.samples import _row_item
    from reviews.selectors import samples_filtered
    from reviews.selectors.blinding import Blinding
    from reviews.selectors.browser import sample_json_page, sample_row_page

    score(lineage["synthetic"], novelty=0.4375)
    hidden = frozenset({"expected_answer"})
    blinding = Blinding(reader_id=expert.pk, held=frozenset(), hidden_metadata_keys=hidden)
    queryset = samples_filtered(project, {}, blinding=blinding)
    by_python = [_row_item(row, blinding) for row in sample_row_page(queryset, size=10).rows]
    by_postgresql = json.loads(sample_json_page(queryset, size=10, hidden_metadata_keys=hidden).items_json)
    assert [item["id"] for item in by_python] == [lineage["real"].pk, lineage["synthetic"].pk]
    assert by_postgresql == json.loads(json.dumps(by_python))
    assert by_postgresql[1]["novelty"] == 0.4375 and by_postgresql[1]["metadata"] == {"difficulty": "easy"}


@pytest.mark.parametrize("size", [1, 2, 3])
def test_both_writers_hand_on_the_cursor_at_the_page_boundary(project, expert, lineage, api_for, size):
    client = api_for(expert)
    first = client.get(SAMPLES, {"limit": size}).json()
    assert len(first["items"]) == min(size, 2)
    assert (first["next_cursor"] is None) == (size >= 2)


@pytest.mark.postgres(reason="PostgreSQL writes the list's JSON itself")
@pytest.mark.parametrize("microsecond", [0, 5, 736710, 999999])
def test_postgresql_writes_times_as_python_does(project, lineage, microsecond):
    from reviews.selectors.browser import sample_json_page

    moment = lineage["real"].created_at.replace(microsecond=microsecond)
    Sample.objects.filter(pk=lineage["real"].pk).update(created_at=moment)
    written = json.loads(sample_json_page(Sample.objects.filter(pk=lineage["real"].pk)).items_json)[0]["created_at"]
    assert written == moment.isoformat()
