"""Self-query: find the author a question names, among the warehouse's users.

``NameAuthorDetector`` needs no LLM: it matches users' full names and name parts against the
question, Unicode- and case-insensitively (NFKC + case folding, the same key the warehouse uses).
A part of a name counts when it is a whole word; a Korean name also matches by its given name
(the syllables after a one-syllable family name) and with or without spaces, and may be followed
by particles ("김민준의 글"). A full name beats a part; two users tied on a part match nobody.
``LLMAuthorDetector`` asks an ``LLMClient`` for the name when no name matches and resolves the
reply with the same matcher. Detection only reads users: it never creates one.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from loguru import logger

from llm_engineering.domain.documents import UserDocument
from llm_engineering.domain.identity import name_key
from llm_engineering.exceptions import LLMTwinError

_CJK_CHAR = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_HANGUL_NAME = re.compile(r"^[\uac00-\ud7af]{3,4}$")
USERS_TTL_S = 5.0


class UnknownAuthorError(LLMTwinError, LookupError):
    """An author was named explicitly but no such user is in the warehouse."""


class AuthorDetector(Protocol):
    def detect(self, query: str) -> UserDocument | None: ...


@dataclass(frozen=True)
class _Form:
    pattern: re.Pattern
    weight: int  # full names outrank parts; longer forms outrank shorter ones


def _compile(form: str) -> re.Pattern:
    left = r"(?<![^\W_])"
    # After a Hangul/Han name anything may follow (particles attach to the name).
    right = "" if _CJK_CHAR.match(form[-1]) else r"(?![^\W_])"
    return re.compile(left + re.escape(form) + right)


def _min_part_length(part: str) -> int:
    return 2 if _CJK_CHAR.match(part[0]) else 3


def name_forms(full_name: str) -> list[_Form]:
    key = name_key(full_name)
    forms: dict[str, int] = {key: 1000 + len(key)}
    if " " in key:
        forms.setdefault(key.replace(" ", ""), 1000 + len(key))
        for part in key.split(" "):
            if len(part) >= _min_part_length(part):
                forms.setdefault(part, len(part))
    elif _HANGUL_NAME.match(key):
        forms.setdefault(key[1:], len(key) - 1)  # given name without the family name
    return [_Form(_compile(f), w) for f, w in forms.items()]


class NameAuthorDetector:
    """Matches users' names in the question (see the module docstring)."""

    def __init__(self) -> None:
        self._users: list[tuple[UserDocument, list[_Form]]] = []
        self._signature: int | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def _known_users(self) -> list[tuple[UserDocument, list[_Form]]]:
        with self._lock:
            now = time.monotonic()
            if self._signature is None or now - self._checked_at > USERS_TTL_S:
                count = UserDocument.count()
                if count != self._signature:
                    self._users = [(u, name_forms(u.full_name)) for u in UserDocument.bulk_find()]
                    self._signature = count
                self._checked_at = now
            return self._users

    def ranked(self, text: str) -> list[tuple[int, UserDocument]]:
        key = name_key(text)
        scored = []
        for user, forms in self._known_users():
            best = max((f.weight for f in forms if f.pattern.search(key)), default=0)
            if best:
                scored.append((best, user))
        return sorted(scored, key=lambda pair: -pair[0])

    def detect(self, query: str) -> UserDocument | None:
        ranked = self.ranked(query)
        if not ranked:
            return None
        if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
            names = ", ".join(u.full_name for _, u in ranked[:3])
            logger.info(f"self-query: the question matches several authors equally ({names}); no author filter")
            return None
        return ranked[0][1]

    def resolve(self, name: str) -> UserDocument:
        """The user an explicitly given name means (exact name first); UnknownAuthorError if none."""
        exact = UserDocument.find_by_name(name) if name.strip() else None
        found = exact or self.detect(name)
        if found is None:
            raise UnknownAuthorError(f"no author named {name.strip()!r} in the warehouse")
        return found


class LLMAuthorDetector:
    """Names first; when none matches, asks the LLM who the question is about, then matches that."""

    PROMPT = (
        "Which person's writing or opinion is this question asking about? Reply with the person's "
        "name only, or NONE if it names nobody.\n\nQuestion: {query}"
    )

    def __init__(self, llm, names: NameAuthorDetector | None = None) -> None:
        self.llm = llm
        self.names = names or NameAuthorDetector()

    def detect(self, query: str) -> UserDocument | None:
        found = self.names.detect(query)
        if found is not None:
            return found
        reply = self.llm.chat(
            [{"role": "user", "content": self.PROMPT.format(query=query)}], max_tokens=16, stop=["\n"]
        ).text.strip()
        if not reply or reply.upper().startswith("NONE"):
            return None
        return self.names.detect(reply)
