"""English plurals for the nouns the rule-based generators count.

A table of irregular nouns first, then the regular spelling rules; the generators'
word lists hold singular nouns, so every count goes through `counted`.
"""

from __future__ import annotations

# Plurals that no spelling rule gives.
IRREGULAR = {
    "child": "children",
    "foot": "feet",
    "goose": "geese",
    "knife": "knives",
    "leaf": "leaves",
    "life": "lives",
    "loaf": "loaves",
    "man": "men",
    "mouse": "mice",
    "person": "people",
    "sheep": "sheep",
    "shelf": "shelves",
    "tooth": "teeth",
    "wolf": "wolves",
    "woman": "women",
}
_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")
_VOWELS = "aeiou"


def plural(noun: str) -> str:
    """The plural of a singular noun; in a compound ("album page") the last word takes it."""
    head, _, last = noun.rpartition(" ")
    if not last:
        raise ValueError("a noun is needed")
    if last in IRREGULAR:
        word = IRREGULAR[last]
    elif last.endswith(_SIBILANT_ENDINGS):
        word = f"{last}es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in _VOWELS:
        word = f"{last[:-1]}ies"
    else:
        word = f"{last}s"
    return f"{head} {word}" if head else word


def counted(count: int | str, noun: str) -> str:
    """ "1 box", "0 boxes", "4 boxes", "1,200 boxes": the singular for exactly one, else the plural."""
    shown = str(count)
    return f"{shown} {noun if shown == '1' else plural(noun)}"
