"""The sample browser's orders other than newest first, each paged by keyset on (key, id).

A page's cursor carries the order's name, the last row's key and its id, signed: a link from
another order, a hand-edited value or a cut-off token is refused here, and the view falls
back to the first page rather than erroring. Each order walks an index (migrations
sample_browser_sort_indexes): no OFFSET, and the page's count comes from the same read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db.models import Expression, F, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.db.models.functions import Length

from generation.models import Sample
from reviews.selectors.browser import PAGE_SIZE, SamplePage, _with_lineage
from synthreview.projects.models import Project

NEWEST = "newest"
_SALT = "reviews.sample-browser.cursor"


@dataclass(frozen=True)
class SampleOrder:
    name: str
    label: str
    descending: bool
    # The sort key besides the id; None: the id alone.
    key: str | None = None
    # Orders by a similarity score list the scored samples only: a sample the similarity
    # worker has not reached has nothing to compare, and a NULL in the key would cost the
    # keyset its single index range.
    scored: bool = False

    @property
    def tie_break(self) -> str:
        # The similarity row's own sample_id, the same value as the id: compared as the id, the
        # (score, id) keyset would name two tables, and PostgreSQL would read the index from its
        # start on every page instead of from the cursor.
        return "similarity__sample" if self.scored else "id"

    def key_expression(self) -> Expression | F:
        if self.key == "length":
            # Matches the expression index on PostgreSQL: length(input) + length(output).
            return Length("input") + Length("output")
        return F(self.key or "id")


ORDERS: dict[str, SampleOrder] = {
    order.name: order
    for order in (
        SampleOrder(NEWEST, "Newest first", descending=True),
        SampleOrder("oldest", "Oldest first", descending=False),
        SampleOrder("novelty", "Lowest novelty first", descending=False, key="similarity__novelty", scored=True),
        SampleOrder("-novelty", "Highest novelty first", descending=True, key="similarity__novelty", scored=True),
        SampleOrder(
            "nearest_real",
            "Most similar to a real sample first",
            descending=True,
            key="similarity__nearest_real_similarity",
            scored=True,
        ),
        SampleOrder("longest", "Longest first", descending=True, key="length"),
        SampleOrder("shortest", "Shortest first", descending=False, key="length"),
    )
}
ORDER_CHOICES = [(order.name, order.label) for order in ORDERS.values()]


class BadCursor(ValueError):
    """A page link that does not belong to this order: forged, cut short or from another order."""


def cursor_encode(order: SampleOrder, key: Any, pk: int) -> str:
    return signing.dumps([order.name, key, pk], salt=_SALT, compress=False)


def cursor_decode(order: SampleOrder, token: str) -> tuple[Any, int]:
    try:
        name, key, pk = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError) as error:
        raise BadCursor(str(error)) from error
    expected = int if order.key in (None, "length") else float
    if (
        name != order.name
        or not isinstance(pk, int)
        or isinstance(pk, bool)
        or not isinstance(key, (int, float))
        or isinstance(key, bool)
    ):
        raise BadCursor("the page link is for another order")
    return (expected(key) if order.key else pk), pk


def samples_ordered(project: Project, queryset: QuerySet[Sample], order: SampleOrder) -> QuerySet[Sample]:
    """The samples an order lists: for a score, those with one (through the similarity rows
    of this project, whose (project, score, sample) index gives the order)."""
    if not order.scored:
        return queryset
    return queryset.filter(similarity__project=project, **{f"{order.key}__isnull": False})


def sample_page_ordered(
    queryset: QuerySet[Sample],
    order: SampleOrder,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = PAGE_SIZE,
    count_up_to: int = 0,
) -> SamplePage:
    """As browser.sample_page, in `order`: `after` continues past a cursor, `before` goes back.
    The cursors are tokens (cursor_encode); a bad one raises BadCursor."""
    expression = order.key_expression()
    pair = Tuple(expression, F(order.tie_break))
    terms = (expression, F(order.tie_break)) if order.key else (F("id"),)

    def ranked(forward: bool) -> QuerySet[Sample]:
        descending = order.descending == forward
        return queryset.order_by(*(term.desc() if descending else term.asc() for term in terms))

    def beyond(token: str, forward: bool) -> Q:
        key, pk = cursor_decode(order, token)
        lookup = TupleLessThan if order.descending == forward else TupleGreaterThan
        value = (key, pk)
        if order.key is None:
            return Q(pk__lt=pk) if lookup is TupleLessThan else Q(pk__gt=pk)
        return Q(lookup(pair, value))

    if before is not None:
        found = list(ranked(False).filter(beyond(before, False)).values_list(expression, "id")[: size + 1])
        has_newer = len(found) > size
        found = found[:size][::-1]
        rows = _with_lineage(queryset, [pk for _, pk in found])
        return SamplePage(
            rows,
            cursor_encode(order, *found[0]) if found and has_newer else None,
            cursor_encode(order, *found[-1]) if found else None,
        )
    listed = ranked(True).filter(beyond(after, True)) if after is not None else ranked(True)
    counting = after is None and count_up_to > size
    found = list(listed.values_list(expression, "id")[: (count_up_to if counting else size) + 1])
    has_older = len(found) > size
    shown = found[:size]
    rows = _with_lineage(queryset, [pk for _, pk in shown])
    return SamplePage(
        rows,
        cursor_encode(order, *shown[0]) if shown and after is not None else None,
        cursor_encode(order, *shown[-1]) if shown and has_older else None,
        complete=after is None and not has_older,
        counted=len(found) if counting else None,
    )
