"""Reranking, the last retrieval stage: a pluggable ``Reranker``.

No trained cross-encoder ships offline, so the default is a cheap heuristic:

* ``DocumentFirstReranker`` (default, ``RAG_RERANKER=document``): coarse to fine. Documents are
  ranked by their best fused chunk; inside a document its chunks are ordered by BM25 (measured on
  the handbook QA set: within the right document, BM25 puts the chunk holding the answer first
  more often than dense or fused scores, or fusions of the two, do), at most ``max_per_document``
  each. How many chunks each document gets follows the scores rather than a fixed share: a
  chunk's score is its document's weight, ``(document score / best document score) **
  document_weight``, times its BM25 score relative to the best in its document. A document far
  ahead of the next fills more of the context; close documents share it. Each document's lead
  chunk scores exactly its document's weight, so the order of documents never changes;
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
    def __init__(self, max_per_document: int = 5, document_weight: float = 4.0) -> None:
        if document_weight < 0:
            raise ValueError("document_weight must be at least 0")
        self.max_per_document = max(1, max_per_document)
        self.document_weight = document_weight

    def rerank(self, query: str, chunks: list[RetrievedChunk], k: int) -> list[RetrievedChunk]:
        documents: dict = {}
        for chunk in chunks:  # fused order: a document's first chunk is its best
            documents.setdefault(chunk.document_id, []).append(chunk)
        if not documents:
            return []
        best = next(iter(documents.values()))[0].score
        scored: list[tuple[float, RetrievedChunk]] = []
        for members in documents.values():
            weight = _ratio(members[0].score, best) ** self.document_weight
            for chunk, within in _within_document(members)[: self.max_per_document]:
                scored.append((weight * within, chunk))
        # stable: ties keep the order of documents, then the order inside each
        scored.sort(key=lambda pair: -pair[0])
        return [chunk.model_copy(update={"rerank_score": score}) for score, chunk in scored[:k]]


def _ratio(score: float, best: float) -> float:
    """``score / best`` in [0, 1] (1 when the best score is not positive)."""
    return min(1.0, max(0.0, score / best)) if best > 0 else 1.0


def _within_document(members: list[RetrievedChunk]) -> list[tuple[RetrievedChunk, float]]:
    """A document's chunks, best first, each with its score relative to the best (1.0).

    BM25 orders them; chunks BM25 did not find come last. In a document BM25 found nothing in,
    the fused scores order them. Equal scores keep the fused order (stable sort).
    """
    top_lexical = max((c.lexical_score or 0.0) for c in members)
    if top_lexical > 0:
        relative = [(c, (c.lexical_score or 0.0) / top_lexical) for c in members]
    else:
        relative = [(c, _ratio(c.score, members[0].score)) for c in members]
    relative.sort(key=lambda pair: -pair[1])
    return relative


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


def build_reranker(
    model_id: str = "", max_per_document: int = 5, kind: str = "document", document_weight: float = 4.0
) -> Reranker:
    if model_id:
        return CrossEncoderReranker(model_id, max_per_document)
    if kind == "diversity":
        return DiversityReranker(max_per_document)
    if kind != "document":
        raise ValueError(f"unknown reranker {kind!r}: use 'document' or 'diversity'")
    return DocumentFirstReranker(max_per_document, document_weight)
