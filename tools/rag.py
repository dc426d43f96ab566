"""Ask the twin from the terminal, or measure retrieval quality on a question set.

``ask`` retrieves context from the embedded collections and answers with the configured LLM;
``evaluate`` prints recall@k, MRR and evidence@k as JSON for a JSON-lines file of questions with
the link of the document that answers each (optional ``evidence`` phrase and ``author``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from llm_engineering.infrastructure.log import logging_callback

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.callback()(logging_callback)  # LOG_LEVEL for every command


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def _ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        _fail(f"--k must be comma-separated integers, not {text!r}")
    if not ks or ks[0] < 1:
        _fail("--k needs positive integers")
    return ks


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question."),
    k: int = typer.Option(0, "--k", min=0, help="Chunks of context (0: RAG_TOP_K)."),
    author: str = typer.Option("", "--author", help="Only this author's writing (a known author's name)."),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1),
    show_prompt: bool = typer.Option(False, "--show-prompt", help="Print the rendered prompt too."),
) -> None:
    """Answer QUESTION with retrieved context; prints JSON (answer, sources, timings)."""
    from llm_engineering.application.rag import TwinRAG, UnknownAuthorError
    from llm_engineering.exceptions import LLMTwinError
    from llm_engineering.infrastructure.llm import LLMError

    rag = TwinRAG()
    try:
        result = rag.answer(question, k=k or None, author=author or None, max_tokens=max_tokens)
    except (UnknownAuthorError, LLMError, LLMTwinError, ValueError) as exc:
        _fail(str(exc))
    output = {
        "answer": result.answer,
        "author": result.prepared.retrieval.query.author_full_name if result.prepared.retrieval else None,
        "sources": result.sources,
        "usage": {"prompt_tokens": result.result.prompt_tokens, "completion_tokens": result.result.completion_tokens},
        "latency_ms": result.timings_ms,
    }
    if show_prompt:
        output["prompt"] = rag.llm.render_prompt(result.prepared.messages)
    typer.echo(json.dumps(output, ensure_ascii=False, indent=2))


@app.command()
def evaluate(
    qa: Path = typer.Option(..., "--qa", help="JSON lines: question, link, [evidence], [author]."),
    k: str = typer.Option("1,3,5,10", "--k", help="Cut-offs, comma-separated."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, dense or lexical."),
) -> None:
    """Retrieval quality on QA: recall@k over distinct documents, MRR, evidence@k (JSON)."""
    from llm_engineering.application.rag import ContextRetriever, RetrievalConfig, evaluate, load_qa
    from llm_engineering.application.rag.evaluation import QAFileError
    from llm_engineering.exceptions import LLMTwinError

    ks = _ks(k)
    try:
        rows = load_qa(qa)
        retriever = ContextRetriever(RetrievalConfig.from_settings(mode=mode))
        report = evaluate(rows, ks, retriever)
    except (QAFileError, LLMTwinError, ValueError) as exc:
        _fail(str(exc))
    report["mode"] = mode
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    app()
