"""Calls to the project's ``LLMClient`` for dataset generation: cached, batched, bounded.

Every reply is stored on disk under a key made of the model id, the exact messages and the
generation parameters, so running the same generation again costs no model call and yields
the same dataset. Requests not in the cache go out in batches (``chat_batch``) with at most
``concurrency`` batches in flight; a batch that raises is asked again one request at a time, and
a request that still fails is counted as an ``llm_error`` while the run goes on with the others.
Retries of transient failures belong to the client (the OpenAI-compatible backend retries
``LLM_MAX_RETRIES`` times with backoff), so a request is never retried by two layers.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loguru import logger
from pydantic import BaseModel, Field

from llm_engineering.infrastructure.log import progress

Messages = list[dict[str, str]]


class GenerationConfig(BaseModel):
    """Parameters of one kind of model call (they are part of the cache key)."""

    max_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(8, ge=1)
    concurrency: int = Field(2, ge=1)

    def params(self) -> dict:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}


@dataclass
class CallStats:
    requests: int = 0
    cache_hits: int = 0
    model_calls: int = 0
    llm_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: int = 0
    seconds: float = 0.0
    parse_failures: Counter[str] = field(default_factory=Counter)

    def merge(self, other: CallStats) -> None:
        for name in ("requests", "cache_hits", "model_calls", "llm_errors", "prompt_tokens", "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.truncated += other.truncated
        self.seconds += other.seconds
        self.parse_failures.update(other.parse_failures)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["parse_failures"] = dict(sorted(self.parse_failures.items()))
        data["seconds"] = round(self.seconds, 2)
        return data


@dataclass(frozen=True)
class CachedReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


class ResponseCache:
    """Model replies in one SQLite file, keyed by (model, messages, parameters); thread-safe."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "responses.sqlite3"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT, reply TEXT)")

    @staticmethod
    def key(model_id: str, messages: Messages, params: dict, stop: Sequence[str] | None = None) -> str:
        blob = json.dumps(
            {"model": model_id, "messages": messages, "params": params, "stop": list(stop or [])},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> CachedReply | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return CachedReply(**json.loads(row[0])) if row else None

    def put_many(self, model_id: str, items: list[tuple[str, CachedReply]]) -> None:
        rows = [(k, model_id, json.dumps(asdict(r), ensure_ascii=False)) for k, r in items]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO replies (key, model, reply) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _look_up(
    keys: list[str], cache: ResponseCache | None, replies: list, stats: CallStats
) -> list[tuple[str, list[int]]]:
    """Fill ``replies`` from the cache; the keys still to ask, each with the indices it answers
    (identical prompts are asked once)."""
    todo: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            replies[index] = hit
            stats.cache_hits += 1
        else:
            todo.setdefault(key, []).append(index)
    return list(todo.items())


def _ask(client, chats: list[Messages], kwargs: dict, what: str) -> list:
    """The results of a batch; when the batch fails, each request alone (None where it fails).
    Retrying a failing request is the client's own business (the OpenAI-compatible backend
    retries transient failures with backoff)."""
    try:
        return client.chat_batch(chats, **kwargs)
    except Exception as exc:  # any backend failure: ask one by one so the others are not lost
        if len(chats) == 1:
            logger.error("{}: a request failed: {}", what, exc)
            return [None]
        logger.warning("a batch of {} failed ({}); asking one by one", what, exc)
    results = []
    for chat in chats:
        try:
            results.append(client.chat(chat, **kwargs))
        except Exception as exc:
            logger.error("{}: a request failed: {}", what, exc)
            results.append(None)
    return results


def _record(batch, results, replies: list, stats: CallStats) -> list[tuple[str, CachedReply]]:
    """Put a batch's results in ``replies`` and ``stats``; the new (key, reply) pairs to cache."""
    fresh = []
    for (key, indices), result in zip(batch, results, strict=True):
        if result is None:
            stats.llm_errors += len(indices)
            continue
        stats.model_calls += 1
        reply = CachedReply(result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason)
        stats.prompt_tokens += reply.prompt_tokens
        stats.completion_tokens += reply.completion_tokens
        stats.truncated += reply.finish_reason == "length"
        fresh.append((key, reply))
        for index in indices:
            replies[index] = reply
    return fresh


def run_chats(
    client,
    conversations: Sequence[Messages],
    config: GenerationConfig,
    cache: ResponseCache | None,
    stop: Sequence[str] | None = None,
    what: str = "requests",
) -> tuple[list[CachedReply | None], CallStats]:
    """One reply per conversation (None where the model failed), and what it cost."""
    started = time.perf_counter()
    stats = CallStats(requests=len(conversations))
    replies: list[CachedReply | None] = [None] * len(conversations)
    params = config.params()
    keyed = {**params, **client.output_settings}  # what else changes the reply belongs in the key
    pending = _look_up(
        [ResponseCache.key(client.model_id, list(c), keyed, stop) for c in conversations], cache, replies, stats
    )
    batches = [pending[i : i + config.batch_size] for i in range(0, len(pending), config.batch_size)]
    if batches:
        logger.info(
            "{}: {} cached, {} to generate with {} in {} batches",
            what,
            stats.cache_hits,
            len(pending),
            client.model_id,
            len(batches),
        )
    kwargs = {"stop": list(stop) if stop else None, **params}
    lock = threading.Lock()

    def run(batch) -> None:
        results = _ask(client, [conversations[indices[0]] for _, indices in batch], kwargs, what)
        with lock:
            fresh = _record(batch, results, replies, stats)
        if cache is not None and fresh:
            cache.put_many(client.model_id, fresh)
        bar.update(len(batch))

    with progress(len(pending), what, unit="reply") as bar:
        if len(batches) == 1 or config.concurrency == 1:
            for batch in batches:
                run(batch)
        else:
            with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="dataset-llm") as pool:
                list(pool.map(run, batches))
    stats.seconds = time.perf_counter() - started
    return replies, stats
