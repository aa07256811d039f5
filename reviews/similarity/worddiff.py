"""Word-level differences between a near-duplicate and its group's keeper."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

_TOKEN = re.compile(r"\s+|[^\s]+")
# Diffing is quadratic in the worst case; past this many characters the tail is shown as is.
MAX_DIFF_CHARS = 4000


@dataclass(frozen=True)
class DiffPiece:
    text: str
    kind: str  # "same", "added" (only in this text) or "removed" (only in the keeper)


def word_diff(keeper: str, other: str) -> list[DiffPiece]:
    """`other` as pieces, with words the keeper lacks marked added and the
    keeper's words it lacks marked removed, in reading order."""
    head, tail = other[:MAX_DIFF_CHARS], other[MAX_DIFF_CHARS:]
    a = _TOKEN.findall(keeper[:MAX_DIFF_CHARS])
    b = _TOKEN.findall(head)
    pieces: list[DiffPiece] = []
    for op, a0, a1, b0, b1 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(DiffPiece("".join(b[b0:b1]), "same"))
            continue
        removed = "".join(a[a0:a1]).strip()
        if removed:
            pieces.append(DiffPiece(removed, "removed"))
        added = "".join(b[b0:b1])
        if added:
            pieces.append(DiffPiece(added, "added" if added.strip() else "same"))
    if tail:
        pieces.append(DiffPiece(tail, "same"))
    return _merged(pieces)


def _merged(pieces: list[DiffPiece]) -> list[DiffPiece]:
    merged: list[DiffPiece] = []
    for piece in pieces:
        if merged and merged[-1].kind == piece.kind:
            merged[-1] = DiffPiece(merged[-1].text + piece.text, piece.kind)
        else:
            merged.append(piece)
    return merged
