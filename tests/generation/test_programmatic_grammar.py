"""The rule-based generators count their nouns in good English: "4 boxes", "1 box", "9 loaves"."""

from __future__ import annotations

import re

import pytest

from generation.programmatic import get_programmatic
from generation.programmatic.arithmetic import FRAMINGS, ITEMS
from generation.programmatic.grammar import counted, plural

# Written by hand, not derived: every noun the arithmetic generator can count, with its plural.
EXPECTED_PLURALS = {
    "apple": "apples",
    "pencil": "pencils",
    "sticker": "stickers",
    "egg": "eggs",
    "marble": "marbles",
    "cookie": "cookies",
    "stamp": "stamps",
    "loaf": "loaves",
    "basket": "baskets",
    "box": "boxes",
    "sheet": "sheets",
    "carton": "cartons",
    "bag": "bags",
    "tray": "trays",
    "album page": "album pages",
    "crate": "crates",
    "friend": "friends",
}


def _generator_nouns() -> set[str]:
    return {noun for pair in ITEMS for noun in pair} | {"friend"}


def test_the_expected_table_covers_every_noun_the_generator_can_pick():
    assert _generator_nouns() == set(EXPECTED_PLURALS)


@pytest.mark.parametrize(("singular", "expected"), sorted(EXPECTED_PLURALS.items()))
def test_every_generator_noun_has_its_right_plural(singular, expected):
    assert plural(singular) == expected


@pytest.mark.parametrize(
    ("singular", "expected"),
    [
        ("box", "boxes"),
        ("loaf", "loaves"),
        ("shelf", "shelves"),
        ("child", "children"),
        ("sheep", "sheep"),
        ("bus", "buses"),
        ("bench", "benches"),
        ("dish", "dishes"),
        ("berry", "berries"),
        ("key", "keys"),
        ("glass jar", "glass jars"),
    ],
)
def test_irregular_and_rule_plurals(singular, expected):
    assert plural(singular) == expected


def test_one_takes_the_singular_and_every_other_count_the_plural():
    assert counted(1, "box") == "1 box"
    assert counted(0, "box") == "0 boxes"
    assert counted(4, "box") == "4 boxes"
    assert counted(60, "loaf") == "60 loaves"
    assert counted("1,200", "album page") == "1,200 album pages"


def _counted_phrases(text: str) -> list[tuple[str, str]]:
    forms = sorted(set(EXPECTED_PLURALS) | set(EXPECTED_PLURALS.values()), key=len, reverse=True)
    pattern = re.compile(r"\b(\d[\d,]*) (?:full |more )?(" + "|".join(re.escape(f) for f in forms) + r")\b")
    return pattern.findall(text)


def test_generated_problems_never_miscount_a_noun():
    make = get_programmatic("arithmetic-word-problems")
    seen_plural = set()
    phrases = 0
    for parameters in ({"edge_case_rate": 0.0}, {"edge_case_rate": 1.0}):
        generator = make(seed=7, parameters=parameters)
        for index in range(400):
            item = generator.generate(index, framing=FRAMINGS[index % len(FRAMINGS)])
            text = f"{item.input}\n{item.output}"
            assert "boxs" not in text and "loafs" not in text, text
            for number, noun in _counted_phrases(text):
                phrases += 1
                if number == "1":
                    assert noun in EXPECTED_PLURALS, text
                else:
                    assert noun in EXPECTED_PLURALS.values(), text
                    seen_plural.add(noun)
    assert phrases > 1000
    # The walk reached the irregular and -es plurals, so the assertions above judged them.
    assert {"boxes", "loaves", "album pages"} <= seen_plural
