"""Prompt monitoring and metrics: a trace per request in the warehouse (and Opik if configured),
Prometheus counters and histograms per app."""

from __future__ import annotations

from loguru import logger

from llm_engineering.domain.queries import PromptTrace


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llm_twin_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "llm_twin_request_latency_seconds",
            "End-to-end request latency",
            ["endpoint"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.stage = Histogram(
            "llm_twin_stage_latency_seconds",
            "Latency of retrieval and generation stages",
            ["stage"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.completion_tokens = Counter("llm_twin_generated_tokens", "Tokens generated", registry=self.registry)
        self.prompt_tokens = Counter("llm_twin_prompt_tokens", "Prompt tokens processed", registry=self.registry)
        self.queue_depth = Gauge("llm_twin_queue_depth", "Generations running or waiting", registry=self.registry)
        self.rejected = Counter(
            "llm_twin_rejected", "Requests refused because the queue was full", registry=self.registry
        )

    def observe_trace(self, trace: PromptTrace) -> None:
        self.completion_tokens.inc(trace.completion_tokens)
        self.prompt_tokens.inc(trace.prompt_tokens)
        for stage, ms in trace.latency_ms.items():
            self.stage.labels(stage).observe(ms / 1000)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class TraceRecorder:
    """Stores traces in the warehouse (``prompt_traces``) and forwards them to Opik when configured."""

    def __init__(
        self, enabled: bool = True, opik_api_key=None, opik_workspace: str = "", opik_project: str = ""
    ) -> None:
        self.enabled = enabled
        self._opik = None
        if opik_api_key is not None:
            try:
                import opik
            except ImportError:
                logger.warning("OPIK_API_KEY is set but the opik package is not installed; traces stay local")
            else:
                self._opik = opik.Opik(
                    api_key=opik_api_key.get_secret_value(),
                    workspace=opik_workspace or None,
                    project_name=opik_project or None,
                )

    def record(self, trace: PromptTrace) -> str | None:
        if not self.enabled:
            return None
        try:
            trace.save()
        except Exception as exc:  # monitoring must never fail the answer it monitors
            logger.error(f"could not store the trace of a {trace.endpoint} request: {type(exc).__name__}: {exc}")
            return None
        if self._opik is not None:
            try:
                self._opik.trace(
                    name=trace.endpoint,
                    input={"query": trace.query, "prompt": trace.prompt},
                    output={"answer": trace.answer},
                    metadata={
                        "author": trace.detected_author,
                        "chunks": trace.chunks,
                        "latency_ms": trace.latency_ms,
                        "usage": {"prompt_tokens": trace.prompt_tokens, "completion_tokens": trace.completion_tokens},
                    },
                )
            except Exception as exc:  # a remote monitoring outage is logged, not raised
                logger.warning(f"Opik trace failed: {type(exc).__name__}")
        return str(trace.id)

    @staticmethod
    def recent(limit: int = 20) -> list[PromptTrace]:
        """The ``limit`` traces stored last, newest first (only those are read from the store)."""
        return PromptTrace.bulk_find(limit=limit, newest_first=True)
