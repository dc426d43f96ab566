"""The LLM judge: tolerant parsing, malformed replies counted (never averaged, never a crash),
temperature 0, both pairwise orders — against a real OpenAI-compatible HTTP server on 127.0.0.1
that answers with scripted (often broken) judgments."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llm_engineering.application.evaluation.config import load_config
from llm_engineering.application.evaluation.generation import ItemRun, ModelRun
from llm_engineering.application.evaluation.judge import (
    SANITY_ITEMS,
    SCORE_SCHEMA,
    combine_pairwise,
    parse_score,
    parse_winner,
    score_prompt,
)
from llm_engineering.application.evaluation.runner import score_runs
from llm_engineering.application.evaluation.samples import EvalSample

VALID = '{"accuracy": {"analysis": "right", "score": 3}, "style": {"analysis": "clear", "score": 2}}'


@pytest.mark.parametrize(
    ("reply", "accuracy", "style"),
    [
        (VALID, 3, 2),
        (f"Here is my verdict:\n```json\n{VALID}\n```\nThanks!", 3, 2),
        ('{"accuracy": {"analysis": "ok", "score": 1,}, "style": {"score": "3"},}', 1, 3),  # trailing commas
        ("{'accuracy': 2, 'style': 2}", 2, 2),  # single quotes, bare scores
        ('{"accuracy": {"analysis": "a", "score": 1}, "style": {"analysis": "b", "score": 3}', 1, 3),  # no final }
        ('"Accuracy": {"score": 2} and then the model rambled "style": 1', 2, 1),  # not JSON at all
    ],
)
def test_parse_score_reads_sloppy_but_meaningful_replies(reply, accuracy, style):
    parsed = parse_score(reply)
    assert (parsed.accuracy, parsed.style, parsed.malformed) == (accuracy, style, False)


@pytest.mark.parametrize(
    "reply",
    [
        "",
        None,
        "I think the answer is pretty good overall.",
        '{"accuracy": {"score": 7}, "style": {"score": 0}}',  # off the 1-3 scale
        '{"accuracy": {"analysis": "cut off mid-',
        "[1, 2, 3]",
    ],
)
def test_parse_score_marks_unreadable_replies_malformed(reply):
    parsed = parse_score(reply)
    assert parsed.malformed
    assert parsed.accuracy is None or parsed.style is None


def test_parse_winner_and_position_bias_cancellation():
    assert parse_winner('{"reason": "x", "winner": "B"}') == "B"
    assert parse_winner('```json\n{"winner": "tie"}\n```') == "tie"
    assert parse_winner("winner: a") == "A"
    assert parse_winner("Both are fine.") is None
    # A judge that always picks the first answer prefers nobody once both orders are asked.
    biased = combine_pairwise("A", "A")
    assert biased.score == 0.5 and biased.consistent is False
    assert combine_pairwise("A", "B").score == 1.0  # candidate wins in both orders
    assert combine_pairwise("B", "A").score == 0.0
    one_sided = combine_pairwise(None, "B")
    assert one_sided.score == 1.0 and one_sided.malformed == 1 and one_sided.consistent is None


def test_score_prompt_carries_the_rubric_and_schema():
    text = score_prompt("Q?", "ref", "ans")[0]["content"]
    assert "1 (poor)" in text and "3 (excellent)" in text
    assert json.dumps(SCORE_SCHEMA) in text


# --- through a real OpenAI-compatible server ------------------------------------------------------


def _competent_reply(prompt: str) -> str:
    right = {good for _, _, good, _ in SANITY_ITEMS}
    if "Answer A:" in prompt:
        a = prompt.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
        b = prompt.split("Answer B:\n")[1].split("\n\n")[0]
        return json.dumps(
            {"reason": "r", "winner": "A" if a in right or "GOOD" in a else "B" if b in right or "GOOD" in b else "tie"}
        )
    answer = prompt.split("Answer to review:\n")[1].split("\n\n")[0]
    score = 3 if answer in right or "GOOD" in answer else 1
    return json.dumps({"accuracy": {"analysis": "a", "score": score}, "style": {"analysis": "s", "score": 2}})


def _one_token_with_logprobs(prompt: str) -> dict:
    """A competent judge's one-token reply with the top log-probabilities (the OpenAI format)."""
    tail = prompt.rsplit("and nothing else:\n", 1)[1]
    if tail.endswith("Winner:"):
        best = json.loads(_competent_reply(prompt))["winner"]
        others = [w for w in ("A", "B", "tie") if w != best]
    elif tail.endswith("Style:"):
        best, others = "2", ["3"]
    else:
        best = str(json.loads(_competent_reply(prompt))["accuracy"]["score"])
        others = [d for d in "123" if d != best]
    if "NOTHING-LIKELY" in prompt:  # none of the options among the likely tokens
        best, others = "Hmm", ["Well"]
    top = [{"token": best, "logprob": -0.05, "bytes": None}]
    top += [{"token": o, "logprob": -3.0 - n, "bytes": None} for n, o in enumerate(others)]
    return {"content": [{"token": best, "logprob": -0.05, "bytes": None, "top_logprobs": top}]}


