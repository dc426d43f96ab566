"""The text a user reads: quoted answers within a token budget, "nothing answers that" in the
question's language, and a prompt whose context names files, not server paths."""

import uuid

from llm_engineering.application.rag.answer import (
    NO_ANSWER,
    NO_ANSWER_KO,
    extractive_answer,
    no_answer,
    quoted_answer,
    token_counter,
)
from llm_engineering.application.rag.prompt import format_context
from llm_engineering.domain.queries import RetrievedChunk

words = token_counter(None)  # no tokenizer here: one token per word or punctuation mark


def chunk(document, text, link=None, title="Notes", index=0):
    return RetrievedChunk(
        chunk_id=uuid.uuid4(),
        document_id=document,
        content=text,
        author_id=uuid.uuid4(),
        author_full_name="Jiwon Ashby",
        platform="local",
        category="articles",
        chunk_index=index,
        title=title,
        link=link,
    )


DOC_A, DOC_B = uuid.uuid4(), uuid.uuid4()
CHUNKS = [
    chunk(DOC_A, "On identifier queries BM25 recall@10 was 0.93 and dense retrieval was 0.41 in my experiment."),
    chunk(DOC_B, "I cache LLM calls at temperature 0. On identifier queries BM25 recall@10 stayed at 0.93 cached."),
]
QUESTION = "What was the BM25 recall@10 on identifier queries?"


def test_a_quoted_answer_keeps_whole_quotes_within_max_tokens_and_counts_them():
    full = quoted_answer(QUESTION, CHUNKS, words)
    assert full.text == extractive_answer(QUESTION, CHUNKS) and full.finish_reason == "stop"
    assert full.completion_tokens == words(full.text) and full.prompt_tokens == 0
    first = full.text[: full.text.index("[1]") + 3]
    assert "[2]" in full.text  # two quotes, one per document

    one = quoted_answer(QUESTION, CHUNKS, words, max_tokens=words(first))
    assert one.text == first and one.finish_reason == "length"

    cut = quoted_answer(QUESTION, CHUNKS, words, max_tokens=9)
    assert cut.text.endswith(" … [1]") and cut.completion_tokens <= 9 and cut.finish_reason == "length"
    assert first.startswith(cut.text[: -len(" … [1]")])  # the author's words, only cut at the end

    tiny = quoted_answer(QUESTION, CHUNKS, words, max_tokens=1)
    assert tiny.text == "On" and tiny.completion_tokens == 1


def test_a_sentence_wrapped_over_lines_is_quoted_whole_and_code_stays_out():
    # An article exported at 78 columns: the answer's sentence runs over three lines.
    wrapped = chunk(
        DOC_A,
        "## Sizing the feature store\n\n"
        "After six months of daily snapshots the SQLite feature store had grown until\n"
        "the file was 1.8 GB, and a full backfill of every table took forty minutes\n"
        "on the laptop.\n\n"
        "- snapshots kept daily for six months\n"
        "```\nsize = store.file_size()  # 1.8 GB after six months\n```\n",
    )
    answer = extractive_answer("How large did the SQLite feature store file grow after six months?", [wrapped])
    assert answer == (
        "After six months of daily snapshots the SQLite feature store had grown until the file was 1.8 GB, "
        "and a full backfill of every table took forty minutes on the laptop. [1]"
    )
    korean = chunk(
        DOC_B,
        "특징 저장소 파일은 여섯 달 동안 매일 스냅숏을 쌓은 뒤\n1.8GB까지 커졌고 전체 백필에는\n사십 분이 걸렸다.\n",
    )
    assert extractive_answer("특징 저장소 파일은 얼마나 커졌나요?", [korean]) == (
        "특징 저장소 파일은 여섯 달 동안 매일 스냅숏을 쌓은 뒤 1.8GB까지 커졌고 전체 백필에는 사십 분이 걸렸다. [1]"
    )


def test_a_question_in_the_text_is_not_quoted_as_the_answer():
    faq = chunk(
        DOC_A,
        "데비안 아카이브는 하루에 몇 번이나 새 꾸러미로 갱신되나요?\n\n"
        "데비안 아카이브는 하루에 두 번 갱신되며, 미러는 보통 몇 시간 안에 따라잡는다.\n\n"
        "So why would an archive that changes twice a day ever need a mirror close to you?\n",
    )
    assert extractive_answer("데비안 아카이브는 얼마나 자주 갱신되나요?", [faq]) == (
        "데비안 아카이브는 하루에 두 번 갱신되며, 미러는 보통 몇 시간 안에 따라잡는다. [1]"
    )
    only_questions = chunk(DOC_B, "Why would an archive that changes twice a day ever need a mirror close to you?")
    assert extractive_answer("Why would an archive need a mirror close to you?", [only_questions]) == NO_ANSWER


