"""Style metrics: does an answer sound like the author?

Two views, both language-agnostic:

* **embedding style similarity** — cosine of an answer's sentence embedding to the centroid of the
  author's own writing (their chunk embeddings from the vector store, or any texts of theirs);
* **stylometry** — mean sentence length (words), vocabulary richness (moving-average type-token
  ratio, so long and short texts compare fairly) and the punctuation profile (share of each
  Unicode punctuation mark, plus marks per 100 characters). A model's profile is compared with
  the author's by a distance in which 0 means "writes like the author".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from loguru import logger
from pydantic import BaseModel

from llm_engineering.application.text import punctuation_chars, split_sentences, words
from llm_engineering.domain.documents import declared_categories
from llm_engineering.domain.embedded_chunks import embedded_class

TTR_WINDOW = 50


def centroid(vectors: np.ndarray) -> np.ndarray:
    """Normalised mean of row vectors."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError("a style centroid needs at least one vector")
    mean = vectors.mean(axis=0)
    norm = np.linalg.norm(mean)
    if norm == 0:
        raise ValueError("the author's vectors cancel out (zero centroid)")
    return mean / norm


def style_similarity(embedder, answers: Sequence[str], author_centroid: np.ndarray) -> list[float]:
    """Cosine of each answer's embedding to the author's centroid (0 for an empty answer)."""
    if not answers:
        return []
    vectors = embedder.encode(list(answers)).astype(np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    sims = vectors @ author_centroid / np.where(norms == 0, 1.0, norms)
    return [0.0 if not a.strip() else float(s) for a, s in zip(answers, sims, strict=True)]


def author_chunk_centroid_and_texts(
    author_full_name: str | None = None, limit: int = 5000
) -> tuple[np.ndarray, list[str]] | None:
    """Centroid of the author's chunk embeddings in the vector store and the chunks' texts;
    ``None`` when the store holds none."""
    vectors: list[list[float]] = []
    texts: list[str] = []
    filters = {"author_full_name": author_full_name} if author_full_name else {}
    for cls in map(embedded_class, declared_categories()):
        if not cls.collection_exists():
            continue
        for chunk in cls.scroll(with_vectors=True, **filters):
            if chunk.embedding:
                vectors.append(chunk.embedding)
                texts.append(chunk.content)
            if len(vectors) >= limit:
                break
    if not vectors:
        logger.info("no embedded chunks for author {!r} in the vector store", author_full_name)
        return None
    return centroid(np.asarray(vectors)), texts


class Stylometry(BaseModel):
    """Stylometric profile of a body of text."""

    texts: int
    words: int
    mean_sentence_words: float
    type_token_ratio: float
    punctuation_per_100_chars: float
    punctuation_profile: dict[str, float]

    def distance(self, other: Stylometry) -> float:
        """0 = same style. Mean of relative differences of the scalar features and the L1/2
        distance of the punctuation profiles (each part in [0, 1])."""
        parts = [
            _relative_gap(self.mean_sentence_words, other.mean_sentence_words),
            _relative_gap(self.type_token_ratio, other.type_token_ratio),
            _relative_gap(self.punctuation_per_100_chars, other.punctuation_per_100_chars),
        ]
        marks = set(self.punctuation_profile) | set(other.punctuation_profile)
        l1 = sum(abs(self.punctuation_profile.get(m, 0.0) - other.punctuation_profile.get(m, 0.0)) for m in marks)
        parts.append(l1 / 2 if marks else 0.0)
        return float(np.mean(parts))


def _relative_gap(a: float, b: float) -> float:
    top = max(abs(a), abs(b))
    return 0.0 if top == 0 else abs(a - b) / top


def moving_ttr(tokens: Sequence[str], window: int = TTR_WINDOW) -> float:
    """Moving-average type-token ratio (plain TTR for texts shorter than the window)."""
    if not tokens:
        return 0.0
    if len(tokens) <= window:
        return len(set(tokens)) / len(tokens)
    counts = Counter(tokens[:window])
    total = len(counts)
    for i in range(window, len(tokens)):
        counts[tokens[i]] += 1
        old = tokens[i - window]
        counts[old] -= 1
        if counts[old] == 0:
            del counts[old]
        total += len(counts)
    return total / window / (len(tokens) - window + 1)


def stylometry(texts: Iterable[str]) -> Stylometry:
    """Profile of a collection of texts (sentence length and TTR averaged per text)."""
    texts = [t for t in texts if t and t.strip()]
    sentence_lengths: list[int] = []
    ttrs: list[float] = []
    marks: Counter[str] = Counter()
    chars = 0
    n_words = 0
    for text in texts:
        for sentence in split_sentences(text):
            count = len(words(sentence))
            if count:
                sentence_lengths.append(count)
        tokens = words(text)
        n_words += len(tokens)
        ttrs.append(moving_ttr(tokens))
        marks.update(punctuation_chars(text))
        chars += len(text)
    total_marks = sum(marks.values())
    return Stylometry(
        texts=len(texts),
        words=n_words,
        mean_sentence_words=float(np.mean(sentence_lengths)) if sentence_lengths else 0.0,
        type_token_ratio=float(np.mean(ttrs)) if ttrs else 0.0,
        punctuation_per_100_chars=100.0 * total_marks / chars if chars else 0.0,
        punctuation_profile={m: c / total_marks for m, c in marks.most_common()} if total_marks else {},
    )
