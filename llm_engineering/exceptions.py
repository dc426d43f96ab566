"""Errors the project raises on purpose, each with a message that says what to fix."""


class LLMTwinError(Exception):
    """Base class of every error raised on purpose by LLM Twin."""


class ConfigurationError(LLMTwinError):
    """A setting or configuration file is invalid; the message names it."""


class StoreUnavailableError(LLMTwinError):
    """A document or vector store cannot be reached or opened."""


class DuplicateKeyError(LLMTwinError):
    """A write would break a unique key; nothing of the batch was written."""


class ImportFileError(LLMTwinError):
    """A warehouse import file is missing, unreadable or malformed; nothing was imported."""
