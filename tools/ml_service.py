"""Run the inference service, or send it a question.

serve: starts the FastAPI app with uvicorn (the chat page on /, an OpenAI-compatible API on /v1).

call: posts a question to a running service's /rag endpoint and prints the answer and its sources
(JSON with --json).

Qdrant's local mode lets one process open its folder at a time: stop the service before running a
pipeline that writes vectors, or use a Qdrant server (QDRANT_URL).
"""

from __future__ import annotations

import json

import httpx
import typer

from llm_engineering.exceptions import LLMTwinError
from llm_engineering.settings import get_settings
from tools._cli import answer_text, command_line, fail

app = command_line(__doc__)


@app.command()
def serve(
    host: str = typer.Option("", "--host", metavar="HOST", help="Interface (default SERVICE_HOST)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, metavar="PORT", help="Port (default SERVICE_PORT)."),
    warmup: bool = typer.Option(True, "--warmup/--no-warmup", help="Load the models before taking requests."),
) -> None:
    """Serve the twin with uvicorn."""
    import uvicorn

    from llm_engineering.entrypoints.api.app import create_app

    try:
        settings = get_settings()
        if settings.TORCH_NUM_THREADS:
            import torch

            torch.set_num_threads(settings.TORCH_NUM_THREADS)
        application = create_app(settings, warmup=warmup)
    except LLMTwinError as exc:
        fail(exc)
    uvicorn.run(
        application,
        host=host or settings.SERVICE_HOST,
        port=port or settings.SERVICE_PORT,
        log_level="info",
        timeout_graceful_shutdown=5,
    )


@app.command()
def call(
    question: str = typer.Argument(..., metavar="QUESTION", help="The question."),
    url: str = typer.Option(
        "", "--url", metavar="URL", help="Service URL (default SERVICE_URL or http://SERVICE_HOST:SERVICE_PORT)."
    ),
    k: int = typer.Option(0, "--k", min=0, metavar="N", help="Chunks of context (0: the service's default)."),
    author: str = typer.Option("", "--author", metavar="NAME", help="Only this author's writing."),
    max_tokens: int = typer.Option(0, "--max-tokens", min=0, metavar="N", help="Longest answer (0: the service's)."),
    timeout: float = typer.Option(300.0, "--timeout", metavar="SECONDS", help="Seconds to wait for the answer."),
    as_json: bool = typer.Option(False, "--json", help="Print the service's JSON reply as it came."),
) -> None:
    """Ask a running service (POST /rag); prints the answer and its sources."""
    settings = get_settings()
    base = (url or settings.SERVICE_URL or f"http://{settings.SERVICE_HOST}:{settings.SERVICE_PORT}").rstrip("/")
    payload: dict = {"query": question}
    if k:
        payload["k"] = k
    if author:
        payload["author"] = author
    if max_tokens:
        payload["max_tokens"] = max_tokens
    headers = {"Authorization": f"Bearer {settings.API_KEY.get_secret_value()}"} if settings.API_KEY else {}
    try:
        response = httpx.post(f"{base}/rag", json=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        fail(
            f"cannot reach the service at {base} ({type(exc).__name__}); start it with "
            "'python -m tools.ml_service serve'"
        )
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:500]}}
    if response.status_code >= 400:
        typer.secho(f"error {response.status_code}: {body.get('error', {}).get('message', body)}", fg="red", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(answer_text(body.get("answer", ""), body.get("sources") or [], body.get("author")))


if __name__ == "__main__":
    app()
