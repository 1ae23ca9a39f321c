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
    # Relevance in (0, 1], higher is better, relative to the best phrase (1.0). YAKE's raw
    # score runs the other way (lower is better) and spans orders of magnitude, so a plain
    # ratio puts everything but the top phrase near 0; see _relevance for the scale used.
    score: float

    @property
    def percent(self) -> int:
        """The relevance as a whole percentage for people: 1 to 100, never 0."""
        return max(1, min(100, round(self.score * 100)))


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
    # Ask for more candidates than needed: _prune and _merge_overlaps drop some.
    extractor = yake.KeywordExtractor(lan="en", n=3, top=top * 3, dedup_lim=0.7)
    candidates = _prune(extractor.extract_keywords(text), extractor.stopword_set)
    keyphrases = _relevance(_merge_overlaps(candidates, _Phrases(text))[:top])

    sentences = [" ".join(s.split()) for s in split_multi(text) if s.strip()]
    summary = _textrank_summary(sentences, summary_sentences, extractor.stopword_set)
    return KeywordsResult(
        keyphrases=keyphrases,
        summary=summary,
        word_count=len(words),
        sentence_count=len(sentences),
    )


def _prune(raw: list[tuple[str, float]], stopwords: set[str]) -> list[tuple[str, float]]:
    """Drop YAKE candidates with a stopword inside ("Europe and North"), keeping YAKE's
    order: such n-grams mostly cut a name or clause in half, and their content words
    survive as candidates of their own. (_merge_overlaps then settles phrases that are
    pieces of one another.)"""
    return [
        (phrase, score)
        for phrase, score in raw
        if not any(w in stopwords for w in phrase.lower().split()[1:-1])
    ]


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    """Whether `inner` occurs as a contiguous run of words in `outer` (or the other way)."""
    a, b = (outer, inner) if len(outer) >= len(inner) else (inner, outer)
    return any(a[i : i + len(b)] == b for i in range(len(a) - len(b) + 1))


# Merging two overlapping phrases yields at most this many words ("James Webb Space" +
# "Webb Space Telescope" -> "James Webb Space Telescope").
MAX_MERGED_WORDS = 5
# A phrase may replace a better single word inside it if its YAKE score is at most this
# many times the word's ("colony" 0.088 -> "colony losses" 0.14).
GROW_WITHIN = 2.0
# Text between these never forms one phrase (a sentence or clause boundary).
_BREAK = re.compile(r"[.!?;:,()\[\]{}\"\u201c\u201d]+|\s[-\u2013\u2014]\s")


def _norm(word: str) -> str:
    """A word as phrases are compared: lower case, without a possessive "'s", and a plain
    plural folded ("bees" and "bee", "Telescope's" and "telescope" compare equal)."""
    w = word.lower()
    for possessive in ("'s", "\u2019s"):
        w = w.removesuffix(possessive)
    w = w.rstrip("'\u2019")
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    return w


def _key(phrase: str) -> tuple[str, ...]:
    return tuple(_norm(w) for w in phrase.split())


class _Phrases:
    """Which runs of up to MAX_MERGED_WORDS words occur in the text (within one clause),
    and how the text first spells each one. Built on first use (only overlapping
    candidates need it), in one pass: linear in the text."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._spelling: dict[tuple[str, ...], str] | None = None

    def _build(self) -> dict[tuple[str, ...], str]:
        spelling: dict[tuple[str, ...], str] = {}
        for clause in _BREAK.split(self._text):
            words = _WORD.findall(clause)
            keys = [_norm(w) for w in words]
            for n in range(2, MAX_MERGED_WORDS + 1):
                for i in range(len(words) - n + 1):
                    spelling.setdefault(tuple(keys[i : i + n]), " ".join(words[i : i + n]))
        return spelling

    def spelling(self, key: tuple[str, ...]) -> str | None:
        """The text's own spelling of the phrase `key`, or None if it does not occur."""
        if self._spelling is None:
            self._spelling = self._build()
        return self._spelling.get(key)


@dataclass
class _Kept:
    phrase: str
    key: tuple[str, ...]
    score: float  # YAKE's: lower is better


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """The most words that end `a` and start `b` ("james webb space" / "webb space
    telescope": 2), short of either phrase whole."""
    for n in range(min(len(a), len(b)) - 1, 0, -1):
        if a[-n:] == b[:n]:
            return n
    return 0


