"""Which script a character or a text is written in, from Unicode character names (LATIN, HANGUL,
CJK, CYRILLIC...), so that nothing assumes ASCII: the dataset's language checks and retrieval's
choice of the dense embedder both read scripts here."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

# Hangul syllables, jamo and compatibility jamo (a character class body, for regular expressions).
HANGUL_CLASS = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
HANGUL = re.compile(f"[{HANGUL_CLASS}]+")


@lru_cache(maxsize=4096)
def name_script(char: str) -> str:
    """The first word of the character's Unicode name (``LATIN``, ``HANGUL``, ``CJK``, but also
    ``HALFWIDTH``/``FULLWIDTH`` for the width variants); ``UNKNOWN`` for an unnamed character."""
    return unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]


@lru_cache(maxsize=65536)
def char_script(ch: str) -> str | None:
    """The script family of a letter: :func:`name_script`, with halfwidth Hangul counted as
    HANGUL; None for anything but a letter."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    first = name_script(ch)
    return "HANGUL" if first == "HALFWIDTH" and "HANGUL" in unicodedata.name(ch, "") else first


def script_counts(text: str) -> Counter[str]:
    return Counter(s for s in map(char_script, text) if s)


def dominant_script(text: str) -> str | None:
    counts = script_counts(text)
    return counts.most_common(1)[0][0] if counts else None


def script_share(text: str, script: str) -> float:
    counts = script_counts(text)
    total = sum(counts.values())
    return counts.get(script, 0) / total if total else 0.0


def letter_ratio(text: str) -> float:
    """Share of Unicode letters among the non-space characters (0 for empty text)."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(1 for c in chars if unicodedata.category(c).startswith("L")) / len(chars)


def is_korean(text: str) -> bool:
    """True when Hangul is a large share of the letters (a syllable stands for 2-3 Latin letters)."""
    return script_share(text, "HANGUL") >= 0.25


def script_coverage(text: str, scripts: frozenset[str] | set[str]) -> float:
    """Share of the letters of ``text`` whose :func:`name_script` is one of ``scripts`` (upper
    case: ``LATIN``, ``HANGUL``, ``CJK``, ``CYRILLIC``…); 1.0 for a text without letters or an
    empty ``scripts`` (an embedder that reads everything)."""
    if not scripts:
        return 1.0
    letters = covered = 0
    for char in text:
        if char.isalpha():
            letters += 1
            covered += name_script(char) in scripts
    return covered / letters if letters else 1.0
