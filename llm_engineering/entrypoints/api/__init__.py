"""The inference service (``app.create_app``), started by ``python -m tools.ml_service serve``.

Endpoints: ``POST /rag``, ``POST /v1/chat/completions`` (OpenAI shape, SSE with ``stream``),
``GET /v1/models``, ``GET /v1/traces``, ``GET /health``, ``GET /metrics`` and the chat page on
``GET /``. One LLM instance serves every request; generation runs in worker threads behind a
bounded queue (503 when full), never on the event loop. Errors are JSON in OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``) and never carry a stack trace.

What a request may cost is bounded before any work: header size (431) and the API key (401) are
checked before the body is read, the body size (413) while it is read, the prompt after the chat
template against the model's context (400). A client that leaves stops its generation within a
token step, and its queue slot is given back only once that work has stopped (traced "cancelled").
Sources are listed once per document and name local files by their name, never by a path on the
server's disk. The model is named by its registry version (``model_card``); ``/health`` also gives
the limits a client must keep to (the chat page reads them).

Modules: ``app`` builds the service; ``routes`` holds the endpoints by group; ``dependencies`` the
state every request shares; ``generation_queue`` the bounded queue; ``generation`` what /rag and
chat completions share; ``streaming`` the event stream; ``tracing`` the trace of each request;
``middleware`` the checks made before a route runs; ``errors`` the error shape and its handlers.
"""
