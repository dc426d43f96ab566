"""Benchmark: what cleaning keeps of real text, per kind of source.

``python -m tools.bench cleaning [--warehouse-dump DIR] [--text FILE_OR_DIR ...] [--html DIR ...]
[--cleaning-module FILE]``

Sources: the articles of a warehouse dump (crawled web pages: their links are http(s)), text
and Markdown files (cleaned as local notes, ``file://`` links) and saved HTML pages (extracted
as a crawler does, then cleaned as web pages). For each kind it prints JSON: documents, letters
and digits in the sources, the share cleaning kept (all together and the lowest document),
documents below ``CLEANING_MIN_KEPT_SHARE``, lines before and after, and cleaning time.

``--cleaning-module FILE`` cleans with another version of ``cleaning.py`` (for instance
``git show REV:llm_engineering/application/preprocessing/cleaning.py > old.py``) so the same
sources can be measured before and after a change; the measure itself is always the current one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

from tools.bench import HANDBOOK_DUMP

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


def _files(paths: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"{path} not found")
    return found


def _documents(args: argparse.Namespace) -> dict[str, list]:
    import uuid

    from llm_engineering.application.crawlers.extract import article_content
    from llm_engineering.domain.documents import ArticleDocument

    author = {"author_id": uuid.uuid4(), "author_full_name": "Benchmark Author"}
    sources: dict[str, list] = {}
    if args.warehouse_dump:
        path = args.warehouse_dump / "ArticleDocument.json"
        if not path.is_file():
            raise SystemExit(f"{path} not found; pass --warehouse-dump DIR (a folder of <ClassName>.json)")
        rows = json.loads(path.read_text(encoding="utf-8"))
        sources["web pages (warehouse dump)"] = [
            ArticleDocument(content=row["content"], platform=row.get("platform") or "blog", link=row["link"], **author)
            for row in rows
        ]
    for path in _files(args.text, TEXT_SUFFIXES):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        kind = "markdown" if path.suffix.lower() in (".md", ".markdown") else "text"
        sources.setdefault(f"{kind} files", []).append(
            ArticleDocument(
                content={"Title": path.stem, "Content": text}, platform="local", link=path.resolve().as_uri(), **author
            )
        )
    for path in _files(args.html, (".html", ".htm")):
        link = f"https://pages.example/{path.name}"
        content, _ = article_content(path.read_text(encoding="utf-8", errors="replace"), link)
        sources.setdefault("web pages (saved HTML, extracted)", []).append(
            ArticleDocument(content=content, platform="blog", link=link, **author)
        )
    return sources


def _clean_function(module_file: Path | None):
    if module_file is None:
        from llm_engineering.application.preprocessing.cleaning import clean_document

        return clean_document
    spec = importlib.util.spec_from_file_location("cleaning_under_test", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.clean_document


def measure(documents: list, clean_document, min_share: float) -> dict:
    from llm_engineering.application.preprocessing.cleaning import cleaning_handler, letters_and_digits_kept

    total = kept = 0.0
    shares: list[float] = []
    lines_in = lines_out = 0
    started = time.perf_counter()
    cleaned = [clean_document(d) for d in documents]
    seconds = time.perf_counter() - started
    for document, result in zip(documents, cleaned, strict=True):
        source = cleaning_handler(document.category).source_text(document.content)
        share = letters_and_digits_kept(source, result.content)
        letters = sum(1 for c in source if c.isalnum())
        lines_in += sum(1 for line in source.splitlines() if line.strip())
        lines_out += sum(1 for line in result.content.splitlines() if line.strip())
        if share is None:
            continue
        shares.append(share)
        total += letters
        kept += share * letters
    return {
        "documents": len(documents),
        "letters_and_digits": int(total),
        "kept_share": round(kept / total, 5) if total else None,
        "lowest_document_share": round(min(shares), 5) if shares else None,
        "documents_below_min_share": sum(1 for s in shares if s < min_share),
        "nonblank_lines_in": lines_in,
        "nonblank_lines_out": lines_out,
        "clean_s": round(seconds, 3),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench cleaning", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--warehouse-dump", type=Path, default=HANDBOOK_DUMP, help="folder of <ClassName>.json (its articles)"
    )
    parser.add_argument("--no-warehouse", action="store_true", help="leave the warehouse dump out")
    parser.add_argument("--text", type=Path, nargs="*", default=[], help="text/Markdown files or folders")
    parser.add_argument("--html", type=Path, nargs="*", default=[], help="saved HTML pages or folders of them")
    parser.add_argument("--cleaning-module", type=Path, help="clean with this cleaning.py instead (e.g. an older one)")
    parser.add_argument("--min-share", type=float, default=None, help="default: CLEANING_MIN_KEPT_SHARE")
    args = parser.parse_args(argv)
    if args.no_warehouse:
        args.warehouse_dump = None
    from llm_engineering.settings import get_settings

    min_share = args.min_share if args.min_share is not None else get_settings().CLEANING_MIN_KEPT_SHARE
    clean_document = _clean_function(args.cleaning_module)
    report = {
        "cleaning": str(args.cleaning_module or "current"),
        "min_share": min_share,
        "sources": {kind: measure(docs, clean_document, min_share) for kind, docs in _documents(args).items()},
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
