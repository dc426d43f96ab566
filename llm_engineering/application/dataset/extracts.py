"""Cut cleaned documents into extracts of about ``min_chars``-``max_chars`` characters.

Paragraphs (blank-line separated) are packed together until the next one would pass
``max_chars``. A paragraph longer than ``max_chars`` is cut between sentences; the sentence end
pattern covers Western and CJK full stops (". ! ? … 。 ！ ？") and Korean text, which ends
sentences with the same Western marks. A sentence longer than ``max_chars`` is cut at the last
space before the limit (at the limit when there is none, e.g. unspaced CJK). A short tail is
merged into the previous extract when the two fit within ``max_chars``; a document shorter than
``min_chars`` gives one extract (later length filters decide whether it is long enough).
Markdown headings (``# ...``, outside code fences) are not emitted as text of their own: the latest heading seen is
recorded on each extract as its ``heading`` and used by the instruction template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field, model_validator

from llm_engineering.application.text import split_sentences
from llm_engineering.domain.dataset import Extract
from llm_engineering.domain.identity import id_from

_PARAGRAPH = re.compile(r"\n\s*\n")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


class ExtractConfig(BaseModel):
    min_chars: int = Field(1000, ge=1)
    max_chars: int = Field(2000, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ExtractConfig:
        if self.min_chars > self.max_chars:
            raise ValueError(f"extracts.min_chars ({self.min_chars}) must not exceed max_chars ({self.max_chars})")
        return self


def _hard_cut(text: str, limit: int) -> list[str]:
    pieces = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit + 1)
        if cut <= limit // 2:
            cut = limit
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        pieces.append(text)
    return pieces


def _units(paragraph: str, limit: int) -> list[str]:
    """A paragraph as pieces no longer than ``limit``: itself, its sentences, or hard cuts."""
    if len(paragraph) <= limit:
        return [paragraph]
    units: list[str] = []
    for sentence in split_sentences(paragraph, line_breaks=False):
        units.extend([sentence] if len(sentence) <= limit else _hard_cut(sentence, limit))
    return units


def split_text(text: str, min_chars: int = 1000, max_chars: int = 2000) -> list[tuple[str, str]]:
    """Pieces of ``text`` as ``(heading, extract)`` pairs in reading order."""
    chunks: list[tuple[str, str]] = []
    current: list[str] = []
    size = 0
    heading = ""
    current_heading = ""

    def flush() -> None:
        nonlocal current, size
        if current:
            chunks.append((current_heading, "".join(current)))
        current, size = [], 0

    in_code = False  # inside a ``` fence, "# ..." is a code comment, not a heading
    for block in _PARAGRAPH.split(text.replace("\r\n", "\n")):
        block = block.strip()
        if not block:
            continue
        lines = block.split("\n")
        match = None if in_code else _HEADING.match(lines[0])
        in_code ^= sum(1 for line in lines if line.lstrip().startswith(("```", "~~~"))) % 2 == 1
        if match:
            heading = match.group(1).strip()
            block = "\n".join(lines[1:]).strip()
            if size >= min_chars:
                flush()  # start a new extract at a section boundary once the current one is long enough
            if not block:
                continue
        for position, unit in enumerate(_units(block, max_chars)):
            if not current:
                current_heading = heading
            separator = "\n\n" if position == 0 else " "  # sentences of one paragraph stay one paragraph
            joined = size + len(unit) + (len(separator) if current else 0)
            if current and joined > max_chars:
                flush()
                current_heading = heading
                joined = len(unit)
            current.append(unit if not current else separator + unit)
            size = joined
            if size >= max_chars:
                flush()
    flush()
    if len(chunks) >= 2 and len(chunks[-1][1]) < min_chars:
        last_heading, last = chunks.pop()
        prev_heading, prev = chunks[-1]
        if len(prev) + 2 + len(last) <= max_chars:
            chunks[-1] = (prev_heading, f"{prev}\n\n{last}")
        else:
            chunks.append((last_heading, last))
    return chunks


def _field(doc: Any, name: str, default: Any = "") -> Any:
    value = doc.get(name, default) if isinstance(doc, dict) else getattr(doc, name, default)
    return default if value is None else value


def document_extracts(doc: Any, config: ExtractConfig | None = None) -> list[Extract]:
    """Extracts of one cleaned document (any object or dict with ``content`` and metadata)."""
    config = config or ExtractConfig()
    content = _field(doc, "content")
    if not isinstance(content, str):
        raise TypeError(f"a cleaned document's content must be text, got {type(content).__name__}")
    document_id = str(_field(doc, "document_id") or _field(doc, "id"))
    category = str(_field(doc, "category"))
    out = []
    for index, (heading, text) in enumerate(split_text(content, config.min_chars, config.max_chars)):
        out.append(
            Extract(
                id=str(id_from("extract", document_id, str(index), text)),
                document_id=document_id,
                index=index,
                text=text,
                title=str(_field(doc, "title")),
                heading=heading,
                category=category,
                author_id=str(_field(doc, "author_id")),
                author_full_name=str(_field(doc, "author_full_name")),
                link=_field(doc, "link", None),
            )
        )
    return out


def make_extracts(documents: Iterable[Any], config: ExtractConfig | None = None) -> list[Extract]:
    """Extracts of every document, in a stable order (category, author, document id, position)."""
    extracts = [e for doc in documents for e in document_extracts(doc, config)]
    return sorted(extracts, key=lambda e: (e.category, e.author_full_name, e.document_id, e.index))
