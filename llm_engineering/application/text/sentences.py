"""Where sentences end, in any script: ``split_sentences`` gives the sentences' text (metrics,
dataset extracts), ``sentence_spans`` their offsets in the text (answer tidying, repetition)."""

from __future__ import annotations

import re

_END = "[.!?…。！？]"
# Whitespace after a sentence end, or after a closing quote or bracket that follows one: the
# punctuation stays with its sentence.
_SENTENCE_END = re.compile(rf"(?<={_END})\s+|(?<={_END}[\"'”’)\]])\s+")
_SENTENCE_OR_LINE_END = re.compile(rf"{_SENTENCE_END.pattern}|\n+")
# A cut for offsets: closing quotes and brackets after the end mark fall between the spans.
_SPAN_CUT = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n+")


def split_sentences(text: str, line_breaks: bool = True) -> list[str]:
    """Sentences of a text: cut where whitespace follows . ! ? 。 ！ ？ … (with any closing quote or
    bracket after it), and at line breaks unless ``line_breaks`` is false. Nothing but the
    whitespace at a cut is dropped."""
    pattern = _SENTENCE_OR_LINE_END if line_breaks else _SENTENCE_END
    return [s.strip() for s in pattern.split(text or "") if s and s.strip()]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence (cut after . ! ? … 。 and at line breaks), blanks skipped;
    the last span may be an unfinished sentence."""
    spans, start = [], 0
    for match in _SPAN_CUT.finditer(text):
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans
