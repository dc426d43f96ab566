"""Repetition in a text: sentences said again with small changes, word sequences said twice.

Shared by the answer tidying of the service (``application.rag.answer``), the faithfulness
metric (a repeated claim is not a second claim) and the answer benchmark (is an answer loop-free?).
Words are ``words.words`` (case-folded ``\\w+``), so Hangul, Latin and digits are treated alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from llm_engineering.application.text.sentences import sentence_spans
from llm_engineering.application.text.words import words


def is_near_repeat(a: Collection[str], b: Collection[str], threshold: float = 0.6, min_words: int = 4) -> bool:
    """Whether two sentences' word sets overlap so much that one says the other again
    (Jaccard ≥ ``threshold``); sentences shorter than ``min_words`` never count."""
    a, b = set(a), set(b)
    if len(a) < min_words or len(b) < min_words:
        return False
    return len(a & b) / len(a | b) >= threshold


def repeated_word_mask(tokens: Sequence[str], n: int = 3) -> list[bool]:
    """For each word: does it lie in an ``n``-word sequence that occurs more than once in the text?
    Every occurrence is marked, the first included: a sentence that restates itself
    ("the lie to avoid is a lie to avoid") carries the content of its repeated part once at most."""
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    mask = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        if grams[tuple(tokens[i : i + n])] > 1:
            mask[i : i + n] = [True] * n
    return mask


def near_repeated_sentences(text: str) -> int:
    """How many sentences near-repeat an earlier sentence of the same text."""
    seen: list[set[str]] = []
    count = 0
    for start, end in sentence_spans(text):
        units = set(words(text[start:end]))
        if any(is_near_repeat(units, earlier) for earlier in seen):
            count += 1
        seen.append(units)
    return count


def is_loop_free(text: str, n: int = 3, max_copies: int = 2) -> bool:
    """No sentence near-repeats another and no ``n``-word sequence occurs more than ``max_copies``
    times (a loop with no sentence ends, common in Korean output)."""
    tokens = words(text)
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return near_repeated_sentences(text) == 0 and all(c <= max_copies for c in grams.values())
