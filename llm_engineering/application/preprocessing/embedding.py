"""Embedding many texts: length-bucketed batches, one progress bar, vectors back in input order."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llm_engineering.infrastructure.embeddings import Embedder


def embed_texts(
    embedder: Embedder,
    texts: list[str],
    token_counts: list[int] | None = None,
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """L2-normalised float32 vectors, one row per text, in the order given.

    Texts are sorted by length so each batch pads to about the same size (padding is most of
    the wasted work of a transformer encoder on mixed-length input); ``on_batch(n)`` is called
    after each batch of ``n`` texts, e.g. to advance a progress bar.
    """
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    lengths = token_counts if token_counts is not None else [len(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    vectors = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        vectors[batch] = embedder.encode([texts[i] for i in batch], batch_size=len(batch))
        if on_batch:
            on_batch(len(batch))
    return vectors
