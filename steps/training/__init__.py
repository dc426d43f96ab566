from steps.training.register_model import register_model
from steps.training.train_dpo import train_dpo
from steps.training.train_sft import train_sft

__all__ = ["register_model", "train_dpo", "train_sft"]
