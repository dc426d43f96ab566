"""Retrieval quality on a question set with known sources.

Each row has ``question`` and ``link`` (the document that answers it; a path without a scheme is
a local file relative to the QA file), optionally ``evidence`` (a short phrase of the answer) and
``author``. For each question the retriever returns
``max(ks) × max_per_document`` chunks; documents are ranked by their first chunk in that list.

* recall@k: share of questions whose document is among the first k distinct documents;
* MRR: mean of 1 / rank of that document (0 when absent);
* evidence@k: share of questions with evidence whose phrase occurs (case- and
  whitespace-insensitive) in one of the first k chunks.

``misses`` lists the questions whose document is not first (its ``rank``, or null when it was not
retrieved); ``evidence_misses`` the questions whose phrase is not in the first ``min(ks)`` chunks,
with the ``position`` of the first chunk holding it (null: in none of the retrieved chunks) and
the document's rank, which tells a ranking problem from a chunking one. With
``per_question=True`` the report also holds each question's ``rank`` and ``evidence_position``
(null when absent or not given), for paired comparisons of two retrievers on the same questions.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from llm_engineering.application.crawlers.base import file_link
from llm_engineering.application.rag.retriever import ContextRetriever
from llm_engineering.domain.identity import canonical_link


class QAFileError(ValueError):
    """A QA file that cannot be read as JSON lines with question and link."""


def load_qa(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise QAFileError(f"QA file {path} does not exist")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QAFileError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not str(row.get("question", "")).strip() or not row.get("link"):
            raise QAFileError(f"{path}:{number}: each line needs a non-empty 'question' and a 'link'")
        row["link"] = _resolve_local_link(str(row["link"]), path.parent)
        rows.append(row)
    if not rows:
        raise QAFileError(f"{path} holds no questions")
    return rows


def _resolve_local_link(link: str, base: Path) -> str:
    """A link without a scheme names a local file relative to the QA file: its ``file://`` URI,
    as the local-files crawler stores it."""
    if "://" in link:
        return link
    return file_link(base / link)


def normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def measure_retrieval(
    qa_rows: Iterable[dict[str, Any]], ks: Sequence[int] = (1, 3, 5, 10), retriever=None, per_question: bool = False
) -> dict[str, Any]:
    """recall@k, MRR and evidence@k of ``retriever`` (default: a hybrid ContextRetriever)."""
    if retriever is None:
        retriever = ContextRetriever()
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError("ks must be positive integers")
    depth = ks[-1] * max(1, getattr(getattr(retriever, "config", None), "max_per_document", 1))
    hits = {k: 0 for k in ks}
    evidence_hits = {k: 0 for k in ks}
    reciprocal, with_evidence, misses, evidence_misses, each = 0.0, 0, [], [], []
    rows = list(qa_rows)
    for row in rows:
        chunks = retriever.retrieve(row["question"], k=depth, author=row.get("author") or None).chunks
        gold = canonical_link(str(row["link"]))
        documents: list[str] = []
        for chunk in chunks:
            link = canonical_link(chunk.link or str(chunk.document_id))
            if link not in documents:
                documents.append(link)
        rank = documents.index(gold) + 1 if gold in documents else None
        reciprocal += 1.0 / rank if rank else 0.0
        for k in ks:
            hits[k] += bool(rank and rank <= k)
        position = None
        if row.get("evidence"):
            with_evidence += 1
            phrase = normalise_text(str(row["evidence"]))
            position = next((i for i, c in enumerate(chunks, start=1) if phrase in normalise_text(c.content)), None)
            for k in ks:
                evidence_hits[k] += bool(position and position <= k)
            if not position or position > ks[0]:
                evidence_misses.append(
                    {"question": row["question"], "evidence": row["evidence"], "position": position, "rank": rank}
                )
        if not rank or rank > ks[0]:
            misses.append({"question": row["question"], "link": gold, "rank": rank})
        each.append({"question": row["question"], "rank": rank, "evidence_position": position})
    n = len(rows)
    report = {
        "questions": n,
        "recall": {f"@{k}": round(hits[k] / n, 4) if n else 0.0 for k in ks},
        "mrr": round(reciprocal / n, 4) if n else 0.0,
        "evidence": {f"@{k}": round(evidence_hits[k] / with_evidence, 4) if with_evidence else None for k in ks},
        "questions_with_evidence": with_evidence,
        "misses": misses,
        "evidence_misses": evidence_misses,
    }
    if per_question:
        report["per_question"] = each
    return report
