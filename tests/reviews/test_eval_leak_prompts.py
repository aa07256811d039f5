"""The leak check catches reused prompts: an eval item's prompt in training data,
verbatim with another answer or paraphrased, is a leak, held back from training
exports, and named with its eval item on the export and eval-set pages. The eval
items are real GSM8K questions; the paraphrases were written by hand; the vectors
are the app's real offline embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse

from generation.models import Origin, SampleFlag
from reviews.models import EvalLeak, Export, SampleEmbedding
from reviews.services.eval_sets import eval_set_version_create, eval_split_add
from reviews.similarity.embedder import encode
from tests.reviews.export_helpers import jsonl_rows, lead_access
from tests.reviews.review_helpers import XSS, XSS_ESCAPED, add_samples, body, generator

pytestmark = pytest.mark.django_db

OVERRIDE = "Leak-check test: the generator's audit is not what is tested here."
# Weng (GSM8K train #1), said again in other words.
WENG_PARAPHRASE = (
    "For babysitting, Weng is paid $12 per hour. She babysat for just 50 minutes yesterday. "
    "How much money did she make?"
)
XSS_PROMPT = f"{XSS} A baker makes 7 trays of 8 rolls each. How many rolls does he make?"


def _gsm8k(shared_data) -> list[dict]:
    return json.loads((shared_data / "gsm8k" / "gsm8k_train.json").read_text(encoding="utf-8"))


def _vectors(samples, text_kind: str) -> dict[int, np.ndarray]:
    rows = SampleEmbedding.objects.filter(
        sample__in=samples, model_name=settings.EMBEDDING_MODEL, text_kind=text_kind
    ).values_list("sample_id", "vector")
    return {pk: np.frombuffer(bytes(vector), dtype=np.float32) for pk, vector in rows}


def _cosine(a, b) -> float:
    """Prompt and answer together, as the check has always embedded them (the stored vectors)."""
    vectors = _vectors([a, b], "input_output")
    return float(vectors[a.pk] @ vectors[b.pk])


def _prompt_cosine(a, b) -> float:
    """The prompts alone, encoded here by the same model (no template, so the whole prompt)."""
    vectors = encode([a.input.strip(), b.input.strip()])
    return float(vectors[0] @ vectors[1])


@pytest.fixture
def reused(project, lead, shared_data):
    """Eval items: three GSM8K questions, one with markup, one with no prompt. Training side: the same
    prompts answered otherwise, a paraphrase, unrelated GSM8K questions, and another empty prompt."""
    gsm8k = _gsm8k(shared_data)
    natalia, weng, james = (gsm8k[i] for i in (0, 1, 4))
    members = add_samples(
        project,
        5,
        origin=Origin.REAL,
        status="accepted",
        texts=[
            (natalia["instruction"], natalia["output"]),
            (weng["instruction"], weng["output"]),
            (james["instruction"], james["output"]),
            (XSS_PROMPT, "7 x 8 = 56 rolls."),
            ("", "Paris is the capital of France."),
        ],
    )
    gen = generator(project, "gen-a")
    # Natalia's question word for word (but for the spaces and line end around it), answered with another problem's
    # worked answer: prompt and answer together are far from the eval item.
    verbatim = add_samples(
        project, 1, gen=gen, status="accepted", texts=[("  " + natalia["instruction"] + "\r\n", gsm8k[5]["output"])]
    )[0]
    verbatim_short = add_samples(project, 1, gen=gen, status="accepted", texts=[(james["instruction"], "52 pages.")])[0]
    paraphrase = add_samples(project, 1, gen=gen, status="accepted", texts=[(WENG_PARAPHRASE, "$10.")])[0]
    markup = add_samples(project, 1, gen=gen, status="accepted", texts=[(XSS_PROMPT, "54 rolls.")])[0]
    unrelated = add_samples(
        project, 3, gen=gen, status="accepted", texts=[(gsm8k[i]["instruction"], gsm8k[i]["output"]) for i in (2, 3, 6)]
    )
    empty = add_samples(
        project,
        1,
        origin=Origin.REAL,
        status="accepted",
        texts=[("  ", "The mitochondria is the powerhouse of the cell.")],
    )[0]
    eval_split_add(lead_access(project, lead), sample_ids=[m.pk for m in members])
    version = eval_set_version_create(lead_access(project, lead))
    return {
        "members": members,
        "verbatim": verbatim,
        "verbatim_short": verbatim_short,
        "paraphrase": paraphrase,
        "markup": markup,
        "unrelated": unrelated,
        "empty": empty,
        "version": version,
    }


def test_reused_and_paraphrased_eval_prompts_are_held_back_and_named_with_their_eval_item(
    project, lead, client_for, reused, run_tasks_inline, django_capture_on_commit_callbacks
):
    members = reused["members"]
    natalia, weng, james, baker, no_prompt = members
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).post(
            reverse("export_list", args=[project.slug]),
            {
                "format": "jsonl",
                "split": "train",
                "max_generation_depth": 1,
                "eval_set_version": reused["version"].pk,
                "audit_override_reason": OVERRIDE,
            },
        )
    assert response.status_code == 302
    export = Export.objects.get(project=project)
    assert export.status == "completed", export.refusals

    # The data is what it claims, by the stored vectors: the verbatim copy with another answer and the
    # paraphrase are under the threshold as prompt and answer together, so only their prompts betray them;
    # the paraphrase's prompt alone is over it; the unrelated questions are under it either way.
    threshold = project.eval_leak_threshold
    assert _cosine(reused["verbatim"], natalia) < threshold
    assert _cosine(reused["paraphrase"], weng) < threshold
    assert _prompt_cosine(reused["paraphrase"], weng) >= threshold
    for sample in reused["unrelated"]:
        assert max(max(_cosine(sample, member), _prompt_cosine(sample, member)) for member in members[:4]) < threshold

    expected = {
        reused["verbatim"].pk: (natalia.pk, "prompt"),
        reused["verbatim_short"].pk: (james.pk, "prompt"),
        reused["markup"].pk: (baker.pk, "prompt"),
        reused["paraphrase"].pk: (weng.pk, "prompt_near"),
    }
    leaks = {
        leak.sample_id: (leak.eval_sample_id, leak.kind) for leak in EvalLeak.objects.filter(version=reused["version"])
    }
    assert leaks == expected
    # Held back, and the rest (the unrelated questions and the sample with no prompt) exported.
    assert export.manifest["held_back"]["eval_leak"] == 4
    assert {row["id"] for row in jsonl_rows(export.stored_path)} == {
        *(s.pk for s in reused["unrelated"]),
        reused["empty"].pk,
    }
    listed = {
        row["sample_id"]: (row["eval_sample_id"], row["kind"])
        for row in export.manifest["eval_leaks_held_back"]["listed"]
    }
    assert listed == expected and export.manifest["eval_leaks_held_back"]["total"] == 4
    snippets = {row["eval_sample_id"]: row["eval_input"] for row in export.manifest["eval_leaks_held_back"]["listed"]}
    # Weng's question (113 characters) whole; Natalia's (155) cut at 120.
    assert snippets[weng.pk] == weng.input
    assert snippets[natalia.pk] == natalia.input[:120] + "…" and len(natalia.input) == 155

    page = body(client_for(lead).get(response["Location"]))
    table = page.split('data-testid="held-back-leaks"')[1].split("</table>")[0]
    for sample_id, (eval_id, _) in expected.items():
        assert f"/samples/{sample_id}/" in table and f"/samples/{eval_id}/" in table
    assert "Same prompt" in table and "Paraphrased prompt" in table and "Weng earns $12 an hour" in table
    assert XSS_ESCAPED in table and XSS not in page
    eval_page = body(client_for(lead).get(reverse("eval_set", args=[project.slug])))
    eval_table = eval_page.split('data-testid="eval-leaks"')[1].split("</table>")[0]
    assert f"/samples/{reused['paraphrase'].pk}/" in eval_table and "Paraphrased prompt" in eval_table
    assert XSS_ESCAPED in eval_table and XSS not in eval_page
    flag = SampleFlag.objects.get(sample=reused["paraphrase"], check_name="eval-leak")
    assert flag.reason.startswith(f"Paraphrases the prompt of eval sample {weng.pk}")


def test_empty_prompts_never_match_each_other(project, lead, reused):
    from reviews.services.eval_leaks import eval_leak_check

    eval_leak_check(version_id=reused["version"].pk)
    assert not EvalLeak.objects.filter(sample=reused["empty"]).exists()
    # Both prompts are empty once normalised, and the check stored the same vector for both.
    vectors = _vectors([reused["empty"], reused["members"][4]], "input")
    assert float(vectors[reused["empty"].pk] @ vectors[reused["members"][4].pk]) == pytest.approx(1.0, abs=1e-5)
