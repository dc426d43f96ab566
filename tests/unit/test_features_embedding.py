"""The embedder: offline default model, normalised vectors, order kept by length bucketing."""

from __future__ import annotations

import numpy as np
import pytest

from llm_engineering.application.preprocessing.embedding import embed_texts
from llm_engineering.exceptions import ConfigurationError
from llm_engineering.infrastructure.embeddings import configured_model_id, get_embedder, load_embedder


@pytest.fixture(scope="module")
def embedder():
    import torch

    torch.set_num_threads(1)
    return get_embedder()


def test_default_model_loads_offline_with_its_properties(embedder):
    assert embedder.model_id == configured_model_id() == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedder.dimension == 384 and embedder.max_seq_length == 256
    assert embedder.max_content_tokens == 254
    vectors = embedder.encode(["hello world", "검색 증강 생성"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.count_tokens("retrieval augmented generation") == 3  # no [CLS]/[SEP]
    assert embedder.count_tokens_batch(["a b", ""]) == [2, 0]


def test_length_bucketed_batches_return_vectors_in_input_order(embedder):
    texts = ["short", "a much longer sentence about chunking and overlap " * 6, "mid length text here", "x"]
    calls = []
    vectors = embed_texts(embedder, texts, batch_size=2, on_batch=calls.append)
    assert calls == [2, 2]
    one_by_one = np.stack([embedder.encode([t])[0] for t in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-5)
    assert embed_texts(embedder, []).shape == (0, 384)


def test_a_model_that_cannot_be_found_is_a_clear_configuration_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigurationError, match="cannot load the embedding model"):
        load_embedder("no-such-org/no-such-model")
    with pytest.raises(ConfigurationError, match="cannot load the embedding model"):
        load_embedder(str(tmp_path))  # an empty folder
