"""Writes that never leave a half-written file or folder behind.

Everything the project publishes on disk (warehouse exports, datasets, converted models, registry
versions, JSON artifacts) is first written beside its target under a hidden temporary name and then
renamed over it with ``os.replace``, which is atomic on one filesystem: a reader sees the old
version or the new one, never a mix, and a crash leaves only a hidden temporary that is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


@contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """Open ``path`` for writing UTF-8 text; the file appears only when the block ends cleanly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_text(path) as stream:
        stream.write(text)


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 2, default=None) -> None:
    """JSON as UTF-8 (non-ASCII kept readable), ending with a newline."""
    with atomic_text(path) as stream:
        json.dump(data, stream, ensure_ascii=False, indent=indent, default=default)
        stream.write("\n")


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``target``; when the block ends cleanly it replaces ``target``.

    On an error the staging folder is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
