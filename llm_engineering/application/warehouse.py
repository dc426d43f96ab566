"""Export the warehouse to JSON files and import them back, in the book's format.

The format is one ``<ClassName>.json`` per document class (``UserDocument.json``,
``ArticleDocument.json``, …), each a list of objects with an ``_id``. Import validates every file
before it writes anything, and upserts on each class's natural key, so importing twice leaves
the same counts and a bad file leaves the warehouse unchanged. Every document must name an author
that is stored or imported with it (an imported author already stored under another id is matched
by name, and their documents follow). The embedded warehouse writes all collections in one
transaction, so an import killed half-way leaves nothing; a document whose ``_id`` is stored under
another link is refused, never allowed to replace it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger
from pydantic import ValidationError

# Import the document module so its classes are registered before we list them.
import llm_engineering.domain.documents  # noqa: F401,E402
from llm_engineering.domain.base.nosql import DOCUMENT_CLASSES, NoSQLBaseDocument
from llm_engineering.domain.documents import UserDocument
from llm_engineering.exceptions import DuplicateKeyError, ImportFileError
from llm_engineering.files import write_json_atomic


@dataclass
class ImportReport:
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    skipped_files: list[str] = field(default_factory=list)


def export_warehouse(folder: str | Path) -> dict[str, int]:
    """Write every collection to ``folder/<ClassName>.json``; returns counts per class."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, cls in sorted(DOCUMENT_CLASSES.items()):
        docs = [d.to_mongo() for d in cls.bulk_find()]
        write_json_atomic(folder / f"{name}.json", docs, indent=1)
        counts[name] = len(docs)
        logger.info("exported {} {} to {}", len(docs), name, folder / f"{name}.json")
    return counts


def _load_file(path: Path, cls: type[NoSQLBaseDocument]) -> list[NoSQLBaseDocument]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 text ({exc.reason}); nothing was imported") from None
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); nothing was imported"
        ) from None
    if not isinstance(raw, list):
        raise ImportFileError(f"{path} must hold a JSON list of documents; nothing was imported")
    docs = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ImportFileError(f"{path} item {i} is not an object; nothing was imported")
        try:
            docs.append(cls.from_mongo(item))
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "document"
            raise ImportFileError(f"{path} item {i}: {where}: {first['msg']}; nothing was imported") from None
    for key in ("id", *cls.unique_keys):
        seen: dict[str, int] = {}
        for i, doc in enumerate(docs):
            value = getattr(doc, key, None)
            if value is None:
                continue
            if str(value) in seen:
                raise ImportFileError(
                    f"{path}: items {seen[str(value)]} and {i} share {key}={value}; nothing was imported"
                )
            seen[str(value)] = i
    return docs


def _check_authors(folder: Path, loaded: list[tuple[type[NoSQLBaseDocument], list[NoSQLBaseDocument]]]) -> None:
    """Every ``author_id`` must name a user stored or imported; an imported user stored under
    another id (same name) is that stored user, and documents pointing at it are re-pointed."""
    imported = next((docs for cls, docs in loaded if cls is UserDocument), [])
    same_person: dict[str, uuid.UUID] = {}
    for user in imported:
        stored = UserDocument.find(name_key=user.name_key)
        if stored is not None and stored.id != user.id:
            same_person[str(user.id)] = stored.id
    known = {str(u.id) for u in imported} | {str(u.id) for u in UserDocument.bulk_find()}
    for cls, docs in loaded:
        if cls is UserDocument or "author_id" not in cls.model_fields:
            continue
        for i, doc in enumerate(docs):
            author = doc.author_id
            if author is None or author == "":
                continue
            if str(author) not in known:
                raise ImportFileError(
                    f"{folder / (cls.__name__ + '.json')} item {i}: author_id {author} names no user "
                    "(neither stored nor in UserDocument.json); nothing was imported"
                )
            if str(author) in same_person:
                stored_id = same_person[str(author)]
                doc.author_id = stored_id if isinstance(author, uuid.UUID) else str(stored_id)


def import_warehouse(folder: str | Path) -> ImportReport:
    """Import every ``<ClassName>.json`` found in ``folder``. All files are validated first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportFileError(f"import folder {folder} does not exist; nothing was imported")
    files = sorted(folder.glob("*.json"))
    known = {f"{name}.json": cls for name, cls in DOCUMENT_CLASSES.items()}
    report = ImportReport()
    loaded: list[tuple[type[NoSQLBaseDocument], list[NoSQLBaseDocument]]] = []
    for path in files:
        cls = known.get(path.name)
        if cls is None:
            report.skipped_files.append(path.name)
            continue
        loaded.append((cls, _load_file(path, cls)))
    if not loaded:
        raise ImportFileError(
            f"no warehouse files in {folder} (expected some of: {', '.join(sorted(known))}); nothing was imported"
        )
    # Users first, so documents never point at an author that is not stored.
    loaded.sort(key=lambda item: item[0] is not UserDocument)
    _check_authors(folder, loaded)
    store = None
    for cls, _ in loaded:
        store = cls._store()  # collections and indexes exist before the transaction
    try:
        with store.transaction():
            for cls, docs in loaded:
                inserted, updated = cls.bulk_upsert(docs) if docs else (0, 0)
                report.inserted[cls.__name__], report.updated[cls.__name__] = inserted, updated
    except DuplicateKeyError as exc:
        raise ImportFileError(f"{exc} (import refused; the warehouse is unchanged)") from None
    for cls, _ in loaded:
        logger.info(
            "imported {}: {} new, {} updated", cls.__name__, report.inserted[cls.__name__], report.updated[cls.__name__]
        )
    if report.skipped_files:
        logger.info("ignored files that are not warehouse collections: {}", ", ".join(report.skipped_files))
    return report
