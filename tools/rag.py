"""Ask the twin from the terminal, or measure retrieval quality on a question set.

ask: retrieves context from the embedded collections and answers with the configured LLM; prints
the answer and its sources (JSON with --json).

evaluate: prints recall@k, MRR and evidence@k as JSON for a JSON-lines file of questions, each with
the link of the document that answers it (and optionally an evidence phrase and an author).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from llm_engineering.application.rag import (
    ContextRetriever,
    RetrievalConfig,
    TwinRAG,
    UnknownAuthorError,
    load_qa,
    measure_retrieval,
)
from llm_engineering.application.rag.evaluation import QAFileError
from llm_engineering.exceptions import LLMTwinError
from llm_engineering.infrastructure.llm import LLMError
from tools._cli import answer_text, command_line, fail

app = command_line(__doc__)


def _ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        fail(f"--k must be comma-separated integers, not {text!r}")
    if not ks or ks[0] < 1:
        fail("--k needs positive integers")
    return ks


@app.command()
def ask(
    question: str = typer.Argument(..., metavar="QUESTION", help="The question."),
    k: int = typer.Option(0, "--k", min=0, metavar="N", help="Chunks of context (0: RAG_TOP_K)."),
    author: str = typer.Option("", "--author", metavar="NAME", help="Only this author's writing (a known author)."),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, metavar="N", help="Longest answer, in tokens."),
    show_prompt: bool = typer.Option(False, "--show-prompt", help="Print the rendered prompt too."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (answer, author, sources, usage, timings)."),
) -> None:
    """Answer QUESTION from the author's writing, with its sources.

    Prints the answer, then one line per source document; --json prints everything as JSON.
    """
    rag = TwinRAG()
    try:
        result = rag.answer(question, k=k or None, author=author or None, max_tokens=max_tokens)
    except (UnknownAuthorError, LLMError, LLMTwinError, ValueError) as exc:
        fail(exc)
    output = {
        "answer": result.answer,
        "author": result.prepared.retrieval.query.author_full_name if result.prepared.retrieval else None,
        "sources": result.sources,
        "usage": {"prompt_tokens": result.result.prompt_tokens, "completion_tokens": result.result.completion_tokens},
        "latency_ms": result.timings_ms,
    }
    if show_prompt:
        output["prompt"] = rag.llm.render_prompt(result.prepared.messages)
    if as_json:
        typer.echo(json.dumps(output, ensure_ascii=False, indent=2))
        return
    if show_prompt:
        typer.echo(f"--- prompt ---\n{output['prompt']}\n--- answer ---")
    typer.echo(answer_text(output["answer"], output["sources"], output["author"]))


@app.command()
def evaluate(
    qa: Path = typer.Option(
        ...,
        "--qa",
        metavar="FILE",
        help="JSON lines, one question per line: question, link, and optionally evidence and author.",
    ),
    k: str = typer.Option("1,3,5,10", "--k", metavar="K,K,...", help="Cut-offs, comma-separated."),
    mode: str = typer.Option("hybrid", "--mode", metavar="MODE", help="hybrid, dense or lexical."),
) -> None:
    """Retrieval quality on a question set, as JSON.

    Recall@k over distinct documents, MRR, and evidence@k (the evidence phrase within the top k).
    """
    ks = _ks(k)
    try:
        rows = load_qa(qa)
        retriever = ContextRetriever(RetrievalConfig.from_settings(mode=mode))
        report = measure_retrieval(rows, ks, retriever)
    except (QAFileError, LLMTwinError, ValueError) as exc:
        fail(exc)
    report["mode"] = mode
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    app()
