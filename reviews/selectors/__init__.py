"""Reads of the reviews app, split by feature."""

from reviews.selectors.browser import (  # noqa: F401
    COUNT_CAP,
    PAGE_SIZE,
    CountFigure,
    SamplePage,
    sample_history,
    sample_json_page,
    sample_page,
    sample_row_page,
    samples_count,
    samples_count_known,
    samples_filtered,
    samples_member_set,
    similar_samples,
)
from reviews.selectors.overview import SimilarityOverview, similarity_overview  # noqa: F401
from reviews.selectors.queue import (  # noqa: F401
    QUEUE_ORDERS,
    QueueCursor,
    queue_cursor_of,
    queue_next,
    queue_pending_estimate,
    queue_previous,
)
from reviews.selectors.sample_view import SampleView, sample_view  # noqa: F401
from reviews.selectors.search import SearchView, search_for_user, search_view  # noqa: F401
from reviews.selectors.similarity_map import COLOURINGS, MapPayload, embedding_map_points, map_point  # noqa: F401
from reviews.selectors.similarity_view import (  # noqa: F401
    ClusterCard,
    GroupCard,
    cluster_cards,
    group_card,
    group_cards,
)