class _JudgeServer(BaseHTTPRequestHandler):
    requests: list[dict] = []
    knows_right_from_wrong = False
    gives_logprobs = False

    def log_message(self, *args):  # keep test output quiet
        return

    def _send(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self._send({"object": "list", "data": [{"id": "judge", "object": "model", "created": 0, "owned_by": "t"}]})

    def do_POST(self):  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(request)
        prompt = request["messages"][-1]["content"]
        logprobs = None
        if type(self).gives_logprobs and request.get("logprobs"):
            logprobs = _one_token_with_logprobs(prompt)
            reply = logprobs["content"][0]["token"]
        elif type(self).knows_right_from_wrong:  # a competent judge: knows the sanity items' answers
            reply = _competent_reply(prompt)
        elif "Answer A:" in prompt:
            reply = '{"reason": "first one", "winner": "A"}'  # a judge with a strong position bias
        elif "GOOD" in prompt.split("Answer to review:")[1]:
            reply = f"```json\n{VALID}\n```"
        elif "BROKEN" in prompt.split("Answer to review:")[1]:
            reply = "As an AI I cannot grade this"
        else:
            reply = '{"accuracy": {"analysis": "the answer is'  # cut off by max_tokens
        self._send(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "judge",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": reply},
                        "logprobs": logprobs,
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )


@pytest.fixture
def judge_server(monkeypatch):
    from llm_engineering.infrastructure.llm import get_llm

    _JudgeServer.requests = []
    _JudgeServer.knows_right_from_wrong = False
    _JudgeServer.gives_logprobs = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JudgeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LLM_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    get_llm.cache_clear()
    yield _JudgeServer
    server.shutdown()
    get_llm.cache_clear()


def _run(label: str, answers: list[str]) -> ModelRun:
    return ModelRun(
        label=label,
        model_id=label,
        model_dir=f"/nowhere/{label}",
        version=label,
        items=[ItemRun(sample_id=str(i), answer=a) for i, a in enumerate(answers)],
    )


def test_malformed_judgments_are_counted_and_left_out_of_the_averages(judge_server):
    samples = [EvalSample(id=str(i), instruction=f"Question {i}?", reference=f"Reference {i}.") for i in range(4)]
    runs = [
        _run("base", ["BROKEN one", "BROKEN two", "GOOD three", "truncated four"]),
        _run("tuned", ["GOOD one", "GOOD two", "GOOD three", "BROKEN four"]),
    ]
    config = load_config(
        {
            "metrics": {"loss": False, "semantic": False, "style": False, "overlap": False},
            "judge": {"model_id": "judge", "min_sanity_agreement": None},
        }
    )
    result = score_runs(config, samples, runs)

    base, tuned = result.model("base"), result.model("tuned")
    assert base.judge_malformed == 3 and tuned.judge_malformed == 1
    assert base.metrics["judge_accuracy"].value == 3.0 and base.metrics["judge_accuracy"].missing == 3
    assert tuned.metrics["judge_accuracy"].value == 3.0 and tuned.metrics["judge_style"].value == 2.0
    assert tuned.metrics["judge_accuracy"].n == 3
    # Position bias: "A" every time → both orders cancel to a tie on every item.
    assert result.pairwise.win_rate.value == 0.5
    assert result.pairwise.consistency == 0.0
    assert result.judge.weak is False  # a remote judge (LLM_BASE_URL) is not flagged weak
    assert {r["temperature"] for r in judge_server.requests} == {0.0}
    # 1 request for log-probabilities (none: JSON replies from then on), 4 items x 2 models scored,
    # 4 items x 2 orders compared
    assert len(judge_server.requests) == 1 + 8 + 2 * 4
    assert judge_server.requests[0]["logprobs"] is True and "logprobs" not in judge_server.requests[1]


def test_judge_item_limit_and_all_malformed_model(judge_server):
    samples = [EvalSample(id=str(i), instruction=f"Q{i}?", reference="R.") for i in range(3)]
    runs = [_run("base", ["BROKEN"] * 3), _run("tuned", ["GOOD"] * 3)]
    config = load_config(
        {
            "metrics": {"loss": False, "semantic": False, "style": False, "overlap": False, "pairwise": False},
            "judge": {"model_id": "judge", "max_items": 2, "min_sanity_agreement": None},
        }
    )
    result = score_runs(config, samples, runs)
    assert result.judge.judged_items == 2
    assert result.model("base").metrics["judge_accuracy"].value is None  # nothing readable: n/a, no crash
    assert result.model("tuned").metrics["judge_accuracy"].n == 2
    assert result.pairwise is None


def _sanity_questions(requests: list[dict]) -> int:
    questions = {q for q, _, _, _ in SANITY_ITEMS}
    return sum(any(q in r["messages"][-1]["content"] for q in questions) for r in requests)


def test_a_judge_that_fails_the_sanity_check_is_skipped_with_one_line_each(judge_server):
    from loguru import logger

    samples = [EvalSample(id=str(i), instruction=f"Question {i}?", reference=f"Reference {i}.") for i in range(4)]
    runs = [_run("base", ["GOOD"] * 4), _run("tuned", ["GOOD"] * 4)]
    config = load_config(
        {
            "metrics": {"loss": False, "semantic": False, "style": False, "overlap": False},
            "judge": {"model_id": "judge"},
        }
    )
    warnings: list[str] = []
    handler = logger.add(lambda m: warnings.append(m.record["message"]), level="WARNING")
    try:
        result = score_runs(config, samples, runs)
    finally:
        logger.remove(handler)

    # Only sanity items were asked, and only until passing was out of reach (2 wrong of 6, 5 needed):
    # 2 items scored twice (right and wrong answer), 2 compared in both orders; no evaluation item.
    assert len(judge_server.requests) == _sanity_questions(judge_server.requests) == 1 + 2 * 2 + 2 * 2
    assert result.judge.judged_items == 0 and result.pairwise is None
    assert "judge_accuracy" not in result.model("base").metrics
    skipped = [w for w in warnings if "too weak a judge" in w]
    assert len(skipped) == 2
    assert "judge scores skipped" in skipped[0] and "on 0 of 2 built-in sanity items asked (needs 5 of 6)" in skipped[0]
    assert "pairwise preference skipped" in skipped[1]
    assert result.judge.skipped == [line.split(" (a stronger")[0] for line in skipped]
    assert result.judge.sanity["scored_right"] == 0 and result.judge.sanity["preferred_right"] == 0


def test_a_judge_that_passes_the_sanity_check_judges_every_item(judge_server):
    judge_server.knows_right_from_wrong = True
    samples = [EvalSample(id=str(i), instruction=f"Question {i}?", reference=f"Reference {i}.") for i in range(3)]
    runs = [_run("base", ["BROKEN", "BROKEN", "BROKEN"]), _run("tuned", ["GOOD", "GOOD", "BROKEN"])]
    config = load_config(
        {
            "metrics": {"loss": False, "semantic": False, "style": False, "overlap": False},
            "judge": {"model_id": "judge"},
        }
    )
    result = score_runs(config, samples, runs)
    assert result.judge.skipped == [] and result.judge.judged_items == 3
    assert result.judge.sanity["scored_right"] == 6 and result.judge.sanity["preferred_right"] == 6
    assert _sanity_questions(judge_server.requests) == 1 + 24
    assert len(judge_server.requests) == 1 + 24 + 3 * 2 + 3 * 2
    assert result.judge.method == "free reply in JSON, parsed"
    assert result.model("tuned").metrics["judge_accuracy"].value == pytest.approx(7 / 3)
    assert result.model("base").metrics["judge_accuracy"].value == 1.0
    assert result.pairwise.win_rate.value == pytest.approx((1 + 1 + 0.5) / 3)


def test_a_server_with_log_probabilities_is_judged_by_them_without_parsing_replies(judge_server):
    judge_server.gives_logprobs = True
    samples = [EvalSample(id=str(i), instruction=f"Question {i}?", reference=f"Reference {i}.") for i in range(3)]
    runs = [_run("base", ["BROKEN", "BROKEN", "NOTHING-LIKELY"]), _run("tuned", ["GOOD", "GOOD", "BROKEN"])]
    config = load_config(
        {
            "metrics": {"loss": False, "semantic": False, "style": False, "overlap": False, "pairwise": False},
            "judge": {"model_id": "judge"},
        }
    )
    result = score_runs(config, samples, runs)
    assert result.judge.method.startswith("constrained choice") and result.judge.sanity["scored_right"] == 6
    assert all(r["logprobs"] is True and r["max_tokens"] == 1 for r in judge_server.requests)
    tuned, base = result.model("tuned"), result.model("base")
    assert tuned.metrics["judge_accuracy"].value == pytest.approx(7 / 3) and tuned.metrics["judge_style"].value == 2
    # no option among the likely tokens: that item is unreadable, counted, and left out
    assert base.judge_malformed == 1 and base.metrics["judge_accuracy"].value == 1.0
