"""LLM-as-a-judge: absolute 1–3 scores for accuracy and style, and pairwise preference.

Any ``LLMClient`` can judge (``get_llm``): the local model in this process or an OpenAI-compatible
server. Judging is deterministic and never depends on the judge writing well-formed text:

* **Constrained choice** (the local model; a server that returns log-probabilities): the judge
  reads the rubric, its reply is started for it (``Accuracy:``) and the score is the option
  (``1``, ``2``, ``3``; ``A``, ``B``, ``tie``) whose tokens the model finds most likely there —
  one forward pass per item, no free generation, so every item gets a score.
* **Parsed reply** (a server without log-probabilities): the judge is asked for JSON following a
  written schema; replies are parsed tolerantly (code fences, text around the object, single
  quotes, trailing commas, a bare ``"score": 2``), and a reply that still cannot be read counts
  as *malformed*: kept out of the averages and reported, never a crash.

**Sanity check.** Before judging, :meth:`Judge.sanity_check` asks the judge about six built-in
items whose answers are beyond dispute: for each, a correct answer and a plainly wrong one. A
judge that does not score the correct answer strictly higher on accuracy in at least
``min_agreement`` of them (and, for pairwise, prefer it in both orders) cannot tell right from
wrong on the easiest possible case, so its scores would mean nothing: evaluation skips it with
one line instead of spending minutes. A judge answering at random passes the 5-of-6 default with
a probability under 2 %.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel

from llm_engineering.application.dataset.parsing import find_json
from llm_engineering.infrastructure.log import progress

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

{reply_format}"""

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

{reply_format}"""


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


WINNERS = ("A", "B", "tie")
_JSON_REPLY = "Reply with one JSON object only, following this JSON schema:\n{schema}"
_SCORE_LINES = "Reply with two lines and nothing else:\nAccuracy: <1, 2 or 3>\nStyle: <1, 2 or 3>"
_WINNER_LINE = "Reply with one line and nothing else:\nWinner: <A, B or tie>"


def score_prompt(question: str, reference: str, answer: str, constrained: bool = False) -> list[dict[str, str]]:
    """The scoring request; ``constrained``: the reply is two ``Name: digit`` lines started for the judge."""
    text = _SCORE_PROMPT.format(
        rubric=RUBRIC,
        question=question,
        reference=reference,
        answer=answer or "(empty answer)",
        reply_format=_SCORE_LINES if constrained else _JSON_REPLY.format(schema=json.dumps(SCORE_SCHEMA)),
    )
    return [{"role": "user", "content": text}]


def pairwise_prompt(question: str, reference: str, a: str, b: str, constrained: bool = False) -> list[dict[str, str]]:
    text = _PAIRWISE_PROMPT.format(
        question=question,
        reference=reference,
        a=a or "(empty answer)",
        b=b or "(empty answer)",
        reply_format=_WINNER_LINE if constrained else _JSON_REPLY.format(schema=json.dumps(PAIRWISE_SCHEMA)),
    )
    return [{"role": "user", "content": text}]


# --- tolerant parsing ---------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _json_objects(text: str) -> list[Any]:
    """JSON objects recovered from a reply: the project's JSON finder first (whole reply, fenced
    block, first decodable value), then repairs of common slips (trailing commas, single quotes)."""
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


# Six questions whose answers are beyond dispute, each with a correct and a plainly wrong answer.
SANITY_ITEMS: tuple[tuple[str, str, str, str], ...] = (
    (
        "What does the HTTP status code 404 mean?",
        "The server could not find the requested resource.",
        "A 404 means the server could not find the page or resource you asked for.",
        "A 404 means the request succeeded and the server sent the page back.",
    ),
    (
        "Which data structure hands items back in first-in, first-out order?",
        "A queue.",
        "A queue: items leave in the same order they arrived.",
        "A stack, because the last item pushed is always the first one out.",
    ),
    (
        "What does `git clone` do?",
        "It copies a remote repository, with its history, into a new local folder.",
        "It copies a repository and its whole history into a new folder on your machine.",
        "It deletes the remote repository after merging it into the main branch.",
    ),
    (
        "How many bits are in a byte?",
        "Eight.",
        "A byte has 8 bits.",
        "A byte has 3 bits.",
    ),
    (
        "What does RAM stand for?",
        "Random-access memory.",
        "RAM stands for random-access memory, the computer's working memory.",
        "RAM stands for remote archive module, a kind of network drive.",
    ),
    (
        "파이썬에서 리스트의 길이를 구하는 함수는 무엇인가요?",
        "len() 함수입니다.",
        "len() 함수를 쓰면 리스트의 길이를 구할 수 있습니다.",
        "print() 함수가 리스트의 길이를 계산해서 돌려줍니다.",
    ),
)


class SanityCheck(BaseModel):
    """How a judge did on ``SANITY_ITEMS`` (see the module docstring)."""

    items: int
    needed: int
    """Items the judge must get right to be used."""
    scored_right: int
    """Items whose correct answer got a strictly higher accuracy score than the wrong one."""
    scored_asked: int
    """Items asked before the result was certain (asking stops once the judge cannot pass)."""
    preferred_right: int | None = None
    """Items whose correct answer won the pairwise comparison in both orders (None: not asked)."""
    preferred_asked: int = 0

    @property
    def scoring_passed(self) -> bool:
        return self.scored_right >= self.needed

    @property
    def pairwise_passed(self) -> bool:
        return self.preferred_right is not None and self.preferred_right >= self.needed

    def failure(self, what: str) -> str:
        if what == "scores":
            task, got, asked = (
                "scored the correct answer above a plainly wrong one",
                self.scored_right,
                self.scored_asked,
            )
        else:
            task, got, asked = "preferred the correct answer in both orders", self.preferred_right, self.preferred_asked
        return f"it {task} on {got} of {asked} built-in sanity items asked (needs {self.needed} of {self.items})"


class LogprobsUnavailable(RuntimeError):
    """The judge's server returned no log-probabilities."""


