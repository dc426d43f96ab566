"""The service's endpoints, one module per group: ``page`` (the chat page), ``probes`` (health,
metrics, models, traces), ``rag`` (``POST /rag``) and ``chat`` (OpenAI's chat completions)."""
