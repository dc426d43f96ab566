"""An in-memory search index over every embedded collection, built lazily and cached.

The units it returns are passages (parent-document retrieval): the chunks of one passage
(``passage_index``) are embedded and matched one by one, and the passage, whose text every one
of them carries, is what a search returns. BM25 (bm25s) indexes the passages' text; when asked,
the chunks' vectors are held as one normalised float32 matrix and a passage scores the cosine
of its best chunk. Chunks stored without a passage are their own unit. Each unit keeps its
metadata, so a hit needs no second read from the store. Qdrant
local mode searches by brute force in Python (~120 ms at 10k points here); a matrix product over
the cached vectors takes about a millisecond, so the retriever uses it in local mode and leaves
dense search to Qdrant when a server is configured. The index is rebuilt when the collections'
point counts change; ``invalidate()`` forces a rebuild (a process that has just re-embedded
documents with the same number of chunks calls it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from loguru import logger

from llm_engineering.application.rag.tokenize import lexical_tokens
from llm_engineering.domain.embedded_chunks import EMBEDDED_CLASSES, EmbeddedChunk

SIGNATURE_TTL_S = 2.0  # how often (at most) the point counts are re-read


def collections_signature() -> tuple[tuple[str, int], ...]:
    """(collection, point count) of every embedded collection: changes when chunks are added/removed."""
    return tuple(sorted((cls.collection, cls.count()) for cls in EMBEDDED_CLASSES.values()))


def passages(chunks: list[EmbeddedChunk]) -> tuple[list[EmbeddedChunk], np.ndarray]:
    """The retrieval units of ``chunks`` (one per passage, the passage's text as ``content``, the
    id and index of its first chunk) and, for each chunk, the position of its unit."""
    units: list[EmbeddedChunk] = []
    position: dict[tuple, int] = {}
    unit_of = np.empty(len(chunks), dtype=np.int64)
    for row, chunk in enumerate(chunks):
        if chunk.passage_index is None or chunk.passage is None:
            key: tuple = ("chunk", chunk.id)
        else:
            key = (chunk.document_id, chunk.passage_index)
        if key not in position:
            position[key] = len(units)
            unit = chunk if key[0] == "chunk" else chunk.model_copy(update={"content": chunk.passage})
            units.append(unit)
        elif chunk.chunk_index < units[position[key]].chunk_index:  # scroll order is not chunk order
            units[position[key]] = units[position[key]].model_copy(
                update={"id": chunk.id, "chunk_index": chunk.chunk_index}
            )
        unit_of[row] = position[key]
    return units, unit_of


@dataclass
class LexicalIndex:
    """A bm25s index over the retrieval units (``chunks``: passages, see the module docstring),
    with the chunk vectors and the unit each belongs to."""

    chunks: list[EmbeddedChunk]
    signature: tuple = ()
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    bm25: Any = None
    vectors: np.ndarray | None = None
    vector_unit: np.ndarray | None = None  # unit position of each row of ``vectors``
    unit_by_chunk: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, chunks: list[EmbeddedChunk], signature: tuple = (), with_vectors: bool = False) -> LexicalIndex:
        import bm25s

        units, unit_of = passages(chunks)
        index = cls(chunks=units, signature=signature)
        index.unit_by_chunk = {str(c.id): int(u) for c, u in zip(chunks, unit_of, strict=True)}
        if with_vectors and chunks:
            vectors = np.asarray([c.embedding for c in chunks], dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            index.vectors = vectors / np.where(norms == 0, 1.0, norms)
            index.vector_unit = unit_of
            for chunk in chunks:  # the matrix holds them now; lists of floats cost ~6x the memory
                chunk.embedding = None
            for unit in units:
                unit.embedding = None
        chunks = units
        if chunks:
            corpus = [lexical_tokens(f"{c.title}\n{c.content}") for c in chunks]
            index.bm25 = bm25s.BM25()
            index.bm25.index(corpus, show_progress=False)
        index.columns = {
            name: np.array([_text(getattr(c, name, "")) for c in chunks], dtype=object)
            for name in ("author_id", "document_id", "category", "platform")
        }
        return index

    def mask(self, filters: dict[str, Any] | None) -> np.ndarray | None:
        """Boolean mask of the chunks matching equality filters (a list means any of)."""
        if not filters:
            return None
        keep = np.ones(len(self.chunks), dtype=bool)
        for key, value in filters.items():
            if key not in self.columns:
                column = np.array([_text(getattr(c, key, "")) for c in self.chunks], dtype=object)
                self.columns[key] = column
            values = value if isinstance(value, (list, tuple, set)) else [value]
            keep &= np.isin(self.columns[key], [_text(v) for v in values])
        return keep

    def search(
        self, query: str, limit: int, filters: dict[str, Any] | None = None
    ) -> list[tuple[EmbeddedChunk, float]]:
        """Top ``limit`` chunks by BM25 score (> 0), best first."""
        tokens = lexical_tokens(query)
        if not self.chunks or not tokens or limit < 1:
            return []
        scores = self.bm25.get_scores(tokens)
        keep = self.mask(filters)
        if keep is not None:
            scores = np.where(keep, scores, 0.0)
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]

    def dense_search(
        self, query_vector, limit: int, filters: dict[str, Any] | None = None
    ) -> list[tuple[EmbeddedChunk, float]]:
        """Top ``limit`` units by the cosine similarity of their best chunk to ``query_vector``
        (exact search)."""
        if self.vectors is None or not self.chunks or limit < 1:
            return []
        query = np.asarray(query_vector, dtype=np.float32)
        scores = np.full(len(self.chunks), -np.inf, dtype=np.float32)
        np.maximum.at(scores, self.vector_unit, self.vectors @ (query / (np.linalg.norm(query) or 1.0)))
        keep = self.mask(filters)
        if keep is not None:
            if not keep.any():
                return []
            scores = np.where(keep, scores, -np.inf)
        limit = min(limit, int(keep.sum()) if keep is not None else len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top]

    def units_of(self, hits: list[tuple[EmbeddedChunk, float]]) -> list[tuple[EmbeddedChunk, float]]:
        """Chunk hits (best first, e.g. from a Qdrant server) as unit hits, each unit once at its
        best chunk's score; chunks the index does not hold yet stay themselves."""
        out: list[tuple[EmbeddedChunk, float]] = []
        seen: set[int] = set()
        for chunk, score in hits:
            position = self.unit_by_chunk.get(str(chunk.id))
            if position is None:
                out.append((chunk, score))
            elif position not in seen:
                seen.add(position)
                out.append((self.chunks[position], score))
        return out


class LexicalIndexCache:
    """Builds the index on first use and again whenever the collections change."""

    def __init__(self, with_vectors: bool = False) -> None:
        self.with_vectors = with_vectors
        self._index: LexicalIndex | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._index = None

    def get(self) -> LexicalIndex:
        with self._lock:
            now = time.monotonic()
            if self._index is not None and now - self._checked_at < SIGNATURE_TTL_S:
                return self._index
            signature = collections_signature()
            self._checked_at = now
            if self._index is None or self._index.signature != signature:
                started = time.perf_counter()
                chunks = [c for cls in EMBEDDED_CLASSES.values() for c in cls.scroll(with_vectors=self.with_vectors)]
                self._index = LexicalIndex.build(chunks, signature, self.with_vectors)
                logger.info(f"search index: {len(chunks)} chunks in {time.perf_counter() - started:.2f}s")
            return self._index


def _text(value: Any) -> str:
    """A payload value as the string filters compare (enums by value, None as empty)."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))
