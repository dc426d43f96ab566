"""The in-process backend: a transformers causal LM, loaded once, one generation at a time.

The model and tokenizer come from ``llm_engineering.model.loading.load_causal_lm`` and every input
is rendered by ``llm_engineering.model.chat.render_chat``, so inference sees exactly the prompt
format training used. A lock serialises generation: one model instance serves every caller.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from loguru import logger

from llm_engineering.infrastructure.llm.base import (
    ChatResult,
    LLMClient,
    LLMError,
    Message,
    StopStreamFilter,
    TextStream,
    TokenTextDecoder,
    cancel_event,
    check_arguments,
    complete_text,
    cut_at_stop,
    repeated_tail,
)
from llm_engineering.model.chat import render_chat
from llm_engineering.model.loading import BASE_MODEL_NAME, load_causal_lm


@dataclass
class _Run:
    """What one generation produced, as ``LocalLLM._follow`` saw its tokens go by."""

    prompt_tokens: int = 0
    tokens: list[int] = field(default_factory=list)  # the answer's tokens, end-of-turn excluded
    pieces: list[str] = field(default_factory=list)  # text pieces sent to a stream
    ended: bool = False  # the model ended its turn
    stopped: bool = False  # a stop string ended it
    looped: int = 0  # tokens of repeated copies the loop guard cut

    @property
    def finish_reason(self) -> str:
        return "stop" if self.ended or self.stopped or self.looped else "length"

    def result(self, tokenizer, stop) -> ChatResult:
        """The whole answer: repeated copies dropped, cut before the stop string."""
        text = complete_text(tokenizer.decode(self.tokens[: len(self.tokens) - self.looped], skip_special_tokens=True))
        return ChatResult(
            text=cut_at_stop(text, stop)[0],
            prompt_tokens=self.prompt_tokens,
            completion_tokens=len(self.tokens) + int(self.ended),
            finish_reason=self.finish_reason,
        )

    def streamed_result(self) -> ChatResult:
        """The answer as streamed (a loop's copies were already sent and cannot be taken back)."""
        return ChatResult(
            text="".join(self.pieces),
            prompt_tokens=self.prompt_tokens,
            completion_tokens=len(self.tokens) + int(self.ended),
            finish_reason=self.finish_reason,
        )


class LocalLLM(LLMClient):
    """Transformers generation in this process (CPU by default)."""

    backend = "transformers"

    def __init__(
        self, model_id: str | None = None, device: str | None = None, batch_size: int = 8, stop_repeats: bool = True
    ) -> None:
        self.requested_model = model_id
        self.stop_repeats = stop_repeats  # end answers stuck in a loop (see ``repeated_tail``)

        self.model_id = model_id or BASE_MODEL_NAME
        self.device = device
        self.batch_size = max(1, batch_size)
        self._model = None
        self._tokenizer = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    @classmethod
    def from_loaded(cls, model, tokenizer, **options) -> LocalLLM:
        """A client around a model and tokenizer already in memory (e.g. the one being evaluated);
        ``options`` are the constructor's (``batch_size``, ``stop_repeats``)."""
        llm = cls(**options)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        llm._model, llm._tokenizer = model, tokenizer
        return llm

    @property
    def output_settings(self) -> dict:
        return {"stop_repeats": True} if self.stop_repeats else {}  # off: as before the guard existed

    # ---- loading -----------------------------------------------------------------------------
    def _ensure_loaded(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    started = time.perf_counter()
                    model, tokenizer = load_causal_lm(self.requested_model, device=self.device)
                    model.eval()
                    if tokenizer.pad_token_id is None:
                        tokenizer.pad_token = tokenizer.eos_token
                    self._tokenizer = tokenizer
                    self._model = model
                    logger.info(f"LLM {self.model_id!r} loaded in {time.perf_counter() - started:.1f}s")
        return self._model, self._tokenizer

    @property
    def tokenizer(self):
        return self._ensure_loaded()[1]

    def render_prompt(self, messages: Sequence[Message]) -> str:
        return render_chat(self.tokenizer, list(messages), add_generation_prompt=True)

    def choice_logprobs(
        self, conversations: Sequence[Sequence[Message]], choices: Sequence[str], prefixes: Sequence[str] | None = None
    ) -> list[dict[str, float]]:
        """How likely each of ``choices`` is as the reply's next text, for every conversation.

        The reply starts with ``prefixes[i]`` (e.g. ``"Accuracy:"``); a choice's value is the summed
        log-probability of its tokens right after that. One forward pass per conversation, no free
        generation, so every conversation gets a value for every choice. When the choices differ
        only in their last token (``" 1"``, ``" 2"``, ...) that pass is one row; otherwise one row
        per choice.
        """
        import torch

        if not choices or any(not c for c in choices):
            raise LLMError("choices must be non-empty strings")
        for messages in conversations:
            check_arguments(messages, 1, 0.0, 1.0)
        prefixes = list(prefixes) if prefixes is not None else [""] * len(conversations)
        if len(prefixes) != len(conversations):
            raise LLMError("give one prefix per conversation")
        model, tokenizer = self._ensure_loaded()
        choice_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
        shared = 0  # tokens every choice starts with
        while all(len(ids) > shared + 1 for ids in choice_ids) and len({ids[shared] for ids in choice_ids}) == 1:
            shared += 1
        one_row = all(len(ids) == shared + 1 for ids in choice_ids)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        out: list[dict[str, float]] = []
        with self._generate_lock, torch.inference_mode():
            for messages, prefix in zip(conversations, prefixes, strict=True):
                prompt = tokenizer(self.render_prompt(messages) + prefix, add_special_tokens=False)["input_ids"]
                rows = [prompt + choice_ids[0][:shared]] if one_row else [prompt + ids for ids in choice_ids]
                width = max(len(r) for r in rows)
                ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=model.device)
                mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=model.device)
                logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
                values = {}
                for n, (choice, cids) in enumerate(zip(choices, choice_ids, strict=True)):
                    row = logprobs[0 if one_row else n]  # one row: its last position scores every last token
                    start = len(prompt) - 1
                    values[choice] = float(sum(row[start + k, t] for k, t in enumerate(cids)))
                out.append(values)
        return out

    def _eos_ids(self, model, tokenizer) -> set[int]:
        ids = model.generation_config.eos_token_id if model is not None else None
        ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if tokenizer.eos_token_id is not None:
            ids.add(tokenizer.eos_token_id)
        return ids

    def _generation_kwargs(self, tokenizer, max_tokens, temperature, top_p, stop) -> dict:
        kwargs = {
            "max_new_tokens": max_tokens,
            "do_sample": temperature > 0,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
        else:  # greedy: clear sampling defaults so transformers does not warn about them
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs  # stop strings: ``_criteria`` (transformers' stop_strings caches ~50 MB per set)

    def _criteria(self, prompt_width: int, *extra, stop=None, tokenizer=None) -> list:
        """Stopping criteria for ``generate``: ``extra``, the stop strings, the loop check (when
        on) and the caller's cancel event (``cancel_on``)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Loop(StoppingCriteria):
            """True for the rows whose new tokens end in a repeated block."""

            def __call__(self, input_ids, scores, **_):
                rows = input_ids[:, prompt_width:].tolist()
                return torch.tensor([repeated_tail(row) > 0 for row in rows], device=input_ids.device)

        class _Cancelled(StoppingCriteria):
            """True for every row once the caller's cancel event is set (see ``cancel_on``)."""

            def __init__(self, event) -> None:
                self.event = event

            def __call__(self, input_ids, scores, **_):
                return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)

        stops = [s for s in (stop or ()) if s]

        class _Stops(StoppingCriteria):
            """True for the rows whose new text holds a stop string; decodes only each row's last
            tokens (enough for the longest stop), so memory stays flat whatever the strings."""

            window = 2 * max((len(s) for s in stops), default=0) + 4

            def __call__(self, input_ids, scores, **_):
                start = max(prompt_width, input_ids.shape[1] - self.window)
                texts = tokenizer.batch_decode(input_ids[:, start:].tolist(), skip_special_tokens=True)
                return torch.tensor([any(s in t for s in stops) for t in texts], device=input_ids.device)

        cancel = cancel_event()
        return StoppingCriteriaList(
            [
                *extra,
                *([_Stops()] if stops and tokenizer is not None else []),
                *([_Loop()] if self.stop_repeats else []),
                *([_Cancelled(cancel)] if cancel else []),
            ]
        )

    @property
    def context_window(self) -> int | None:
        """Most tokens (prompt and answer together) the model takes, when its config says."""
        model, _ = self._ensure_loaded()
        return getattr(model.config, "max_position_embeddings", None)

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the prompt as the model sees it (after the chat template)."""
        return len(self.tokenizer(self.render_prompt(messages), add_special_tokens=False)["input_ids"])

    @staticmethod
    def _fit_context(prompt_tokens: int, max_tokens: int, context: int) -> int:
        """``max_tokens`` cut to what the context leaves after the prompt; a clear error when the
        prompt alone fills it."""
        if context and prompt_tokens >= context:
            raise LLMError(
                f"the prompt is {prompt_tokens} tokens long; the model reads at most {context} tokens "
                "(prompt and answer together): shorten the question, its context or the history"
            )
        return min(max_tokens, context - prompt_tokens) if context else max_tokens

    def _follow(self, tokens: Iterable[int], tokenizer, eos_ids: set[int], stop, run: _Run) -> Iterator[str]:
        """Turn the tokens a model picks into stream pieces, ending at its end-of-turn token, a stop
        string or a loop (``repeated_tail``), whichever comes first; ``run`` records what happened.
        Pieces never hold a stop string or half a UTF-8 character."""
        decoder = TokenTextDecoder(tokenizer)
        filtered = StopStreamFilter(stop)
        for token in tokens:
            if token in eos_ids:
                run.ended = True
                break
            run.tokens.append(token)
            out = filtered.feed(decoder.push(token))
            if out:
                run.pieces.append(out)
                yield out
            if filtered.stopped:
                run.stopped = True
                break
            if self.stop_repeats and (looped := repeated_tail(run.tokens)):
                run.looped = looped
                logger.debug(f"generation stopped in a loop: {looped} repeated tokens dropped")
                break
        tail = filtered.feed(decoder.flush()) + filtered.flush()
        if tail:
            run.pieces.append(tail)
            yield tail

    # ---- generation --------------------------------------------------------------------------
    def chat(self, messages, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> ChatResult:
        return self.chat_batch([messages], max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop)[0]

    def chat_batch(self, conversations, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> list[ChatResult]:
        import torch

        for messages in conversations:
            check_arguments(messages, max_tokens, temperature, top_p)
        model, tokenizer = self._ensure_loaded()
        prompts = [self.render_prompt(m) for m in conversations]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding per batch
        results: dict[int, ChatResult] = {}
        eos_ids = self._eos_ids(model, tokenizer)
        kwargs = self._generation_kwargs(tokenizer, max_tokens, temperature, top_p, stop)
        with self._generate_lock:
            previous_side = tokenizer.padding_side
            tokenizer.padding_side = "left"
            try:
                for start in range(0, len(order), self.batch_size):
                    batch = order[start : start + self.batch_size]
                    encoded = tokenizer(
                        [prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False
                    ).to(model.device)
                    width = encoded["input_ids"].shape[1]
                    room = self._fit_context(width, max_tokens, self._context(model))
                    with torch.inference_mode():
                        output = model.generate(
                            **encoded,
                            **{**kwargs, "max_new_tokens": room},
                            stopping_criteria=self._criteria(width, stop=stop, tokenizer=tokenizer),
                        )
                    for row, index in enumerate(batch):
                        results[index] = self._result(
                            output[row, width:].tolist(),
                            int(encoded["attention_mask"][row].sum()),
                            tokenizer,
                            eos_ids,
                            stop,
                        )
            finally:
                tokenizer.padding_side = previous_side
        return [results[i] for i in range(len(prompts))]

    def _result(self, generated: list[int], prompt_tokens: int, tokenizer, eos_ids: set[int], stop) -> ChatResult:
        # a row that stopped before the others is filled with padding up to the batch's length
        ends = eos_ids | ({tokenizer.pad_token_id} if tokenizer.pad_token_id is not None else set())
        ended = next((i for i, t in enumerate(generated) if t in ends), None)
        tokens = generated if ended is None else generated[:ended]
        looped = repeated_tail(tokens) if self.stop_repeats else 0
        text = complete_text(tokenizer.decode(tokens[: len(tokens) - looped], skip_special_tokens=True))
        text, stopped = cut_at_stop(text, stop)
        if looped:
            logger.debug(f"generation stopped in a loop: {looped} repeated tokens dropped")
        # + the end-of-turn token, unless a stop string or the loop guard ended the row: what follows
        # is the batch's filler, which may equal that token
        end_token = ended is not None and generated[ended] in eos_ids and not looped and not stopped
        return ChatResult(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(tokens) + int(end_token),
            finish_reason="stop" if ended is not None or stopped or looped else "length",
        )

    def stream(self, messages, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> TextStream:
        check_arguments(messages, max_tokens, temperature, top_p)
        model, tokenizer = self._ensure_loaded()
        prompt = self.render_prompt(messages)
        kwargs = self._generation_kwargs(tokenizer, max_tokens, temperature, top_p, stop)
        stream = TextStream(iter(()))
        stream._pieces = self._stream_pieces(stream, model, tokenizer, prompt, kwargs, stop)
        return stream

    def _stream_pieces(self, stream: TextStream, model, tokenizer, prompt, kwargs, stop) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria

        cancelled = threading.Event()
        failure: list[BaseException] = []
        picked: queue.Queue[int | None] = queue.Queue()

        class _Watch(StoppingCriteria):
            """Hands each new token to the reader and ends generation when the reader goes away."""

            def __call__(self, input_ids, scores, **_):
                picked.put(int(input_ids[0, -1]))
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)

        def tokens() -> Iterator[int]:
            while (token := picked.get()) is not None:
                yield token

        with self._generate_lock:
            encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
            width = int(encoded["input_ids"].shape[1])
            kwargs = {
                **kwargs,
                "max_new_tokens": self._fit_context(width, kwargs["max_new_tokens"], self._context(model)),
            }
            criteria = self._criteria(width, _Watch())  # here: sees cancel_on

            def run() -> None:
                try:
                    with torch.inference_mode():
                        model.generate(**encoded, **kwargs, stopping_criteria=criteria)
                except BaseException as exc:  # re-raised in the reader's thread below
                    failure.append(exc)
                finally:
                    picked.put(None)

            worker = threading.Thread(target=run, name="llm-stream", daemon=True)
            worker.start()
            state = _Run(prompt_tokens=width)
            try:
                yield from self._follow(tokens(), tokenizer, self._eos_ids(model, tokenizer), stop, state)
            finally:
                cancelled.set()
                worker.join()
            if failure:
                raise LLMError(f"generation failed: {type(failure[0]).__name__}: {failure[0]}") from failure[0]
            stream.result = state.streamed_result()

    @staticmethod
    def _context(model) -> int:
        """Tokens the model reads at most (prompt and answer), 0 when it does not say."""
        return int(getattr(model.config, "max_position_embeddings", 0) or 0)
