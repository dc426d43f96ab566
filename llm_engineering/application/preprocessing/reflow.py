"""Reflow: rejoin lines that a hard wrap broke inside a sentence or a word.

Text exported from PDF, HWP or e-mail, and plain-text files written at a fixed width, break
lines wherever the page ended — often inside a word (``필요`` / ``한 나이``), sometimes with a
blank line between the halves. Left alone, such breaks read as paragraph ends and chunks start
mid-word.

The rule is conservative: when unsure, the break stays.

1. A document counts as hard-wrapped only when its prose lines pile up just under one width
   (the *wrap width*, measured in display columns: Hangul and other wide characters count 2) —
   half of all its prose lines, or half of the lines a paragraph goes on after (a text of
   short paragraphs and list items has many short last lines) — and most of those full lines
   end inside a sentence. Text written one paragraph per line, as
   Markdown usually is, or one sentence per line, as posts often are, never has that shape and
   is left exactly as it is.
2. Only a *full* line (close to the wrap width: the page, not the author, ended it) joins the
   line after it, and only when both are prose with the same indentation (a list item's
   continuation lines join the item). Headings, list items, table rows (Markdown pipes or
   columns aligned with spaces), quotes, markup lines, rules and code — fenced, or indented
   and code-like — never join anything and are never joined to.
3. Across one blank line, a full line joins the next only if it does not end a sentence and
   the next does not start with a capital letter: ``필요`` + blank + ``한 나이이나`` joins,
   ``…했다.`` + blank + ``다음 문단`` stays two paragraphs.
4. The glue: two Hangul halves join without a space when the document itself writes that
   letter pair more often inside a word than across a space (``요한`` vs ``요 한``), with a
   space when it is the other way round, and by the document's majority when it never writes
   the pair; Chinese and Japanese characters join without a space; an English word broken
   after a hyphen keeps its hyphen (``well-`` / ``known``) unless the document writes the
   word without it elsewhere; everything else joins with one space. No character is ever
   removed except the line break, the spaces around it and such a hyphen.
"""

from __future__ import annotations

import re
from collections import Counter

from llm_engineering.application.text.lines import Line, classify

# A line is full when it reaches this share of the wrap width.
FULL_SHARE = 0.8
# A document is hard-wrapped when at least this many of its prose lines are full ...
MIN_FULL_LINES = 4
MIN_FULL_SHARE = 0.5
# ... and its wrap width is one of a page or terminal, not of a paragraph written on one line.
MAX_WRAP_WIDTH = 160
MIN_WRAP_WIDTH = 30
# ... and most of its full lines end inside a sentence.
MAX_SENTENCE_END_SHARE = 0.5

_HANGUL = "\uac00-\ud7a3"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Syllables that (almost) never start a Korean word: particles and verb endings. A line that
# starts with one continues the word the line above ended with.
_NEVER_INITIAL = frozenset("는을를으께며록죠랑었았였겠습니큼냐됩됐")
_SENTENCE_END = re.compile(r"[.!?。！？…:;][\"'”’)\]」』》〉]*$")
_CAPITAL_START = re.compile(r"^\s*[A-Z]")


def wrap_width(lines: list[Line]) -> int | None:
    """The width the document was wrapped at, or None when it does not look hard-wrapped."""
    widths = sorted(line.width for line in lines if line.kind in ("prose", "list") and line.width >= 8)
    if len(widths) < MIN_FULL_LINES:
        return None
    width = widths[int(0.9 * (len(widths) - 1))]
    if not MIN_WRAP_WIDTH <= width <= MAX_WRAP_WIDTH:
        return None
    full = [line for line in lines if line.kind in ("prose", "list") and line.width >= FULL_SHARE * width]
    # Lines a paragraph goes on after: in wrapped text nearly all are full, however many short
    # paragraphs, last lines and list items the text also holds.
    inner = [
        line
        for line, after in zip(lines, lines[1:], strict=False)
        if line.kind in ("prose", "list") and line.width >= 8 and after.kind == "prose"
    ]
    inner_full = sum(1 for line in inner if line.width >= FULL_SHARE * width)
    if len(full) < MIN_FULL_LINES or (
        len(full) < MIN_FULL_SHARE * len(widths) and inner_full < MIN_FULL_SHARE * len(inner)
    ):
        return None
    # One sentence per line (a post, a poem, a list without markers) is written that way on
    # purpose: a wrap ends a line at a sentence's end only now and then.
    if sum(1 for line in full if _SENTENCE_END.search(line.text.rstrip())) > MAX_SENTENCE_END_SHARE * len(full):
        return None
    return width


