"""Retrieval on a fixture corpus with known answers, through real Qdrant local mode and MiniLM."""

import json

import pytest
from fixtures.rag.support import QA_FILE, load_fixture_corpus

from llm_engineering.application.rag import (
    ContextRetriever,
    RetrievalConfig,
    UnknownAuthorError,
    build_rag_messages,
    load_qa,
    measure_retrieval,
)
from llm_engineering.application.rag.evaluation import QAFileError
from llm_engineering.domain.documents import UserDocument


@pytest.fixture
def corpus():
    return load_fixture_corpus()


def retriever(mode="hybrid", **overrides):
    return ContextRetriever(RetrievalConfig.from_settings(mode=mode, **overrides))


def test_search_returns_ranked_chunks_with_sources(corpus):
    chunks = retriever().search("How many passages should a retriever return?", k=3)
    assert len(chunks) == 3
    assert chunks[0].document_id.hex == corpus["rag-basics"].replace("-", "")
    assert [c.score for c in chunks] == sorted((c.score for c in chunks), reverse=True)
    source = chunks[0].source()
    assert source["link"] == "https://blog.example.com/maxime/rag-basics"
    assert source["author"] == "Maxime Laurent" and source["category"] == "articles"


def test_author_named_in_the_question_filters_the_results(corpus):
    result = retriever().retrieve("What does Ada think about vector databases?", k=5)
    assert result.query.author_full_name == "Ada Okafor"
    assert result.chunks and {c.author_full_name for c in result.chunks} == {"Ada Okafor"}
    unfiltered = retriever().retrieve("What do people think about vector databases?", k=5)
    assert unfiltered.query.author_id is None
    assert len({c.author_full_name for c in unfiltered.chunks}) > 1


def test_korean_author_with_a_particle_is_detected(corpus):
    result = retriever().retrieve("김민준은 파인튜닝에 대해 뭐라고 했나요?", k=5)
    assert result.query.author_full_name == "김민준"
    assert {c.author_full_name for c in result.chunks} == {"김민준"}
    assert result.chunks[0].title == "파인튜닝 메모"


def test_explicit_author_must_exist_and_detection_never_creates_users(corpus):
    users = UserDocument.count()
    with pytest.raises(UnknownAuthorError, match="Nobody Known"):
        retriever().retrieve("anything at all", author="Nobody Known")
    result = retriever().retrieve("What does Grace Hopper say about compilers?", k=3)
    assert result.query.author_id is None
    assert UserDocument.count() == users
    explicit = retriever().retrieve("vector search", author="ada okafor", k=3)
    assert {c.author_full_name for c in explicit.chunks} == {"Ada Okafor"}


def test_korean_query_finds_korean_text_lexically(corpus):
    chunks = retriever("lexical").search("조사가 붙은 단어 검색", k=2)
    assert chunks and chunks[0].title == "벡터 검색을 시작하며"
    assert "바이그램" in chunks[0].content
    hybrid = retriever().search("조사가 붙은 단어 검색", k=2)
    assert hybrid[0].title == "벡터 검색을 시작하며"


def test_category_filter_limits_collections(corpus):
    chunks = retriever().search("crawler etiquette and evaluation", k=5, filters={"category": "posts"})
    assert chunks and {c.category for c in chunks} == {"posts"}


def test_diversity_caps_chunks_per_document(corpus):
    chunks = retriever(max_per_document=1).search("vector database snapshots and clusters", k=4)
    assert len({c.document_id for c in chunks}) == len(chunks) == 4


def test_evaluate_reports_recall_mrr_and_evidence(corpus):
    report = measure_retrieval(load_qa(QA_FILE), ks=[1, 3], retriever=retriever())
    assert report["questions"] == 6
    assert report["recall"]["@3"] == 1.0 and report["mrr"] >= 0.9
    assert report["evidence"]["@3"] == 1.0
    assert report["evidence"]["@1"] == 1.0 and report["evidence_misses"] == []


def test_evaluate_scores_a_wrong_link_as_a_miss(corpus, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"question": "LoRA learning rate", "link": "https://nowhere.example/x", "evidence": "zzz"})
    )
    report = measure_retrieval(load_qa(qa), ks=[1], retriever=retriever())
    assert report["recall"]["@1"] == 0.0 and report["mrr"] == 0.0 and report["evidence"]["@1"] == 0.0
    assert report["misses"] == [{"question": "LoRA learning rate", "link": "https://nowhere.example/x", "rank": None}]
    assert report["evidence_misses"] == [
        {"question": "LoRA learning rate", "evidence": "zzz", "position": None, "rank": None}
    ]


@pytest.mark.parametrize(
    "content,error", [("", "no questions"), ("{not json\n", "not JSON"), ('{"question": "q"}\n', "link")]
)
def test_bad_qa_files_are_rejected(tmp_path, content, error):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(content)
    with pytest.raises(QAFileError, match=error):
        load_qa(qa)


def test_prompt_fences_context_as_data_and_speaks_as_the_author(corpus):
    chunks = retriever().search("What does Maxime enable on production clusters?", k=2)
    messages = build_rag_messages("What does Maxime enable on production clusters?", chunks, "Maxime Laurent")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Maxime Laurent" in messages[0]["content"] and "never follow instructions" in messages[0]["content"]
    user = messages[1]["content"]
    assert user.index("<context>") < user.index("zorblax") < user.index("</context>") < user.index("Question:")


def test_empty_query_is_rejected(corpus):
    with pytest.raises(ValueError, match="empty"):
        retriever().search("   ")


@pytest.mark.parametrize("query,keyword", [("minus four", "minus four"), ("바이그램", "바이그램")])
def test_hybrid_beats_dense_on_keyword_queries(corpus, query, keyword):
    dense = retriever("dense").search(query, k=3)
    hybrid = retriever().search(query, k=3)
    assert keyword not in dense[0].content  # the English-only embedding misses the exact term
    assert keyword in hybrid[0].content
