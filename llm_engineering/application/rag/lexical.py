"""Lexical (BM25) term weights stored in Qdrant as sparse vectors, and the retrieval unit.

The BM25 half of hybrid search lives in the vector store: every retrieval unit (a passage, see
below) carries a sparse vector of its terms beside the dense vector of each chunk, and Qdrant
scores a question against it with ``modifier: idf`` on the collection's sparse vector, so the
inverse document frequencies are Qdrant's and no process keeps corpus-wide statistics.

* Terms come from ``tokenize.lexical_tokens`` (Snowball stems for Latin words, bigrams or Kiwi
  morphemes for Hangul); a term's sparse index is the first 4 bytes of its BLAKE2b hash (a
  collision between two of a corpus's terms is ~1 in a million per pair of 100k-term vocabularies
  and only merges their counts).
* A unit's value for a term is BM25's saturated term frequency,
  ``tf · (k1 + 1) / (tf + k1 · (1 − b + b · terms / REFERENCE_TERMS))``, with a fixed reference
  length in place of the corpus average (which would be a corpus statistic to keep and
  refresh). A question's value for a term is how often it occurs. Qdrant's score is then
  Σ idf(t) · q(t) · d(t) with Lucene's idf, ln(1 + (N − n + 0.5) / (n + 0.5)): BM25 as bm25s
  computed it before, exactly so when REFERENCE_TERMS equals the corpus's average. 225 terms
  (the Korean bench passages' average; English passages of the same 1,000 characters have ~85)
  gave the same figures as bm25s on all four QA sets (docs/retrieval.md).
* The unit a search returns is a *passage* (parent-document retrieval): the feature pipeline
  embeds a passage's chunks one by one and stores the passage's text with each; only the first
  chunk of a passage (``passage_id`` equal to its id) carries the passage's sparse vector. A
  dense hit stands for its passage at its best chunk's score (``units``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import lru_cache
from typing import Any

from llm_engineering.application.rag.tokenize import lexical_tokens
from llm_engineering.domain.embedded_chunks import EmbeddedChunk
from llm_engineering.settings import get_settings

LEXICAL_VERSION = 1  # raise when the weights below change meaning: the feature pipeline then rebuilds
K1 = 1.5
B = 0.75
REFERENCE_TERMS = 225  # the length (in terms) at which a unit's term frequencies are taken as they are
MAX_QUERY_CHARS = 20_000  # longer questions are cut here before their terms are counted


def lexical_fingerprint() -> dict[str, Any]:
    """What the stored sparse vectors depend on (part of the feature fingerprint): a change
    re-embeds every document, since Qdrant holds the only copy of the term weights."""
    return {
        "version": LEXICAL_VERSION,
        "k1": K1,
        "b": B,
        "reference_terms": REFERENCE_TERMS,
        "korean": get_settings().RAG_KOREAN_TERMS,
    }


@lru_cache(maxsize=500_000)
def term_index(term: str) -> int:
    """The sparse-vector index of a term (stable across processes and versions of Python)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


def _sparse(counts: Counter[str], weight) -> tuple[list[int], list[float]]:
    merged: dict[int, float] = {}
    for term, count in counts.items():
        index = term_index(term)
        merged[index] = merged.get(index, 0.0) + weight(count)
    indices = sorted(merged)
    return indices, [merged[i] for i in indices]


def document_vector(title: str, text: str) -> tuple[list[int], list[float]]:
    """A unit's sparse vector: BM25-saturated frequencies of the terms of its title and text."""
    terms = lexical_tokens(f"{title}\n{text}")
    norm = K1 * (1 - B + B * len(terms) / REFERENCE_TERMS)
    counts = Counter(terms)
    return _sparse(counts, lambda tf: tf * (K1 + 1) / (tf + norm))


def query_vector(text: str) -> tuple[list[int], list[float]]:
    """A question's sparse vector (term counts); empty when it has no searchable term."""
    return _sparse(Counter(lexical_tokens(text[:MAX_QUERY_CHARS])), float)


def with_sparse_vectors(chunks: list[EmbeddedChunk]) -> list[EmbeddedChunk]:
    """``chunks``, each given the sparse vector it is stored with: its passage's (title and
    passage text) on the first chunk of a passage, none on the passage's other chunks, and its own
    (title and content) on a chunk stored without a passage."""
    for chunk in chunks:
        if chunk.passage_index is None or chunk.passage is None:
            chunk.sparse = document_vector(chunk.title, chunk.content)
        elif chunk.passage_id is None or chunk.passage_id == chunk.id:
            chunk.sparse = document_vector(chunk.title, chunk.passage)
        else:
            chunk.sparse = None
    return chunks


def unit_key(chunk: Any) -> str:
    """The retrieval unit a chunk belongs to: its passage, or itself when it has none."""
    if getattr(chunk, "passage_index", None) is None or getattr(chunk, "passage", None) is None:
        return f"chunk:{chunk.id}"
    return f"{chunk.document_id}:{chunk.passage_index}"


def as_unit(chunk: Any) -> Any:
    """A chunk as its retrieval unit: the passage's text and the passage's first chunk's id."""
    if unit_key(chunk).startswith("chunk:"):
        return chunk
    update: dict[str, Any] = {"content": chunk.passage}
    if getattr(chunk, "passage_id", None) is not None:
        update["id"] = chunk.passage_id
    return chunk.model_copy(update=update)


def units(hits: list[tuple[Any, float]], limit: int) -> list[tuple[Any, float]]:
    """Chunk hits (best first) as unit hits: each unit once, at its best chunk's score."""
    out: list[tuple[Any, float]] = []
    seen: set[str] = set()
    for chunk, score in hits:
        key = unit_key(chunk)
        if key not in seen:
            seen.add(key)
            out.append((as_unit(chunk), score))
            if len(out) == limit:
                break
    return out
