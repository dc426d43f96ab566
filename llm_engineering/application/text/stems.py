"""Word stems, one per script: Snowball for English words (retrieval's terms) and a particle
stripper for Korean words (key phrases count "모델을" and "모델이" as "모델")."""

from __future__ import annotations

from functools import lru_cache

from llm_engineering.application.text.scripts import char_script

# Common Korean particles and endings, longest first, stripped from the end of a token.
_KOREAN_SUFFIXES = tuple(
    sorted(
        """은 는 이 가 을 를 의 에 에서 에게 께 한테 으로 로 와 과 도 만 까지 부터 보다 처럼 이나 나 이며 며
        이다 입니다 이고 고 요 에는 에서는 으로는 로는 과의 와의 들 들은 들이 들을 들의""".split(),
        key=len,
        reverse=True,
    )
)


@lru_cache(maxsize=1)
def _snowball():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


@lru_cache(maxsize=200_000)
def english_stem(word: str) -> str:
    """The Snowball (English) stem of an ASCII alphabetic word; any other word unchanged."""
    return _snowball().stem(word) if word.isascii() and word.isalpha() else word


def strip_korean_particle(token: str) -> str:
    """A Hangul token without its longest trailing particle or ending (at least one syllable
    more than the suffix is kept); tokens in other scripts unchanged."""
    if char_script(token[0]) != "HANGUL":
        return token
    for suffix in _KOREAN_SUFFIXES:
        if len(token) > len(suffix) + 1 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token
