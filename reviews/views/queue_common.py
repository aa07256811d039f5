"""What the review queue and its audit mode share."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from reviews.models import ErrorCategory

# Keys 1–7 pick these, in this order.
CATEGORY_KEYS = [(str(number), value, label) for number, (value, label) in enumerate(ErrorCategory.choices, start=1)]


def queue_url(slug: str, order: str, **params: object) -> str:
    query = {"order": order, **{k: v for k, v in params.items() if v is not None}}
    return f"{reverse('review_queue', args=[slug])}?{urlencode(query)}"