def _merge_overlaps(raw: list[tuple[str, float]], phrases: _Phrases) -> list[tuple[str, float]]:
    """Merge or drop candidates that overlap a better one, keeping YAKE's order (best
    first), so no two phrases shown are pieces of one another. A candidate that is

    - inside a better phrase ("Webb" after "James Webb"): is dropped;
    - ending the way a better one starts, or the other way round, on two words or more
      ("James Webb Space" / "Webb Space Telescope"): joins it into the phrase the text
      has ("James Webb Space Telescope", with the better score), or is dropped if the
      text never says the two as one;
    - around a better single word, nearly as good (within GROW_WITHIN of its score) and
      adding only words that are candidates themselves ("colony losses" after "colony",
      with "losses" a candidate): takes the word's place and score, it says more;
    - around any other better phrase ("worker bees collect" after "worker bees", "NASA
      led" after "NASA"): is dropped, it is that phrase plus something less relevant.

    Phrases sharing one edge word name different things ("single honeybee colony",
    "colony losses"; "James Webb Space Telescope", "Telescope primary mirror"): both stay.
    """
    words = {key for phrase, _ in raw if len(key := _key(phrase)) == 1}
    kept: list[_Kept] = []
    for phrase, score in raw:
        key = _key(phrase)
        if not key:
            continue
        if (
            any(_contains(k.key, key) and len(key) <= len(k.key) for k in kept)
            or any(_joins(k, key, phrases) for k in kept)
            or any(_around(k, phrase, key, float(score), words) for k in kept)
        ):
            kept = _absorb(kept)  # a kept phrase may have grown over another
        else:
            kept.append(_Kept(phrase, key, float(score)))
    return [(k.phrase, k.score) for k in kept]


def _joins(k: _Kept, key: tuple[str, ...], phrases: _Phrases) -> bool:
    """Whether the candidate (worse than `k`) shares two edge words or more with `k`: then
    `k` becomes the two joined, if the text has that phrase, and the candidate goes."""
    after, before = _overlap(k.key, key), _overlap(key, k.key)
    if max(after, before) < 2:
        return False
    joined = k.key + key[after:] if after >= before else key + k.key[before:]
    spelling = phrases.spelling(joined) if len(joined) <= MAX_MERGED_WORDS else None
    if spelling is not None:
        k.phrase, k.key = spelling, joined
    return True


def _around(
    k: _Kept, phrase: str, key: tuple[str, ...], score: float, words: set[tuple[str, ...]]
) -> bool:
    """Whether the candidate (worse than `k`) contains `k`: then it goes, or `k`, a single
    word, grows into it (keeping its better score)."""
    if not _contains(key, k.key):
        return False
    added = [(w,) for w in key if (w,) != k.key]
    if len(k.key) == 1 and score <= k.score * GROW_WITHIN and all(w in words for w in added):
        k.phrase, k.key = phrase, key
    return True


def _absorb(kept: list[_Kept]) -> list[_Kept]:
    """After a phrase grew, drop the kept phrases it now contains (it has the better
    score: it was kept first, or took the score of the better of the two it joined), and
    the ones it now overlaps on two edge words or more ("Space Telescope observes" once
    "James Webb Space" grew into "James Webb Space Telescope"): the better one stays."""
    out: list[_Kept] = []
    for k in kept:
        holder = next((o for o in out if _contains(o.key, k.key)), None)
        if holder is None:
            clash = next((o for o in out if _edge_overlap(o.key, k.key) >= 2), None)
            if clash is None:
                out.append(k)
            elif k.score < clash.score:  # the later one is better: it takes the place
                clash.phrase, clash.key, clash.score = k.phrase, k.key, k.score
        elif len(k.key) > len(holder.key):  # the later, longer one takes the earlier's place
            holder.phrase, holder.key = k.phrase, k.key
            holder.score = min(holder.score, k.score)
    return out


def _edge_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """Words shared at the edge where one phrase ends and the other starts, either way."""
    return max(_overlap(a, b), _overlap(b, a))


def _relevance(raw: list[tuple[str, float]]) -> tuple[Keyphrase, ...]:
    """Map YAKE's scores (positive, lower = better, spanning orders of magnitude: 0.003
    for a text's key name, 0.2 for an incidental word) onto relevance in (0, 1] relative to
    the best, on a log scale: log(1 + 1/s) / log(1 + 1/best). A phrase scored ten times
    worse than the best then reads as about 60%, not 10% (a plain ratio showed "0.00"
    for most phrases); equal scores read equal; the best is exactly 1."""
    if not raw:
        return ()
    best = max(min(float(score) for _, score in raw), 1e-12)
    top = math.log1p(1.0 / best)
    return tuple(
        Keyphrase(
            phrase=phrase,
            score=round(min(1.0, math.log1p(1.0 / max(float(score), 1e-12)) / top), 4),
        )
        for phrase, score in sorted(raw, key=lambda item: float(item[1]))
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
