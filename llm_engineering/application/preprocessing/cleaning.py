"""Cleaning: warehouse documents → cleaned documents (normalised text, no site chrome).

Prose (articles, posts) and code (repositories) are cleaned differently: prose gets its
whitespace normalised and leftover page navigation removed; code keeps every character of its
lines. Nothing here assumes ASCII: Hangul, CJK, accents and emoji pass through unchanged.

Unicode is normalised to NFC, not NFKC: NFKC rewrites Hangul compatibility jamo (ㅋㅋ) into
conjoining jamo that no longer display on their own. Only two families are folded to plain
characters because they are pure styling: mathematical alphanumerics (𝟭, 𝐁𝐨𝐥𝐝 — a common
social-media trick) and full-width ASCII.

A category's cleaner is one subclass of ``CleaningHandler`` with ``category`` set; it registers
itself in ``CLEANING_HANDLERS``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar

from llm_engineering.domain.cleaned_documents import CleanedDocument, cleaned_class
from llm_engineering.domain.documents import Document
from llm_engineering.domain.types import DataCategory

#: Bump when cleaning output changes, so stored features are rebuilt.
CLEANING_VERSION = "1"

CLEANING_HANDLERS: dict[DataCategory, CleaningHandler] = {}

# Characters that carry no text: zero-width spaces/joiners at word edges, BOM, soft hyphen.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad]")
# C0/C1 controls except tab and newline.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_STYLED = re.compile("[\U0001d400-\U0001d7ff\uff01-\uff5e]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_RUN = re.compile(r"\n{3,}")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*(?:[*+\-•]|\d{1,3}[.)])\s+")
# A list item that is only an icon-font residue ("__Research", "__") — a site menu entry.
_ICON_ITEM = re.compile(r"^\s*(?:[*+\-•]|\d{1,3}[.)])?\s*__(?:[^_\n]*)$")
_TRAILING_ICON = re.compile(r"\s+__\s*$")
_RULE = re.compile(r"^\s*(?:[*\-_]\s*){3,}$")
_SYMBOLS_ONLY = re.compile(r"^[\s#*_\-|>•·~=]+$")

# Page chrome of blog and newsletter platforms, compared case-folded on whole lines.
# Multi-word phrases are removed wherever they stand alone on a line; single words only where
# they sit next to other chrome (a real sentence rarely is one of these words alone).
_CHROME_PHRASES = frozenset(
    s.casefold()
    for s in (
        "share this post",
        "copy link",
        "discussion about this post",
        "ready for more?",
        "subscribe sign in",
        "subscribesign in",
        "previousnext",
        "start writingget the app",
        "substack is the home for great culture",
        "this site requires javascript to run correctly. please turn on javascript or unblock scripts",
        "open in app",
        "sign up sign in",
        "no posts",
        "see all from",
        "privacy ∙ terms ∙ collection notice",
    )
)
_CHROME_WORDS = frozenset(
    s.casefold()
    for s in (
        "share", "facebook", "email", "note", "other", "subscribe", "sign in", "comments",
        "restacks", "top", "latest", "discussions", "listen", "follow", "twitter", "linkedin",
        "reddit", "threads", "print", "like", "reply",
    )
)  # fmt: skip
# Everything after one of these lines (in the last part of a page) is footer: comments,
# recommendations, sign-up boxes.
_FOOTER_STARTS = (
    "discussion about this post",
    "recommended from medium",
    "see more recommendations",
    "this site requires javascript",
    "to make medium work, we log user data",
)
# Chrome glued into running text by some page extractors (no line breaks around it).
_INLINE_CHROME = re.compile(r"Open in app(?:Sign up|Sign in|Write)*|(?<=\d)ListenShare")
_INLINE_FOOTER = re.compile(r"(?:See all from [^\n]{0,80}?)?Recommended from Medium")


def normalise_unicode(text: str) -> str:
    """NFC, styled letters/digits folded, invisible and control characters removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _STYLED.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    text = _INVISIBLE.sub("", text)
    return _CONTROL.sub("", text)


def _line_key(line: str) -> str:
    return _LIST_ITEM.sub("", line).strip().strip("#*_ ").casefold()


