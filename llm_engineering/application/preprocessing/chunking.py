"""Chunking: cleaned text → passages for reading, cut into chunks the embedding model reads whole.

Two sizes, because one unit cannot serve both purposes in every language:

* a **passage** is what retrieval returns as context: at most ``passage_chars`` characters
  (default 1,000), so a Korean passage carries about as much as an English one;
* a **chunk** is what is embedded and matched: at most ``size`` word pieces of the embedding
  model's own tokenizer, so it never exceeds what the encoder reads (all-MiniLM-L6-v2: 256
  including [CLS]/[SEP]) and nothing is silently truncated. 200 word pieces hold ~800 characters
  of English but only ~110 of Hangul (an English vocabulary splits Korean into many pieces), so
  a Korean passage has several chunks, an English one usually one or two.

Chunks never cross a passage boundary; each records its passage (``passage_index``,
``passage_start``, ``passage_end``). With ``passage_chars`` 0 every chunk is its own passage.

How a text is cut: it is tokenized once with character offsets; every gap between two tokens
is a possible cut, ranked by the structure it sits on — a heading, then a paragraph break or
the edge of a fenced code block, then a blank line inside code, a line break, a sentence end,
a space, and last a cut inside a word. Passages are filled to between half and all of
``passage_chars`` and end at the best-ranked cut in that range (the latest among equals); they
do not overlap. Inside a passage each chunk is filled the same way to between half and all of
the configured size. The next chunk starts up to ``overlap`` tokens earlier, at the first word
start in that span, so consecutive chunks share (almost exactly) the configured overlap. Chunks
are character spans of the cleaned text: dropping each chunk's overlap and joining them gives
the text back, up to the whitespace at the cuts.

A chunker is one subclass of ``ChunkingHandler`` with ``name`` set; it registers itself in
``CHUNKING_HANDLERS``, and a category uses the one its declaration names (``Document.chunking``:
``text`` unless it says otherwise). ``text`` serves prose and repositories alike: for a
repository's fenced files under ``## path`` headings the same ranking keeps files and functions
(blank-line separated) together and cuts long files at lines.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from llm_engineering.domain.cleaned_documents import CleanedDocument
from llm_engineering.domain.documents import declared_handler
from llm_engineering.exceptions import ConfigurationError

CHUNKING_HANDLERS: dict[str, ChunkingHandler] = {}

#: Bump when the cutting rules change, so stored features are rebuilt.
CHUNKING_VERSION = "3"

_HEADING = 5
_PARAGRAPH = 4
_CODE_BLANK = 3
_LINE = 2
_SENTENCE = 1
_WORD = 0
_GLUED = -1  # between a word and punctuation, or two CJK characters
_IN_WORD = -2  # inside a word (a word-piece continuation)
_INVALID = -100  # inside one character (e.g. Hangul split into jamo pieces)

_SENTENCE_END = frozenset(".!?。！？…」』\"'”’)")
_FENCE_LINE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
_HEADING_LINE = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]", re.MULTILINE)


@dataclass(frozen=True)
class ChunkingConfig:
    """Chunk size and overlap in word pieces of the embedding tokenizer; passage size in characters
    (0: every chunk is its own passage)."""

    size: int
    overlap: int
    passage_chars: int = 0

    def check(self, max_tokens: int) -> ChunkingConfig:
        """This config if the model can read it, else a ConfigurationError saying what to change."""
        if self.passage_chars and self.passage_chars < 100:
            raise ConfigurationError(
                f"passage size {self.passage_chars} characters is too small: use at least 100, or 0 for none."
            )
        if self.size < 8:
            raise ConfigurationError(f"chunk size {self.size} is too small: use at least 8 tokens.")
        if self.size > max_tokens:
            raise ConfigurationError(
                f"chunk size {self.size} tokens exceeds what the embedding model reads ({max_tokens} "
                "word pieces besides its special tokens); lower CHUNK_SIZE_TOKENS or the configured size."
            )
        if not 0 <= self.overlap < self.size:
            raise ConfigurationError(
                f"chunk overlap {self.overlap} must be at least 0 and less than the chunk size {self.size}."
            )
        return self


@dataclass(frozen=True)
class TextChunk:
    """One chunk: its text, its character span in the cleaned text, its size in tokens, and the
    index and character span of the passage it belongs to."""

    index: int
    text: str
    start: int
    end: int
    token_count: int
    passage_index: int = 0
    passage_start: int = 0
    passage_end: int = 0


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of fenced code blocks, from the opening fence line to the end of the
    closing one. As in CommonMark, a block closes only at a fence of the same character at least
    as long as the one that opened it (so a ```` block may hold ``` lines); an unclosed block
    runs to the end of the text."""
    spans = []
    opened: tuple[int, str, int] | None = None  # (start, fence char, fence length)
    for m in _FENCE_LINE.finditer(text):
        fence = m.group(1)
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        run = len(fence) + len(text[m.end() : line_end]) - len(text[m.end() : line_end].lstrip(fence[0]))
        if opened is None:
            opened = (m.start(), fence[0], run)
        elif fence[0] == opened[1] and run >= opened[2] and not text[m.start() : line_end].strip(" \t`~"):
            spans.append((opened[0], line_end))
            opened = None
    if opened is not None:
        spans.append((opened[0], len(text)))
    return spans


