"""LLM-as-a-judge: absolute 1–3 scores for accuracy and style, and pairwise preference.

Any OpenAI-compatible model can judge through ``LLMClient`` (``get_llm``); the default local
small model also works but is a weak judge and is reported as such. Judging is deterministic
(temperature 0). The judge is asked for JSON that follows a written schema; replies are parsed
tolerantly (code fences, text around the object, single quotes, trailing commas, a bare
``"score": 2``), and a reply that still cannot be read counts as *malformed*: it is kept out of
the averages and reported, never a crash.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel

SCALE = (1, 2, 3)

RUBRIC = """\
Accuracy — is the answer factually right and does it address the question?
  1 (poor): wrong, misleading or off-topic; or it does not answer the question.
  2 (good): mostly right and on topic, with minor errors, gaps or vague parts.
  3 (excellent): correct, complete for the question asked, and precise.
Style — does it read like the author's technical blog (clear, direct, conversational)?
  1 (poor): robotic, padded, overly formal or academic, or hard to read.
  2 (good): readable and mostly natural, with some stiff or generic wording.
  3 (excellent): clear, concrete and conversational; technical terms only where they help."""

SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "accuracy": {
            "type": "object",
            "properties": {"analysis": {"type": "string"}, "score": {"type": "integer", "enum": list(SCALE)}},
            "required": ["analysis", "score"],
        },
        "style": {
            "type": "object",
            "properties": {"analysis": {"type": "string"}, "score": {"type": "integer", "enum": list(SCALE)}},
            "required": ["analysis", "score"],
        },
    },
    "required": ["accuracy", "style"],
}

PAIRWISE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "winner": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["reason", "winner"],
}

_SCORE_PROMPT = """You are an impartial reviewer of answers written for a technical blog.

Rubric:
{rubric}

Question:
{question}

Reference answer (for facts only):
{reference}

Answer to review:
{answer}

Reply with one JSON object only, following this JSON schema:
{schema}"""

_PAIRWISE_PROMPT = """You compare two answers to the same question for a technical blog.
Prefer the answer that is more accurate (judged against the reference) and reads more naturally.

Question:
{question}

Reference answer (for facts only):
{reference}

Answer A:
{a}

Answer B:
{b}

