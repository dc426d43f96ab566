"""LLM Twin: build an AI twin of an author's writing.

Importing this package (or any module in it) has no side effects: no connection is opened,
no model is loaded and no network is reached until a factory such as
``get_document_store()`` or ``get_settings()`` is called.
"""

__version__ = "0.1.0"
