"""RAG faithfulness: how much of an answer's content is distinct claims its retrieved context supports.

The answer is cut into sentences (claims). A claim is supported when it is close in meaning to
some sentence of the context (embedding cosine ≥ ``semantic_threshold``) or when most of its words
appear in the context (lexical recall ≥ ``lexical_threshold``; Hangul words also match by
character bigrams, so particles do not hide a shared noun).

The score is not "supported sentences / sentences", which a self-repeating answer wins: it is the
share of the answer's words that carry a distinct supported claim. A sentence that near-repeats an
earlier one (``repetition.is_near_repeat``) adds no claim, and words inside a 3-word sequence the
answer says more than once count as no content (``repetition.repeated_word_mask``). So "The lie to
avoid is a lie to avoid." scores 0.33 at most, five near-copies of one sentence about 0.1, and a
plain, supported answer that never repeats itself 1.0. Cheap, deterministic, language-agnostic; an
LLM judge can give a finer reading, but this one needs no judge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from llm_engineering.application.text import is_near_repeat, lexical_units, repeated_word_mask, split_sentences, words


class Faithfulness(BaseModel):
    score: float | None
    """Words of distinct supported claims (repeated word sequences left out) / all words of the
    answer; ``None`` when the answer or the context is empty."""
    sentences: int
    supported: int
    """Distinct sentences (claims) the context supports."""
    repeated: int = 0
    """Sentences that near-repeat an earlier sentence of the answer."""
    repeated_word_share: float = 0.0
    """Share of the answer's words inside a 3-word sequence it says more than once."""
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
    sentence_words = [words(s) for s in sentences]
    mask = repeated_word_mask([w for ws in sentence_words for w in ws])
    total = len(mask)
    earlier: list[set[str]] = []
    content = supported = repeated = offset = 0
    unsupported: list[str] = []
    for sentence, tokens, similarity in zip(sentences, sentence_words, best, strict=True):
        fresh = sum(not m for m in mask[offset : offset + len(tokens)])
        offset += len(tokens)
        if any(is_near_repeat(tokens, e) for e in earlier):
            repeated += 1
            continue
        earlier.append(set(tokens))
        if similarity >= semantic_threshold or lexical_support(sentence, context_units) >= lexical_threshold:
            supported += 1
            content += fresh
        else:
            unsupported.append(sentence)
    return Faithfulness(
        score=content / total if total else None,
        sentences=len(sentences),
        supported=supported,
        repeated=repeated,
        repeated_word_share=sum(mask) / total if total else 0.0,
        unsupported=unsupported[:5],
    )
