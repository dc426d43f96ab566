"""Tokens for lexical (BM25) search that work for English and Korean alike.

Text is NFKC-normalised and case-folded, then split into runs of letters and digits. Runs of
Hangul, Han or kana become overlapping character bigrams (Korean attaches particles to words and
Chinese/Japanese use no spaces, so bigrams match "검색을" with "검색"); other runs become words,
stemmed with NLTK's Snowball stemmer (English) and without English stop words.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_RUN = re.compile(r"[^\W_]+", re.UNICODE)
# Hangul syllables and jamo, CJK ideographs, hiragana and katakana.
_CJK = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stem(word) if word.isascii() and word.isalpha() else word


def _cjk_bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def lexical_tokens(text: str) -> list[str]:
    """BM25 tokens of ``text`` (see the module docstring)."""
    tokens: list[str] = []
    for run in _RUN.findall(unicodedata.normalize("NFKC", text).casefold()):
        position = 0
        for match in _CJK.finditer(run):
            tokens.extend(_words(run[position : match.start()]))
            tokens.extend(_cjk_bigrams(match.group()))
            position = match.end()
        tokens.extend(_words(run[position:]))
    return tokens


def _words(segment: str) -> list[str]:
    if not segment or segment in _STOPWORDS or (len(segment) == 1 and segment.isascii()):
        return []
    return [_stem(segment)]