class ServerChoices:
    """``choice_logprobs`` for an OpenAI-compatible server that returns log-probabilities.

    A chat server cannot be handed the start of its reply, so the prefix goes at the end of the
    request ("complete this reply ...: Accuracy:") and the server writes one token; each option's
    value is the log-probability of its first token among the ``top_logprobs`` of that token
    (``-inf`` when absent). A server that returns none raises ``LogprobsUnavailable``.
    """

    top_logprobs = 20

    def __init__(self, client) -> None:
        self.client = client

    def choice_logprobs(self, conversations, choices: Sequence[str], prefixes: Sequence[str]) -> list[dict[str, float]]:
        options = "/".join(c.strip() for c in choices)
        out = []
        for messages, prefix in zip(conversations, prefixes, strict=True):
            *history, last = [dict(m) for m in messages]
            last["content"] += f"\n\nComplete this reply with one of {options} and nothing else:\n{prefix}"
            request = {
                "model": self.client.model_id,
                "messages": [*history, last],
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": True,
                "top_logprobs": self.top_logprobs,
            }
            # the backend's own retrying call; the public chat() has no log-probabilities to give
            response = self.client._call(lambda request=request: self.client._client.chat.completions.create(**request))
            content = getattr(response.choices[0].logprobs, "content", None) if response.choices else None
            if not content:
                raise LogprobsUnavailable(f"{self.client.base_url} returned no log-probabilities")
            found: dict[str, float] = {}
            for top in content[0].top_logprobs or []:
                found.setdefault(top.token.strip(), top.logprob)
            out.append({c: found.get(c.strip(), -math.inf) for c in choices})
        return out


