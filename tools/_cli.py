"""What every command line under tools/ shares: plain-text help, LOG_LEVEL applied and the stores
wired before each command, one-line errors, and the answer printed as text."""

from __future__ import annotations

from typing import Any, NoReturn

import typer

from llm_engineering.application.rag.answer import unique_sources
from llm_engineering.bootstrap import bootstrap
from llm_engineering.infrastructure.log import logging_callback


def command_line(doc: str | None, before_each: bool = True) -> typer.Typer:
    """A Typer app whose help is plain text (no markup parsing: square brackets, backticks and
    asterisks print as written; boolean flags show no value). With ``before_each`` every command
    first applies ``LOG_LEVEL`` and wires the stores (opened on first use)."""
    app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help=doc)
    if before_each:
        app.callback()(_before_each_command)
    return app


def _before_each_command() -> None:
    logging_callback()
    bootstrap()


def fail(message: object, code: int = 2) -> NoReturn:
    """``error: message`` on stderr, one line, and exit ``code`` (2: the request was wrong)."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def answer_text(answer: str, sources: list[dict[str, Any]], author: str | None = None) -> str:
    """An answer for a person: the text, then one line per source document (title and link)."""
    lines = [answer.strip() or "(no answer)", ""]
    documents = unique_sources(sources)
    heading = "Sources" + (f" (writing by {author})" if author else "")
    lines.append(f"{heading}:" if documents else f"{heading}: none found")
    for number, source in enumerate(documents, 1):
        title = source.get("title") or "(untitled)"
        link = source.get("link")
        lines.append(f"  {number}. {title}" + (f" - {link}" if link and link != title else ""))
    return "\n".join(lines)
