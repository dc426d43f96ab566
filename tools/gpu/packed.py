"""Fast SFT for GPUs: packed batches without cross-contamination, a fused linear cross-entropy.

Why: a plain trainer pads every example of a batch to the longest one, computes full-vocabulary
metrics every step and materialises logits for every position. Here instead:

* each optimiser step's examples are concatenated into one row with no padding; ``position_ids``
  restart at 0 for every example and attention runs per example (variable-length flash attention
  through ``torch.nn.attention.varlen`` on CUDA, a per-example SDPA loop elsewhere), so no token
  ever attends to another example;
* the loss is computed only at completion positions, in chunks, with gradients produced in the
  same pass (``FusedLinearCrossEntropy``): the ``tokens x vocabulary`` logits never exist whole;
* the decoder layers can be compiled (``torch.compile``); the loss is read back once per
  logging interval, not every step.

This module imports only torch and transformers, so the GPU benchmark can run it on a machine
without the project's other dependencies.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

ATTN_NAME = "llm_twin_varlen"
IGNORE = -100


# --- data --------------------------------------------------------------------------------------


def tokenize_example(tokenizer, prompt, completion, max_length: int) -> tuple[list[int], int]:
    """Token ids of prompt + completion rendered by the chat template, and the prompt's length.

    Uses the project's single prompt renderer; truncated to ``max_length`` from the end.
    """
    from llm_engineering.model.chat import render_chat

    prompt_text = render_chat(tokenizer, prompt, add_generation_prompt=True)
    full_text = render_chat(tokenizer, [*prompt, *completion], add_generation_prompt=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    if ids[: len(prompt_ids)] != prompt_ids:  # templates are prefix-stable; guard anyway
        raise ValueError("the chat template does not render the prompt as a prefix of the full example")
    return ids[:max_length], min(len(prompt_ids), max_length)


def step_groups(n_examples: int, samples_per_step: int, steps: int, seed: int) -> list[list[int]]:
    """Example indices for each optimiser step: epochs of seeded shuffles, cut into equal groups."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < samples_per_step * steps:
        epoch = list(range(n_examples))
        rng.shuffle(epoch)
        order.extend(epoch)
    return [order[i * samples_per_step : (i + 1) * samples_per_step] for i in range(steps)]


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # [1, T]
    position_ids: torch.Tensor  # [1, T]
    labels: torch.Tensor  # [T] next-token targets, IGNORE where no loss
    cu_seqlens: torch.Tensor  # [n_docs + 1] int32
    label_positions: torch.Tensor  # [n_label_tokens] positions whose label is not IGNORE
    max_seqlen: int
    n_tokens: int  # real (non-padding) tokens
    n_label_tokens: int
    n_examples: int

    _TENSORS = ("input_ids", "position_ids", "labels", "cu_seqlens", "label_positions")

    def _map(self, fn) -> PackedBatch:
        return replace(self, **{name: fn(getattr(self, name)) for name in self._TENSORS})

    def to(self, device) -> PackedBatch:
        """The batch on ``device``; the copies overlap with compute when the batch is pinned."""
        return self._map(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> PackedBatch:
        """The batch in page-locked host memory (only where CUDA is available)."""
        return self._map(torch.Tensor.pin_memory) if torch.cuda.is_available() else self


def pack(
    examples: Sequence[tuple[list[int], int]], pad_id: int, pad_to_multiple: int = 1, max_seqlen: int | None = None
) -> PackedBatch:
    """Concatenate examples into one row; labels are shifted targets inside each example only.

    ``max_seqlen`` fixes the bound passed to the attention kernel (a constant avoids recompiles).
    """
    ids: list[int] = []
    pos: list[int] = []
    labels: list[int] = []
    cu = [0]
    for tokens, n_prompt in examples:
        n = len(tokens)
        ids.extend(tokens)
        pos.extend(range(n))
        # target of position i is token i+1, counted only inside the completion
        labels.extend(tokens[i + 1] if i + 1 >= n_prompt else IGNORE for i in range(n - 1))
        labels.append(IGNORE)  # the last token predicts nothing (no crossing into the next example)
        cu.append(cu[-1] + n)
    n_tokens = len(ids)
    padded = math.ceil(n_tokens / pad_to_multiple) * pad_to_multiple
    if padded > n_tokens:  # the filler is one more "example" that attends to itself and has no loss
        extra = padded - n_tokens
        ids.extend([pad_id] * extra)
        pos.extend(range(extra))
        labels.extend([IGNORE] * extra)
        cu.append(padded)
    lengths = [b - a for a, b in zip(cu, cu[1:], strict=False)]
    positions = [i for i, t in enumerate(labels) if t != IGNORE]
    return PackedBatch(
        torch.tensor([ids], dtype=torch.long),
        torch.tensor([pos], dtype=torch.long),
        torch.tensor(labels, dtype=torch.long),
        torch.tensor(cu, dtype=torch.int32),
        torch.tensor(positions, dtype=torch.long),
        max(max(lengths), max_seqlen or 0),
        n_tokens,
        len(positions),
        len(examples),
    )


# --- attention ---------------------------------------------------------------------------------

_VARLEN = None


def _varlen_fn():
    global _VARLEN
    if _VARLEN is None:
        try:
            from torch.nn.attention.varlen import varlen_attn

            params = inspect.signature(varlen_attn).parameters
            _VARLEN = (varlen_attn, "window_size" in params, "enable_gqa" in params)
        except ImportError:
            _VARLEN = (None, False, False)
    return _VARLEN


def varlen_available(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda" and _varlen_fn()[0] is not None


def varlen_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Causal attention within each packed example (transformers attention-interface signature).

    ``query`` is ``[1, heads, T, dim]``; ``cu_seq_lens_q`` / ``max_length_q`` come through the
    model's forward kwargs. Returns ``([1, T, heads, dim], None)``.
    """
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:  # an ordinary (padded) batch, e.g. generation: plain SDPA with the model's mask
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout)
    max_len = kwargs["max_length_q"]
    n_rep = query.shape[1] // key.shape[1]
    fn, has_window, has_gqa = _varlen_fn()
    dtype = query.dtype
    if query.is_cuda and dtype not in (torch.bfloat16, torch.float16) and torch.is_autocast_enabled("cuda"):
        dtype = torch.get_autocast_dtype("cuda")  # rotary embeddings promote q and k to fp32
    if query.is_cuda and fn is not None and dtype in (torch.bfloat16, torch.float16):
        q = query[0].transpose(0, 1).to(dtype)  # [T, H, D]
        k = key[0].transpose(0, 1).to(dtype)
        v = value[0].transpose(0, 1).to(dtype)
        extra = {"scale": scaling}
        if n_rep > 1:
            if has_gqa:
                extra["enable_gqa"] = True
            else:
                k = k.repeat_interleave(n_rep, dim=1)
                v = v.repeat_interleave(n_rep, dim=1)
        if has_window:
            extra["window_size"] = (-1, 0)
        else:
            extra["is_causal"] = True
        out = fn(q, k, v, cu, cu, max_len, max_len, **extra)
        return out.unsqueeze(0), None
    # reference path (CPU, fp32): one causal SDPA per example
    if n_rep > 1:
        key = key.repeat_interleave(n_rep, dim=1)
        value = value.repeat_interleave(n_rep, dim=1)
    bounds = cu.tolist()
    parts = [
        F.scaled_dot_product_attention(
            query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True, scale=scaling
        )
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    return torch.cat(parts, dim=2).transpose(1, 2), None


def use_varlen_attention(model) -> None:
    """Switch a transformers model to :func:`varlen_attention` (registered once, by name)."""
    from transformers import AttentionInterface

    _varlen_fn()  # resolve the kernel outside any compiled region
    AttentionInterface.register(ATTN_NAME, varlen_attention)
    model.set_attn_implementation(ATTN_NAME)


# --- loss --------------------------------------------------------------------------------------


class FusedLinearCrossEntropy(torch.autograd.Function):
    """``sum(cross_entropy(hidden @ weight.T, targets)) / normaliser`` without keeping the logits.

    Works through the rows in chunks; each chunk's gradients (for ``hidden`` and ``weight``) are
    computed right away in the forward pass, so memory holds one chunk of logits at a time.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, normaliser, chunk_size, compute_dtype):
        n = hidden.shape[0]
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        w = weight.to(compute_dtype)
        for start in range(0, n, chunk_size):
            h = hidden[start : start + chunk_size].to(compute_dtype)
            t = targets[start : start + chunk_size]
            logits = (h @ w.T).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            grad = torch.softmax(logits, dim=-1)  # d loss / d logits = softmax - one_hot
            grad.scatter_add_(1, t[:, None], torch.full_like(t[:, None], -1, dtype=grad.dtype))
            grad = (grad / normaliser).to(compute_dtype)
            grad_hidden[start : start + chunk_size] = (grad @ w).to(hidden.dtype)
            grad_weight += (grad.T @ h).float()
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return total / normaliser

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None, None, None


def completion_loss(model, batch: PackedBatch, *, chunk_size: int = 4096, fused: bool = True) -> torch.Tensor:
    """Mean cross-entropy over the completion tokens of a packed batch."""
    hidden = model.model(
        input_ids=batch.input_ids,
        position_ids=batch.position_ids,
        cu_seq_lens_q=batch.cu_seqlens,
        cu_seq_lens_k=batch.cu_seqlens,
        max_length_q=batch.max_seqlen,
        max_length_k=batch.max_seqlen,
        use_cache=False,
    ).last_hidden_state[0]
    # positions known on the host: a boolean mask here would stall the GPU on every step
    hidden = hidden.index_select(0, batch.label_positions)
    targets = batch.labels.index_select(0, batch.label_positions)
    weight = model.get_output_embeddings().weight
    normaliser = max(batch.n_label_tokens, 1)
    if fused and torch.is_grad_enabled():
        dtype = torch.bfloat16 if hidden.is_cuda else torch.float32
        return FusedLinearCrossEntropy.apply(hidden, weight, targets, float(normaliser), chunk_size, dtype)
    logits = model.get_output_embeddings()(hidden).float()
    return F.cross_entropy(logits, targets, reduction="sum") / normaliser


# --- training loop -----------------------------------------------------------------------------


@dataclass
class PackedSFTConfig:
    learning_rate: float = 3e-4
    warmup_steps: int = 0
    total_steps: int = 100
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    compile: bool = False
    fused_loss: bool = True
    chunk_size: int = 4096
    bf16: bool = True  # autocast on CUDA; weights stay fp32


class PackedSFT:
    """A minimal full fine-tuning loop over :class:`PackedBatch` steps."""

    def __init__(self, model, config: PackedSFTConfig):
        from transformers import get_linear_schedule_with_warmup

        self.model = model
        self.config = config
        self.device = next(model.parameters()).device
        use_varlen_attention(model)
        model.config.use_cache = False
        model.train()
        decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.learning_rate,
            fused=self.device.type == "cuda",
        )
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, config.warmup_steps, config.total_steps)
        if config.compile:
            for layer in model.model.layers:
                layer.compile(dynamic=True)
        self.autocast = self.device.type == "cuda" and config.bf16

    def step(self, batch: PackedBatch) -> torch.Tensor:
        """One optimiser step; returns the loss as a device tensor (no host sync)."""
        batch = batch.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            loss = completion_loss(self.model, batch, chunk_size=self.config.chunk_size, fused=self.config.fused_loss)
        loss.backward()
        if self.config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


@torch.no_grad()
def eval_loss(model, batches: Sequence[PackedBatch], autocast: bool = True) -> float:
    """Completion-token mean loss over packed evaluation batches (the same measure for any model)."""
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    count = 0
    for batch in batches:
        batch = batch.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast and device.type == "cuda"):
            loss = completion_loss(model, batch, fused=False)
        total += float(loss) * batch.n_label_tokens
        count += batch.n_label_tokens
    model.train()
    return total / max(count, 1)
