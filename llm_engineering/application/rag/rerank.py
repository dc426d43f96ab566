"""Reranking, the last retrieval stage: a pluggable ``Reranker``.

No trained cross-encoder ships offline, so the default is ``DiversityReranker``: it keeps the
fused order but caps the chunks taken from any one document, so the context covers more sources.
With ``RERANKER_MODEL_ID`` set, ``CrossEncoderReranker`` scores (question, chunk) pairs with a
sentence-transformers cross-encoder and then applies the same cap.
"""

from __future__ import annotations

from typing import Protocol

from llm_engineering.domain.queries import RetrievedChunk


class Reranker(Protocol):
    def rerank(self, query: str, chunks: list[RetrievedChunk], k: int) -> list[RetrievedChunk]: ...


def cap_per_document(chunks: list[RetrievedChunk], k: int, max_per_document: int) -> list[RetrievedChunk]:
    """The first ``k`` chunks with at most ``max_per_document`` from one document (order kept).

    When the cap leaves fewer than ``k``, the skipped chunks fill the rest in their order.
    """
    kept, skipped, per_doc = [], [], {}
    for chunk in chunks:
        seen = per_doc.get(chunk.document_id, 0)
        (kept if seen < max_per_document else skipped).append(chunk)
        per_doc[chunk.document_id] = seen + 1
        if len(kept) == k:
            return kept
    return (kept + skipped)[:k]


class DiversityReranker:
    def __init__(self, max_per_document: int = 2) -> None:
        self.max_per_document = max(1, max_per_document)

    def rerank(self, query: str, chunks: list[RetrievedChunk], k: int) -> list[RetrievedChunk]:
        return cap_per_document(chunks, k, self.max_per_document)


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder (model id or folder), loaded on first use."""

    def __init__(self, model_id: str, max_per_document: int = 2, candidates: int = 30) -> None:
        self.model_id = model_id
        self.max_per_document = max(1, max_per_document)
        self.candidates = candidates
        self._model = None

    def _load(self):
        if self._model is None:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(self.model_id)
        return self._model

    def rerank(self, query: str, chunks: list[RetrievedChunk], k: int) -> list[RetrievedChunk]:
        head, tail = chunks[: self.candidates], chunks[self.candidates :]
        if not head:
            return []
        scores = self._load().predict([(query, c.content) for c in head], show_progress_bar=False)
        rescored = [c.model_copy(update={"rerank_score": float(s)}) for c, s in zip(head, scores, strict=True)]
        rescored.sort(key=lambda c: -(c.rerank_score or 0.0))
        return cap_per_document(rescored + tail, k, self.max_per_document)


def build_reranker(model_id: str = "", max_per_document: int = 2) -> Reranker:
    if model_id:
        return CrossEncoderReranker(model_id, max_per_document)
    return DiversityReranker(max_per_document)
