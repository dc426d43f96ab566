"""Stop strings are cut the same way in whole answers and in streams split anywhere."""

import pytest

from llm_engineering.infrastructure.llm.base import (
    LLMError,
    StopStreamFilter,
    check_arguments,
    cut_at_stop,
    repeated_tail,
)


def test_cut_at_earliest_stop():
    assert cut_at_stop("alpha END beta STOP", ["STOP", "END"]) == ("alpha ", True)
    assert cut_at_stop("no stop here", ["STOP"]) == ("no stop here", False)
    assert cut_at_stop("text", None) == ("text", False)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_stream_filter_never_emits_a_stop_string_whatever_the_split(size):
    text = "안녕하세요 <|end|> hidden"
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    f = StopStreamFilter(["<|end|>"])
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    assert out == "안녕하세요 "
    assert f.stopped


def test_stream_filter_releases_held_back_prefix_when_it_is_not_a_stop():
    f = StopStreamFilter(["###"])
    out = "".join(f.feed(p) for p in ["a #", "# b", " c"]) + f.flush()
    assert out == "a ## b c"
    assert not f.stopped


@pytest.mark.parametrize(
    "messages,max_tokens,temperature,top_p,error",
    [
        ([], 5, 0, 1, "empty"),
        ([{"role": "robot", "content": "x"}], 5, 0, 1, "role"),
        ([{"content": "x"}], 5, 0, 1, "role"),
        ([{"role": "user", "content": "x"}], 0, 0, 1, "max_tokens"),
        ([{"role": "user", "content": "x"}], 5, -1, 1, "temperature"),
        ([{"role": "user", "content": "x"}], 5, 0, 0, "top_p"),
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_message(messages, max_tokens, temperature, top_p, error):
    with pytest.raises(LLMError, match=error):
        check_arguments(messages, max_tokens, temperature, top_p)


def test_repeated_tail_keeps_one_copy_of_a_block_repeated_three_times():
    answer = [7, 8, 9]
    block = [1, 2, 3, 4, 5]
    assert repeated_tail(answer + block * 3) == 10  # drop two copies, keep the answer and one block
    assert repeated_tail(answer + block * 5) == 10  # the shortest repeating block wins: still one copy kept
    assert repeated_tail([4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]) == 8  # one token repeated: a 4-token block


def test_repeated_tail_leaves_answers_that_do_not_loop():
    block = [1, 2, 3, 4, 5]
    assert repeated_tail([]) == 0
    assert repeated_tail(block * 2) == 0  # said twice is not a loop
    assert repeated_tail([1, 2, 3] * 3) == 0  # blocks shorter than min_block are legitimate (lists, tables)
    assert repeated_tail(block * 3 + [6]) == 0  # the model moved on
    assert repeated_tail(list(range(40))) == 0
