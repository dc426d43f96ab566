"""The judge on the real small local model: constrained choice gives every item a score (no reply to
parse, so nothing is malformed), and the choice log-probabilities are those of the model."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import pytest

MODEL_CACHE = Path(os.environ.get("LLM_TWIN_TEST_MODEL_CACHE", Path(tempfile.gettempdir()) / "llm_twin_test_models"))
ITEMS = [
    ("What does a feature pipeline do?", "It turns raw documents into features.", "It cleans and embeds documents."),
    ("Why use a vector database?", "It finds chunks close in meaning.", ""),  # an empty answer is judged too
    ("LLM 트윈이란 무엇인가요?", "한 사람의 글쓰기 스타일을 배운 모델입니다.", "글쓰기 스타일을 배운 언어 모델입니다."),
]


@pytest.fixture(scope="module")
def llm():
    import torch

    from llm_engineering.infrastructure.llm.local import LocalLLM
    from llm_engineering.settings import get_settings

    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODEL_CACHE_DIR", str(MODEL_CACHE))
        get_settings.cache_clear()
        client = LocalLLM(None)
        client._ensure_loaded()
        yield client
    get_settings.cache_clear()


def test_every_item_gets_a_score_and_a_verdict_from_the_small_model(llm):
    from llm_engineering.application.evaluation.judge import SCALE, Judge

    judge = Judge(llm, name="SmolLM2")
    assert judge.constrained
    scores = judge.score(ITEMS)
    assert len(scores) == len(ITEMS)
    for score in scores:
        assert not score.malformed and score.accuracy in SCALE and score.style in SCALE
    verdicts = judge.pairwise([(q, r, a, "I do not know.") for q, r, a in ITEMS[:2]])
    for verdict in verdicts:
        assert verdict.malformed == 0 and verdict.score in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert verdict.candidate_first in ("A", "B", "tie") and verdict.baseline_first in ("A", "B", "tie")


def test_choice_logprobs_are_the_models_own_and_do_not_depend_on_the_other_choices(llm):
    conversation = [{"role": "user", "content": "How many bits are in a byte? Reply with a number."}]
    # " 1", " 8", " 3" share their first token (a space): one row scores them all ...
    digits = llm.choice_logprobs([conversation], [" 1", " 8", " 3"], ["Answer:"])[0]
    # ... while " eight" does not, so this call takes one row per choice: same values either way.
    mixed = llm.choice_logprobs([conversation], [" 1", " 8", " 3", " eight"], ["Answer:"])[0]
    for choice in (" 1", " 8", " 3"):
        assert digits[choice] == pytest.approx(mixed[choice], abs=1e-3)
    assert all(v < 0 for v in mixed.values())
    assert sum(math.exp(v) for v in digits.values()) < 1
    assert digits[" 8"] > digits[" 3"]  # the model knows this one
