"""Deterministic instructions for the author's own text, for runs with no capable LLM.

The instruction asks for the passage the author actually wrote, so the answer stays the
author's text (back-translation without a model). It is built from what the extract itself
says about its subject:

* the document's title,
* the nearest Markdown heading above the extract (when the heading differs from the title),
* the three most frequent content words of the extract that are not already in the title
  (``text.key_phrases``: Unicode words, English and Korean stopwords dropped, Korean particles
  stripped).

One of a few phrasings is picked by a hash of the extract id, so the same extract always gets
the same instruction and the dataset does not repeat a single sentence pattern. Extracts whose
letters are mostly Hangul get Korean phrasings; every other extract gets English ones.
"""

from __future__ import annotations

import hashlib
import re

from llm_engineering.application.text import is_korean, key_phrases, normalize
from llm_engineering.domain.dataset import Extract

_ENGLISH = (
    'Write the part of your article "{title}" about {topic}. Cover {phrases}.',
    'In your own voice, explain {topic} as you did in "{title}", touching on {phrases}.',
    'For your piece "{title}", write a section on {topic} that discusses {phrases}.',
    'Describe {topic} the way you would in "{title}"; make sure to talk about {phrases}.',
)
_ENGLISH_NO_TITLE = (
    "Write a passage in your own voice about {topic}. Cover {phrases}.",
    "Explain {topic} the way you usually write, touching on {phrases}.",
)
_KOREAN = (
    '"{title}" 글에서 {topic}에 관한 부분을 써 주세요. {phrases} 등을 다뤄 주세요.',
    '당신의 문체로 "{title}"에 쓴 것처럼 {topic}을(를) 설명해 주세요. {phrases} 등을 언급해 주세요.',
    '"{title}" 글의 한 단락으로 {topic}에 대해 써 주세요. {phrases} 등의 내용이 들어가야 합니다.',
)
_KOREAN_NO_TITLE = ("당신의 문체로 {topic}에 대한 글을 써 주세요. {phrases} 등을 다뤄 주세요.",)


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_`~\\]+|^#+\s*")


def clean_heading(text: str) -> str:
    """A Markdown heading as plain words: links to their text, emphasis and escapes removed."""
    return normalize(_MARKUP.sub("", _LINK.sub(r"\1", text))).strip(" :-")


def _join(words: list[str], korean: bool) -> str:
    if korean:
        return ", ".join(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def template_instruction(extract: Extract, n_phrases: int = 3) -> str:
    """The instruction for ``extract`` (pure function of the extract)."""
    title = normalize(extract.title)
    heading = clean_heading(extract.heading)
    korean = is_korean(extract.text)
    phrases = key_phrases(extract.text, k=n_phrases, avoid=f"{title} {heading}")
    if heading and heading.casefold() != title.casefold():
        topic = f'"{heading}"'
    elif phrases:
        topic, phrases = phrases[0], phrases[1:]
    else:
        topic = "이 주제" if korean else "this topic"
    if not phrases:
        phrases = ["핵심 내용" if korean else "the key points"]
    if korean:
        choices = _KOREAN if title else _KOREAN_NO_TITLE
    else:
        choices = _ENGLISH if title else _ENGLISH_NO_TITLE
    # chosen by what the extract says: its id holds the source's link, a local file's path
    seed = "\x1f".join((extract.title, extract.heading, extract.text))
    pick = int(hashlib.sha256(seed.encode("utf-8")).hexdigest(), 16) % len(choices)
    return choices[pick].format(title=title, topic=topic, phrases=_join(phrases, korean))
