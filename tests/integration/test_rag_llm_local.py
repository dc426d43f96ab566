"""The in-process LLM backend with the real SmolLM2: generation, streaming, stops, limits."""

import threading

import pytest
from fixtures.rag.support import local_llm

from llm_engineering.infrastructure.llm import ChatResult, LLMError

QUESTION = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]


@pytest.fixture(scope="module")
def llm():
    return local_llm()


def test_chat_answers_and_counts_tokens(llm):
    result = llm.chat([{"role": "user", "content": "What is the capital of France?"}], max_tokens=24)
    assert isinstance(result, ChatResult)
    assert "Paris" in result.text
    assert result.prompt_tokens > 5
    assert 0 < result.completion_tokens <= 24
    assert result.finish_reason == "stop"


def test_max_tokens_bounds_the_answer(llm):
    result = llm.chat(QUESTION, max_tokens=3)
    assert result.completion_tokens == 3
    assert result.finish_reason == "length"
    assert len(llm.tokenizer(result.text, add_special_tokens=False)["input_ids"]) <= 4


def test_stop_sequence_ends_the_answer_before_it(llm):
    full = llm.chat(QUESTION, max_tokens=40)
    assert "4" in full.text and "5" in full.text
    stopped = llm.chat(QUESTION, max_tokens=40, stop=["5"])
    assert "5" not in stopped.text
    assert stopped.text == full.text[: full.text.index("5")]
    assert stopped.finish_reason == "stop"


def test_stream_yields_pieces_that_join_to_the_answer(llm):
    whole = llm.chat(QUESTION, max_tokens=20)
    stream = llm.stream(QUESTION, max_tokens=20)
    pieces = list(stream)
    assert len(pieces) > 3
    assert "".join(pieces) == whole.text
    assert stream.result.completion_tokens == whole.completion_tokens


def test_stream_honours_stop_and_releases_the_model(llm):
    pieces = list(llm.stream(QUESTION, max_tokens=40, stop=["5"]))
    assert pieces and "5" not in "".join(pieces)
    # an abandoned stream must not keep the model locked
    stream = llm.stream(QUESTION, max_tokens=40)
    next(stream)
    stream.close()
    assert llm.chat(QUESTION, max_tokens=2).completion_tokens == 2


def test_batch_matches_single_greedy_answers(llm):
    conversations = [[{"role": "user", "content": "What is the capital of France?"}], QUESTION]
    batch = llm.chat_batch(conversations, max_tokens=12)
    singles = [llm.chat(c, max_tokens=12) for c in conversations]
    assert [r.text for r in batch] == [r.text for r in singles]


def test_concurrent_callers_share_one_model(llm):
    results = []

    def ask():
        results.append(llm.chat(QUESTION, max_tokens=6).text)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1


def test_sampling_parameters_pass_through(llm):
    result = llm.chat(QUESTION, max_tokens=8, temperature=0.9, top_p=0.9)
    assert result.completion_tokens <= 8 and result.text
    with pytest.raises(LLMError, match="top_p"):
        llm.chat(QUESTION, top_p=1.5)


LOOPING = [{"role": "user", "content": "What is the answer?\n\nThe answer is:"}]  # greedy SmolLM2 loops on this


def test_an_answer_stuck_in_a_loop_ends_with_one_copy(llm):
    llm.stop_repeats = False
    try:
        runaway = llm.chat(LOOPING, max_tokens=60)
    finally:
        llm.stop_repeats = True
    assert runaway.finish_reason == "length"
    assert runaway.text.count("The answer is:") >= 5

    result = llm.chat(LOOPING, max_tokens=60)
    assert result.finish_reason == "stop"
    assert result.completion_tokens < 30
    assert result.text.count("The answer is:") == 1
    assert runaway.text.startswith(result.text)


def test_loop_guard_works_per_row_of_a_batch_and_in_streams(llm):
    looped, counted = llm.chat_batch([LOOPING, QUESTION], max_tokens=40)
    assert looped.text.count("The answer is:") == 1 and looped.finish_reason == "stop"
    assert counted.text == llm.chat(QUESTION, max_tokens=40).text  # the other row is untouched

    stream = llm.stream(LOOPING, max_tokens=60)
    text = "".join(stream)
    assert stream.result.finish_reason == "stop"
    assert stream.result.completion_tokens == llm.chat(LOOPING, max_tokens=60).completion_tokens < 30
    assert text.count("The answer is:") <= 3  # streamed pieces cannot be taken back


def test_evaluation_answers_as_the_service_does(llm):
    from llm_engineering.application.evaluation.generation import generate_batch

    model, tokenizer = llm._ensure_loaded()
    answers = generate_batch(model, tokenizer, [LOOPING, QUESTION], max_new_tokens=40)
    served = [llm.chat(LOOPING, max_tokens=40), llm.chat(QUESTION, max_tokens=40)]
    assert [a[0] for a in answers] == [s.text.strip() for s in served]
    assert [a[2] for a in answers] == [s.finish_reason for s in served]
    assert answers[0][0].count("The answer is:") == 1  # the loop guard applies to evaluation too


def test_a_row_stopped_early_in_a_batch_counts_its_tokens_as_alone(llm):
    poem = [{"role": "user", "content": "Write a short poem about the sea."}]  # runs on after the other stops
    stopped, longer = llm.chat_batch([QUESTION, poem], max_tokens=40, stop=["5"])
    alone = llm.chat(QUESTION, max_tokens=40, stop=["5"])
    assert (stopped.text, stopped.completion_tokens) == (alone.text, alone.completion_tokens)
    assert longer.completion_tokens > stopped.completion_tokens
