"""The keywords tool shows distinct phrases with meaningful scores: phrases that are pieces of
one another are merged or dropped ("James Webb Space" and "Webb Space Telescope" become
"James Webb Space Telescope"), and relevance reads as a spread of percentages, not a wall of
"1.00" and "0.00"; the page's rows and the Copy button's text come from them."""

from __future__ import annotations

import itertools

import pytest

from credit_app.state.tools import keyphrase_rows, keywords_text
from credit_app.tools import keywords
from credit_app.tools.keywords import Keyphrase

JWST = (
    "The James Webb Space Telescope is the largest optical telescope in space. Its high "
    "resolution and sensitivity allow it to view objects too old, distant, or faint for the "
    "Hubble Space Telescope. The James Webb Space Telescope was launched on 25 December 2021 "
    "on an Ariane 5 rocket from Kourou, French Guiana. In January 2022 it arrived at its "
    "destination, a solar orbit near the Sun-Earth L2 Lagrange point. The Webb Space "
    "Telescope's primary mirror consists of 18 hexagonal mirror segments made of gold-plated "
    "beryllium. NASA led the design and development of the telescope, in partnership with "
    "the European Space Agency and the Canadian Space Agency. The telescope is named after "
    "James E. Webb, who was the administrator of NASA from 1961 to 1968. Webb observes in "
    "infrared light, which lets it see through dust clouds where stars and planets are forming."
)
BEES = (
    "Honeybees are essential pollinators for many of the crops that people eat. A single "
    "honeybee colony can contain tens of thousands of worker bees, a queen and a few hundred "
    "drones. Worker bees collect nectar and pollen from flowers and carry it back to the hive. "
    "Over the past two decades, beekeepers in Europe and North America have reported heavy "
    "colony losses. Scientists link these colony losses to parasites such as the varroa mite. "
    "The varroa mite feeds on bees and spreads viruses between them, weakening the colony."
)
RIVERS = (
    "The Amazon River carries more water than any other river on Earth. The Amazon River "
    "basin covers much of Brazil and Peru. The Nile River is often called the longest river, "
    "although some measurements of the Amazon River basin suggest otherwise. River dolphins "
    "live in the Amazon River and in rivers of South Asia. Dams on the Nile River changed "
    "the floods that farmers relied on for thousands of years."
)
# The README screenshot's text: a phrase grown by a join ("James Webb Space Telescope")
# must not stay beside one it now overlaps ("Space Telescope observes").
WEBB_SHORT = (
    "The James Webb Space Telescope observes the universe in infrared light. Webb studies "
    "the first galaxies, the birth of stars and planets, and the atmospheres of exoplanets. "
    "Launched in 2021, the telescope orbits the Sun near the second Lagrange point, where "
    "its sunshield keeps the mirrors cold. Astronomers use Webb to look back in time."
)
TEXTS = {"jwst": JWST, "bees": BEES, "rivers": RIVERS, "webb-short": WEBB_SHORT}


def _key(phrase: str) -> tuple[str, ...]:
    return keywords._key(phrase)


def _edge_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    return max(keywords._overlap(a, b), keywords._overlap(b, a))


# ------------------------------------------------------------------------ on real texts


def test_the_issue_example_becomes_one_phrase():
    phrases = [k.phrase for k in keywords.run(JWST).keyphrases]
    assert phrases[0] == "James Webb Space Telescope"
    assert "James Webb Space" not in phrases
    assert "Webb Space Telescope" not in phrases
    # Different telescopes sharing words stay apart.
    assert "Hubble Space Telescope" in phrases


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_no_phrase_shown_is_a_piece_of_another(text):
    shown = [_key(k.phrase) for k in keywords.run(text, top=15).keyphrases]
    assert len(shown) == len(set(shown)), shown
    for a, b in itertools.combinations(shown, 2):
        assert not keywords._contains(a, b), (a, b)
        # Two phrases share at most one edge word ("Telescope primary mirror" may follow
        # "James Webb Space Telescope"; "Webb Space Telescope" may not).
        assert _edge_overlap(a, b) <= 1, (a, b)


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_scores_are_a_spread_of_percentages_not_a_wall_of_ones_and_zeros(text):
    found = keywords.run(text).keyphrases
    percents = [k.percent for k in found]
    assert percents[0] == 100
    assert percents == sorted(percents, reverse=True)
    assert all(1 <= p <= 100 for p in percents)
    assert percents.count(100) <= 2
    # A spread: most phrases get a percentage of their own, and the range is used.
    assert len(set(percents)) >= len(percents) - 3
    assert percents[-1] <= 80
    # The old display ("0.00" for most phrases) came from a plain ratio of YAKE's scores.
    assert sum(1 for p in percents if p < 10) == 0


def test_every_phrase_is_spelled_as_the_text_spells_it():
    # (YAKE itself drops a possessive: "Telescope primary mirror" from "Telescope's".)
    text = JWST.replace("'s", "")
    phrases = [k.phrase for k in keywords.run(JWST).keyphrases]
    assert all(p in text for p in phrases), phrases


# ------------------------------------------------------------------ the merge, rule by rule


def _merge(raw: list[tuple[str, float]], text: str) -> list[str]:
    return [p for p, _ in keywords._merge_overlaps(raw, keywords._Phrases(text))]


TEXT = (
    "The James Webb Space Telescope looks far. The Hubble Space Telescope looks near. "
    "Worker bees collect nectar. Bees collect pollen too. The varroa mite harms bees."
)


