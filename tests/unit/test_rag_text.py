"""Lexical tokens, name matching and rank fusion: the pure parts of retrieval."""

import pytest

from llm_engineering.application.rag.authors import name_forms
from llm_engineering.application.rag.rerank import DiversityReranker, DocumentFirstReranker
from llm_engineering.application.rag.retriever import RetrievalConfig, dense_weight_for, fuse, parse_scripts
from llm_engineering.application.rag.tokenize import lexical_tokens
from llm_engineering.application.text import script_coverage
from llm_engineering.domain.identity import name_key
from llm_engineering.domain.queries import RetrievedChunk


def test_english_words_are_stemmed_and_stop_words_dropped():
    assert lexical_tokens("The Retrievers are retrieving documents") == ["retriev", "retriev", "document"]


def test_hangul_runs_become_bigrams_so_particles_do_not_block_matches():
    query = set(lexical_tokens("벡터 검색"))
    text = set(lexical_tokens("저는 벡터 검색을 씁니다"))
    assert {"벡터", "검색"} <= query <= text
    assert lexical_tokens("검") == ["검"]


def test_mixed_scripts_split_inside_one_run():
    assert lexical_tokens("Qdrant에서") == ["qdrant", "에서"]
    assert lexical_tokens("ＲＡＧ") == ["rag"]  # full-width letters normalised


def test_korean_morphemes_drop_particles_and_endings():
    pytest.importorskip("kiwipiepy")
    question = lexical_tokens("설정 파일까지 지우는 명령은?", korean="morphemes")
    text = lexical_tokens("설정 파일을 지우려면 이 명령을 씁니다.", korean="morphemes")
    assert {"설정", "파일", "명령"} <= set(question) & set(text)
    assert not {"까지", "은", "을", "를"} & set(question + text)  # particles are not terms
    assert "지우" in question and "지우" in text  # one stem for 지우는 and 지우려면


def test_korean_term_modes_leave_other_scripts_alone():
    pytest.importorskip("kiwipiepy")
    text = "Qdrant에서 dpkg --purge 명령"
    bigrams, morphemes, both = (lexical_tokens(text, korean=mode) for mode in ("bigrams", "morphemes", "both"))
    latin = ["qdrant", "dpkg", "purg"]
    for tokens in (bigrams, morphemes, both):
        assert [t for t in tokens if t.isascii()] == latin
    assert "명령" in morphemes and "에서" not in morphemes
    assert set(bigrams) | set(morphemes) == set(both)
    assert lexical_tokens("English only, running", korean="morphemes") == lexical_tokens("English only, running")


def test_unknown_korean_term_mode_is_refused():
    with pytest.raises(ValueError, match="Korean terms"):
        lexical_tokens("검색", korean="trigrams")


def test_script_coverage_counts_letters_the_embedder_reads():
    latin = parse_scripts("latin")
    assert script_coverage("How does RAG work?", latin) == 1.0
    assert script_coverage("검색 증강 생성은 어떻게 동작하나요?", latin) == 0.0
    assert script_coverage("dpkg 명령", latin) == pytest.approx(4 / 6)
    assert script_coverage("2024 → 2025", latin) == 1.0  # no letters: nothing to judge
    assert script_coverage("검색", parse_scripts("*")) == 1.0  # a multilingual embedder


def test_dense_weight_follows_the_question_script():
    config = RetrievalConfig(dense_weight=0.8, dense_scripts=parse_scripts("latin"), dense_min_coverage=0.5)
    assert dense_weight_for("What is a vector database?", config) == pytest.approx(0.8)
    assert dense_weight_for("벡터 데이터베이스란 무엇인가요?", config) == 0.0
    assert dense_weight_for("dpkg 명령", config) == pytest.approx(0.8 * 4 / 6)
    multilingual = RetrievalConfig(dense_scripts=parse_scripts("latin, hangul"))
    assert dense_weight_for("벡터 데이터베이스란?", multilingual) == multilingual.dense_weight


def _matches(full_name, text):
    return any(f.pattern.search(name_key(text)) for f in name_forms(full_name))


@pytest.mark.parametrize(
    "name,text,expected",
    [
        ("Maxime Laurent", "what does MAXIME LAURENT think", True),
        ("Maxime Laurent", "what does maxime think", True),
        ("Maxime Laurent", "maximal values", False),
        ("김민준", "김민준의 글을 요약해 줘", True),
        ("김민준", "민준은 뭐라고 했어?", True),
        ("김민준", "김 민준 님의 생각", True),
        ("김민준", "김치 만드는 법", False),
        ("김 민준", "김민준의 생각", True),
        ("Ada Okafor", "ad hoc queries", False),
        ("José Núñez", "what did jose\u0301 nu\u0301n\u0303ez say", True),
    ],
)
def test_name_forms_match_unicode_case_and_parts(name, text, expected):
    assert _matches(name, text) is expected


def test_rrf_rewards_agreement_between_rankings():
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.1)]
    lexical = [("b", 12.0), ("c", 3.0)]
    fused = fuse([(dense, 1.0), (lexical, 1.0)], "rrf", rrf_k=60)
    assert max(fused, key=fused.get) == "b"
    only_dense = fuse([(dense, 1.0), (lexical, 0.0)], "rrf")
    assert max(only_dense, key=only_dense.get) == "a"


