"""Retrieval side of the evaluation, through the RAG module: context for each question (for the
faithfulness score) and the RAG evaluation's recall@k / MRR / evidence@k."""

from __future__ import annotations

from collections.abc import Sequence

from loguru import logger

from llm_engineering.application.evaluation.samples import EvalSample
from llm_engineering.exceptions import ConfigurationError


def _rag():
    try:
        from llm_engineering.application import rag
    except ImportError as exc:
        raise ConfigurationError(f"retrieval metrics need the RAG module ({exc})") from None
    return rag


def attach_context(samples: Sequence[EvalSample], k: int = 3) -> list[EvalSample]:
    """Each sample with the passages the retriever returns for its question."""
    rag = _rag()
    retrieve = getattr(rag, "retrieve", None)
    if retrieve is None:
        raise ConfigurationError("the RAG module offers no retrieve() function")
    out = []
    for sample in samples:
        hits = retrieve(sample.instruction, k=k)
        out.append(
            sample.model_copy(
                update={
                    "context": [getattr(h, "content", str(h)) for h in hits],
                    "sources": [str(getattr(h, "link", "") or getattr(h, "title", "")) for h in hits],
                }
            )
        )
    return out


def retrieval_metrics(notes: list[str]) -> dict | None:
    """recall@k, MRR and evidence@k from the RAG evaluation; ``None`` (with a note) when unavailable."""
    try:
        rag = _rag()
    except ConfigurationError as exc:
        notes.append(f"retrieval metrics skipped: {exc}")
        return None
    evaluate = getattr(rag, "evaluate", None)
    if evaluate is None:
        notes.append("retrieval metrics skipped: the RAG module offers no evaluate()")
        return None
    report = evaluate()
    data = report.model_dump() if hasattr(report, "model_dump") else dict(report)
    logger.info("retrieval metrics: {}", data)
    return {k: v for k, v in data.items() if isinstance(v, (int, float, str))}
