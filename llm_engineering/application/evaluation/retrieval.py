"""Retrieval side of the evaluation, through the RAG module: the retrieved context of each question
(answers are then generated from exactly the prompt the inference service builds, so the
faithfulness score measures the deployed behaviour) and the RAG evaluation's recall@k / MRR /
evidence@k on a question set with known sources."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from loguru import logger

from llm_engineering.application.evaluation.samples import EvalSample
from llm_engineering.application.rag import ContextRetriever, build_rag_messages, load_qa, measure_retrieval
from llm_engineering.application.rag.evaluation import QAFileError
from llm_engineering.exceptions import ConfigurationError


def attach_context(samples: Sequence[EvalSample], k: int = 3, retriever=None) -> list[EvalSample]:
    """Each sample with the passages retrieved for its question and the RAG prompt built from them."""
    retriever = retriever or ContextRetriever()
    out = []
    for sample in samples:
        chunks = retriever.retrieve(sample.instruction, k=k).chunks
        if not chunks:
            logger.warning("no context retrieved for {!r}", sample.instruction[:80])
        out.append(
            sample.model_copy(
                update={
                    "context": [c.content for c in chunks],
                    "sources": [c.link or c.title or str(c.document_id) for c in chunks],
                    "prompt_messages": build_rag_messages(sample.instruction, chunks) if chunks else None,
                }
            )
        )
    return out


def retrieval_metrics(qa_path: str | None, ks: Sequence[int], notes: list[str], retriever=None) -> dict | None:
    """recall@k, MRR and evidence@k from the RAG evaluation; ``None`` (with a note) without a QA file."""
    if not qa_path:
        notes.append("retrieval metrics skipped: set retrieval.qa_path to a JSON-lines file of question + link")
        return None
    try:
        rows = load_qa(Path(qa_path))
    except QAFileError as exc:
        raise ConfigurationError(f"retrieval.qa_path: {exc}") from None
    report = measure_retrieval(rows, ks, retriever)
    flat: dict[str, float | int | None] = {"questions": report["questions"], "mrr": report["mrr"]}
    flat.update({f"recall{k}": v for k, v in report["recall"].items()})
    flat.update({f"evidence{k}": v for k, v in report["evidence"].items()})
    logger.info("retrieval metrics: {}", flat)
    return flat