def test_relative_fusion_lets_a_ranking_speak_with_its_own_confidence():
    # BM25 has a clear leader; the embedder barely tells its candidates apart (cosines 0.52-0.50).
    lexical = [("a", 30.0), ("b", 14.0), ("c", 9.0)]
    unsure_dense = [("b", 0.52), ("c", 0.51), ("a", 0.50)]
    fused = fuse([(unsure_dense, 1.0), (lexical, 1.0)], "relative")
    assert sorted(fused, key=lambda key: -fused[key]) == ["a", "b", "c"]
    # reciprocal ranks drop the scores: the same unsure dense ranking overturns the clear leader
    rrf = fuse([(unsure_dense, 1.0), (lexical, 1.0)], "rrf")
    assert max(rrf, key=rrf.get) == "b"
    # a dense ranking with a clear leader of its own does move a close lexical race
    close_lexical = [("a", 15.0), ("b", 14.0)]
    sure_dense = [("b", 0.80), ("a", 0.40)]
    fused = fuse([(sure_dense, 0.3), (close_lexical, 1.0)], "relative")
    assert max(fused, key=fused.get) == "b"
    # an id a ranking did not return gets nothing from it
    fused = fuse([([("x", 0.9), ("y", 0.6)], 1.0), ([("z", 10.0)], 1.0)], "relative")
    assert fused == pytest.approx({"x": 1.0, "y": 0.6 / 0.9, "z": 1.0})
    with pytest.raises(ValueError, match="fusion must be one of"):
        fuse([(lexical, 1.0)], "sum")


def test_weighted_fusion_scales_each_ranking_to_zero_one():
    fused = fuse([([("a", 0.9), ("b", 0.5)], 1.0), ([("b", 20.0), ("a", 10.0)], 2.0)], "weighted")
    assert fused == {"a": 1.0, "b": 2.0}


def _chunk(doc, index, score, lexical):
    import uuid

    return RetrievedChunk(
        chunk_id=uuid.uuid4(),
        document_id=uuid.UUID(int=doc),
        content=f"{doc}-{index}",
        author_id=uuid.UUID(int=9),
        author_full_name="A",
        platform="p",
        category="articles",
        chunk_index=index,
        score=score,
        lexical_score=lexical,
    )


def test_document_first_orders_documents_by_best_chunk_and_chunks_by_bm25():
    fused = [
        _chunk(1, 0, 0.9, 1.0),
        _chunk(2, 0, 0.8, 5.0),
        _chunk(1, 1, 0.7, 3.0),
        _chunk(1, 2, 0.6, None),
        _chunk(1, 3, 0.5, 2.0),
    ]
    ranked = DocumentFirstReranker(max_per_document=2).rerank("q", fused, k=3)
    assert [c.content for c in ranked] == ["1-1", "1-3", "2-0"]
    assert [c.content for c in DiversityReranker(1).rerank("q", fused, k=3)] == ["1-0", "2-0", "1-1"]


def _documents_in_order(chunks):
    order = []
    for chunk in chunks:
        if chunk.document_id not in order:
            order.append(chunk.document_id)
    return order


def test_document_first_gives_a_far_ahead_document_more_of_the_context():
    # document 1 far ahead of document 2: its good second and third chunks come before 2's best
    far = [
        _chunk(1, 0, 0.9, 6.0),
        _chunk(2, 0, 0.45, 8.0),
        _chunk(1, 1, 0.4, 5.0),
        _chunk(1, 2, 0.3, 4.5),
        _chunk(1, 3, 0.2, 0.2),
    ]
    ranked = DocumentFirstReranker(max_per_document=5).rerank("q", far, k=4)
    assert [c.content for c in ranked] == ["1-0", "1-1", "1-2", "2-0"]
    # the same chunks with document 2 close behind: its best chunk comes second
    close = [c.model_copy(update={"score": 0.88}) if c.document_id == far[1].document_id else c for c in far]
    ranked = DocumentFirstReranker(max_per_document=5).rerank("q", close, k=4)
    assert [c.content for c in ranked] == ["1-0", "2-0", "1-1", "1-2"]
    assert ranked[0].rerank_score == 1.0 and ranked[1].rerank_score < 1.0


def test_document_first_keeps_the_order_of_documents():
    fused = [_chunk(doc, i, 1.0 - 0.1 * doc - 0.01 * i, float(5 - i)) for doc in range(1, 5) for i in range(3)]
    ranked = DocumentFirstReranker(max_per_document=3, document_weight=1.0).rerank("q", fused, k=12)
    assert _documents_in_order(ranked) == _documents_in_order(fused)
    assert len(ranked) == 12


def test_document_first_orders_a_document_without_bm25_hits_by_fused_score():
    fused = [_chunk(1, 0, 0.9, 2.0), _chunk(2, 3, 0.8, None), _chunk(2, 1, 0.5, None), _chunk(1, 1, 0.1, None)]
    ranked = DocumentFirstReranker(max_per_document=2).rerank("q", fused, k=4)
    assert [c.content for c in ranked] == ["1-0", "2-3", "2-1", "1-1"]
    assert DocumentFirstReranker().rerank("q", [], k=3) == []


def test_document_first_rejects_a_negative_document_weight():
    with pytest.raises(ValueError, match="document_weight"):
        DocumentFirstReranker(document_weight=-1.0)
