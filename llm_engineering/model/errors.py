"""Errors of finding and loading models, below every module that raises them (loading, ONNX copies, training)."""

from llm_engineering.exceptions import LLMTwinError


class ModelNotFoundError(LLMTwinError, FileNotFoundError):
    """A model id that names neither a local folder, a registry version nor a cached hub model."""


class ModelTooLargeError(LLMTwinError, MemoryError):
    """The model (or a training batch) does not fit in the device's memory."""
