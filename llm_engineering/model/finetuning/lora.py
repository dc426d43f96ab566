"""LoRA settings, and merging an adapter into its base model for serving."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LoraSettings:
    """``enabled=False`` means full fine-tuning. Book defaults: r=32, alpha=32, dropout 0, all linear layers."""

    enabled: bool = True
    r: int = 32
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] | str = field(default_factory=lambda: "all-linear")
    load_in_4bit: bool = False  # QLoRA; only with CUDA and the optional bitsandbytes package

    def __post_init__(self):
        if self.r < 1 or self.alpha < 1:
            raise ValueError("LoRA r and alpha must be positive")
        if not 0 <= self.dropout < 1:
            raise ValueError("LoRA dropout must be in [0, 1)")

    def peft_config(self, layers: list[int] | None = None):
        """PEFT's config (None when LoRA is off); ``layers``: adapt only these decoder blocks (their
        ``*proj`` linear layers for ``all-linear``, as in Llama-style models)."""
        if not self.enabled:
            return None
        from peft import LoraConfig

        targets = self.target_modules
        if layers is not None:
            names = (
                r"\w*proj" if targets == "all-linear" else "|".join([targets] if isinstance(targets, str) else targets)
            )
            targets = rf".*\.layers\.(?:{'|'.join(map(str, layers))})\.\w+\.(?:{names})"
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=targets,
            bias="none",
            task_type="CAUSAL_LM",
        )


def merge_adapter(base_dir: Path, adapter_dir: Path, out_dir: Path, *, dtype, tokenizer) -> Path:
    """Load the base model unquantised, fold the adapter into it, save safetensors + tokenizer.

    Reloading from disk (rather than merging the in-memory model) also works after QLoRA, where the
    trained base is 4-bit.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.config.use_cache = True
    merged.generation_config.pad_token_id = tokenizer.pad_token_id
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