class Judge:
    """Scores answers with an ``LLMClient`` at temperature 0 (see the module docstring)."""

    def __init__(self, client, max_tokens: int = 256, weak: bool = False, name: str = "", batch_size: int = 4) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.weak = weak
        self.batch_size = max(1, batch_size)
        self.name = name or getattr(client, "model_id", "") or type(client).__name__
        self.chooser = client if callable(getattr(client, "choice_logprobs", None)) else None
        if self.chooser is None and hasattr(client, "_client") and hasattr(client, "_call"):
            self.chooser = ServerChoices(client)  # an OpenAI-compatible server: log-probabilities if it has them

    @property
    def constrained(self) -> bool:
        return self.chooser is not None

    @property
    def method(self) -> str:
        if self.constrained:
            return "constrained choice: the most likely option by the judge's log-probabilities"
        return "free reply in JSON, parsed"

    def _choose(self, conversations, prefixes: Sequence[str], options: Sequence[str]) -> list[str | None]:
        """The most likely of ``options`` after each conversation's reply prefix."""
        values = self.chooser.choice_logprobs(conversations, [f" {o}" for o in options], prefixes)
        # None: no option was among the server's most likely tokens (a local model always has one)
        return [max(options, key=lambda o: v[f" {o}"]) if max(v.values()) > -math.inf else None for v in values]

    def _constrained(self, fn: Callable[[], list]) -> list | None:
        """``fn()``; None once the server turns out to give no log-probabilities (then: JSON replies)."""
        try:
            return fn()
        except LogprobsUnavailable as exc:
            logger.info("judge {}: {}; reading its JSON replies instead", self.name, exc)
            self.chooser = None
            return None

    def _ask(self, conversations: Sequence[list[dict[str, str]]], schema: dict) -> list[str | None]:
        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": self.max_tokens}
        if "json_schema" in inspect.signature(self.client.chat_batch).parameters:
            kwargs["json_schema"] = schema  # structured output where the client supports it
        # Otherwise the prompt carries the schema and the tolerant parser reads the reply.
        results = self.client.chat_batch(list(conversations), **kwargs)
        return [getattr(r, "text", None) for r in results]

    def _batched(self, what: str, items: Sequence, fn: Callable[[Sequence], list]) -> list:
        out: list = []
        with progress(len(items), what, unit="item") as bar:
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                out.extend(fn(chunk))
                bar.update(len(chunk))
        return out

    def _batched_scores(self, chunk: Sequence[tuple[str, str, str]], style: bool = True) -> list[JudgeScore]:
        """Scores of a few items; ``style=False`` skips the constrained path's second pass."""
        if self.constrained:
            scores = self._constrained(lambda: self._chosen_scores(chunk, style))
            if scores is not None:
                return scores
        replies = self._ask([score_prompt(q, r, a) for q, r, a in chunk], SCORE_SCHEMA)
        return [parse_score(reply) for reply in replies]

    def _chosen_scores(self, chunk: Sequence[tuple[str, str, str]], style: bool) -> list[JudgeScore]:
        conversations = [score_prompt(q, r, a, constrained=True) for q, r, a in chunk]
        options = [str(v) for v in SCALE]
        accuracy = self._choose(conversations, ["Accuracy:"] * len(chunk), options)
        styles = (
            self._choose(conversations, [f"Accuracy: {a or '?'}\nStyle:" for a in accuracy], options)
            if style
            else [None] * len(chunk)
        )
        return [
            JudgeScore(
                accuracy=int(a) if a else None,
                style=int(st) if st else None,
                malformed=a is None or (style and st is None),
                raw=f"Accuracy: {a}" + (f"\nStyle: {st}" if style else ""),
            )
            for a, st in zip(accuracy, styles, strict=True)
        ]

    def _winner_chunk(self, chunk: Sequence[tuple[str, str, str, str]]) -> list[str | None]:
        if self.constrained:
            conversations = [pairwise_prompt(*item, constrained=True) for item in chunk]
            winners = self._constrained(lambda: self._choose(conversations, ["Winner:"] * len(chunk), WINNERS))
            if winners is not None:
                return winners
        replies = self._ask([pairwise_prompt(*item) for item in chunk], PAIRWISE_SCHEMA)
        return [parse_winner(reply) for reply in replies]

    def score(self, items: Sequence[tuple[str, str, str]], what: str = "") -> list[JudgeScore]:
        """``items``: (question, reference, answer) triples; one score pair per item."""
        scores = self._batched(what or f"judge {self.name}: scores", list(items), self._batched_scores)
        bad = sum(s.malformed for s in scores)
        if bad:
            logger.warning("judge {}: {} of {} replies malformed or incomplete", self.name, bad, len(scores))
        return scores

    def pairwise(self, items: Sequence[tuple[str, str, str, str]], what: str = "") -> list[PairwiseVerdict]:
        """``items``: (question, reference, candidate answer, baseline answer); both orders asked."""
        orders = []
        for q, r, cand, base in items:
            orders.append((q, r, cand, base))
            orders.append((q, r, base, cand))
        winners = self._batched(what or f"judge {self.name}: comparisons", orders, self._winner_chunk)
        return [combine_pairwise(winners[2 * i], winners[2 * i + 1]) for i in range(len(items))]

    def sanity_check(self, min_agreement: float, pairwise: bool = True) -> SanityCheck:
        """The judge on ``SANITY_ITEMS``: does it rank a correct answer above a plainly wrong one?

        Items are asked one at a time and asking stops as soon as the judge can no longer pass."""
        n = len(SANITY_ITEMS)
        needed = math.ceil(min_agreement * n - 1e-9)

        def count(what: str, right_on: Callable[[tuple[str, str, str, str]], bool]) -> tuple[int, int]:
            right = asked = 0
            with progress(n, f"judge sanity check: {what}", unit="item") as bar:
                for item in SANITY_ITEMS:
                    if right + (n - asked) < needed:
                        break  # cannot pass any more
                    right += right_on(item)
                    asked += 1
                    bar.update()
            return right, asked

        def accuracy_right(item) -> bool:
            q, r, good, bad = item
            g, b = self._batched_scores([(q, r, good), (q, r, bad)], style=False)
            return g.accuracy is not None and b.accuracy is not None and g.accuracy > b.accuracy

        def preference_right(item) -> bool:
            q, r, good, bad = item
            verdict = combine_pairwise(*self._winner_chunk([(q, r, good, bad), (q, r, bad, good)]))
            return verdict.score == 1.0 and verdict.consistent is True

        scored_right, scored_asked = count("scores", accuracy_right)
        check = SanityCheck(items=n, needed=needed, scored_right=scored_right, scored_asked=scored_asked)
        if pairwise:
            check.preferred_right, check.preferred_asked = count("comparisons", preference_right)
        return check
