"""Key phrases of a text (its most frequent content words, English and Korean), for the template
instructions of the instruct dataset."""

from __future__ import annotations

import re
from collections import Counter

from llm_engineering.application.text.scripts import char_script
from llm_engineering.application.text.stems import strip_korean_particle

# Letters, with inner apostrophes and hyphens; no digits or underscores at either end.
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


def key_phrases(text: str, k: int = 3, avoid: str = "") -> list[str]:
    """The ``k`` most frequent content words of ``text`` (ties: first occurrence wins).

    Words that occur in ``avoid`` (e.g. the title, already in the instruction) are skipped. Latin
    words need 3+ letters, Hangul words 2+ syllables; stopwords of English and Korean are dropped.
    """
    avoid_keys = {strip_korean_particle(t.casefold()) for t in _WORD.findall(avoid)}
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    surface: dict[str, Counter[str]] = {}
    for position, token in enumerate(_WORD.findall(text)):
        low = token.casefold().strip("'’-")
        if not low:
            continue
        key = strip_korean_particle(low)
        hangul = char_script(key[0]) == "HANGUL"
        if len(key) < (2 if hangul else 3) or key in ENGLISH_STOPWORDS or key in KOREAN_STOPWORDS:
            continue
        if key in avoid_keys:
            continue
        counts[key] += 1
        first_seen.setdefault(key, position)
        form = strip_korean_particle(token.strip("'’-")) if hangul else token.strip("'’-")
        surface.setdefault(key, Counter())[form] += 1
    ranked = sorted(counts, key=lambda w: (-counts[w], first_seen[w]))
    # The most frequent spelling, so a sentence-initial capital does not win over the usual form.
    return [surface[w].most_common(1)[0][0] for w in ranked[:k]]
