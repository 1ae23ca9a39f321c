"""The keywords tool stays within its bounds on the worst inputs it accepts, and its
linear TextRank ranks sentences exactly as the textbook pairwise graph does.

The old pair loop took 63 s and 6.1 GB on 50,000 characters of "Foo. "; the bounds below
(the issue's: under 2 s and 200 MB at the maximum input) fail on it by far.
"""

from __future__ import annotations

import math
import random
import time
import tracemalloc

import pytest
import yake

from credit_app.tools import keywords

TIME_LIMIT_SECONDS = 2.0
MEMORY_LIMIT_BYTES = 200 * 1024 * 1024


def _fill(unit: str) -> str:
    return (unit * (keywords.MAX_CHARS // len(unit) + 1))[: keywords.MAX_CHARS]


WORST_CASES = {
    # 10,000 identical sentences: every pair shares a word (50 million pairs before).
    "the same sentence": _fill("Foo. "),
    # One sentence of one word, with and without punctuation between the repeats.
    "one word": _fill("foo "),
    "one word with commas": _fill("foo, "),
    # ~2,800 distinct sentences that all share one word.
    "distinct sentences": " ".join(f"Item{i} is fine." for i in range(10_000))[
        : keywords.MAX_CHARS
    ],
    # ~8,500 distinct words in one sentence: YAKE's worst case here.
    "one huge sentence": " ".join(f"w{i}" for i in range(10_000))[: keywords.MAX_CHARS],
}


@pytest.mark.parametrize("text", WORST_CASES.values(), ids=WORST_CASES.keys())
def test_the_longest_accepted_text_runs_in_bounded_time(text):
    assert len(text) == keywords.MAX_CHARS
    # Best of two: another process on this small machine can steal one run's time.
    elapsed = []
    for _ in range(2):
        started = time.perf_counter()
        keywords.run(text)
        elapsed.append(time.perf_counter() - started)
        if elapsed[-1] < TIME_LIMIT_SECONDS:
            break
    assert min(elapsed) < TIME_LIMIT_SECONDS


@pytest.mark.parametrize("text", WORST_CASES.values(), ids=WORST_CASES.keys())
def test_the_longest_accepted_text_runs_in_bounded_memory(text):
    tracemalloc.start()
    try:
        keywords.run(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT_BYTES


def _pairwise_ranks(sentences: list[str], stopwords: set[str]) -> list[float]:
    """TextRank as written in the paper: build every edge, then power-iterate."""
    bags = [keywords._content_words(s, stopwords) for s in sentences]
    n = len(bags)
    df: dict[str, int] = {}
    for bag in bags:
        for word in bag:
            df[word] = df.get(word, 0) + 1
    idf = {w: math.log((1 + n) / (1 + d)) + 1.0 for w, d in df.items()}
    vectors = []
    for bag in bags:
        vec: dict[str, float] = {}
        for word in bag:
            vec[word] = vec.get(word, 0.0) + idf[word]
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({w: v / norm for w, v in vec.items()})
    weights = [
        [
            0.0 if a == b else sum(v * vectors[b].get(w, 0.0) for w, v in vectors[a].items())
            for b in range(n)
        ]
        for a in range(n)
    ]
    out_sum = [sum(row) for row in weights]
    ranks = [1.0 / n] * n
    for _ in range(50):
        new = [0.15 / n] * n
        for j in range(n):
            if out_sum[j] == 0.0:
                continue
            for i in range(n):
                new[i] += 0.85 * ranks[j] / out_sum[j] * weights[j][i]
        delta = sum(abs(a - b) for a, b in zip(new, ranks, strict=True))
        ranks = new
        if delta < 1e-9:
            break
    return ranks


def _random_texts() -> list[list[str]]:
    rng = random.Random(7)
    vocabulary = [
        "bees",
        "colony",
        "honey",
        "varroa",
        "mite",
        "pesticides",
        "flowers",
        "farmers",
        "pollination",
        "winter",
        "queen",
        "worker",
        "nectar",
        "hive",
        "rooftop",
        "city",
        "crops",
        "food",
        "supply",
        "the",
        "and",
        "of",
        "a",
        "to",
        "in",
    ]
    texts = []
    for _ in range(20):
        sentences = [
            " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 12))) + "."
            for _ in range(rng.randint(4, 40))
        ]
        # A sentence sharing nothing with the others keeps the base rank.
        sentences.insert(rng.randrange(len(sentences)), "Zyzzyva quokka.")
        texts.append(sentences)
    return texts


@pytest.mark.parametrize("sentences", _random_texts())
def test_linear_textrank_ranks_like_the_pairwise_graph(sentences):
    stopwords = yake.KeywordExtractor(lan="en").stopword_set
    fast = keywords.sentence_ranks(sentences, stopwords)
    reference = _pairwise_ranks(sentences, stopwords)
    assert fast == pytest.approx(reference, rel=1e-9, abs=1e-12)
