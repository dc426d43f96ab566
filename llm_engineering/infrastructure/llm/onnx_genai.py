"""The fast in-process backend: ONNX Runtime GenAI on an ONNX copy of the model.

``FastLocalLLM`` is a ``LocalLLM`` whose generation runs on ONNX Runtime GenAI instead of
transformers ``generate``. Everything around the decoding step is shared with ``LocalLLM``: the
prompt is rendered by ``render_chat`` and tokenized by the model's own tokenizer, and the tokens
the engine picks go through the same end-of-turn, stop-string, loop-guard and UTF-8 handling
(``LocalLLM._follow``). The ONNX copy is built once per model by
``llm_engineering.model.loading.ensure_onnx_model`` (at publish time for registry versions).

With ``fallback`` (``LLM_BACKEND=auto``) a model that cannot be converted or loaded is served by
transformers instead, with one warning that says why; the backend in use is ``backend``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from loguru import logger

from llm_engineering.infrastructure.llm.base import ChatResult, LLMError, TextStream, cancel_event, check_arguments
from llm_engineering.infrastructure.llm.local import LocalLLM, _Run
from llm_engineering.model.loading import (
    ModelNotFoundError,
    OtherWork,
    busy_cores,
    ensure_onnx_model,
    load_tokenizer,
    resolve_model_dir,
    usable_cores,
)
from llm_engineering.settings import get_settings

ENGINE = "onnxruntime-genai"
# The engine holds Python's lock while it reads a prompt: fed whole, a 4,400-token Korean RAG prompt
# stopped every other thread (progress lines, heartbeats, the service's other requests) for 27 s
# on 2 busy cores. Fed in pieces of this many tokens, the longest stall was 2 s, with the same
# tokens out, and the prompt was read faster (8.2 s against 9.5 s whole on idle cores).
PREFILL_CHUNK = 256
# Spinning threads (waiting for work on a busy loop instead of sleeping) generated SmolLM2-135M int8
# ~1.4x faster on 2 idle cores, but ~2.3x slower when another process held one of them, where
# sleeping threads lost ~1.2x. ``LLM_ONNX_SPIN=auto`` spins while other work keeps fewer than
# SPIN_BELOW cores busy and stops above STOP_SPIN_ABOVE (two thresholds, so it does not flap),
# checked at load and between answers at most every RECHECK_S seconds.
SPIN_BELOW, STOP_SPIN_ABOVE, RECHECK_S = 0.25, 0.5, 5.0


def engine_installed() -> bool:
    try:
        return importlib.util.find_spec("onnxruntime_genai") is not None
    except ValueError:  # marked unimportable (sys.modules entry of None)
        return False


def load_engine(folder: Path, threads: int, spin: bool = False):
    """An ``onnxruntime_genai.Model`` from a converted folder, on ``threads`` CPU threads.

    Unless ``spin``, threads sleep while they wait for work: spinning threads fight with whatever
    else runs on the machine, which is what makes a busy core slow generation down many times over.
    """
    import onnxruntime_genai as og

    config = og.Config(str(folder))
    session = {
        "intra_op_num_threads": threads,
        "inter_op_num_threads": 1,
        "session.intra_op.allow_spinning": "1" if spin else "0",
    }
    config.overlay(json.dumps({"model": {"decoder": {"session_options": session}}}))
    return og.Model(config)


class FastLocalLLM(LocalLLM):
    """Greedy or sampled generation on ONNX Runtime GenAI; one model, one generation at a time."""

    def __init__(
        self,
        model_id: str | None = None,
        *,
        precision: str = "int8",
        fallback: bool = True,
        threads: int | None = None,
        batch_size: int = 8,
        stop_repeats: bool = True,
    ) -> None:
        super().__init__(model_id, batch_size=batch_size, stop_repeats=stop_repeats)
        self.precision = precision
        self.fallback = fallback
        self.threads = threads
        self._engine = None
        self._context_length = 0
        self._engine_eos: set[int] = set()
        self.fallback_reason: str | None = None
        self._engine_lock = threading.Lock()
        self._folder: Path | None = None
        self._threads = 1
        self._spin = False
        self._other_work: OtherWork | None = None

    # ---- which backend ---------------------------------------------------------------------
    @property
    def backend(self) -> str:
        if self._engine is None and self.fallback_reason is None:
            self._ensure_engine()
        return "transformers" if self.fallback_reason else f"{ENGINE} ({self.precision})"

    @property
    def output_settings(self) -> dict:
        settings = dict(super().output_settings)
        if self.backend != "transformers":  # transformers replies stay keyed as before
            settings.update(backend=ENGINE, precision=self.precision)
        return settings

    def _ensure_engine(self) -> bool:
        """Load (converting first if needed) the engine; False when serving with transformers."""
        if self._engine is not None:
            return True
        if self.fallback_reason is not None:
            return False
        with self._engine_lock:
            if self._engine is None and self.fallback_reason is None:
                try:
                    self._load_engine()
                except ModelNotFoundError:
                    raise  # no model to serve at all: transformers would fail the same way
                except Exception as exc:
                    if not self.fallback:
                        raise LLMError(f"{ENGINE} cannot serve {self.model_id!r}: {exc}") from exc
                    self.fallback_reason = f"{type(exc).__name__}: {str(exc)[:300]}"
                    logger.warning(
                        "LLM backend: transformers for {!r} ({} unavailable: {})",
                        self.model_id,
                        ENGINE,
                        self.fallback_reason,
                    )
        return self._engine is not None

    def _load_engine(self) -> None:
        if not engine_installed():
            raise ModuleNotFoundError(f"{ENGINE} is not installed (pip install {ENGINE})")
        started = time.perf_counter()
        source = resolve_model_dir(self.requested_model)
        folder = ensure_onnx_model(source, self.precision)
        # every core unless INFERENCE_THREADS says otherwise: threads that sleep while they wait lose
        # little to a busy core (docs/inference.md), unlike torch's, which ``inference_threads`` sizes
        threads = self.threads or get_settings().INFERENCE_THREADS or usable_cores()
        spin = self._spin_setting(threads)
        if spin is None:  # auto
            spin = busy_cores() < SPIN_BELOW
            self._other_work = OtherWork()
        try:
            engine = load_engine(folder, threads, spin)
        except Exception as exc:  # a damaged copy: build it again once
            logger.warning("the converted model {} does not load ({}); converting it again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
            engine = load_engine(ensure_onnx_model(source, self.precision), threads, spin)
        self._folder, self._threads, self._spin = folder, threads, spin
        config = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))
        self._context_length = int(config["model"]["context_length"])
        eos = config["model"].get("eos_token_id")
        self._engine_eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self._tokenizer = load_tokenizer(source)
        self._engine = engine
        logger.info(
            "LLM backend: {} ({}, {} threads{}) for {!r}, loaded in {:.1f}s",
            ENGINE,
            self.precision,
            threads,
            ", spinning" if spin else "",
            self.model_id,
            time.perf_counter() - started,
        )

    @property
    def spinning(self) -> bool:
        """Whether the engine's threads spin while they wait (``LLM_ONNX_SPIN``)."""
        return self._spin

    @staticmethod
    def _spin_setting(threads: int) -> bool | None:
        """``LLM_ONNX_SPIN`` for ``threads`` threads: True, False, or None for auto."""
        if threads < 2:
            return False  # one thread has no one to wait for
        return {"on": True, "off": False}.get(get_settings().LLM_ONNX_SPIN)

    def _follow_machine(self) -> None:
        """With ``LLM_ONNX_SPIN=auto``, reload the engine with spinning threads turned off when other
        work has kept a core busy since the last check, and back on when it has stopped."""
        if self._other_work is None:
            return
        busy = self._other_work.since_last(RECHECK_S)
        if busy is None or (busy <= STOP_SPIN_ABOVE if self._spin else busy >= SPIN_BELOW):
            return
        self._engine = load_engine(self._folder, self._threads, not self._spin)
        self._spin = not self._spin
        logger.info(
            "LLM backend: other work keeps {:.1f} cores busy; threads now {}",
            busy,
            "spin while they wait" if self._spin else "sleep while they wait",
        )

    @property
    def tokenizer(self):
        if self._ensure_engine():
            return self._tokenizer
        return super().tokenizer

    @property
    def context_window(self) -> int | None:
        if self._ensure_engine():
            return self._context_length
        return super().context_window

    # ---- generation ------------------------------------------------------------------------
    def _engine_tokens(
        self, prompt_ids: list[int], max_tokens: int, temperature: float, top_p: float, cancel
    ) -> Iterator[int]:
        """The engine's tokens, one per step, until it ends, reaches ``max_tokens`` or ``cancel`` is set."""
        import onnxruntime_genai as og

        params = og.GeneratorParams(self._engine)
        options: dict = {"max_length": len(prompt_ids) + max_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            options.update(temperature=temperature, top_p=top_p, top_k=self.tokenizer.vocab_size)
        params.set_search_options(**options)
        generator = og.Generator(self._engine, params)
        for start in range(0, len(prompt_ids), PREFILL_CHUNK):
            if cancel is not None and cancel.is_set():
                return
            generator.append_tokens([prompt_ids[start : start + PREFILL_CHUNK]])
        while not generator.is_done() and not (cancel is not None and cancel.is_set()):
            generator.generate_next_token()
            yield int(generator.get_next_tokens()[0])

    def _run(self, messages, max_tokens, temperature, top_p, stop, run: _Run, cancel=None) -> Iterator[str]:
        self._follow_machine()
        tokenizer = self.tokenizer
        prompt_ids = tokenizer(self.render_prompt(messages), add_special_tokens=False)["input_ids"]
        max_tokens = self._fit_context(len(prompt_ids), max_tokens, self._context_length)
        run.prompt_tokens = len(prompt_ids)
        tokens = self._engine_tokens(prompt_ids, max_tokens, temperature, top_p, cancel)
        yield from self._follow(tokens, tokenizer, self._eos_ids(None, tokenizer) | self._engine_eos, stop, run)

    def chat_batch(self, conversations, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> list[ChatResult]:
        if not self._ensure_engine():
            return super().chat_batch(
                conversations, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop
            )
        for messages in conversations:
            check_arguments(messages, max_tokens, temperature, top_p)
        results = []
        cancel = cancel_event()
        with self._generate_lock:  # one conversation after another: at batch size 1 the engine is fastest
            for messages in conversations:
                run = _Run()
                for _ in self._run(messages, max_tokens, temperature, top_p, stop, run, cancel):
                    pass
                results.append(run.result(self.tokenizer, stop))
        return results

    def stream(self, messages, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> TextStream:
        if not self._ensure_engine():
            return super().stream(messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop)
        check_arguments(messages, max_tokens, temperature, top_p)
        self.render_prompt(messages)  # bad messages fail here, before the first piece is asked for
        stream = TextStream(iter(()))
        options = (max_tokens, temperature, top_p, stop)
        stream._pieces = self._stream_pieces_engine(stream, messages, options, cancel_event())  # here: sees cancel_on
        return stream

    def _stream_pieces_engine(self, stream: TextStream, messages, options, cancel) -> Iterator[str]:
        run = _Run()
        with self._generate_lock:
            yield from self._run(messages, *options, run, cancel)
        stream.result = run.streamed_result()
