"""The similarity settings page: leads and admins set what is embedded, the
near-duplicate threshold, the variant rule, the low-novelty thresholds and the refit
share; a change is logged and sets off the work it needs. A histogram, pairs either
side of the threshold and a preview of the groups help choose it.

Expected numbers are worked out by hand from the small projects each test builds."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from reviews.models import Cluster, SimilarityJob
from reviews.selectors.similarity_settings import grouping_estimate, neighbour_similarity_bins
from synthreview.projects.models import AuditLog, Project
from tests.reviews.review_helpers import HTMX, XSS, XSS_ESCAPED, add_sample, add_samples, body, group, score

pytestmark = pytest.mark.django_db

SAVED = {
    "embedding_text": "input_output",
    "near_duplicate_threshold": "0.9",
    "variant_rule": "slots",
    "variant_keep_max": "3",
    "low_novelty_min_density": "0.85",
    "low_novelty_min_synthetic_share": "90",
    "low_novelty_far_distance": "0.6",
    "refit_share": "20",
}


def _url(project: Project) -> str:
    return reverse("similarity_settings", args=[project.slug])


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    from reviews.tasks import similarity_job_task

    ids: list[int] = []
    monkeypatch.setattr(similarity_job_task, "delay", ids.append)
    return ids


# --- who may open it --------------------------------------------------------


@pytest.mark.parametrize("who, status", [("lead", 200), ("admin_member", 200), ("expert", 403), ("outsider", 404)])
def test_leads_and_admins_open_the_page_experts_are_refused_outsiders_see_nothing(
    request, project, client_for, who, status
):
    user = request.getfixturevalue(who)
    client = client_for(user)
    assert client.get(_url(project)).status_code == status
    assert client.post(_url(project), SAVED).status_code == (302 if status == 200 else status)


def test_anonymous_is_sent_to_log_in(project, client):
    response = client.get(_url(project))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_link_shows_for_leads_only(project, lead, expert, client_for):
    page = body(client_for(lead).get(reverse("similarity_view", args=[project.slug])))
    assert page.count(f'href="{_url(project)}"') == 2  # the project nav and the similarity page
    page = body(client_for(expert).get(reverse("similarity_view", args=[project.slug])))
    assert _url(project) not in page


# --- saving -----------------------------------------------------------------


def test_the_form_shows_the_saved_settings(project, lead, client_for):
    Project.objects.filter(pk=project.pk).update(
        near_duplicate_threshold=0.93, low_novelty_min_synthetic_share=0.8, refit_share=0.35, variant_rule="off"
    )
    page = body(client_for(lead).get(_url(project)))
    assert 'name="near_duplicate_threshold" value="0.93"' in page
    assert 'name="low_novelty_min_synthetic_share" value="80.0"' in page
    assert 'name="refit_share" value="35.0"' in page
    assert '<option value="off" selected>' in page


def test_a_new_threshold_is_saved_logged_and_regroups_without_embedding(
    project, lead, client_for, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).post(_url(project), {**SAVED, "near_duplicate_threshold": "0.88"}, follow=True)
    project.refresh_from_db()
    assert project.near_duplicate_threshold == 0.88
    entry = AuditLog.objects.get(project=project, action="similarity_settings.set")
    assert entry.actor == lead and entry.details == {"near_duplicate_threshold": {"from": 0.9, "to": 0.88}}
    job = SimilarityJob.objects.get(project=project)
    assert (job.kind, job.full) == ("build", False)  # a build with nothing new to embed only regroups
    assert queued == [job.pk]
    assert "Regrouping from the stored neighbours in a worker (no embedding again)." in body(response)


def test_a_new_variant_rule_regroups_too(project, lead, client_for, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(lead).post(_url(project), {**SAVED, "variant_rule": "off"})
    assert list(SimilarityJob.objects.filter(project=project).values_list("kind", flat=True)) == ["build"]
    assert AuditLog.objects.get(action="similarity_settings.set").details == {
        "variant_rule": {"from": "slots", "to": "off"}
    }


def test_a_new_embedded_text_says_it_embeds_again_and_queues_the_embedding(
    project, lead, client_for, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).post(
            _url(project), {**SAVED, "embedding_text": "output", "near_duplicate_threshold": "0.95"}, follow=True
        )
    project.refresh_from_db()
    assert (project.embedding_text, project.near_duplicate_threshold) == ("output", 0.95)
    # One embed job; the build after it regroups at the new threshold, so no separate regroup.
    assert list(SimilarityJob.objects.filter(project=project).values_list("kind", flat=True)) == ["embed"]
    assert "every sample is being embedded again" in body(response)


def test_saving_what_is_already_saved_logs_nothing_and_queues_nothing(
    project, lead, client_for, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).post(_url(project), SAVED, follow=True)
    assert "Nothing changed." in body(response)
    assert not AuditLog.objects.filter(action="similarity_settings.set").exists()
    assert not SimilarityJob.objects.exists() and queued == []


def test_new_low_novelty_thresholds_flag_the_clusters_again_at_once(project, lead, client_for, queued):
    tight = Cluster.objects.create(
        project=project,
        number=0,
        size=5,
        density=0.80,
        synthetic_share=0.95,
        real_anchor_distance=0.2,
        generator_mix={},
        template_mix={},
    )
    loose = Cluster.objects.create(
        project=project,
        number=1,
        size=5,
        density=0.60,
        synthetic_share=1.0,
        real_anchor_distance=0.3,
        generator_mix={},
        template_mix={},
    )
    # Density from 0.75 and synthetic from 90%: the tight cluster (0.80, 95%) is low-novelty; the
    # loose one (0.60) is not, nor is it 0.5 or more from real data.
    response = client_for(lead).post(
        _url(project), {**SAVED, "low_novelty_min_density": "0.75", "low_novelty_far_distance": "0.5"}, follow=True
    )
    tight.refresh_from_db()
    loose.refresh_from_db()
    assert (tight.is_low_novelty, tight.low_novelty_reason) == (True, "dense (0.80) and 95% synthetic")
    assert (loose.is_low_novelty, loose.low_novelty_reason) == (False, "")
    assert "1 cluster now low-novelty." in body(response)
    assert not SimilarityJob.objects.exists()  # no regroup, no embedding


def test_variants_kept_and_refit_share_are_saved_in_their_units(project, lead, client_for, queued):
    client_for(lead).post(
        _url(project), {**SAVED, "variant_keep_max": "5", "refit_share": "50", "low_novelty_min_synthetic_share": "75"}
    )
    project.refresh_from_db()
    assert (project.variant_keep_max, project.refit_share, project.low_novelty_min_synthetic_share) == (5, 0.5, 0.75)
    assert not SimilarityJob.objects.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("embedding_text", "everything", "The embedded text is input, output, or both."),
        ("near_duplicate_threshold", "0.3", "The near-duplicate threshold is a cosine similarity from 0.5 to 1."),
        ("near_duplicate_threshold", "1.5", "The near-duplicate threshold is a cosine similarity from 0.5 to 1."),
        ("near_duplicate_threshold", "nan", "The near-duplicate threshold is a cosine similarity from 0.5 to 1."),
        ("near_duplicate_threshold", "", "The near-duplicate threshold is a cosine similarity from 0.5 to 1."),
        ("variant_rule", "maybe", "The variant rule is slots or off."),
        ("variant_keep_max", "0", "The variants kept per family is a whole number from 1 to 1000."),
        ("variant_keep_max", "2.5", "The variants kept per family is a whole number from 1 to 1000."),
        ("low_novelty_min_density", "-0.1", "The low-novelty density is a mean similarity from 0 to 1."),
        ("low_novelty_min_synthetic_share", "120", "The low-novelty synthetic share is a percentage from 0 to 100."),
        ("low_novelty_far_distance", "3", "The far-from-real distance is a distance (1 − cosine) from 0 to 2."),
        ("refit_share", "0", "The refit share is a percentage from 1 to 1000."),
        ("refit_share", "inf", "The refit share is a percentage from 1 to 1000."),
    ],
)
def test_bad_input_is_refused_next_to_the_field_it_names(project, lead, client_for, queued, field, value, message):
    response = client_for(lead).post(_url(project), {**SAVED, field: value})
    assert response.status_code == 400
    match = re.search(rf'data-testid="error-{field}">([^<]*)<', body(response))
    assert match and unescape(match.group(1)) == message
    assert Project.objects.get(pk=project.pk).near_duplicate_threshold == 0.9
    assert not AuditLog.objects.filter(action="similarity_settings.set").exists()


def test_the_audit_log_page_shows_the_change(project, lead, client_for, queued):
    client_for(lead).post(_url(project), {**SAVED, "near_duplicate_threshold": "0.92"})
    page = _text(body(client_for(lead).get(reverse("audit_log", args=[project.slug]))))
    assert "Similarity settings changed" in page
    assert "near duplicate threshold: 0.9 → 0.92" in page


def test_the_readme_sends_users_to_the_page_not_to_django_admin():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "/p/<slug>/similarity/settings/" in readme


# --- choosing the threshold: histogram, pairs, preview ------------------------


@pytest.fixture
def linked(project):
    """Nine samples whose neighbour lists link them as follows (each pair stored both ways):
    a–b 0.97, b–c 0.91, d–e 0.89, f–g 0.86, h–i 0.70; so at 0.90 {a,b,c} is the one set,
    at 0.88 {a,b,c} and {d,e}, at 0.85 also {f,g}."""
    samples = dict(zip("abcdefghi", add_samples(project, 9)))
    links = [("a", "b", 0.97), ("b", "c", 0.91), ("d", "e", 0.89), ("f", "g", 0.86), ("h", "i", 0.70)]
    neighbours: dict[str, list] = {name: [] for name in samples}
    for left, right, similarity in links:
        neighbours[left].append([samples[right].pk, similarity])
        neighbours[right].append([samples[left].pk, similarity])
    for name, sample in samples.items():
        score(sample, 0.5, neighbours=sorted(neighbours[name], key=lambda item: -item[1]))
    return samples


@pytest.mark.parametrize(
    "threshold, groups, samples", [(0.90, 1, 3), (0.88, 2, 5), (0.85, 3, 7), (0.98, 0, 0), (0.70, 4, 9)]
)
def test_the_estimate_counts_linked_sets_worked_out_by_hand(project, linked, threshold, groups, samples):
    estimate = grouping_estimate(project, threshold)
    assert (estimate.groups, estimate.samples, estimate.too_many) == (groups, samples, False)


def test_an_estimate_past_its_reading_limit_says_so_instead_of_guessing(project, linked):
    assert grouping_estimate(project, 0.85, limit=6).too_many  # 7 samples have a neighbour at 0.85 or more
    assert not grouping_estimate(project, 0.85, limit=7).too_many


def test_typing_a_threshold_previews_its_groups_before_anything_is_saved(project, lead, linked, client_for):
    group(project, [linked["a"], linked["b"], linked["c"]])
    response = client_for(lead).get(_url(project), {"near_duplicate_threshold": "0.88"}, headers=HTMX)
    assert response.status_code == 200
    html = body(response)
    assert html.lstrip().startswith('<div id="threshold-preview"')  # the partial alone
    text = _text(html)
    assert (
        "At 0.88: about 2 groups holding 5 samples (now: about 1 holding 3 at the saved 0.90; "
        "near-duplicate: 1 open group of 3 samples)"
    ) in text
    assert Project.objects.get(pk=project.pk).near_duplicate_threshold == 0.9


def test_without_javascript_the_preview_button_shows_the_whole_page_with_the_value_tried(
    project, lead, linked, client_for
):
    page = body(client_for(lead).get(_url(project), {**SAVED, "near_duplicate_threshold": "0.85"}))
    assert "At 0.85: about 3 groups holding 7 samples" in _text(page)
    assert 'name="near_duplicate_threshold" value="0.85"' in page
    assert 'formmethod="get"' in page and 'hx-get="' + _url(project) + '"' in page


@pytest.mark.parametrize("value", ["abc", "2", "-1", "nan", "0.1"])
def test_a_bad_threshold_in_the_preview_says_what_is_wrong(project, lead, linked, client_for, value):
    response = client_for(lead).get(_url(project), {"near_duplicate_threshold": value}, headers=HTMX)
    assert response.status_code == 400
    assert "The near-duplicate threshold is a cosine similarity from 0.5 to 1." in _text(body(response))
    assert "At 0.90: about 1 group holding 3 samples" in _text(body(response))  # the saved one stands


def test_the_histogram_counts_each_samples_nearest_neighbour_by_hundredth(project, linked):
    bins = {low: count for low, _, count in neighbour_similarity_bins(project)}
    # Nearest similarities: a 0.97, b 0.97, c 0.91, d 0.89, e 0.89, f 0.86, g 0.86, h 0.70, i 0.70.
    assert {low: count for low, count in bins.items() if count} == {0.97: 2, 0.91: 1, 0.89: 2, 0.86: 2, 0.70: 2}
    assert len(bins) == 50 and min(bins) == 0.5


def test_the_page_draws_the_histogram_with_the_saved_and_the_tried_threshold(project, lead, linked, client_for):
    page = body(client_for(lead).get(_url(project), {"near_duplicate_threshold": "0.88"}))
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "Each sample’s nearest neighbour" in svg or "Each sample&#x27;s nearest neighbour" in svg
    # Bars from 0.88 up stand out: a, b (0.97), c (0.91), d, e (0.89).
    assert "≥ 0.88: 5" in svg
    assert "saved 0.90" in svg


def test_pairs_either_side_of_the_threshold_are_shown_nearest_it_first(project, lead, linked, client_for):
    page = body(client_for(lead).get(_url(project), {"near_duplicate_threshold": "0.90"}))
    above = page[page.index('data-testid="pairs-above"') : page.index('data-testid="pairs-below"')]
    below = page[page.index('data-testid="pairs-below"') :]
    assert re.findall(r'class="pair-similarity">([\d.]+)<', above) == ["0.9100", "0.9700"]
    assert re.findall(r'class="pair-similarity">([\d.]+)<', below) == ["0.8900", "0.8600", "0.7000"]
    assert f"sample #{linked['b'].pk}</a> and" in above and f"sample #{linked['c'].pk}</a>" in above


def test_pair_texts_are_escaped(project, lead, client_for):
    left = add_sample(project, input=f"Q {XSS}", output=f"A {XSS}")
    right = add_sample(project, input="plain", output="text")
    score(left, 0.5, neighbours=[[right.pk, 0.93]])
    score(right, 0.5, neighbours=[[left.pk, 0.93]])
    page = body(client_for(lead).get(_url(project)))
    assert XSS not in page
    assert f"Q {XSS_ESCAPED}" in page and f"A {XSS_ESCAPED}" in page


def test_a_project_without_neighbours_says_so(project, lead, client_for):
    page = _text(body(client_for(lead).get(_url(project))))
    assert "No neighbours yet" in page
    assert "At 0.90: about 0 groups holding 0 samples (now: no open groups)" in page


def test_the_page_reads_a_bounded_number_of_queries(project, lead, linked, client_for, django_assert_max_num_queries):
    client = client_for(lead)
    with django_assert_max_num_queries(16):
        client.get(_url(project), {"near_duplicate_threshold": "0.88"})
