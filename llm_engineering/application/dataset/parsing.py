"""Read JSON out of a model's reply, item by item, with a pydantic schema.

Models wrap JSON in prose or code fences, cut it off, or get a field wrong. ``parse_items``
finds the first JSON value in the reply (whole reply, fenced block, or the first ``{``/``[``
that decodes), takes its list of items (a bare list, any list of objects inside an object, or a
single object), and validates every item on its own: a bad item is counted under a reason and
skipped, the good ones beside it are kept.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


class InstructionAnswer(BaseModel):
    instruction: str
    answer: str

    @field_validator("instruction", "answer", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value


class InstructionOnly(BaseModel):
    instruction: str

    _text = field_validator("instruction", mode="before")(InstructionAnswer._text.__func__)


@dataclass
class ParseResult:
    items: list[BaseModel] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


def find_json(text: str) -> Any | None:
    """The first JSON object or array in ``text``; None when there is none."""
    text = text.strip()
    if not text:
        return None
    candidates = [text, *(m.group(1) for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, (dict, list)):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, (dict, list)):
            return value
    return None


def _raw_items(value: Any, keys: tuple[str, ...]) -> list[Any]:
    if isinstance(value, list):
        return value
    if any(k in value for k in keys):
        return [value]
    for inner in value.values():
        if isinstance(inner, list) and inner and all(isinstance(i, dict) for i in inner):
            return inner
    return [value]


def parse_items(text: str | None, schema: type[BaseModel], limit: int | None = None) -> ParseResult:
    """Valid ``schema`` items of a reply, and the count of what failed and why.

    Reasons: ``empty_response``, ``no_json``, ``invalid_item`` (not an object, a field missing
    or of the wrong type), ``empty_field``, ``extra_items`` (more than ``limit``).
    """
    result = ParseResult()
    if not text or not text.strip():
        result.failures["empty_response"] += 1
        return result
    value = find_json(text)
    if value is None:
        result.failures["no_json"] += 1
        return result
    keys = tuple(schema.model_fields)
    for raw in _raw_items(value, keys):
        if limit is not None and len(result.items) >= limit:
            result.failures["extra_items"] += 1
            continue
        if not isinstance(raw, dict):
            result.failures["invalid_item"] += 1
            continue
        try:
            result.items.append(schema.model_validate(raw))
        except ValidationError as exc:
            empty = any("must not be empty" in str(e.get("msg", "")) for e in exc.errors())
            result.failures["empty_field" if empty else "invalid_item"] += 1
    return result
