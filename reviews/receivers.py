"""The reviews app's answers to what generation tells it (generation/signals.py),
connected in ReviewsConfig.ready()."""

from __future__ import annotations

from typing import Any

from reviews.services import similarity_refresh


def similarity_on_samples_arrived(
    sender: type, *, project_id: int, requested_by: object | None = None, **kwargs: Any
) -> None:
    """New samples: embed them, then rebuild neighbours and groups, in a worker after commit."""
    similarity_refresh(project_id=project_id, requested_by=requested_by)
