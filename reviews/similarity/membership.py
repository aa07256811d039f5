"""What a reviewer saw of a group, cluster or family: a short token of its member ids.

A card carries the token of the members it showed; the action that follows
compares it with the members read under the action's own lock and refuses
when they differ, so nothing is decided for a sample nobody was shown.

The token is the count, the sum and the sum of squares of the ids. Two sets
that differ in a way an import or a rebuild can make (samples joining, which
always have new ids; samples leaving) never share all three, and SQL can
compute it in one grouped, index-only aggregate for a page of cards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, F, QuerySet, Sum

from synthreview.projects.params import non_negative_int_or_none

# A sum of squares of BIGINT ids over a large set runs to about 40 digits; a longer part is forged.
_LARGEST_TOKEN_PART = 10**40 - 1


@dataclass(frozen=True)
class MemberSet:
    count: int
    total: int
    squares: int

    @property
    def token(self) -> str:
        return f"{self.count}.{self.total}.{self.squares}"

    @classmethod
    def of(cls, member_ids: Iterable[int]) -> MemberSet:
        ids = [int(pk) for pk in member_ids]
        return cls(len(ids), sum(ids), sum(pk * pk for pk in ids))

    @classmethod
    def parse(cls, token: str | None) -> MemberSet | None:
        """The token a form sent back, or None when it is missing or malformed."""
        parts = (token or "").strip().split(".")
        if len(parts) != 3:
            return None
        count, total, squares = (non_negative_int_or_none(part, maximum=_LARGEST_TOKEN_PART) for part in parts)
        if count is None or total is None or squares is None:
            return None
        return cls(count, total, squares)


EMPTY = MemberSet(0, 0, 0)


def member_sets(rows: QuerySet, *, by: str, member: str) -> dict[int, MemberSet]:
    """{`by` value: its members' MemberSet} in one grouped query over `rows`."""
    aggregated = (
        rows.order_by().values(by).annotate(n=Count(member), total=Sum(member), squares=Sum(F(member) * F(member)))
    )
    return {row[by]: MemberSet(row["n"], int(row["total"] or 0), int(row["squares"] or 0)) for row in aggregated}


def membership_change(noun: str, confirmed: MemberSet, now: MemberSet) -> str:
    """What changed since the card was shown, in words; empty when nothing did."""
    if confirmed == now:
        return ""
    difference = now.count - confirmed.count
    if difference > 0:
        what = f"{difference} sample{'s' if difference != 1 else ''} joined this {noun}"
    elif difference < 0:
        what = f"{-difference} sample{'s' if difference != -1 else ''} left this {noun}"
    else:
        what = f"The members of this {noun} changed"
    return f"{what} since you opened it; look again."
