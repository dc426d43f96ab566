"""Language-agnostic text helpers: normalisation, scripts, letters, key phrases.

Nothing here assumes ASCII: letters are Unicode letters, scripts come from Unicode character
names (LATIN, HANGUL, CJK, ...), and key phrases are counted over Unicode word tokens with a
small Korean particle stripper so that "모델을" and "모델이" count as "모델".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

_WS = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)

ENGLISH_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each even few for from
    further get gets got had has have having he her here hers him his how however i if in into is it
    its itself just let like make makes many may me might more most much must my new no nor not now
    of off on once one only or other our ours out over own same she should so some such than that the
    their theirs them then there these they this those through to too two under until up us use used
    uses using very via was we well were what when where which while who whom why will with would you
    your yours yet first way ways still need needs want see thing things really lot well""".split()
)
KOREAN_STOPWORDS = frozenset(
    """그리고 그러나 하지만 그래서 또는 또한 이것 저것 그것 여기 저기 거기 있는 있다 없다 없는 하는 한다 했다
    합니다 있습니다 것이 것을 것은 수 등 및 더 이 그 저 때 위해 통해 대한 대해 같은 이런 그런 우리 저는 나는""".split()
)
# Common Korean particles and endings, longest first, stripped from the end of a token.
_KOREAN_SUFFIXES = tuple(
    sorted(
        """은 는 이 가 을 를 의 에 에서 에게 께 한테 으로 로 와 과 도 만 까지 부터 보다 처럼 이나 나 이며 며
        이다 입니다 이고 고 요 에는 에서는 으로는 로는 과의 와의 들 들은 들이 들을 들의""".split(),
        key=len,
        reverse=True,
    )
)


def normalize(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fold(text: str) -> str:
    """A key for matching: NFKC, case-folded, single spaces."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@lru_cache(maxsize=65536)
def char_script(ch: str) -> str | None:
    """The Unicode script family of a letter (LATIN, HANGUL, CJK, CYRILLIC, ...); None otherwise."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return "UNKNOWN"
    first = name.split()[0]
    return "HANGUL" if first in ("HANGUL", "HALFWIDTH") and "HANGUL" in name else first


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


def _stem(token: str) -> str:
    if char_script(token[0]) != "HANGUL":
        return token
    for suffix in _KOREAN_SUFFIXES:
        if len(token) > len(suffix) + 1 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def key_phrases(text: str, k: int = 3, avoid: str = "") -> list[str]:
    """The ``k`` most frequent content words of ``text`` (ties: first occurrence wins).

    Words that occur in ``avoid`` (e.g. the title, already in the instruction) are skipped. Latin
    words need 3+ letters, Hangul words 2+ syllables; stopwords of English and Korean are dropped.
    """
    avoid_keys = {_stem(t.casefold()) for t in _WORD.findall(avoid)}
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    surface: dict[str, Counter[str]] = {}
    for position, token in enumerate(_WORD.findall(text)):
        low = token.casefold().strip("'’-")
        if not low:
            continue
        key = _stem(low)
        hangul = char_script(key[0]) == "HANGUL"
        if len(key) < (2 if hangul else 3) or key in ENGLISH_STOPWORDS or key in KOREAN_STOPWORDS:
            continue
        if key in avoid_keys:
            continue
        counts[key] += 1
        first_seen.setdefault(key, position)
        form = _stem(token.strip("'’-")) if hangul else token.strip("'’-")
        surface.setdefault(key, Counter())[form] += 1
    ranked = sorted(counts, key=lambda w: (-counts[w], first_seen[w]))
    # The most frequent spelling, so a sentence-initial capital does not win over the usual form.
    return [surface[w].most_common(1)[0][0] for w in ranked[:k]]


def shingles(text: str, size: int = 5) -> set[str]:
    """Character ``size``-grams of the folded text (works for any script, spaces included)."""
    folded = fold(text)
    if len(folded) <= size:
        return {folded} if folded else set()
    return {folded[i : i + size] for i in range(len(folded) - size + 1)}
