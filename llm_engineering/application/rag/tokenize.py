"""Tokens for lexical (BM25) search that work for English and Korean alike.

``lexical_tokens(text)`` is a plain function text → terms (the same terms index the corpus and
the question). Text is NFKC-normalised and case-folded, then split into runs of letters and
digits. Runs of Hangul, Han or kana become overlapping character bigrams (Korean attaches
particles to words and Chinese/Japanese use no spaces, so bigrams match "검색을" with "검색");
other runs become words, stemmed with NLTK's Snowball stemmer (English; ``text.stems``) and
without English stop words.

``korean="morphemes"`` (``RAG_KOREAN_TERMS``) analyses Hangul with the Kiwi morphological
analyser (kiwipiepy, an optional dependency) instead: its content morphemes (nouns, verb and
adjective stems, roots, adverbs) are the terms, particles and endings are dropped.
``"both"`` uses bigrams and morphemes together. Text without Hangul is tokenised the same way
in every mode.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from llm_engineering.application.text.scripts import HANGUL, HANGUL_CLASS
from llm_engineering.application.text.stems import english_stem
from llm_engineering.settings import get_settings

KOREAN_TERMS = ("bigrams", "morphemes", "both")

_RUN = re.compile(r"[^\W_]+", re.UNICODE)
# Hangul, CJK ideographs, hiragana and katakana.
_CJK = re.compile(f"[{HANGUL_CLASS}\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Kiwi's tags for content morphemes: nouns, pronouns, numerals, verb/adjective stems, roots,
# general adverbs, determiners are left out with particles and endings.
_CONTENT_TAGS = frozenset(
    {"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "VX", "XR", "MAG", "VV-R", "VV-I", "VA-R", "VA-I"}
)
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()
)


def _cjk_bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def lexical_tokens(text: str, korean: str | None = None) -> list[str]:
    """BM25 tokens of ``text`` (see the module docstring); ``korean``: one of ``KOREAN_TERMS``,
    None for the ``RAG_KOREAN_TERMS`` setting."""
    korean = korean or _configured_korean_terms()
    if korean not in KOREAN_TERMS:
        raise ValueError(f"Korean terms must be one of {KOREAN_TERMS}, not {korean!r}")
    text = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    if korean != "bigrams" and HANGUL.search(text):
        tokens.extend(_morphemes(text))
        if korean == "morphemes":
            text = HANGUL.sub(" ", text)
    for run in _RUN.findall(text):
        position = 0
        for match in _CJK.finditer(run):
            tokens.extend(_words(run[position : match.start()]))
            tokens.extend(_cjk_bigrams(match.group()))
            position = match.end()
        tokens.extend(_words(run[position:]))
    return tokens


def _configured_korean_terms() -> str:
    return get_settings().RAG_KOREAN_TERMS


@lru_cache(maxsize=1)
def _kiwi():
    try:
        from kiwipiepy import Kiwi
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError("RAG_KOREAN_TERMS=morphemes needs the kiwipiepy package: pip install kiwipiepy") from exc
    return Kiwi()


def _morphemes(text: str) -> list[str]:
    """Kiwi's content morphemes of the Hangul in ``text`` (other scripts are left to the words)."""
    return [token.form for token in _kiwi().tokenize(text) if token.tag in _CONTENT_TAGS and HANGUL.search(token.form)]


def _words(segment: str) -> list[str]:
    if not segment or segment in _STOPWORDS or (len(segment) == 1 and segment.isascii()):
        return []
    return [english_stem(segment)]
