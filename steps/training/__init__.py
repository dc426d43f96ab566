from steps.training.register_model import register_model, reuse_model_version
from steps.training.train_dpo import train_dpo
from steps.training.train_sft import train_sft

__all__ = ["register_model", "reuse_model_version", "train_dpo", "train_sft"]
