"""Reranking, the last retrieval stage: a pluggable ``Reranker``.

No trained cross-encoder ships offline, so the default is a cheap heuristic:

* ``DocumentFirstReranker`` (default, ``RAG_RERANKER=document``): coarse to fine. Documents are
  ranked by their best fused chunk; inside a document its chunks are ordered by BM25 (measured on
  the handbook QA set: within the right document, BM25 puts the chunk holding the answer first
  more often than dense or fused scores do), at most ``max_per_document`` each;
* ``DiversityReranker`` (``RAG_RERANKER=diversity``): keeps the fused order, capping the chunks of
  any one document so the context covers more sources.

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


class DocumentFirstReranker:
    def __init__(self, max_per_document: int = 3) -> None:
        self.max_per_document = max(1, max_per_document)

    def rerank(self, query: str, chunks: list[RetrievedChunk], k: int) -> list[RetrievedChunk]:
        documents: dict = {}
        for chunk in chunks:  # fused order: a document's first chunk is its best
            documents.setdefault(chunk.document_id, []).append(chunk)
        ordered = []
        for members in documents.values():
            # stable sort: equal (or missing) BM25 scores keep the fused order
            members = sorted(members, key=lambda c: -(c.lexical_score or 0.0))
            ordered.extend(members[: self.max_per_document])
            if len(ordered) >= k:
                break
        return ordered[:k]


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


def build_reranker(model_id: str = "", max_per_document: int = 3, kind: str = "document") -> Reranker:
    if model_id:
        return CrossEncoderReranker(model_id, max_per_document)
    if kind == "diversity":
        return DiversityReranker(max_per_document)
    if kind != "document":
        raise ValueError(f"unknown reranker {kind!r}: use 'document' or 'diversity'")
    return DocumentFirstReranker(max_per_document)
