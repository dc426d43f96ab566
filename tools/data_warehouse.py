"""Export the document warehouse to JSON files, or import such files back.

The format is the book's: one file per document class, named after it (UserDocument.json,
ArticleDocument.json, PostDocument.json, RepositoryDocument.json), each a list of objects with an
_id. Import is idempotent and validates every file before writing anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from llm_engineering.application.warehouse import export_warehouse, import_warehouse
from llm_engineering.domain.base.nosql import DOCUMENT_CLASSES
from llm_engineering.exceptions import LLMTwinError
from tools._cli import command_line, fail

app = command_line(__doc__)
DEFAULT_DIR = Path("data/warehouse_export")


@app.command("export")
def export_cmd(
    directory: Path = typer.Option(
        DEFAULT_DIR, "--dir", "-d", metavar="DIR", help="Folder to write the ClassName.json files into."
    ),
) -> None:
    """Write every warehouse collection to DIR/ClassName.json."""
    try:
        counts = export_warehouse(directory)
    except (LLMTwinError, OSError) as exc:
        fail(exc)
    typer.echo(json.dumps({"exported": counts, "dir": str(directory)}))


@app.command("import")
def import_cmd(
    directory: Path = typer.Option(
        DEFAULT_DIR, "--dir", "-d", metavar="DIR", help="Folder holding the ClassName.json files."
    ),
) -> None:
    """Import DIR/ClassName.json files; importing twice changes nothing."""
    try:
        report = import_warehouse(directory)
    except (LLMTwinError, OSError) as exc:
        fail(exc)
    totals = {name: cls.count() for name, cls in sorted(DOCUMENT_CLASSES.items())}
    typer.echo(
        json.dumps(
            {
                "inserted": report.inserted,
                "updated": report.updated,
                "ignored_files": report.skipped_files,
                "warehouse_counts": totals,
            }
        )
    )


if __name__ == "__main__":
    app()
