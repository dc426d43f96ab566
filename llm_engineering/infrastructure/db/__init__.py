"""Document warehouse and vector store adapters."""