def test_overlapping_phrases_join_when_the_text_has_the_joined_phrase():
    raw = [("Webb Space Telescope", 0.01), ("James Webb Space", 0.02)]
    assert _merge(raw, TEXT) == ["James Webb Space Telescope"]
    # Either order, and the joined phrase keeps the better score.
    raw = [("James Webb Space", 0.01), ("Webb Space Telescope", 0.02)]
    assert keywords._merge_overlaps(raw, keywords._Phrases(TEXT)) == [
        ("James Webb Space Telescope", 0.01)
    ]


def test_overlapping_phrases_keep_the_better_one_when_the_text_never_joins_them():
    raw = [("Space Telescope looks", 0.01), ("Hubble Space Telescope", 0.02)]
    # "Hubble Space Telescope looks" is in the text: joined.
    assert _merge(raw, TEXT) == ["Hubble Space Telescope looks"]
    raw = [("Telescope looks far", 0.01), ("Space Telescope looks", 0.02)]
    # "Space Telescope looks far" is in the text ("Webb Space Telescope looks far").
    assert _merge(raw, TEXT) == ["Space Telescope looks far"]
    # "varroa mite harms bees" is not in this text: the better of the two stays.
    raw = [("mite harms bees", 0.01), ("varroa mite harms", 0.02)]
    assert _merge(raw, "The varroa mite. The mite harms bees. Varroa mite harms all.") == [
        "mite harms bees"
    ]


def test_a_phrase_inside_or_around_a_better_one_is_dropped_unless_it_grows_a_word():
    assert _merge([("worker bees", 0.01), ("bees", 0.02)], TEXT) == ["worker bees"]
    # A longer phrase around a better one is that phrase plus something less relevant.
    assert _merge([("worker bees", 0.01), ("worker bees collect", 0.02)], TEXT) == ["worker bees"]
    assert _merge([("NASA", 0.01), ("NASA led", 0.02)], "NASA led it.") == ["NASA"]
    # Unless the better one is a single word, the phrase nearly as good and the words it
    # adds candidates themselves: it says more.
    raw = [("colony", 0.1), ("losses", 0.15), ("colony losses", 0.19)]
    assert keywords._merge_overlaps(raw, keywords._Phrases("")) == [("colony losses", 0.1)]
    raw = [("colony", 0.1), ("colony losses", 0.19)]  # "losses" is no candidate of its own
    assert _merge(raw, "x") == ["colony"]
    raw = [("colony", 0.1), ("losses", 0.15), ("colony losses", 0.21)]  # over twice worse
    assert _merge(raw, "x") == ["colony", "losses"]
    # Plurals and possessives compare equal.
    assert _merge([("honeybee colony", 0.01), ("Honeybees", 0.02)], "x") == ["honeybee colony"]
    assert _merge([("telescope", 0.01), ("Telescope's", 0.02)], "x") == ["telescope"]


def test_phrases_sharing_one_edge_word_both_stay():
    assert _merge([("single honeybee colony", 0.01), ("colony losses", 0.02)], "x") == [
        "single honeybee colony",
        "colony losses",
    ]
    # ... and a phrase around a better word still grows it ("colony" -> "colony losses").
    raw = [
        ("single honeybee colony", 0.01),
        ("colony", 0.02),
        ("losses", 0.022),
        ("colony losses", 0.025),
    ]
    assert _merge(raw, "x") == ["single honeybee colony", "colony losses"]


def test_a_grown_phrase_absorbs_the_kept_phrases_it_now_contains():
    raw = [("Webb Space Telescope", 0.01), ("James Webb", 0.02), ("James Webb Space", 0.03)]
    assert keywords._merge_overlaps(raw, keywords._Phrases(TEXT)) == [
        ("James Webb Space Telescope", 0.01)
    ]


def test_phrases_do_not_join_across_sentences():
    raw = [("far", 0.01)]
    text = "The telescope looks far. Hubble Space Telescope looks near."
    phrases = keywords._Phrases(text)
    assert phrases.spelling(("far", "hubble")) is None
    assert phrases.spelling(("hubble", "space", "telescope")) == "Hubble Space Telescope"
    assert _merge(raw, text) == ["far"]


# --------------------------------------------------------------------------------- scoring


def test_relevance_is_relative_to_the_best_on_a_log_scale():
    found = keywords._relevance([("a", 0.002), ("b", 0.02), ("c", 0.2), ("d", 0.002)])
    by_phrase = {k.phrase: k for k in found}
    assert by_phrase["a"].score == by_phrase["d"].score == 1.0
    # Ten times worse reads as well over half, a hundred times worse as under half, not
    # as 0.10 and 0.01.
    assert 0.55 < by_phrase["b"].score < 0.75
    assert 0.15 < by_phrase["c"].score < 0.40
    assert [k.phrase for k in found] == ["a", "d", "b", "c"]


def test_percent_is_never_zero_or_over_a_hundred():
    assert Keyphrase("x", 0.0001).percent == 1
    assert Keyphrase("x", 0.834).percent == 83
    assert Keyphrase("x", 1.0).percent == 100


# ----------------------------------------------------------------- what the page shows


def test_the_page_rows_and_the_copied_text():
    found = (Keyphrase("James Webb Space Telescope", 1.0), Keyphrase("French Guiana", 0.4704))
    assert keyphrase_rows(found) == [
        {"phrase": "James Webb Space Telescope", "relevance": "100%"},
        {"phrase": "French Guiana", "relevance": "47%"},
    ]
    text = keywords_text(found, ("First sentence.", "Second sentence."))
    assert text == (
        "Keyphrases (relevance compared with the top one):\n"
        "- James Webb Space Telescope (100%)\n"
        "- French Guiana (47%)\n"
        "\n"
        "Summary:\n"
        "First sentence.\n"
        "Second sentence."
    )
