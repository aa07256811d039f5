"""The check every group, cluster or variant-family action makes before it writes:
the members now are exactly those the reviewer was shown."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from reviews.similarity.membership import MemberSet, membership_change


class MembershipChanged(Exception):
    """The members are no longer those the reviewer was shown; nothing was written."""


def membership_confirmed(*, noun: str, member_ids: list[int], confirmed: str) -> None:
    """Refuse unless `member_ids` (read under the action's lock) are exactly the members
    whose token the reviewer's page carried. Any action on a group, a cluster or a
    variant family calls this before it writes."""
    seen = MemberSet.parse(confirmed)
    if seen is None:
        raise ValidationError(f"The page did not say which members of this {noun} you saw; reload it and look again.")
    change = membership_change(noun, seen, MemberSet.of(member_ids))
    if change:
        raise MembershipChanged(change)