def _rank_cuts(text: str, offsets: list[tuple[int, int]], continued: list[bool]) -> list[int]:
    """Rank of a cut before token ``i`` (index 0 unused); ``continued[i]``: token i goes on a word."""
    spans = _code_spans(text)
    span_starts = [s for s, _ in spans]
    edges = sorted({s for s, _ in spans} | {e for _, e in spans})
    headings = {m.start() for m in _HEADING_LINE.finditer(text)}

    def in_code(pos: int) -> bool:
        k = bisect.bisect_right(span_starts, pos) - 1
        return k >= 0 and spans[k][0] <= pos < spans[k][1]

    def edge_between(lo: int, hi: int) -> bool:
        k = bisect.bisect_left(edges, lo)
        return k < len(edges) and edges[k] <= hi

    ranks = [_INVALID] * len(offsets)
    for i in range(1, len(offsets)):
        prev_end, start = offsets[i - 1][1], offsets[i][0]
        if start < prev_end:
            continue  # two pieces of one character
        gap = text[prev_end:start]
        if not gap:
            rank = _IN_WORD if continued[i] else _GLUED
            if text[prev_end - 1] in "。！？":
                rank = _SENTENCE
        elif gap.strip():
            rank = _GLUED  # characters the tokenizer drops (e.g. variation selectors)
        elif "\n" in gap:
            line_start = text.rfind("\n", 0, start) + 1
            if edge_between(prev_end, line_start):
                rank = _PARAGRAPH
            elif in_code(start):
                rank = _CODE_BLANK if "\n\n" in gap else _LINE
            elif line_start in headings:
                rank = _HEADING
            else:
                rank = _PARAGRAPH if "\n\n" in gap else _LINE
        elif text[prev_end - 1] in _SENTENCE_END:
            rank = _SENTENCE
        else:
            rank = _WORD
        ranks[i] = rank
    return ranks


def split_text(text: str, tokenizer: Any, config: ChunkingConfig) -> list[TextChunk]:
    """Cut ``text`` into passages of at most ``config.passage_chars`` characters and those into
    chunks of at most ``config.size`` tokens with ``config.overlap`` overlap."""
    if not text.strip():
        return []
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = [tuple(o) for o in encoded["offset_mapping"]]
    first, last = len(text) - len(text.lstrip()), len(text.rstrip())
    if not offsets:
        return [TextChunk(0, text[first:last], first, last, 0, 0, first, last)]
    try:
        words = encoded.word_ids()
        continued = [False] + [w is not None and w == p for p, w in itertools.pairwise(words)]
    except (AttributeError, ValueError):  # a slow tokenizer: look at the pieces themselves
        continued = [p.startswith("##") for p in tokenizer.convert_ids_to_tokens(encoded["input_ids"])]
    ranks = _rank_cuts(text, offsets, continued)
    passages = _passages(text, offsets, ranks, config.passage_chars, first, last)
    # Fast path: count a chunk as its tokens in the whole text, then check every chunk's own
    # tokenisation in one batch. Only if one came out longer (a tokenizer whose pieces depend
    # on their context) is the text packed again, re-tokenising each chunk as it is cut.
    chunks = _pack_passages(text, offsets, ranks, config, passages, None)
    counts = [
        len(ids) for ids in tokenizer([c.text for c in chunks], add_special_tokens=False, verbose=False)["input_ids"]
    ]
    if max(counts) <= config.size:
        return [dataclasses.replace(c, token_count=k) for c, k in zip(chunks, counts, strict=True)]
    return _pack_passages(text, offsets, ranks, config, passages, tokenizer)


