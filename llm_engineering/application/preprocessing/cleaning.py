"""Cleaning: warehouse documents → cleaned documents (normalised text; site chrome only where
the document is a crawled web page).

**Nothing the author wrote is deleted.** Markdown, text files, exports, notes, posts and code are
only normalised: Unicode to NFC, line endings, invisible and control characters (NUL, ...),
lone surrogates (each becomes U+FFFD), runs of spaces and blank lines; and hard-wrapped lines are
rejoined (``reflow.py``). A short line, a line that repeats, a number, ``한다.``, a single
letter or a chat-template token inside the author's text is text like any other.

Page chrome is removed only from crawled web pages (a document whose link is ``http(s)://``),
and only where the page's structure shows it: menus (lists broken by rules, icon-font entries),
share and sign-in blocks of blog platforms, and comment/recommendation footers in the second
half of the page. The main extraction at crawl time (trafilatura, ``crawlers/extract.py``)
already drops ``<nav>``, ``<header>``, ``<footer>``, sidebars and cookie banners; these rules
catch what older crawls left in the text.

``letters_and_digits_kept`` measures what share of a source's letters and digits a cleaned text
still holds; the feature pipeline records it per document and warns below
``CLEANING_MIN_KEPT_SHARE``.

Unicode is normalised to NFC, not NFKC: NFKC rewrites Hangul compatibility jamo (ㅋㅋ) into
conjoining jamo that no longer display on their own. Only two families are folded to plain
characters because they are pure styling: mathematical alphanumerics (𝟭, 𝐁𝐨𝐥𝐝 — a common
social-media trick) and full-width ASCII.

A cleaner is one subclass of ``CleaningHandler`` with ``name`` set; it registers itself in
``CLEANING_HANDLERS``, and a category uses the one its declaration names (``Document.cleaning``:
``text`` unless it says otherwise).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Any, ClassVar
from urllib.parse import urlsplit

from loguru import logger

from llm_engineering.application.preprocessing.reflow import reflow_lines
from llm_engineering.domain.cleaned_documents import CleanedDocument, cleaned_class
from llm_engineering.domain.documents import Document, declared_handler

#: Bump when cleaning output changes, so stored features are rebuilt.
CLEANING_VERSION = "3"

CLEANING_HANDLERS: dict[str, CleaningHandler] = {}

# Characters that carry no text: zero-width spaces/joiners at word edges, BOM, soft hyphen.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad]")
# C0/C1 controls except tab and newline (vertical tab, form feed and NEL break lines instead).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")
_STYLED = re.compile("[\U0001d400-\U0001d7ff\uff01-\uff5e]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_RUN = re.compile(r"\n{3,}")
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
    """NFC, styled letters/digits folded, invisible and control characters removed, lone
    surrogates replaced by U+FFFD (a pair of surrogates becomes the character it encodes)."""
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = _LINE_BREAKS.sub("\n", text)
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


def _normalise_line(line: str, kind: str) -> str:
    """Trailing spaces go; a prose line's runs of spaces become one. Indented lines (code or
    not) and table rows aligned with spaces keep their spacing."""
    line = line.rstrip()
    indent = len(line) - len(line.lstrip())
    if kind in ("table", "code") or len(line[:indent].expandtabs(4)) >= 4:
        return line
    return " " * indent + _SPACES.sub(" ", line.strip())


def _drop_page_chrome(lines: list[str]) -> list[str]:
    """Web pages only: menus, icon-font entries, rules and symbol-only lines (never table rows)."""
    out = []
    for line in _drop_menus([_TRAILING_ICON.sub("", line.rstrip()) for line in lines]):
        if _ICON_ITEM.match(line) or _RULE.match(line) or (_SYMBOLS_ONLY.match(line) and "|" not in line):
            out.append("")
        else:
            out.append(line)
    return out


def clean_prose(text: str, web_page: bool = False) -> str:
    """Normalised prose: hard-wrapped lines rejoined, paragraphs separated by one blank line.

    ``web_page``: the text was extracted from a crawled web page, so page chrome it still holds
    is removed (see the module's docstring). Otherwise no line is ever dropped.
    Fenced code blocks are kept verbatim (only trailing spaces go).
    """
    text = normalise_unicode(text)
    if web_page:
        text = _INLINE_CHROME.sub(" ", text)
        footer = _INLINE_FOOTER.search(text, len(text) // 2)
        if footer:
            text = text[: footer.start()]
    lines, kinds = reflow_lines(text)
    result: list[str] = []
    blocks: list[str] = []  # fenced code, set aside so no prose rule touches it
    in_code = False
    prose: list[str] = []
    code: list[str] = []

    def flush() -> None:
        if prose:
            result.extend(_drop_page_chrome(prose) if web_page else prose)
            prose.clear()

    for line, kind in zip(lines, kinds, strict=True):
        if kind == "fence":
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
            prose.append(_normalise_line(line, kind) if kind != "blank" else "")
    flush()
    if code:  # an unclosed fence runs to the end
        blocks.append("\n".join(code))
        result.append(f"\x00{len(blocks) - 1}\x00")
    if web_page:
        result = _cut_footer(_drop_chrome(result))
    cleaned = _BLANK_RUN.sub("\n\n", "\n".join(result)).strip("\n")
    if not cleaned.strip():
        return ""
    return re.sub("\x00(\\d+)\x00", lambda m: blocks[int(m.group(1))], cleaned)


def clean_code(text: str) -> str:
    """Code kept as written: only line endings, invisible characters and trailing spaces change."""
    text = normalise_unicode(text)
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


def is_web_page(document: Document) -> bool:
    """True for a document crawled from a web page (its link is http(s)), the only kind whose
    text may still hold page chrome."""
    return urlsplit(str(document.link or "")).scheme in ("http", "https")


def _title_of(content: dict[str, Any], document: Document) -> str:
    for key in ("Title", "title", "name", "Name"):
        if isinstance(content.get(key), str) and content[key].strip():
            return " ".join(normalise_unicode(content[key]).split())
    return str(getattr(document, "name", "") or "")


class CleaningHandler:
    """Turns one warehouse document into a cleaned document (no I/O): its text and title as prose."""

    name: ClassVar[str] = "text"
    body_keys: ClassVar[tuple[str, ...]] = ("Content", "content", "text", "Text", "body")
    skip_keys: ClassVar[frozenset[str]] = frozenset(
        {"Title", "title", "Subtitle", "subtitle", "language", "image", "Image"}
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CLEANING_HANDLERS[cls.name] = cls()

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

    def source_text(self, content: dict[str, Any]) -> str:
        """What cleaning reads of a document's content (the title aside)."""
        return self.body(content)

    def clean_text(self, content: dict[str, Any], web_page: bool = False) -> str:
        return clean_prose(self.body(content), web_page=web_page)

    def clean(self, document: Document) -> CleanedDocument:
        return cleaned_class(document.category)(
            document_id=document.id,
            content=self.clean_text(document.content, web_page=is_web_page(document)),
            title=_title_of(document.content, document),
            platform=document.platform,
            author_id=document.author_id,
            author_full_name=document.author_full_name,
            link=document.link,
            published_at=document.published_at,
            content_hash=document.content_hash,
        )


CLEANING_HANDLERS[CleaningHandler.name] = CleaningHandler()


class CodeCleaningHandler(CleaningHandler):
    """``content`` maps file paths to file text (a repository); each file becomes a fenced block
    under a ``## path`` heading, in path order, with its code untouched."""

    name = "code"
    skip_keys = frozenset({"Title", "title", "name", "Name", "link"})

    def files(self, content: dict[str, Any]) -> dict[str, str]:
        return {k: v for k, v in content.items() if isinstance(v, str) and k not in self.skip_keys}

    def source_text(self, content: dict[str, Any]) -> str:
        files = self.files(content)
        return "\n\n".join(f"{path}\n{files[path]}" for path in sorted(files))

    def clean_text(self, content: dict[str, Any], web_page: bool = False) -> str:
        files = self.files(content)
        sections = []
        for path in sorted(files):
            code = clean_code(files[path])
            if not code.strip():
                continue
            fence = "````" if "```" in code else "```"
            sections.append(f"## {normalise_unicode(path)}\n\n{fence}\n{code}\n{fence}")
        return "\n\n".join(sections)


def cleaning_handler(category: str) -> CleaningHandler:
    """The handler a category's declaration names (``Document.cleaning``)."""
    return declared_handler(CLEANING_HANDLERS, category, "cleaning")


def clean_document(document: Document) -> CleanedDocument:
    """The cleaned form of a warehouse document, by its category's handler."""
    return cleaning_handler(document.category).clean(document)


def letters_and_digits_kept(source: str, cleaned: str) -> float | None:
    """Share of the source's letters and digits that the cleaned text still holds (each
    character counted as often as it occurs, wherever it moved), after the same Unicode
    normalisation as cleaning; None when the source has none."""
    wanted = Counter(_NOT_LETTER_OR_DIGIT.sub("", normalise_unicode(source)))
    total = wanted.total()
    if not total:
        return None
    have = Counter(_NOT_LETTER_OR_DIGIT.sub("", cleaned))
    return sum(min(count, have[char]) for char, count in wanted.items()) / total


def check_cleaning(document: Document, cleaned: CleanedDocument, min_kept_share: float) -> float | None:
    """The share of ``document``'s letters and digits that ``cleaned`` kept, with a warning when
    it is below ``min_kept_share`` or when the document has no text at all (it gets no chunks)."""
    handler = cleaning_handler(document.category)
    kept = letters_and_digits_kept(handler.source_text(document.content), cleaned.content)
    where = document.link or str(document.id)
    logger.debug("{}: cleaning kept {} of its letters and digits", where, "-" if kept is None else f"{kept:.2%}")
    if kept is None:
        logger.warning("{}: no letters or digits to keep; skipped (no chunks)", where)
    elif kept < min_kept_share:
        logger.warning(
            "{}: cleaning kept {:.1%} of its letters and digits (CLEANING_MIN_KEPT_SHARE={:.0%}){}",
            where, kept, min_kept_share, " — page chrome removed" if is_web_page(document) else "",
        )  # fmt: skip
    return kept


def kept_summary(letters_kept: dict[str, float | None], min_kept_share: float) -> dict[str, Any]:
    """Metadata for a batch: lowest and mean share of letters and digits kept, documents below
    ``min_kept_share`` (ids, at most 20) and documents without any text."""
    shares = {doc: share for doc, share in letters_kept.items() if share is not None}
    low = sorted((doc for doc, share in shares.items() if share < min_kept_share), key=shares.__getitem__)
    return {
        "letters_kept_min": round(min(shares.values()), 4) if shares else None,
        "letters_kept_mean": round(sum(shares.values()) / len(shares), 4) if shares else None,
        "documents_below_min_kept_share": len(low),
        "documents_below_min_kept_share_ids": low[:20],
        "documents_without_text": len(letters_kept) - len(shares),
    }
