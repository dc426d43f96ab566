"""The one interface every text generator of the project implements.

``LLMClient`` takes chat messages (``[{"role": ..., "content": ...}]``) and returns text. Two
backends implement it: ``LocalLLM`` (transformers in this process) and ``OpenAICompatibleLLM``
(any server that speaks the OpenAI chat API, this project's own service included). Callers never
know which one they hold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

Message = dict[str, str]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class ChatResult:
    """A finished generation: the text and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason = "stop"


class LLMError(RuntimeError):
    """Generation failed (bad arguments, an unreachable server, a model that will not load)."""


class LLMClient(ABC):
    """Chat-in, text-out. ``stop`` strings are never part of the returned text."""

    model_id: str

    @abstractmethod
    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
    ) -> ChatResult: ...

    @abstractmethod
    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Pieces of the answer as they are generated; joined they equal ``chat(...).text`` (except
        for a local answer cut by the loop guard: the stream has already sent the repeated copies)."""

    @abstractmethod
    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
    ) -> list[ChatResult]:
        """One result per conversation, in order."""

    @property
    def output_settings(self) -> dict:
        """Backend settings that change the reply to the same request (part of reply-cache keys)."""
        return {}

    def render_prompt(self, messages: Sequence[Message]) -> str:
        """The exact model input when the backend can tell, else the messages as readable text."""
        return "\n".join(f"<{m['role']}>\n{m['content']}" for m in messages)


def check_arguments(messages: Sequence[Message], max_tokens: int, temperature: float, top_p: float) -> None:
    """Reject arguments every backend would reject, with one message for each."""
    if not messages:
        raise LLMError("messages must not be empty")
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise LLMError("each message needs a 'role' and a 'content'")
        if message["role"] not in ("system", "user", "assistant"):
            raise LLMError(f"unknown message role {message['role']!r}")
    if max_tokens < 1:
        raise LLMError("max_tokens must be at least 1")
    if temperature < 0:
        raise LLMError("temperature must be >= 0")
    if not 0 < top_p <= 1:
        raise LLMError("top_p must be in (0, 1]")


def cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    if not stop:
        return text, False
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


def repeated_tail(ids: Sequence[int], min_block: int = 4, copies: int = 3) -> int:
    """How many tokens to drop so that ``ids`` ends with one copy of a block it repeats.

    Greedy decoding of a small model can fall into a loop (``The answer is: The answer is: ...``)
    that it never leaves. When ``ids`` ends in ``copies`` back-to-back copies of one block of at
    least ``min_block`` tokens, the answer is the text up to the end of the first copy: returns the
    length of the other copies (the shortest such block wins); 0 when the end does not repeat.
    """
    n = len(ids)
    for size in range(min_block, n // copies + 1):
        if ids[n - 1 - size] != ids[n - 1]:  # cheap test before comparing whole blocks
            continue
        block = list(ids[n - size :])
        if all(list(ids[n - (c + 1) * size : n - c * size]) == block for c in range(1, copies)):
            return (copies - 1) * size
    return 0


class StopStreamFilter:
    """Holds back streamed text that could be the start of a stop string.

    ``feed`` returns what is safe to emit; ``stopped`` turns true once a stop string appears, after
    which nothing more is emitted.
    """

    def __init__(self, stop: Sequence[str] | None) -> None:
        self.stop = [s for s in (stop or ()) if s]
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        if not self.stop:
            return piece
        self.pending += piece
        text, found = cut_at_stop(self.pending, self.stop)
        if found:
            self.stopped = True
            self.pending = ""
            return text
        keep = 0  # longest suffix of pending that is a prefix of a stop string
        for s in self.stop:
            for n in range(min(len(s) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(s[:n]):
                    keep = max(keep, n)
                    break
        out, self.pending = self.pending[: len(self.pending) - keep], self.pending[len(self.pending) - keep :]
        return out

    def flush(self) -> str:
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out


class TextStream(Iterator[str]):
    """An iterator of text pieces that knows, once exhausted, the whole ``ChatResult``.

    Closing it early (``close()`` or dropping it) stops the generation behind it.
    """

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.result: ChatResult | None = None

    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> str:
        return next(self._pieces)

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()
