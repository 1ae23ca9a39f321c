"""Keyphrase extraction (YAKE) and a three-sentence extractive summary (TextRank) of pasted text."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import yake
from segtok.segmenter import split_multi

from credit_app.tools.errors import ToolInputError

MIN_WORDS = 20
MAX_CHARS = 50_000
MAX_TOP = 30

# A word: letters/digits, optionally joined by an apostrophe (straight or typographic) or a
# hyphen, so "don't", "don\u2019t" and "well-known" each count once.
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")


@dataclass(frozen=True)
class Keyphrase:
    phrase: str
    # Relevance in (0, 1], higher is better: the best phrase is 1.0 and the others are
    # scaled against it. (YAKE's raw score runs the other way: lower means more relevant.)
    score: float


@dataclass(frozen=True)
class KeywordsResult:
    keyphrases: tuple[Keyphrase, ...]  # best first
    summary: tuple[str, ...]  # up to `summary_sentences` sentences, in the text's order
    word_count: int
    sentence_count: int


def check_input(text: str, *, top: int = 10, summary_sentences: int = 3) -> None:
    """Raise ToolInputError unless `run` can use these inputs. Cheap (one regex pass), so
    the web layer calls it before charging: bad input costs nothing and writes nothing."""
    if not isinstance(text, str) or not text.strip():
        raise ToolInputError("Paste the text to analyse.", field="text")
    if len(text) > MAX_CHARS:
        raise ToolInputError(
            f"That is {len(text):,} characters; paste at most {MAX_CHARS:,}.", field="text"
        )
    word_count = len(_WORD.findall(text))
    if word_count < MIN_WORDS:
        raise ToolInputError(
            f"Paste at least {MIN_WORDS} words (this has {word_count}): "
            "there is too little text to find what matters in it.",
            field="text",
        )
    if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise ToolInputError(f"Ask for 1 to {MAX_TOP} keyphrases.", field="top")
    if not isinstance(summary_sentences, int) or not 1 <= summary_sentences <= 10:
        raise ToolInputError("Ask for 1 to 10 summary sentences.", field="summary_sentences")


def run(text: str, *, top: int = 10, summary_sentences: int = 3) -> KeywordsResult:
    """Rank the keyphrases (one to three words) of `text` and pick its most central sentences.

    Time and memory grow linearly with the text (at most MAX_CHARS characters)."""
    check_input(text, top=top, summary_sentences=summary_sentences)
    words = _WORD.findall(text)

    # A new extractor per call: it keeps a similarity cache, so sharing one between
    # concurrent requests would be neither thread-safe nor bounded in memory.
    # Ask for more candidates than needed: _prune drops near-duplicates afterwards.
    extractor = yake.KeywordExtractor(lan="en", n=3, top=top * 3, dedup_lim=0.7)
    raw = _prune(extractor.extract_keywords(text), extractor.stopword_set)[:top]
    keyphrases = _relevance(raw)

    sentences = [" ".join(s.split()) for s in split_multi(text) if s.strip()]
    summary = _textrank_summary(sentences, summary_sentences, extractor.stopword_set)
    return KeywordsResult(
        keyphrases=keyphrases,
        summary=summary,
        word_count=len(words),
        sentence_count=len(sentences),
    )


def _prune(raw: list[tuple[str, float]], stopwords: set[str]) -> list[tuple[str, float]]:
    """Drop YAKE candidates a reader would see as noise, keeping YAKE's order.

    - a stopword inside the phrase ("Europe and North"): such n-grams mostly cut a name or
      clause in half, and their content words survive as candidates of their own;
    - a single word already inside a better phrase ("bees" after "worker bees");
    - a longer phrase built on a better multi-word one ("worker bees collect").
    """
    kept: list[tuple[str, float]] = []
    kept_words: list[tuple[str, ...]] = []
    for phrase, score in raw:
        words = tuple(phrase.lower().split())
        if any(w in stopwords for w in words[1:-1]):
            continue
        if any(_contains(k, words) for k in kept_words if len(words) == 1 or len(k) > 1):
            continue
        kept.append((phrase, score))
        kept_words.append(words)
    return kept


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    """Whether `inner` occurs as a contiguous run of words in `outer` (or the other way)."""
    a, b = (outer, inner) if len(outer) >= len(inner) else (inner, outer)
    return any(a[i : i + len(b)] == b for i in range(len(a) - len(b) + 1))


def _relevance(raw: list[tuple[str, float]]) -> tuple[Keyphrase, ...]:
    if not raw:
        return ()
    # YAKE scores are positive, lower = better; best/score maps them onto (0, 1].
    best = max(min(float(score) for _, score in raw), 1e-12)
    return tuple(
        Keyphrase(phrase=phrase, score=round(best / max(float(score), 1e-12), 4))
        for phrase, score in raw
    )


def _textrank_summary(sentences: list[str], count: int, stopwords: set[str]) -> tuple[str, ...]:
    """TextRank (Mihalcea & Tarau, 2004): sentences are nodes, edges weigh how much two
    sentences share content words (TF-IDF cosine); PageRank then favours sentences that many
    others echo, i.e. the ones most representative of the whole text."""
    if len(sentences) <= count:
        return tuple(sentences)

    ranks = sentence_ranks(sentences, stopwords)
    # Ties go to the earlier sentence: openings tend to state the topic. A sentence repeated
    # word for word (pasted twice, a refrain) is picked once.
    chosen: list[int] = []
    seen: set[str] = set()
    for i in sorted(range(len(sentences)), key=lambda i: (-ranks[i], i)):
        key = sentences[i].casefold()
        if key not in seen:
            seen.add(key)
            chosen.append(i)
            if len(chosen) == count:
                break
    return tuple(sentences[i] for i in sorted(chosen))


def sentence_ranks(sentences: list[str], stopwords: set[str]) -> list[float]:
    """The TextRank score of each sentence: PageRank over the graph whose edge a-b weighs
    the TF-IDF cosine similarity of sentences a and b."""
    return _pagerank(_tfidf_vectors([_content_words(s, stopwords) for s in sentences]))


def _tfidf_vectors(bags: list[list[str]]) -> list[dict[str, float]]:
    """One unit-length TF-IDF vector (word -> weight) per sentence."""
    n = len(bags)
    df: dict[str, int] = {}
    for bag in bags:
        for word in bag:
            df[word] = df.get(word, 0) + 1
    # Smoothed IDF: a word in every sentence still counts a little, a rare one counts more.
    idf = {word: math.log((1 + n) / (1 + d)) + 1.0 for word, d in df.items()}
    vectors: list[dict[str, float]] = []
    for bag in bags:
        vec: dict[str, float] = {}
        for word in bag:
            vec[word] = vec.get(word, 0.0) + idf[word]
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({w: v / norm for w, v in vec.items()})
    return vectors


class _SimilarityGraph:
    """The weights W[a][b] = v_a . v_b (a != b) of every sentence pair, never built.

    Listing the pairs that share a word is quadratic: 10,000 sentences "Foo." make 50
    million pairs (minutes and gigabytes). With V the sentence x word matrix,
    W = V V^T - diag(|v_a|^2), so W x = V (V^T x) - diag x: two passes over the vectors'
    entries, linear in the text.
    """

    def __init__(self, vectors: list[dict[str, float]]) -> None:
        self._vectors = vectors
        self._self_weights = [sum(v * v for v in vec.values()) for vec in vectors]

    def times(self, x: list[float]) -> list[float]:
        """W x."""
        per_word: dict[str, float] = {}  # V^T x
        for vec, xa in zip(self._vectors, x, strict=True):
            if xa:
                for word, weight in vec.items():
                    per_word[word] = per_word.get(word, 0.0) + weight * xa
        return [
            sum(weight * per_word.get(word, 0.0) for word, weight in vec.items()) - own * xa
            for vec, own, xa in zip(self._vectors, self._self_weights, x, strict=True)
        ]


# An out-weight this small is rounding left over from V V^T - diag: the sentence shares no
# word with any other (a real edge weighs at least ~1e-4 even in the longest text).
_NO_EDGES = 1e-12


def _pagerank(
    vectors: list[dict[str, float]], damping: float = 0.85, iterations: int = 50
) -> list[float]:
    """Weighted PageRank by power iteration; a sentence sharing nothing keeps the base rank."""
    n = len(vectors)
    graph = _SimilarityGraph(vectors)
    out_sum = graph.times([1.0] * n)
    ranks = [1.0 / n] * n
    for _ in range(iterations):
        # Each sentence passes its rank to its neighbours in proportion to the edge weights.
        shares = [
            damping * rank / out if out > _NO_EDGES else 0.0
            for rank, out in zip(ranks, out_sum, strict=True)
        ]
        new = [(1.0 - damping) / n + received for received in graph.times(shares)]
        delta = sum(abs(a - b) for a, b in zip(new, ranks, strict=True))
        ranks = new
        if delta < 1e-9:
            break
    return ranks


def _content_words(sentence: str, stopwords: set[str]) -> list[str]:
    return [
        w
        for w in (m.lower() for m in _WORD.findall(sentence))
        if w not in stopwords and len(w) > 2 and not w.isdigit()
    ]