def _passages(
    text: str, offsets: list[tuple[int, int]], ranks: list[int], chars: int, first: int, last: int
) -> list[tuple[int, int, int, int]]:
    """``(first token, end token, start char, end char)`` of each passage, in order."""
    n = len(offsets)
    if not chars:
        return [(0, n, first, last)]
    starts = [o[0] for o in offsets]
    out: list[tuple[int, int, int, int]] = []
    s = 0
    while s < n:
        begin = first if s == 0 else offsets[s][0]
        if last - begin <= chars:
            e = n
        else:
            hi = bisect.bisect_right(starts, begin + chars, lo=s + 1)
            lo = max(s + 1, bisect.bisect_left(starts, begin + chars // 2, lo=s + 1))
            candidates = [b for b in range(lo, hi) if ranks[b] > _INVALID]
            if not candidates:
                candidates = [b for b in range(s + 1, hi) if ranks[b] > _INVALID] or [min(n, max(s + 1, hi))]
            e = max(candidates, key=lambda b: (ranks[b], b))
        end = last if e == n else offsets[e][0]
        while end > begin and text[end - 1].isspace():
            end -= 1
        out.append((s, e, begin, end))
        s = e
    return out


def _pack_passages(
    text: str,
    offsets: list[tuple[int, int]],
    ranks: list[int],
    config: ChunkingConfig,
    passages: list[tuple[int, int, int, int]],
    tokenizer: Any,
) -> list[TextChunk]:
    chunks: list[TextChunk] = []
    for number, (s, e, begin, end) in enumerate(passages):
        for piece in _pack(text, offsets[s:e], ranks[s:e], config, begin, end, tokenizer):
            if config.passage_chars:
                chunks.append(
                    dataclasses.replace(
                        piece, index=len(chunks), passage_index=number, passage_start=begin, passage_end=end
                    )
                )
            else:  # every chunk is its own passage
                i = len(chunks)
                chunks.append(
                    dataclasses.replace(
                        piece, index=i, passage_index=i, passage_start=piece.start, passage_end=piece.end
                    )
                )
    return chunks


def _pack(
    text: str,
    offsets: list[tuple[int, int]],
    ranks: list[int],
    config: ChunkingConfig,
    first: int,
    last: int,
    tokenizer: Any,
) -> list[TextChunk]:
    n = len(offsets)

    def span(s: int, e: int) -> tuple[int, int]:
        cs = first if s == 0 else offsets[s][0]
        ce = last if e == n else offsets[e][0]
        while ce > cs and text[ce - 1].isspace():
            ce -= 1
        return cs, ce

    def count(cs: int, ce: int, s: int, e: int) -> int:
        if tokenizer is None:
            return e - s
        return len(tokenizer(text[cs:ce], add_special_tokens=False, verbose=False)["input_ids"])

    chunks: list[TextChunk] = []
    s, prev_e = 0, 0
    while True:
        limit = min(n, s + config.size)
        lo = max(prev_e + 1, s + max(1, config.size // 2))
        while True:
            if limit == n:
                e = n
            else:
                candidates = [b for b in range(lo, limit + 1) if ranks[b] > _INVALID]
                if not candidates:
                    candidates = [b for b in range(prev_e + 1, limit + 1) if ranks[b] > _INVALID] or [limit]
                e = max(candidates, key=lambda b: (ranks[b], b))
            cs, ce = span(s, e)
            tokens = count(cs, ce, s, e)
            if tokens <= config.size or e <= prev_e + 1:
                break
            limit = e - 1  # re-tokenised text came out longer (a cut inside a word): cut earlier
            lo = min(lo, limit)
        chunks.append(TextChunk(len(chunks), text[cs:ce], cs, ce, tokens))
        if e >= n:
            return chunks
        s_next = e
        if config.overlap:
            # The overlap starts at the first word start in its span; where one word is longer
            # than the overlap (Korean with an English vocabulary), at the first whole character.
            span_ = range(max(s + 1, e - config.overlap), e)
            s_next = next((b for b in span_ if ranks[b] >= _WORD), next((b for b in span_ if ranks[b] > _INVALID), e))
        s, prev_e = s_next, e


class ChunkingHandler:
    """Cuts a cleaned document into chunks (``split_text``)."""

    name: ClassVar[str] = "text"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CHUNKING_HANDLERS[cls.name] = cls()

    def chunk(self, document: CleanedDocument, tokenizer: Any, config: ChunkingConfig) -> list[TextChunk]:
        return split_text(document.content, tokenizer, config)


CHUNKING_HANDLERS[ChunkingHandler.name] = ChunkingHandler()


def chunking_handler(category: str) -> ChunkingHandler:
    """The handler a category's declaration names (``Document.chunking``)."""
    return declared_handler(CHUNKING_HANDLERS, category, "chunking")
