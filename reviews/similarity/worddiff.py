"""Word-level differences between a near-duplicate and its group's keeper.

The member's own text is the reading: every piece's text joined gives it back
exactly. Its words that differ from the keeper are marked; the keeper's words it
lacks are never interleaved into it, only kept aside (`was`) for a marker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

# A word and the whitespace after it. Only words are compared (whitespace alone is
# never a change), which also halves the tokens the quadratic matcher sees.
_WORD = re.compile(r"(\S+)(\s*)")
# Diffing is quadratic in the worst case; past this many characters the tail is shown as is.
MAX_DIFF_CHARS = 4000


@dataclass(frozen=True)
class DiffPiece:
    text: str
    # "same"; "added": words only in this text (`was`: the keeper's words they replace, if any);
    # "removed": no text of its own, a gap where the keeper has the words in `was`.
    kind: str
    was: str = ""

    @property
    def words(self) -> int:
        return len(self.was.split())


def word_diff(keeper: str, other: str) -> list[DiffPiece]:
    """`other` as pieces in reading order: its words the keeper lacks (inserted or
    changed) marked added, and a gap piece where the keeper has words it lacks."""
    if keeper == other:
        return [DiffPiece(other, "same")] if other else []
    head, tail = other[:MAX_DIFF_CHARS], other[MAX_DIFF_CHARS:]
    keeper_words = _WORD.findall(keeper[:MAX_DIFF_CHARS])
    other_words = _WORD.findall(head)
    leading = head[: len(head) - len(head.lstrip())]
    pieces: list[DiffPiece] = [DiffPiece(leading, "same")] if leading else []
    matcher = SequenceMatcher(None, [w for w, _ in keeper_words], [w for w, _ in other_words], autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        was = " ".join(w for w, _ in keeper_words[a0:a1]) if op != "equal" else ""
        if op == "delete":
            pieces.append(DiffPiece("", "removed", was))
            continue
        run = other_words[b0:b1]
        text = "".join(w + space for w, space in run[:-1]) + run[-1][0]
        pieces.append(DiffPiece(text, "same" if op == "equal" else "added", was))
        if run[-1][1]:
            pieces.append(DiffPiece(run[-1][1], "same"))
    if tail:
        pieces.append(DiffPiece(tail, "same"))
    return _merged(pieces)


def _merged(pieces: list[DiffPiece]) -> list[DiffPiece]:
    merged: list[DiffPiece] = []
    for piece in pieces:
        if merged and merged[-1].kind == piece.kind and piece.kind != "removed":
            was = " ".join(part for part in (merged[-1].was, piece.was) if part)
            merged[-1] = DiffPiece(merged[-1].text + piece.text, piece.kind, was)
        else:
            merged.append(piece)
    return merged
