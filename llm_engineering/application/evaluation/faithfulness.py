"""RAG faithfulness: the share of an answer's sentences that its retrieved context supports.

A sentence counts as supported when it is close in meaning to some sentence of the context
(embedding cosine ≥ ``semantic_threshold``) or when most of its words appear in the context
(lexical recall ≥ ``lexical_threshold``; Hangul words also match by character bigrams, so
particles do not hide a shared noun). Cheap, deterministic and language-agnostic; an LLM judge
can give a finer reading, but this one needs no judge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from llm_engineering.application.evaluation.text import lexical_units, split_sentences


class Faithfulness(BaseModel):
    score: float | None
    """Supported sentences / sentences; ``None`` when the answer or the context is empty."""
    sentences: int
    supported: int
    unsupported: list[str] = []


def lexical_support(sentence: str, context_units: set[str]) -> float:
    units = lexical_units(sentence)
    if not units:
        return 0.0
    return sum(u in context_units for u in units) / len(units)


def faithfulness(
    embedder,
    answer: str,
    context: Sequence[str],
    semantic_threshold: float = 0.6,
    lexical_threshold: float = 0.6,
) -> Faithfulness:
    sentences = split_sentences(answer)
    context_sentences = [s for passage in context for s in split_sentences(passage)]
    if not sentences or not context_sentences:
        return Faithfulness(score=None, sentences=len(sentences), supported=0)
    context_units = set(lexical_units(" ".join(context)))
    vectors = embedder.encode(sentences + context_sentences).astype(np.float64)
    best = (vectors[: len(sentences)] @ vectors[len(sentences) :].T).max(axis=1)
    unsupported = [
        s
        for s, sim in zip(sentences, best, strict=True)
        if sim < semantic_threshold and lexical_support(s, context_units) < lexical_threshold
    ]
    supported = len(sentences) - len(unsupported)
    return Faithfulness(
        score=supported / len(sentences), sentences=len(sentences), supported=supported, unsupported=unsupported[:5]
    )