def _drop_menus(lines: list[str]) -> list[str]:
    """Remove list blocks that are site menus: runs of list items broken by ``* * *`` rules."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _LIST_ITEM.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and (_LIST_ITEM.match(lines[j]) or not lines[j].strip() or lines[j].startswith("  ")):
            j += 1
        block = lines[i:j]
        if not any(_RULE.match(_LIST_ITEM.sub("", line, count=1)) for line in block if _LIST_ITEM.match(line)):
            out.extend(block)
        i = j
    return out


def _drop_chrome(lines: list[str]) -> list[str]:
    keys = [_line_key(line) for line in lines]
    is_chrome = [k in _CHROME_PHRASES or any(k.startswith(p) for p in ("see all from ",)) for k in keys]
    is_word = [k in _CHROME_WORDS for k in keys]
    out = []
    for i, line in enumerate(lines):
        if is_chrome[i]:
            continue
        if is_word[i]:
            # Look at the nearest non-blank neighbours.
            before = next((k for k in range(i - 1, -1, -1) if keys[k]), None)
            after = next((k for k in range(i + 1, len(lines)) if keys[k]), None)
            near = [k for k in (before, after) if k is not None]
            if any(is_chrome[k] or is_word[k] for k in near):
                continue
        out.append(line)
    return out


def _cut_footer(lines: list[str]) -> list[str]:
    start = int(len(lines) * 0.5)
    for i in range(start, len(lines)):
        key = _line_key(lines[i])
        if any(key.startswith(marker) for marker in _FOOTER_STARTS):
            return lines[:i]
    return lines


def _drop_repeated_short_lines(lines: list[str]) -> list[str]:
    """Keep the first of short non-heading lines that repeat (breadcrumbs, share boxes)."""
    seen: set[str] = set()
    out = []
    for line in lines:
        key = _line_key(line)
        words = len(key.split())
        heading = line.lstrip().startswith("#")
        short = bool(key) and ((words <= 8 and not heading) or (heading and words >= 4))
        if short and key in seen:
            continue
        if short:
            seen.add(key)
        out.append(line)
    return out


def clean_prose(text: str) -> str:
    """Normalised prose: paragraphs separated by one blank line, site chrome removed.

    Fenced code blocks inside prose are kept verbatim (only trailing spaces go).
    """
    text = _INLINE_CHROME.sub(" ", normalise_unicode(text))
    footer = _INLINE_FOOTER.search(text, len(text) // 2)
    if footer:
        text = text[: footer.start()]
    lines = text.split("\n")
    result: list[str] = []
    blocks: list[str] = []  # fenced code, set aside so no prose rule touches it
    in_code = False
    prose: list[str] = []
    code: list[str] = []

    def flush() -> None:
        if not prose:
            return
        for line in _drop_menus([_TRAILING_ICON.sub("", line.rstrip()) for line in prose]):
            if _ICON_ITEM.match(line) or _RULE.match(line) or _SYMBOLS_ONLY.match(line):
                result.append("")
                continue
            indent = len(line) - len(line.lstrip(" "))
            result.append(" " * min(indent, 4) + _SPACES.sub(" ", line.strip()))
        prose.clear()

    for line in lines:
        if _FENCE.match(line):
            if not in_code:
                flush()
            code.append(line.rstrip())
            if in_code:
                blocks.append("\n".join(code))
                result.append(f"\x00{len(blocks) - 1}\x00")
                code.clear()
            in_code = not in_code
        elif in_code:
            code.append(line.rstrip())
        else:
            prose.append(line)
    flush()
    if code:  # an unclosed fence runs to the end
        blocks.append("\n".join(code))
        result.append(f"\x00{len(blocks) - 1}\x00")
    result = _cut_footer(_drop_repeated_short_lines(_drop_chrome(result)))
    cleaned = _BLANK_RUN.sub("\n\n", "\n".join(result)).strip()
    return re.sub("\x00(\\d+)\x00", lambda m: blocks[int(m.group(1))], cleaned)


def clean_code(text: str) -> str:
    """Code kept as written: only line endings, invisible characters and trailing spaces change."""
    text = normalise_unicode(text)
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


def _title_of(content: dict[str, Any], document: Document) -> str:
    for key in ("Title", "title", "name", "Name"):
        if isinstance(content.get(key), str) and content[key].strip():
            return " ".join(normalise_unicode(content[key]).split())
    return str(getattr(document, "name", "") or "")


class CleaningHandler:
    """Turns one warehouse document of its category into a cleaned document (no I/O)."""

    category: ClassVar[DataCategory]
    body_keys: ClassVar[tuple[str, ...]] = ("Content", "content", "text", "Text", "body")
    skip_keys: ClassVar[frozenset[str]] = frozenset(
        {"Title", "title", "Subtitle", "subtitle", "language", "image", "Image"}
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "category" in cls.__dict__:
            CLEANING_HANDLERS[cls.category] = cls()

    def body(self, content: dict[str, Any]) -> str:
        """The document's text: its subtitle (if any) then its body."""
        parts = []
        for key in ("Subtitle", "subtitle"):
            if isinstance(content.get(key), str) and content[key].strip():
                parts.append(content[key])
        bodies = [content[k] for k in self.body_keys if isinstance(content.get(k), str)]
        if not bodies:
            bodies = [v for k, v in content.items() if isinstance(v, str) and k not in self.skip_keys]
        parts.extend(bodies)
        return "\n\n".join(parts)

    def clean_text(self, content: dict[str, Any]) -> str:
        return clean_prose(self.body(content))

    def clean(self, document: Document) -> CleanedDocument:
        cls = cleaned_class(self.category)
        return cls(
            document_id=document.id,
            content=self.clean_text(document.content),
            title=_title_of(document.content, document),
            platform=document.platform,
            author_id=document.author_id,
            author_full_name=document.author_full_name,
            link=document.link,
            published_at=document.published_at,
            content_hash=document.content_hash,
        )


class ArticleCleaningHandler(CleaningHandler):
    category = DataCategory.ARTICLES


class PostCleaningHandler(CleaningHandler):
    category = DataCategory.POSTS


class RepositoryCleaningHandler(CleaningHandler):
    """A repository's ``content`` maps file paths to file text; each file becomes a fenced block
    under a ``## path`` heading, in path order, with its code untouched."""

    category = DataCategory.REPOSITORIES
    skip_keys = frozenset({"Title", "title", "name", "Name", "link"})

    def clean_text(self, content: dict[str, Any]) -> str:
        files = {k: v for k, v in content.items() if isinstance(v, str) and k not in self.skip_keys}
        sections = []
        for path in sorted(files):
            code = clean_code(files[path])
            if not code.strip():
                continue
            fence = "````" if "```" in code else "```"
            sections.append(f"## {normalise_unicode(path)}\n\n{fence}\n{code}\n{fence}")
        return "\n\n".join(sections)


def cleaning_handler(category: DataCategory | str) -> CleaningHandler:
    try:
        return CLEANING_HANDLERS[DataCategory(category)]
    except (KeyError, ValueError):
        raise ValueError(f"no cleaning handler for category {category!r}") from None


def clean_document(document: Document) -> CleanedDocument:
    """The cleaned form of a warehouse document, by its category's handler."""
    return cleaning_handler(document.category).clean(document)