def test_paragraphs_glued_into_one_run_of_text_are_not_quoted():
    # A page extraction that lost the spaces between paragraphs: 75 words with no sentence end to cut at.
    glued = (
        "Why are we doing this?A quick reminder from previous lessonsTo give you some context, the feature "
        "pipeline listens to the queue and loads every cleaned post into the Qdrant vector database, which is "
        "our feature store.Why we are solving itThe feature store is the central point of access for every "
        "feature the training and inference pipelines use, and Qdrant keeps the posts, articles and code "
        "snippets in sync with MongoDB in real time."
    )
    page = chunk(DOC_A, glued + "\n\nWe picked Qdrant because it is open source and its Rust engine filters fast.\n")
    assert extractive_answer("Why is Qdrant the vector database for the posts?", [page]) == (
        "We picked Qdrant because it is open source and its Rust engine filters fast. [1]"
    )


def test_quotes_read_as_text_without_markdown_marks_and_keep_every_word():
    page = chunk(
        DOC_A,
        "To cut the VRAM of fine-tuning we load the model in **4-bit precision** and train a _LoRA_ "
        "adapter on top of**the frozen weights** with __init__ and my_config unchanged.\n",
    )
    assert extractive_answer("How do we cut the VRAM of fine-tuning?", [page]) == (
        "To cut the VRAM of fine-tuning we load the model in 4-bit precision and train a LoRA "
        "adapter on top of the frozen weights with __init__ and my_config unchanged. [1]"
    )


def test_indented_answers_and_list_items_are_quoted_and_code_is_not():
    # A plain-text FAQ indents its answers by four spaces and lists options as items.
    faq = chunk(
        DOC_A,
        "5.1. 데비안 아카이브는 하루에 몇 번이나 새 꾸러미로 갱신되나요?\n\n"
        "    데비안 아카이브는 하루에 두 번 갱신되며, 미러는 보통 몇 시간 안에 따라잡는다.\n\n"
        "    dpkg를 여러 옵션으로 호출할 수 있습니다. 공통 용도:\n\n"
        "      * 지정된 패키지 파일의 제어 정보를 화면에 출력: dpkg --info foo_1.0-1.deb.\n\n"
        "      * 패키지를 설치: dpkg --install foo_1.0-1.deb.\n",
    )
    assert extractive_answer("데비안 아카이브는 하루에 몇 번 갱신되나요?", [faq]) == (
        "데비안 아카이브는 하루에 두 번 갱신되며, 미러는 보통 몇 시간 안에 따라잡는다. [1]"
    )
    assert extractive_answer("패키지 파일의 제어 정보를 화면에 출력하려면 dpkg에 어떤 옵션을 주나요?", [faq]) == (
        "지정된 패키지 파일의 제어 정보를 화면에 출력: dpkg --info foo_1.0-1.deb. [1]"
    )
    code = chunk(
        DOC_B,
        "```python\n# the archive is refreshed twice a day by the mirror cron job here\nrefresh(archive)\n```\n\n"
        "    # the archive is refreshed twice a day by the mirror cron job\n    schedule(refresh, hours=12)\n",
    )
    assert extractive_answer("How often is the archive refreshed by the mirror job?", [code]) == NO_ANSWER


def test_nothing_answers_it_in_korean_or_english():
    assert no_answer("김민준은 무엇을 측정하나요?") == NO_ANSWER_KO
    assert no_answer("What does Jiwon measure?") == NO_ANSWER
    assert extractive_answer("축구 경기는 누가 이겼나요?", CHUNKS) == NO_ANSWER_KO
    assert quoted_answer("Who won the football match?", CHUNKS, words).text == NO_ANSWER
    assert quoted_answer("고양이는 어디 있나요?", [], words).text == NO_ANSWER_KO


def test_the_prompt_names_files_and_numbers_documents_as_the_sources_list():
    chunks = [
        chunk(DOC_A, "First part.", link="file:///srv/data/jiwon/notes%20v2.md"),
        chunk(DOC_B, "Elsewhere.", link="https://blog.example.com/post", title="Post"),
        chunk(DOC_A, "Second part.", link="file:///srv/data/jiwon/notes%20v2.md", index=1),
    ]
    context = format_context(chunks)
    assert "/srv/" not in context and "file:" not in context
    assert context.count("[1] Notes (notes v2.md)") == 2 and "[2] Post (https://blog.example.com/post)" in context
    assert "[3]" not in context
