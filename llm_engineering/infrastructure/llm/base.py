"""The one interface every text generator of the project implements.

``LLMClient`` takes chat messages (``[{"role": ..., "content": ...}]``) and returns text. Two
backends implement it: ``LocalLLM`` (transformers in this process; ``FastLocalLLM`` runs the same
model on ONNX Runtime GenAI) and ``OpenAICompatibleLLM``
(any server that speaks the OpenAI chat API, this project's own service included). Callers never
know which one they hold.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    backend: str = "openai-compatible"  # what generates the text (reported by /health and traces)

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


_cancel = threading.local()


@contextmanager
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Generation this thread starts inside the block ends (within one token step) once ``event``
    is set: the caller's way to stop work nobody waits for any more."""
    previous = getattr(_cancel, "event", None)
    _cancel.event = event
    try:
        yield
    finally:
        _cancel.event = previous


def cancel_event() -> threading.Event | None:
    """The event set up by ``cancel_on`` in this thread, if any."""
    return getattr(_cancel, "event", None)


def cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    if not stop:
        return text, False
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


def repeated_tail(ids: Sequence[int], min_block: int = 4, copies: int = 3, near: bool = True) -> int:
    """How many tokens to drop so that ``ids`` ends before a loop: 0 when the end does not loop.

    Greedy decoding of a small model can fall into a loop that it never leaves, either exact
    (``The answer is: The answer is: ...``) or with small changes (the same sentence again with one
    name or number changed). When ``ids`` ends in ``copies`` back-to-back copies of one block of at
    least ``min_block`` tokens, the answer is the text up to the end of the first copy: returns the
    length of the other copies (the shortest such block wins). Otherwise, when the end of ``ids``
    mostly repeats word sequences written before it (see :func:`near_repeat_start`), returns the
    length of that repeating end (``near=False``: exact copies only).
    """
    n = len(ids)
    for size in range(min_block, n // copies + 1):
        if ids[n - 1 - size] != ids[n - 1]:  # cheap test before comparing whole blocks
            continue
        block = list(ids[n - size :])
        if all(list(ids[n - (c + 1) * size : n - c * size]) == block for c in range(1, copies)):
            return (copies - 1) * size
    start = near_repeat_start(ids) if near else None
    return 0 if start is None else n - start


def near_repeat_start(
    ids: Sequence[int], n: int = 4, min_length: int = 24, min_share: float = 0.6, max_new_run: int = 10
) -> int | None:
    """Where a near-repeat loop at the end of ``ids`` begins, or ``None``.

    A token is *repeated* when it lies inside an ``n``-token sequence that already occurred earlier
    in ``ids``. Walking back from the end, the repeating end stops at the first run of more than
    ``max_new_run`` tokens that are not repeated (the first copy of what the loop repeats, which
    stays). It is a loop when it is at least ``min_length`` tokens long and at least ``min_share`` of
    its tokens are repeated: a sentence said again with a changed word or two. Runs in linear time,
    so it can be called after every generated token.
    """
    total = len(ids)
    if total < min_length + n:
        return None
    seen: set[tuple[int, ...]] = set()
    repeated = [False] * total
    for j in range(total - n + 1):
        gram = tuple(ids[j : j + n])
        if gram in seen:
            for i in range(j, j + n):
                repeated[i] = True
        else:
            seen.add(gram)
    if not repeated[-1] and not any(repeated[-max_new_run:]):
        return None
    start, new_run = total, 0
    for i in range(total - 1, -1, -1):
        if repeated[i]:
            start, new_run = i, 0
        else:
            new_run += 1
            if new_run > max_new_run:
                break
    length = total - start
    if length < min_length or sum(repeated[start:]) < min_share * length:
        return None
    return start


def complete_text(text: str) -> str:
    """``text`` without U+FFFD: a byte-level tokenizer decodes half a character (the first bytes of
    a Hangul syllable, say) as U+FFFD; at the end it may still be completed by the next token, so it
    is held back, and in the middle it is bytes that never formed a character, so it is dropped."""
    return text.rstrip("\ufffd").replace("\ufffd", "")


class TokenTextDecoder:
    """Generated token ids in, text pieces out, never half a UTF-8 character.

    ``push`` returns the text a new token completes (often "", while a character is unfinished);
    the pieces join to ``complete_text(decode(ids))``. Only the last few tokens are decoded each
    time (the piece is what decoding them adds to decoding the ones before), so long answers stay
    cheap and tokenizers that treat a leading space specially still decode it right.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0  # window start: tokens before it are already emitted
        self._read = 0  # tokens up to here are emitted

    def _decode(self, start: int, end: int | None = None) -> str:
        return self.tokenizer.decode(self.ids[start:end], skip_special_tokens=True)

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        done = self._decode(self._prefix, self._read)
        text = self._decode(self._prefix)
        if len(text) <= len(done) or text.endswith("\ufffd"):
            return ""  # nothing new yet, or a character still waiting for its last bytes
        self._prefix, self._read = self._read, len(self.ids)
        return text[len(done) :].replace("\ufffd", "")

    def flush(self) -> str:
        """At the end of the answer: what is still held back, less a character never finished."""
        done = self._decode(self._prefix, self._read)
        text = complete_text(self._decode(self._prefix))
        self._prefix = self._read = len(self.ids)
        return text[len(done) :] if len(text) > len(done) else ""


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
