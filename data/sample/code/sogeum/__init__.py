"""sogeum: a pinch of retrieval (chunking, Hangul-safe normalisation, an LLM call cache)."""

from sogeum.cache import LLMCache, cache_key
from sogeum.chunking import chunk_paragraphs
from sogeum.normalize import bm25_tokens, nfc

__all__ = ["LLMCache", "bm25_tokens", "cache_key", "chunk_paragraphs", "nfc"]
__version__ = "0.3.0"
