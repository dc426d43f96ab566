"""Retrieval of passages (parent documents) and fusion that ignores a ranking the embedder cannot
make: real MiniLM, real Qdrant local mode, chunks written by the feature pipeline's own code."""

from __future__ import annotations

import pytest

from llm_engineering.application.preprocessing.chunking import ChunkingConfig, split_text
from llm_engineering.application.rag import ContextRetriever, RetrievalConfig
from llm_engineering.application.rag.lexical import with_sparse_vectors
from llm_engineering.domain.documents import ArticleDocument, UserDocument
from llm_engineering.domain.embedded_chunks import embedded_class
from llm_engineering.infrastructure.embeddings import get_embedder

EmbeddedArticleChunk = embedded_class("articles")

# Short Korean notes on different subjects, written for this test. The English-only embedder
# reads Hangul as a handful of unknown pieces, so its ranking of them is noise.
KOREAN_NOTES = {
    "packages": "데비안에서 꾸러미를 설정 파일까지 지우려면 완전 삭제 명령을 쓴다. 그냥 제거하면 설정은 남는다.",
    "kernel": "직접 빌드한 커널은 꾸러미로 만들어 두면 나중에 지우거나 바꾸기 쉽다. 부팅 때 모듈 목록은 따로 둔다.",
    "mirror": "미러를 운영하려면 넉넉한 디스크와 빠른 회선이 필요하고, 동기화는 보통 스크립트가 알아서 한다.",
    "codename": "릴리스 별명은 오래된 애니메이션 영화의 장난감 인물에서 따왔고, 개발판은 늘 같은 이름을 가리킨다.",
    "fonts": "옛한글을 찍으려면 자모를 조합할 수 있는 글꼴이 필요하다. 사용자 영역에만 글자를 넣은 글꼴은 쓸 수 없다.",
    "index": "찾아보기를 만드는 도구는 한글 자모 순서로 항목을 정렬하고, 원래 도구의 옵션을 그대로 받는다.",
    "linebreak": "한글은 하이픈 없이 거의 모든 글자 앞뒤에서 줄을 바꿀 수 있지만, 영문 뒤에 붙은 조사는 문제가 된다.",
    "jeju": "제주 말을 적으려면 아래아가 있어야 하는데, 도에서 나눠 주는 글꼴은 그 글자를 사용자 영역에 넣었다.",
    "feedback": "문서에 대한 의견은 메일로 보내거나 위시리스트 등급의 버그로 올리면 된다.",
    "donation": "기부는 미국의 비영리 법인을 통해 받을 수 있고, 그 돈으로 장비와 회의 비용을 낸다.",
}
QUESTIONS = {
    "설정 파일까지 꾸러미를 지우는 방법": "packages",
    "옛한글 글꼴 조건": "fonts",
    "제주 말 아래아 글꼴": "jeju",
    "찾아보기 항목 정렬 순서": "index",
    "미러 운영 디스크 회선": "mirror",
    "커널을 꾸러미로 빌드": "kernel",
}


def write_notes(notes: dict[str, str], config: ChunkingConfig) -> None:
    """Notes as one author's articles, chunked and embedded as the feature pipeline does."""
    embedder = get_embedder()
    user = UserDocument.get_or_create_by_name("김하늘")
    chunks = []
    for key, text in notes.items():
        document = ArticleDocument(
            content={"Title": key, "Content": text},
            platform="notes",
            author_id=user.id,
            author_full_name=user.full_name,
            link=f"https://notes.example/{key}",
        )
        document.save()
        pieces = split_text(text, embedder.tokenizer, config)
        for piece, vector in zip(pieces, embedder.encode([p.text for p in pieces]), strict=True):
            chunks.append(
                EmbeddedArticleChunk(
                    content=piece.text,
                    embedding=vector.tolist(),
                    document_id=document.id,
                    chunk_index=piece.index,
                    start=piece.start,
                    end=piece.end,
                    passage_index=piece.passage_index,
                    passage=text[piece.passage_start : piece.passage_end],
                    title=key,
                    platform="notes",
                    author_id=user.id,
                    author_full_name=user.full_name,
                    link=document.link,
                )
            )
    EmbeddedArticleChunk.bulk_upsert(with_sparse_vectors(chunks))


def rankings(mode: str, **overrides) -> dict[str, list[str]]:
    """Each question's first three notes."""
    retriever = ContextRetriever(RetrievalConfig.from_settings(mode=mode, **overrides))
    return {q: [c.title for c in retriever.search(q, k=3)] for q in QUESTIONS}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


def test_hybrid_keeps_the_lexical_ranking_when_dense_is_noise():
    write_notes(KOREAN_NOTES, ChunkingConfig(24, 4, 0))
    lexical = rankings("lexical")
    assert {q: titles[0] for q, titles in lexical.items()} == QUESTIONS  # the keywords find every note
    dense = rankings("dense")
    assert sum(dense[q][0] == key for q, key in QUESTIONS.items()) < len(QUESTIONS)  # noise, as claimed
    assert rankings("hybrid") == lexical
    # An embedder declared to read Hangul gets its say again. Reciprocal ranks let its noise reorder
    # the results; relative scores keep the clear keyword leaders, since its cosines sit close.
    assert rankings("hybrid", dense_scripts=frozenset(), fusion="rrf", dense_weight=1.0) != lexical
    assert [titles[0] for titles in rankings("hybrid", dense_scripts=frozenset()).values()] == list(QUESTIONS.values())


def test_a_passage_is_returned_once_with_its_whole_text():
    text = KOREAN_NOTES["packages"] + " " + KOREAN_NOTES["kernel"] + "\n\n" + KOREAN_NOTES["mirror"]
    write_notes({"handbook": text}, ChunkingConfig(16, 0, 200))
    stored = EmbeddedArticleChunk.count()
    results = ContextRetriever(RetrievalConfig.from_settings(mode="hybrid")).search("설정 파일까지 지우는 명령", k=5)
    assert stored > len(results) >= 1  # several chunks, fewer passages
    first = results[0]
    assert KOREAN_NOTES["packages"] in first.content  # the passage, not the 16-piece chunk that matched
    assert len({r.content for r in results}) == len(results)
    dense = ContextRetriever(RetrievalConfig.from_settings(mode="dense")).search("설정 파일까지 지우는 명령", k=5)
    assert len({r.content for r in dense}) == len(dense)  # chunks of one passage count once
