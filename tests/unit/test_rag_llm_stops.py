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


# --- near-repeat loops: a sentence said again with small changes ---------------------------------

LOOP = " ".join(
    f"The experiment was designed to measure recall@5, which is the most important metric for {q}."
    for q in ("Q4_K_M", "Q8_0", "F16", "Q5_K_S", "Q2_K")
)
PLAIN = (
    "I measure before arguing: recall@5 on a held-out set of 40 questions, the latency at p95 on my "
    "ThinkPad T480, and the size of the index on disk. Then I compare the boring version first, BM25 "
    "alone, with the hybrid. Only when the numbers differ by more than the noise between two runs do I "
    "argue for a change, and I write down the recall@5 of both so the next person can check it."
)


def _ids(text: str, vocabulary: dict[str, int]) -> list[int]:
    """Words and punctuation as token ids (a stand-in tokenizer: one id per distinct piece)."""
    import re

    return [vocabulary.setdefault(piece, len(vocabulary)) for piece in re.findall(r"\w+|[^\w\s]", text)]


def test_a_near_repeat_loop_is_cut_where_the_first_changed_copy_begins():
    vocabulary: dict[str, int] = {}
    ids = _ids(LOOP, vocabulary)
    first = _ids(LOOP.split(". The")[0] + ".", vocabulary)
    cut = next(n for n in range(1, len(ids) + 1) if repeated_tail(ids[:n]))  # checked after every token
    kept = ids[:cut][: cut - repeated_tail(ids[:cut])]
    assert kept == first  # one sentence kept, no copy with a changed word
    assert cut < 3 * len(first)  # stopped by the third copy, not after five


def test_answers_that_only_reuse_a_phrase_are_not_cut():
    vocabulary: dict[str, int] = {}
    ids = _ids(PLAIN, vocabulary)
    assert all(repeated_tail(ids[:n]) == 0 for n in range(1, len(ids) + 1))
    quoted = _ids("Measure, then argue. " + PLAIN + " As I said: measure, then argue.", vocabulary)
    assert repeated_tail(quoted) == 0


def test_tidy_keeps_the_first_sentence_of_a_loop_and_drops_broken_ends():
    from llm_engineering.application.rag.answer import tidy

    assert tidy(LOOP) == LOOP.split(" The experiment")[0]
    assert tidy("전체로 옮기면 어렵어둔 \ufffd") == "전체로 옮기면 어렵어둔"  # never half a character
    cut = "I keep one SQLite file. It holds six months of snapshots and the"
    assert tidy(cut, cut_short=True) == "I keep one SQLite file."  # the unfinished sentence goes
    assert tidy(cut) == cut  # a sentence the model ended itself is kept whatever it looks like
    assert tidy(PLAIN) == PLAIN


def test_a_run_of_bare_source_markers_ends_the_answer_in_text_and_in_a_stream():
    from llm_engineering.application.rag.answer import ReadableStream, tidy

    looped = "I measured it on my laptop. [1] [1] [2] [3] [4] [5] [6] [7] [8] [9] [10] [11] [12] [2"
    assert tidy(looped) == "I measured it on my laptop."  # the run and the unfinished end go
    assert tidy("It held [1][2], as the notes say [3].") == "It held [1][2], as the notes say [3]."
    assert tidy("Two sources agree [1], [2], [3].") == "Two sources agree [1], [2], [3]."

    produced: list[str] = []

    def generation():
        for piece in looped.replace("] ", "]| ").split("|"):
            produced.append(piece)
            yield piece

    stream = ReadableStream(generation())
    list(stream)
    assert len(produced) < 10  # stopped at the fourth marker, not at the token limit
    assert stream.final().text == "I measured it on my laptop."


def test_a_streamed_loop_stops_generating_and_ends_with_the_tidy_answer():
    from llm_engineering.application.rag.answer import ReadableStream

    produced: list[str] = []
    closed: list[bool] = []

    def generation():
        try:
            for word in LOOP.split(" "):
                produced.append(word)
                yield word + " "
        finally:
            closed.append(True)

    stream = ReadableStream(generation())
    shown = "".join(stream)
    assert closed and len(produced) < len(LOOP.split(" ")) / 2  # the generation was stopped early
    assert shown.startswith(LOOP.split(" The experiment")[0])
    assert stream.final().text == LOOP.split(" The experiment")[0]


def test_history_longer_than_the_budget_keeps_the_latest_whole_turns():
    from llm_engineering.application.rag.answer import trim_history

    history = []
    for i in range(50):
        history += [{"role": "user", "content": f"question {i} " * 20}, {"role": "assistant", "content": f"a{i} " * 30}]
    kept = trim_history(history, 1000)
    assert kept and kept[-1] == history[-1] and kept[0]["role"] == "user"
    assert sum(len(m["content"]) for m in kept) <= 1000
    assert trim_history(history, 0) == [] and trim_history([], 100) == []
    assert len(history) == 100  # the caller's conversation is left as it was


def test_extractive_answer_quotes_the_authors_sentences_with_one_number_per_document():
    import uuid

    from llm_engineering.application.rag.answer import NO_ANSWER, extractive_answer
    from llm_engineering.domain.queries import RetrievedChunk

    doc_a, doc_b = uuid.uuid4(), uuid.uuid4()

    def chunk(doc, text, index=0):
        return RetrievedChunk(
            chunk_id=uuid.uuid4(),
            document_id=doc,
            content=text,
            author_id=uuid.uuid4(),
            author_full_name="Jiwon Ashby",
            platform="blog",
            category="articles",
            chunk_index=index,
        )

    chunks = [
        chunk(
            doc_a,
            "# Why BM25 Still Matters\n\nEvery few months someone tells me keyword search is dead. "
            "On identifier queries BM25 recall@10 was 0.93 and dense retrieval was 0.41.\n"
            "```\nscores = bm25.get_scores(query)\n```",
        ),
        chunk(
            doc_b,
            "I cache LLM calls at temperature 0 only, keyed by the full rendered prompt. The key holds the "
            "model name and the sampling settings. The cache lives in the same SQLite file as the features.",
        ),
        chunk(doc_a, "Measure, then argue: BM25 recall@10 beat the dense model on every identifier query I tried.", 1),
    ]
    answer = extractive_answer("What was the BM25 recall@10 on identifier queries?", chunks)
    assert "BM25 recall@10 was 0.93 and dense retrieval was 0.41. [1]" in answer
    assert "[2]" not in answer  # the caching passage does not answer it; its document would be [2]
    assert "scores =" not in answer and "#" not in answer  # no code, no headings
    assert extractive_answer("Who won the football match?", chunks) == NO_ANSWER
    assert extractive_answer("anything", []) == NO_ANSWER
