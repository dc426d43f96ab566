"""Run a model over the evaluation items: its answers and its loss on the reference answers.

One model is loaded once per run and used for both jobs. Inputs are rendered with
``render_chat`` — the same function training and inference use. Results are cached on disk per
(model version, item), so re-running a report after a crash or with more metrics costs nothing.

**Held-out loss** scores only the answer: the prompt is the question as the model was trained
on it (the user turn, with the configured system prompt, rendered with the generation prompt),
never the retrieved passages, which usually hold the reference itself (the test answers are the
author's own text, and the store holds it): with them the loss measures copying from the
context, not the twin. The target is the reference answer followed by the end-of-turn token. The
loss is the mean token cross-entropy over those answer tokens (summed over items, divided by
their token count), and perplexity is ``exp(loss)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from loguru import logger
from pydantic import BaseModel

from llm_engineering.application.evaluation.samples import EvalSample
from llm_engineering.files import write_json_atomic
from llm_engineering.infrastructure.llm import local_llm
from llm_engineering.infrastructure.llm.local import LocalLLM
from llm_engineering.infrastructure.log import progress
from llm_engineering.model.chat import build_messages, render_chat
from llm_engineering.model.loading import load_causal_lm, resolve_model_dir
from llm_engineering.settings import get_settings


class ItemRun(BaseModel):
    """What one model produced for one item."""

    sample_id: str
    answer: str | None = None
    voice_answer: str | None = None
    """The answer to the bare question, when ``answer`` was grounded in retrieved passages (style)."""
    completion_tokens: int = 0
    finish_reason: str = ""
    loss_sum: float | None = None
    loss_tokens: int = 0


class ModelRun(BaseModel):
    label: str
    model_id: str
    model_dir: str
    version: str
    items: list[ItemRun]
    generation_seconds: float = 0.0
    loss_seconds: float = 0.0
    cached_items: int = 0


def model_version_key(model_dir: Path) -> str:
    """A short key that changes whenever the model's weights change (name, sizes, mtimes)."""
    parts = [str(Path(model_dir).resolve())]
    for f in sorted(Path(model_dir).glob("*.safetensors")) + [Path(model_dir) / "config.json"]:
        if f.is_file():
            stat = f.stat()
            parts.append(f"{f.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def messages_for(sample: EvalSample, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The sample's own prompt (e.g. the RAG prompt) or its question as one user turn."""
    if sample.prompt_messages:
        return [dict(m) for m in sample.prompt_messages]
    context = "\n\n".join(sample.context) if sample.context else None
    return build_messages(sample.instruction, system=system_prompt, context=context)


LOSS_PROMPT = "question"  # what the reference loss is scored after (loss_messages); part of the cache key


def loss_messages(sample: EvalSample, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The prompt a reference answer is scored after: the question alone, as in training."""
    return build_messages(sample.instruction, system=system_prompt)


def answer_loss(model, tokenizer, messages: Sequence[dict[str, str]], answer: str) -> tuple[float, int]:
    """Summed cross-entropy of ``answer`` + end token after the rendered prompt, and its token count."""
    import torch

    prompt = render_chat(tokenizer, messages, add_generation_prompt=True)
    eos = tokenizer.eos_token or ""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(prompt + answer + eos, add_special_tokens=False)["input_ids"]
    if full_ids[: len(prompt_ids)] != prompt_ids:  # the answer merged with the prompt's last token
        answer_ids = tokenizer(answer + eos, add_special_tokens=False)["input_ids"]
        full_ids = prompt_ids + answer_ids
    ids = torch.tensor([full_ids], device=model.device)
    target = ids[0, len(prompt_ids) :]
    # the output layer only where a prediction is scored: the last prompt position and each answer
    # position but the final one (the prompt's other logits would be thrown away)
    with torch.no_grad():
        logits = model(input_ids=ids, logits_to_keep=len(target) + 1).logits[0, :-1].float()
    loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
    return float(loss.item()), len(target)


def generate_batch(
    model, tokenizer, conversations: Sequence[Sequence[dict[str, str]]], max_new_tokens: int, stop_repeats: bool = True
):
    """Greedy answers for a batch of conversations, generated exactly as the service generates them
    (the local backend: same rendering, stops and loop guard); returns (text, tokens, reason)."""
    llm = LocalLLM.from_loaded(model, tokenizer, batch_size=len(conversations), stop_repeats=stop_repeats)
    results = llm.chat_batch(list(conversations), max_tokens=max_new_tokens)
    return [(r.text.strip(), r.completion_tokens, r.finish_reason) for r in results]


class ItemCache:
    """One JSON file per (model version, item, settings) under ``root``."""

    def __init__(self, root: Path, version_key: str, settings_key: str) -> None:
        self.folder = Path(root) / version_key / settings_key
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, sample: EvalSample) -> Path:
        return self.folder / f"{sample.key}.json"

    def get(self, sample: EvalSample) -> dict:
        path = self._path(sample)
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            logger.warning("ignoring a corrupt cache entry {}", path)
            return {}

    def put(self, sample: EvalSample, record: dict) -> None:
        write_json_atomic(self._path(sample), {**self.get(sample), **record}, indent=None)


def run_model(
    label: str,
    model_id: str,
    samples: Sequence[EvalSample],
    *,
    cache_root: Path,
    generate: bool = True,
    loss: bool = True,
    max_new_tokens: int = 128,
    batch_size: int = 4,
    system_prompt: str | None = None,
    voice: bool = False,
    loaded=None,
) -> ModelRun:
    """Answers and reference loss of one model over ``samples`` (cached per version and item);
    ``voice``: also an answer to the bare question for each sample whose prompt holds context."""
    model_dir = resolve_model_dir(model_id or None)
    stop_repeats = get_settings().LLM_STOP_REPEATS  # changes the answers, so part of the cache key
    # answers come from the service's in-process engine (LLM_BACKEND) unless a model in memory is given
    llm = (
        None if loaded or not generate else local_llm(str(model_dir), batch_size=batch_size, stop_repeats=stop_repeats)
    )
    settings_key = _settings_key(max_new_tokens, system_prompt, stop_repeats, llm)
    cache = ItemCache(cache_root, model_version_key(model_dir), settings_key)
    records = {s.id: cache.get(s) for s in samples}
    need_answer = [s for s in samples if generate and "answer" not in records[s.id]]
    need_loss = [s for s in samples if loss and "loss_sum" not in records[s.id]]
    need_voice = [s for s in samples if voice and _grounded(s) and "voice_answer" not in records[s.id]]
    gen_s = loss_s = 0.0
    if need_answer or need_loss or need_voice:
        model, tokenizer = loaded or (load_causal_lm(model_dir) if need_loss or not llm else (None, None))
        scored = _ItemWriter(label, cache, records, system_prompt)
        loss_s = scored.losses(model, tokenizer, need_loss)
        answer = _answerer(llm, model, tokenizer, max_new_tokens, stop_repeats)
        gen_s = scored.answers(answer, need_answer, batch_size)
        gen_s += scored.answers(answer, need_voice, batch_size, voice=True)
    items = [
        ItemRun(sample_id=s.id, **{k: v for k, v in records[s.id].items() if k in ItemRun.model_fields})
        for s in samples
    ]
    version = model_dir.parent.name if model_dir.name == "model" else model_dir.name
    return ModelRun(
        label=label,
        model_id=model_id,
        model_dir=str(model_dir),
        version=version,
        items=items,
        generation_seconds=gen_s,
        loss_seconds=loss_s,
        cached_items=len(samples) - len({s.id for s in [*need_answer, *need_loss, *need_voice]}),
    )


def _grounded(sample: EvalSample) -> bool:
    return bool(sample.context or sample.prompt_messages)


def _settings_key(max_new_tokens: int, system_prompt: str | None, stop_repeats: bool, llm) -> str:
    """The part of the cache key for the settings that change answers (the engine's output
    settings included, when the service's engine generates them)."""
    engine = {k: v for k, v in (llm.output_settings if llm else {}).items() if k != "stop_repeats"}
    key = [max_new_tokens, system_prompt, stop_repeats, LOSS_PROMPT, *([engine] if engine else [])]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def _answerer(llm, model, tokenizer, max_new_tokens: int, stop_repeats: bool):
    """A function conversations → ``(text, tokens, finish reason)`` per conversation: the service's
    engine when there is one, else the model in memory."""
    if llm is not None:

        def with_engine(conversations):
            results = llm.chat_batch(conversations, max_tokens=max_new_tokens)
            return [(r.text.strip(), r.completion_tokens, r.finish_reason) for r in results]

        return with_engine
    return lambda conversations: generate_batch(model, tokenizer, conversations, max_new_tokens, stop_repeats)


class _ItemWriter:
    """Computes what is missing for items and writes it to the cache and to the run's records."""

    def __init__(self, label: str, cache: ItemCache, records: dict[str, dict], system_prompt: str | None) -> None:
        self.label, self.cache, self.records, self.system_prompt = label, cache, records, system_prompt

    def _keep(self, sample: EvalSample, record: dict) -> None:
        self.cache.put(sample, record)
        self.records[sample.id].update(record)

    def losses(self, model, tokenizer, samples: Sequence[EvalSample]) -> float:
        """Reference loss of each sample; returns the seconds it took."""
        started = time.perf_counter()
        with progress(len(samples), f"{self.label}: reference loss") as bar:
            for s in samples:
                total, count = answer_loss(model, tokenizer, loss_messages(s, self.system_prompt), s.reference)
                self._keep(s, {"loss_sum": total, "loss_tokens": count})
                bar.update()
        return time.perf_counter() - started

    def answers(self, answer, samples: Sequence[EvalSample], batch_size: int, voice: bool = False) -> float:
        """Answers of the samples, ``batch_size`` at a time (``voice``: to the bare question, as
        ``voice_answer``); returns the seconds it took."""
        started = time.perf_counter()
        prompt_of = loss_messages if voice else messages_for  # the bare question, or the item's prompt
        what = "answers without context" if voice else "answers"
        with progress(len(samples), f"{self.label}: {what}", unit="answer") as bar:
            for i in range(0, len(samples), batch_size):
                batch = samples[i : i + batch_size]
                outs = answer([prompt_of(s, self.system_prompt) for s in batch])
                for s, (text, n, reason) in zip(batch, outs, strict=True):
                    record = {"answer": text, "completion_tokens": n, "finish_reason": reason}
                    self._keep(s, {"voice_answer": text} if voice else record)
                bar.update(len(batch))
        return time.perf_counter() - started


def mean_loss(run: ModelRun) -> tuple[float | None, float | None, int]:
    """Token-weighted mean loss, perplexity and answer-token count of a run."""
    total = sum(i.loss_sum for i in run.items if i.loss_sum is not None)
    count = sum(i.loss_tokens for i in run.items if i.loss_sum is not None)
    if not count:
        return None, None, 0
    return total / count, math.exp(total / count), count