class _Glue:
    """How two halves of a broken line are put back together, from the document's own usage."""

    def __init__(self, text: str) -> None:
        self.inside: Counter[str] = Counter()
        self.spaced: Counter[str] = Counter()
        for run in re.findall(f"[{_HANGUL}]{{2,}}", text):
            self.inside.update(a + b for a, b in zip(run, run[1:], strict=False))
        self.spaced.update(a + b for a, b in re.findall(f"([{_HANGUL}]) ([{_HANGUL}])", text))
        # How often each syllable starts / ends / appears in a word whose both ends are known
        # (not the first or last word of a line, which a wrap may have cut).
        self.starts: Counter[str] = Counter()
        self.ends: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()
        for line in text.split("\n"):
            for word in re.findall(f"[{_HANGUL}]+", " ".join(line.split()[1:-1])):
                self.starts[word[0]] += 1
                self.ends[word[-1]] += 1
                self.seen.update(word)
        self.words = set(re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*", text))

    def korean(self, a: str, b: str) -> bool:
        """True: join the syllables ``a`` and ``b`` without a space, False: with one.

        The document's own spelling decides: the pair written inside a word more often than
        across a space (or the reverse); then whether ``b`` is a particle or an ending that no
        word starts with; then how often the document lets ``a`` end a word and ``b`` start one;
        when it has never seen them, a space (it splits a word at worst, as the line break did,
        and never glues two words).
        """
        inside, spaced = self.inside[a + b], self.spaced[a + b]
        if inside != spaced:
            return inside > spaced
        if b in _NEVER_INITIAL:
            return True
        if not self.seen[a] or not self.seen[b]:
            return False
        end, start = self.ends[a] / self.seen[a], self.starts[b] / self.seen[b]
        return end * start < (1 - end) * (1 - start)

    def join(self, left: str, right: str) -> str:
        left, right = left.rstrip(), right.lstrip()
        a, b = left[-1], right[0]
        if re.match(f"[{_HANGUL}]", a) and re.match(f"[{_HANGUL}]", b):
            return left + ("" if self.korean(a, b) else " ") + right
        if re.match(f"[{_CJK}]", a) and re.match(f"[{_CJK}]", b):
            return left + right
        if re.search(r"\(https?://[^\s)]*$", left):  # a link in parentheses, cut before its end
            return left + right
        if a == "-" and len(left) > 1 and left[-2].isalpha() and b.islower():
            head = re.search(r"[A-Za-z]+-$", left)
            tail = re.match(r"[A-Za-z]+", right)
            if head and tail and head.group(0)[:-1] + tail.group(0) in self.words:
                if head.group(0) + tail.group(0) not in self.words:
                    return left[:-1] + right
            return left + right
        return left + " " + right


def _joins(prev: Line, line: Line, width: int, blank_between: bool, first_of_paragraph: bool) -> bool:
    if prev.kind not in ("prose", "list") or line.kind != "prose":
        return False
    if prev.width < FULL_SHARE * width:
        return False
    same_block = line.indent in (prev.indent, prev.content_indent) or (
        prev.kind == "prose" and first_of_paragraph and line.indent < prev.indent <= 4 + line.indent
    )
    if not same_block:
        return False
    if blank_between:
        return not _SENTENCE_END.search(prev.text.rstrip()) and not _CAPITAL_START.match(line.text)
    return True


def reflow(text: str) -> str:
    """``text`` with hard-wrapped lines rejoined (see the module's docstring); unchanged when
    the text does not look hard-wrapped."""
    return "\n".join(reflow_lines(text)[0])


def reflow_lines(text: str) -> tuple[list[str], list[str]]:
    """The reflowed text's lines and each line's kind (``classify``'s; a joined line has the
    kind of its first part)."""
    raw = text.split("\n")
    lines = classify(raw)
    kinds = [line.kind for line in lines]
    width = wrap_width(lines)
    if width is None:
        return raw, kinds
    # Decide every join first, then glue.
    joins: list[tuple[int, int]] = []  # (index of the upper line, index of the lower line)
    paragraph_start = True
    i = 0
    while i < len(lines) - 1:
        line = lines[i]
        if line.kind == "blank":
            paragraph_start = True
            i += 1
            continue
        nxt = i + 1
        blank = lines[nxt].kind == "blank" and nxt + 1 < len(lines) and lines[nxt + 1].kind != "blank"
        if blank:
            nxt += 1
        if _joins(line, lines[nxt], width, blank, paragraph_start):
            joins.append((i, nxt))
        paragraph_start = False
        i += 1
    if not joins:
        return raw, kinds
    glue = _Glue(text)
    joined_into = {j: i for i, j in joins}
    skip = set()
    for i, j in joins:
        skip.update(range(i + 1, j))  # the blank line between the halves
    out: list[str] = []
    out_kinds: list[str] = []
    index_of: dict[int, int] = {}
    for k, line in enumerate(raw):
        if k in skip:
            continue
        upper = joined_into.get(k)
        if upper is not None:
            pos = index_of[upper]
            out[pos] = glue.join(out[pos], line)
            index_of[k] = pos
        else:
            index_of[k] = len(out)
            out.append(line)
            out_kinds.append(kinds[k])
    return out, out_kinds
