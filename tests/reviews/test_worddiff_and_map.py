"""Word differences between a near-duplicate and its keeper, and the 2D map:
PCA scaled into the unit square, capped and stored by the worker."""

from __future__ import annotations

import numpy as np
import pytest

from reviews.models import EmbeddingMap
from reviews.services.embedding_map import embedding_map_build
from reviews.similarity.projection import pca_2d
from reviews.similarity.worddiff import MAX_DIFF_CHARS, DiffPiece, word_diff
from tests.reviews.review_helpers import add_samples


def kinds(pieces: list[DiffPiece], kind: str) -> list[str]:
    return [piece.text.strip() for piece in pieces if piece.kind == kind]


def shown_text(pieces: list[DiffPiece]) -> str:
    """What the reader sees of the other text: every piece's text (a gap has none)."""
    return "".join(piece.text for piece in pieces if piece.kind != "removed")


# --- word_diff ----------------------------------------------------------------


def test_a_replaced_word_is_marked_in_place_with_the_keepers_word_aside():
    pieces = word_diff("the cat sat on the mat", "the dog sat on the mat")
    assert pieces == [
        DiffPiece("the ", "same"),
        DiffPiece("dog", "added", was="cat"),
        DiffPiece(" sat on the mat", "same"),
    ]


def test_an_inserted_word_is_marked_added_and_nothing_removed():
    pieces = word_diff("add two numbers", "add two big numbers")
    assert kinds(pieces, "added") == ["big"]
    assert kinds(pieces, "removed") == []
    assert shown_text(pieces) == "add two big numbers"


def test_a_dropped_word_is_marked_removed_and_nothing_added():
    pieces = word_diff("a very long answer", "a long answer")
    assert [(piece.text, piece.was, piece.words) for piece in pieces if piece.kind == "removed"] == [("", "very", 1)]
    assert kinds(pieces, "added") == []
    assert shown_text(pieces) == "a long answer"


def test_several_changes_are_marked_in_reading_order():
    keeper = "Sam has 3 apples and buys 2 more. How many apples?"
    other = "Sam has 5 apples and buys 4 more. How many now?"
    pieces = word_diff(keeper, other)
    assert kinds(pieces, "removed") == []
    assert kinds(pieces, "added") == ["5", "4", "now?"]
    assert [piece.was for piece in pieces if piece.kind == "added"] == ["3", "2", "apples?"]
    assert shown_text(pieces) == other


def test_identical_texts_are_one_unchanged_piece():
    assert word_diff("same words here", "same words here") == [DiffPiece("same words here", "same")]


def test_whitespace_alone_is_not_a_change():
    pieces = word_diff("one two", "one  two")
    assert kinds(pieces, "added") == [] and kinds(pieces, "removed") == []
    assert shown_text(pieces) == "one  two"


def test_an_empty_keeper_makes_every_word_added():
    assert word_diff("", "brand new text") == [DiffPiece("brand new text", "added")]


def test_text_past_the_diff_limit_is_shown_unchanged():
    head = "word " * (MAX_DIFF_CHARS // 5)
    other = head + "tail the keeper lacks"
    pieces = word_diff(head, other)
    # Past the limit nothing is compared, so the new words are not marked.
    assert kinds(pieces, "added") == [] and kinds(pieces, "removed") == []
    assert shown_text(pieces) == other


# --- pca_2d -------------------------------------------------------------------


def _blobs(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = np.zeros(16)
    centre[3] = 5.0
    first = rng.normal(0.0, 0.1, (40, 16)) + centre
    second = rng.normal(0.0, 0.1, (60, 16)) - centre
    return first, second


def test_pca_coordinates_lie_in_the_unit_square():
    first, second = _blobs()
    coords, explained = pca_2d(np.vstack([first, second]))
    assert coords.shape == (100, 2)
    assert coords.min() >= 0.0 and coords.max() <= 1.0
    assert len(explained) == 2 and 0.0 <= explained[1] <= explained[0] <= 1.0


def test_pca_separates_two_well_separated_blobs_on_the_first_axis():
    first, second = _blobs()
    coords, explained = pca_2d(np.vstack([first, second]))
    x_first, x_second = coords[:40, 0], coords[40:, 0]
    assert x_first.max() < x_second.min() or x_second.max() < x_first.min()
    # The gap between the blobs is most of the width of the map.
    gap = max(x_second.min() - x_first.max(), x_first.min() - x_second.max())
    assert gap > 0.5
    assert explained[0] > 0.9


def test_pca_of_identical_points_does_not_divide_by_zero():
    coords, explained = pca_2d(np.ones((5, 4)))
    assert np.isfinite(coords).all()
    assert coords.min() >= 0.0 and coords.max() <= 1.0
    assert explained == [0.0, 0.0]


# --- embedding_map_build ------------------------------------------------------


@pytest.mark.django_db
def test_the_map_keeps_at_most_the_configured_points_and_stores_the_total(project, settings):
    settings.SIMILARITY_MAP_POINTS = 10
    samples = add_samples(project, 25)
    ids = np.array([s.pk for s in samples])
    vectors = np.random.default_rng(3).standard_normal((25, 8))
    stored = embedding_map_build(project_id=project.pk, ids=ids, vectors=vectors)
    assert stored == EmbeddingMap.objects.get(project=project)
    assert stored.embedded_total == 25
    assert len(stored.points) == 10
    point_ids = [point[0] for point in stored.points]
    assert len(set(point_ids)) == 10 and set(point_ids) <= set(ids.tolist())
    assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for _, x, y in stored.points)


@pytest.mark.django_db
def test_a_small_project_keeps_every_point(project, settings):
    settings.SIMILARITY_MAP_POINTS = 10
    samples = add_samples(project, 4)
    ids = np.array([s.pk for s in samples])
    stored = embedding_map_build(project_id=project.pk, ids=ids, vectors=np.random.default_rng(1).random((4, 8)))
    assert sorted(point[0] for point in stored.points) == sorted(ids.tolist())
    assert stored.embedded_total == 4


@pytest.mark.django_db
def test_a_rebuild_overwrites_the_map_and_too_few_points_remove_it(project, settings):
    settings.SIMILARITY_MAP_POINTS = 10
    samples = add_samples(project, 12)
    ids = np.array([s.pk for s in samples])
    embedding_map_build(project_id=project.pk, ids=ids, vectors=np.random.default_rng(1).random((12, 8)))
    embedding_map_build(project_id=project.pk, ids=ids[:6], vectors=np.random.default_rng(2).random((6, 8)))
    assert EmbeddingMap.objects.get(project=project).embedded_total == 6
    assert embedding_map_build(project_id=project.pk, ids=ids[:2], vectors=np.zeros((2, 8))) is None
    assert not EmbeddingMap.objects.filter(project=project).exists()
