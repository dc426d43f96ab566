"""Lines of a text by kind: prose, list item, heading, table, code, quote, markup, rule, blank.

``classify`` looks at each line of a plain-text or Markdown document the way a reader does:
fenced and indented code-like lines are code, Markdown and space-aligned tables are tables,
bullets, numbers and Korean enumerations (also Markdown-escaped, ``\\-``) start list items, and
every other line with text is prose. The reflow of hard-wrapped text joins prose lines only, and
quoted answers quote prose and list items only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]"
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(\s|$)")
_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s*(?:[*\-_=~·•]\s*){3,}$")
# Bullets (also Markdown-escaped, ``\-``, as HTML-to-text converters write them), numbers
# (1. 1) (1) 1.2.), circled numbers, Korean and Latin enumerations, article markers (제3조,
# 제2장), reference marks.
_LIST = re.compile(
    r"^\s*(?:\\?[-*+•·◦▪▫■□●○◆◇※▶►▷✓✔➢→]\s|\d{1,3}(?:\.\d{1,3})*[.)]\s|\(\d{1,3}\)\s?|[①-⑳]|"
    r"[가-힣][.)]\s|\([가-힣]\)\s?|[a-zA-Z][.)]\s|\([a-zA-Z]\)\s|[ivxIVX]{1,4}[.)]\s|제\s?\d+\s?[조장절항편관호])"
)
_QUOTE = re.compile(r"^\s*>")
_MARKUP = re.compile(r"^\s*[<‹《〈「『\[]")
_TABLE_PIPE = re.compile(r"^\s*\||\|.*\|")
# Columns aligned with spaces: a gap of 3+ spaces or a tab inside the line, or two gaps of 2
# (a gap right after a sentence's punctuation is typewriter spacing, not a column).
_ALIGNED = re.compile(r"\S(?:\t| {3,})\S|(?<=\S)(?<![.!?:;,]) {2}\S.*(?<=\S)(?<![.!?:;,]) {2}\S")
_CODE_LIKE = re.compile(
    r"[{}=$\\`]|^\s*(?:[!#%>@]|//|/\*|(?:def|class|import|from|return|if|for|while|sudo|cd|pip|python|git|RUN)\s)"
    r"|\w\(|->|::"
)
_INDENT = re.compile("^[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]*")


def display_width(text: str) -> int:
    """Columns the text takes in a fixed-width font (wide characters count 2)."""
    return len(text) + len(_WIDE.findall(text))


@dataclass
class Line:
    text: str
    kind: str  # blank, code, fence, table, heading, rule, list, quote, markup, prose
    indent: int
    width: int
    content_indent: int  # where a list item's text starts


def classify(lines: list[str]) -> list[Line]:
    """Each line with its kind (prose, list, table, code, heading, ...), indentation and width."""
    out: list[Line] = []
    in_fence = False
    for text in lines:
        stripped = text.strip()
        if not stripped:
            out.append(Line(text, "code" if in_fence else "blank", 0, 0, 0))
            continue
        indent = len(_INDENT.match(text).group(0).expandtabs(4)) if text[0].isspace() else 0
        kind = "prose"
        content_indent = indent
        first = stripped[0]
        if _FENCE.match(text):
            kind, in_fence = "fence", not in_fence
        elif in_fence:
            kind = "code"
        elif first.isalpha() and not first.isascii() and first != "제" and "|" not in text:
            # Hangul, CJK, accented letters: only a Korean enumeration ("가. ") can be special.
            if (match := _LIST.match(text)) is not None:
                kind, content_indent = "list", len(match.group(0).expandtabs(4))
            elif _ALIGNED.search(stripped):
                kind = "table"
        elif _HEADING.match(text):
            kind = "heading"
        elif _RULE.match(text) or _UNDERLINE.match(text):
            kind = "rule"
        elif _TABLE_PIPE.search(text):
            kind = "table"
        elif _QUOTE.match(text):
            kind = "quote"
        elif (match := _LIST.match(text)) is not None:
            kind = "list"
            content_indent = len(match.group(0).expandtabs(4))
        elif _MARKUP.match(text):
            kind = "markup"
        elif _ALIGNED.search(stripped):
            kind = "table"
        width = display_width(stripped) if kind in ("prose", "list") else 0
        out.append(Line(text, kind, indent, width, content_indent))
    # Indented deeper than the document's usual prose and looking like code (or mostly not
    # letters): code, whatever the rest says.
    indents = Counter(line.indent for line in out if line.kind == "prose")
    usual = indents.most_common(1)[0][0] if indents else 0
    for line in out:
        if line.kind == "prose" and line.indent >= usual + 4:
            stripped = line.text.strip()
            letters = sum(1 for c in stripped if c.isalpha())
            if _CODE_LIKE.search(stripped) or letters < len(stripped) / 2:
                line.kind = "code"
    # A setext underline makes the line above it a heading; a lone aligned line is prose.
    for i, line in enumerate(out):
        if line.kind == "rule" and _UNDERLINE.match(line.text) and i and out[i - 1].kind in ("prose", "list"):
            out[i - 1].kind = "heading"
        if line.kind == "table" and not _TABLE_PIPE.search(line.text):
            near = [out[k].kind for k in (i - 1, i + 1) if 0 <= k < len(out)]
            if "table" not in near:
                line.kind = "prose"
    return out