Reply with one JSON object only, following this JSON schema:
{schema}"""


class JudgeScore(BaseModel):
    accuracy: int | None = None
    style: int | None = None
    malformed: bool = False
    raw: str = ""


class PairwiseVerdict(BaseModel):
    """Preference of ``candidate`` over ``baseline`` on one item, judged in both orders.

    ``score``: 1 candidate wins, 0.5 tie, 0 baseline wins, averaged over the readable orders;
    ``consistent``: both orders readable and naming the same answer (or both tie).
    """

    candidate_first: Literal["A", "B", "tie"] | None = None
    baseline_first: Literal["A", "B", "tie"] | None = None
    score: float | None = None
    consistent: bool | None = None
    malformed: int = 0


def score_prompt(question: str, reference: str, answer: str) -> list[dict[str, str]]:
    text = _SCORE_PROMPT.format(
        rubric=RUBRIC,
        question=question,
        reference=reference,
        answer=answer or "(empty answer)",
        schema=json.dumps(SCORE_SCHEMA),
    )
    return [{"role": "user", "content": text}]


def pairwise_prompt(question: str, reference: str, a: str, b: str) -> list[dict[str, str]]:
    text = _PAIRWISE_PROMPT.format(
        question=question,
        reference=reference,
        a=a or "(empty answer)",
        b=b or "(empty answer)",
        schema=json.dumps(PAIRWISE_SCHEMA),
    )
    return [{"role": "user", "content": text}]


# --- tolerant parsing ---------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _json_objects(text: str) -> list[Any]:
    """JSON objects recovered from a reply: the project's JSON finder first (whole reply, fenced
    block, first decodable value), then repairs of common slips (trailing commas, single quotes)."""
    from llm_engineering.application.dataset.parsing import find_json

    value = find_json(text)
    if isinstance(value, dict):
        return [value]
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    found: list[Any] = []
    for candidate in candidates:
        for start in [i for i, c in enumerate(candidate) if c == "{"]:
            depth = 0
            for end in range(start, len(candidate)):
                if candidate[end] == "{":
                    depth += 1
                elif candidate[end] == "}":
                    depth -= 1
                    if depth == 0:
                        blob = candidate[start : end + 1]
                        for variant in (
                            blob,
                            _TRAILING_COMMA.sub(r"\1", blob),
                            _TRAILING_COMMA.sub(r"\1", blob.replace("'", '"')),
                        ):
                            try:
                                found.append(json.loads(variant))
                                break
                            except json.JSONDecodeError:
                                continue
                        break
            if found:
                return found
    return found


def _as_scale(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and float(value).is_integer() and int(value) in SCALE:
        return int(value)
    if isinstance(value, str) and value.strip() in {"1", "2", "3"}:
        return int(value.strip())
    return None


def _field_by_regex(text: str, field: str) -> int | None:
    match = re.search(rf'"?{field}"?\s*[:=]\s*\{{?[^0-9{{}}]*?"?score"?\s*[:=]\s*"?([0-9]+)', text, re.IGNORECASE)
    if not match:
        match = re.search(rf'"?{field}"?\s*[:=]\s*"?([0-9]+)', text, re.IGNORECASE)
    if match and int(match.group(1)) in SCALE:
        return int(match.group(1))
    return None


def parse_score(raw: str | None) -> JudgeScore:
    """Accuracy and style scores from a judge reply; missing/out-of-scale fields become ``None``."""
    text = raw or ""
    accuracy = style = None
    for obj in _json_objects(text):
        if isinstance(obj, dict):
            lowered = {str(k).lower(): v for k, v in obj.items()}
            accuracy = accuracy or _as_scale(lowered.get("accuracy"))
            style = style or _as_scale(lowered.get("style"))
    accuracy = accuracy or _field_by_regex(text, "accuracy")
    style = style or _field_by_regex(text, "style")
    return JudgeScore(accuracy=accuracy, style=style, malformed=accuracy is None or style is None, raw=text[:2000])


def parse_winner(raw: str | None) -> Literal["A", "B", "tie"] | None:
    text = raw or ""
    for obj in _json_objects(text):
        if isinstance(obj, dict):
            winner = str({str(k).lower(): v for k, v in obj.items()}.get("winner", "")).strip().strip('"').lower()
            if winner in ("a", "b"):
                return winner.upper()  # type: ignore[return-value]
            if winner in ("tie", "draw", "equal", "both"):
                return "tie"
    match = re.search(r'"?winner"?\s*[:=]\s*"?\s*(A|B|tie)\b', text, re.IGNORECASE)
    if match:
        value = match.group(1)
        return "tie" if value.lower() == "tie" else value.upper()  # type: ignore[return-value]
    return None


def combine_pairwise(candidate_first: str | None, baseline_first: str | None) -> PairwiseVerdict:
    """Both orders → one verdict. In ``candidate_first`` the candidate is A; in ``baseline_first``, B."""
    points: list[float] = []
    picks: list[str] = []
    if candidate_first is not None:
        picks.append({"A": "candidate", "B": "baseline", "tie": "tie"}[candidate_first])
    if baseline_first is not None:
        picks.append({"A": "baseline", "B": "candidate", "tie": "tie"}[baseline_first])
    points = [{"candidate": 1.0, "baseline": 0.0, "tie": 0.5}[p] for p in picks]
    return PairwiseVerdict(
        candidate_first=candidate_first,  # type: ignore[arg-type]
        baseline_first=baseline_first,  # type: ignore[arg-type]
        score=sum(points) / len(points) if points else None,
        consistent=(picks[0] == picks[1]) if len(picks) == 2 else None,
        malformed=2 - len(picks),
    )


class Judge:
    """Scores answers with an ``LLMClient`` at temperature 0."""

    def __init__(self, client, max_tokens: int = 256, weak: bool = False, name: str = "") -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.weak = weak
        self.name = name or getattr(client, "model_id", "") or type(client).__name__

    def _ask(self, conversations: Sequence[list[dict[str, str]]], schema: dict) -> list[str | None]:
        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": self.max_tokens}
        if "json_schema" in inspect.signature(self.client.chat_batch).parameters:
            kwargs["json_schema"] = schema  # structured output where the client supports it
        # Otherwise the prompt carries the schema and the tolerant parser reads the reply.
        results = self.client.chat_batch(list(conversations), **kwargs)
        return [getattr(r, "text", None) for r in results]

    def score(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeScore]:
        """``items``: (question, reference, answer) triples."""
        replies = self._ask([score_prompt(q, r, a) for q, r, a in items], SCORE_SCHEMA)
        scores = [parse_score(reply) for reply in replies]
        bad = sum(s.malformed for s in scores)
        if bad:
            logger.warning("judge {}: {} of {} replies malformed or incomplete", self.name, bad, len(scores))
        return scores

    def pairwise(self, items: Sequence[tuple[str, str, str, str]]) -> list[PairwiseVerdict]:
        """``items``: (question, reference, candidate answer, baseline answer); both orders asked."""
        conversations = []
        for q, r, cand, base in items:
            conversations.append(pairwise_prompt(q, r, cand, base))
            conversations.append(pairwise_prompt(q, r, base, cand))
        replies = self._ask(conversations, PAIRWISE_SCHEMA)
        return [
            combine_pairwise(parse_winner(replies[2 * i]), parse_winner(replies[2 * i + 1])) for i in range(len(items))
        ]
