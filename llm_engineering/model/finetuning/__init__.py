"""Fine-tuning: SFT then DPO with TRL and PEFT (LoRA by default, full fine-tuning as an option)."""
