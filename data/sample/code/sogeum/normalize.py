"""Hangul-safe normalisation and BM25 tokens for mixed Korean and English text.

Text is normalised to NFC first: a Korean string typed on macOS may arrive decomposed (NFD) and
look identical on screen while matching nothing. Runs of Hangul become overlapping character
bigrams (no morphological analyser needed: particles such as "에서" get a low IDF on their own);
runs of Latin letters and digits become lowercase words.
"""

from __future__ import annotations

import re
import unicodedata

_RUNS = re.compile(r"([\uac00-\ud7a3]+)|([0-9A-Za-z_]+(?:[.-][0-9A-Za-z_]+)*)")


def nfc(text: str) -> str:
    """The NFC form of ``text`` (composed Hangul syllables)."""
    return unicodedata.normalize("NFC", text)


def hangul_bigrams(run: str) -> list[str]:
    """Overlapping two-syllable pieces of a Hangul run; a single syllable stays as it is."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def bm25_tokens(text: str) -> list[str]:
    """Tokens for a BM25 index: Hangul bigrams and lowercase Latin words, in reading order.

    >>> bm25_tokens("서울에서 E1142 오류")
    ['서울', '울에', '에서', 'e1142', '오류']
    """
    tokens: list[str] = []
    for hangul, latin in _RUNS.findall(nfc(text)):
        if hangul:
            tokens.extend(hangul_bigrams(hangul))
        else:
            tokens.append(latin.lower())
    return tokens
