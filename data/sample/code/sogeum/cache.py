"""A SQLite cache for LLM calls.

The key is the SHA-256 of the model name, the full message list and every sampling parameter,
serialised as JSON with sorted keys. Calls sampled at a temperature above zero are not cached
unless a seed is part of the parameters: caching one random draw and calling it "the answer"
is how a diversity metric ends up measuring the cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path


def cache_key(model: str, messages: list[dict], **params: object) -> str:
    """Stable hex key of one call; ``ensure_ascii=False`` keeps Korean prompts readable when dumped."""
    payload = {"model": model, "messages": messages, "params": params}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cacheable(params: dict) -> bool:
    """Whether a call with these sampling parameters should be cached."""
    return float(params.get("temperature", 0.0)) == 0.0 or params.get("seed") is not None


class LLMCache:
    """Responses by key in one SQLite file (WAL mode, one table)."""

    def __init__(self, path: str | Path = "llm_cache.sqlite") -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, response TEXT, created_at REAL)"
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, model: str, response: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", (key, model, response, time.time())
            )

    def call(self, generate: Callable[..., str], model: str, messages: list[dict], **params: object) -> str:
        """Return the cached response, or call ``generate(model, messages, **params)`` and store it."""
        if not cacheable(params):
            return generate(model, messages, **params)
        key = cache_key(model, messages, **params)
        cached = self.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        response = generate(model, messages, **params)
        self.put(key, model, response)
        return response

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def close(self) -> None:
        self._db.close()
