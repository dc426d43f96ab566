"""Reference metrics: overlap (ROUGE-L, BLEU, chrF) and meaning (embedding cosine) against a reference.

ROUGE-L comes from ``rouge-score`` and BLEU/chrF from ``sacrebleu`` (maintained, standard
implementations). ``rouge-score``'s default tokenizer keeps only ``[a-z0-9]``, which would erase
Korean; a Unicode word tokenizer is passed instead so every script counts.
BLEU uses sacrebleu's ``intl`` tokenizer (Unicode-aware punctuation and symbol splitting) with
effective-order smoothing for short answers; chrF works on characters, so it needs no tokenizer.
All three are reported in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from llm_engineering.application.text import lexical_units


class _UnicodeTokenizer:
    """rouge-score tokenizer protocol: ``tokenize(text) -> list[str]``."""

    def tokenize(self, text: str) -> list[str]:
        return lexical_units(text)


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_UnicodeTokenizer())


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize="intl", effective_order=True)


@lru_cache(maxsize=1)
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure in [0, 1]."""
    if not prediction.strip() or not reference.strip():
        return 0.0
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


def bleu(prediction: str, reference: str) -> float:
    """Sentence BLEU in [0, 1] (sacrebleu reports 0–100)."""
    if not prediction.strip() or not reference.strip():
        return 0.0
    return min(1.0, float(_bleu().sentence_score(prediction, [reference]).score) / 100.0)


def chrf(prediction: str, reference: str) -> float:
    """Sentence chrF in [0, 1]: character n-grams, so it suits Korean as well as English."""
    if not prediction.strip() or not reference.strip():
        return 0.0
    return min(1.0, float(_chrf().sentence_score(prediction, [reference]).score) / 100.0)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two equally shaped matrices (rows need not be normalised)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.einsum("ij,ij->i", a, b) / norms
    return np.nan_to_num(out, nan=0.0)


def semantic_similarity(embedder, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Cosine between each prediction's and its reference's sentence embedding."""
    if len(predictions) != len(references):
        raise ValueError("predictions and references must have the same length")
    if not predictions:
        return []
    vectors = embedder.encode(list(predictions) + list(references))
    n = len(predictions)
    sims = cosine_rows(vectors[:n], vectors[n:])
    return [0.0 if not p.strip() else float(s) for p, s in zip(predictions, sims, strict=True)]


def overlap_scores(prediction: str, reference: str) -> dict[str, float]:
    return {
        "rouge_l": rouge_l(prediction, reference),
        "bleu": bleu(prediction, reference),
        "chrf": chrf(prediction, reference),
    }
