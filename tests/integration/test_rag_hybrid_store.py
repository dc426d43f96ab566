"""Hybrid search inside Qdrant: dense and sparse (BM25) vectors of one collection, no index in the
process. Real Qdrant (local folder and memory mode), the real embedding model, the real feature
pipeline."""

from __future__ import annotations

import time

import pytest
from conftest import reset_factories
from fixtures.rag.support import load_fixture_corpus
from loguru import logger

from llm_engineering.application.preprocessing.features import run_feature_engineering
from llm_engineering.application.rag import ContextRetriever, RetrievalConfig
from llm_engineering.domain.base.vector import OutdatedCollectionError
from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.documents import ArticleDocument, UserDocument
from llm_engineering.domain.embedded_chunks import embedded_class
from llm_engineering.infrastructure.embeddings import get_embedder

CleanedArticleDocument, EmbeddedArticleChunk = cleaned_class("articles"), embedded_class("articles")

QUERIES = [
    "How many passages should a retriever return?",
    "What does Ada think about vector databases?",
    "vector database snapshots and clusters",
    "minus four",
    "바이그램",
    "김민준은 파인튜닝에 대해 뭐라고 했나요?",
]


def retriever(mode="hybrid", **overrides):
    return ContextRetriever(RetrievalConfig.from_settings(mode=mode, **overrides))


def rankings() -> dict:
    out = {}
    for mode in ("hybrid", "dense", "lexical"):
        r = retriever(mode)
        for query in QUERIES:
            out[mode, query] = [(str(c.chunk_id), round(c.score, 5)) for c in r.search(query, k=5)]
    return out


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_embedded_store_and_memory_mode_rank_alike(monkeypatch, engine):
    """The embedded default (Qdrant Edge) and qdrant-client's local mode return exactly what
    qdrant-client's memory mode returns (Qdrant's Query API semantics) for every mode."""
    monkeypatch.setenv("QDRANT_EMBEDDED", engine)
    reset_factories()
    load_fixture_corpus()
    embedded = rankings()
    monkeypatch.setenv("QDRANT_PATH", ":memory:")
    reset_factories()
    load_fixture_corpus()
    memory = rankings()
    assert all(embedded.values())
    assert memory == embedded


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_author_and_category_filters_apply_to_each_half(mode):
    load_fixture_corpus()
    ada = str(UserDocument.find_by_name("Ada Okafor").id)
    r = retriever(mode)
    query = "vector database clusters crawler evaluation"
    unfiltered = r.search(query, k=10, filters={})
    assert len({c.author_id for c in unfiltered}) > 1 and len({c.category for c in unfiltered}) > 1
    by_author = r.search(query, k=10, filters={"author_id": ada})
    assert by_author and {str(c.author_id) for c in by_author} == {ada}
    posts = r.search(query, k=10, filters={"category": "posts"})
    assert posts and {c.category for c in posts} == {"posts"}


def _article(user, title: str, text: str, link: str) -> ArticleDocument:
    document = ArticleDocument(
        content={"Title": title, "Content": text},
        platform="blog",
        link=link,
        author_id=user.id,
        author_full_name=user.full_name,
    )
    document.save()
    return document


def test_pipeline_writes_and_deletes_are_seen_by_a_running_retriever():
    embedder = get_embedder()
    user = UserDocument.get_or_create_by_name("Ana Souza")
    _article(user, "Gardening", "Tomatoes want sun, water at the roots and a stake to climb.", "https://a.example/1")
    run_feature_engineering(embedder=embedder)
    service = retriever()  # stays up across the pipeline runs below
    assert "tomato" in service.search("tomatoes and sun", k=1)[0].content.lower()
    assert all("quokka" not in c.content for c in service.search("quokka", k=3))

    added = _article(user, "Travel", "On Rottnest Island a quokka posed for every camera.", "https://a.example/2")
    run_feature_engineering(embedder=embedder)
    assert "quokka" in service.search("quokka", k=1)[0].content
    assert "quokka" in retriever("lexical").search("quokka", k=1)[0].content

    ArticleDocument.delete(id=str(added.id))
    run_feature_engineering(embedder=embedder)
    assert all("quokka" not in c.content for c in service.search("quokka", k=5))
    assert retriever("lexical").search("quokka", k=5) == []


def _downgrade_to_the_previous_layout() -> int:
    """Rewrite embedded_articles as the previous version left it: one unnamed dense vector, no
    sparse vectors, markers with that version's fingerprint."""
    from qdrant_client.models import Distance, PointStruct, VectorParams

    chunks = list(EmbeddedArticleChunk.scroll(with_vectors=True))
    client = EmbeddedArticleChunk._client()
    client.delete_collection(EmbeddedArticleChunk.collection)
    client.create_collection(
        EmbeddedArticleChunk.collection, vectors_config=VectorParams(size=384, distance=Distance.COSINE)
    )
    payloads = [c.model_dump(mode="json", exclude={"id", "embedding", "passage_id"}) for c in chunks]
    client.upsert(
        EmbeddedArticleChunk.collection,
        points=[
            PointStruct(id=str(c.id), vector=c.embedding, payload=p) for c, p in zip(chunks, payloads, strict=True)
        ],
    )
    markers = list(CleanedArticleDocument.scroll())
    for marker in markers:
        marker.features_fingerprint = "fingerprint of the previous version"
    CleanedArticleDocument.bulk_upsert(markers)
    return len(chunks)


def _rebuilt_once(run) -> list[str]:
    """Run the feature pipeline twice; the warnings of the first run (the second must do nothing)."""
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING")
    try:
        first = run()
    finally:
        logger.remove(sink)
    second = run()
    assert first.total("documents_processed") == 1 and second.total("documents_processed") == 0
    assert second.total("chunks_deleted") == 0
    return messages


@pytest.mark.parametrize("engine", ["local", "edge"])
def test_collections_of_the_previous_layout_are_rebuilt_once(monkeypatch, engine):
    """The previous version kept collections in qdrant-client's local mode with one unnamed dense
    vector. Kept on that engine, the collection is rebuilt in place; with the embedded default
    (Qdrant Edge) the pipeline rebuilds everything in the new store. Each says so once."""
    embedder = get_embedder()
    monkeypatch.setenv("QDRANT_EMBEDDED", "local")
    reset_factories()
    user = UserDocument.get_or_create_by_name("Ana Souza")
    _article(user, "Gardening", "Tomatoes want sun, water at the roots and a stake to climb.", "https://a.example/1")
    run_feature_engineering(embedder=embedder)
    chunks = _downgrade_to_the_previous_layout()
    assert EmbeddedArticleChunk.layout() == (384, False)
    with pytest.raises(OutdatedCollectionError, match="run the feature pipeline"):
        retriever().search("tomatoes", k=1)

    monkeypatch.setenv("QDRANT_EMBEDDED", engine)
    reset_factories()
    messages = _rebuilt_once(lambda: run_feature_engineering(embedder=embedder))
    if engine == "local":
        rebuilt = [m for m in messages if "rebuilding the collection" in m]
        assert len(rebuilt) == 1 and "earlier version" in rebuilt[0] and "embedded_articles" in rebuilt[0]
    else:
        assert len(messages) == 1 and "earlier versions used" in messages[0] and "Qdrant Edge" in messages[0]
    assert EmbeddedArticleChunk.layout() == (384, True) and EmbeddedArticleChunk.count() == chunks
    assert "Tomatoes" in retriever("lexical").search("tomatoes", k=1)[0].content


def test_empty_store_unknown_words_stop_words_and_a_huge_query():
    empty = retriever().search("anything about vectors", k=5)
    assert empty == []  # no collection yet: nothing found, no error
    load_fixture_corpus()
    assert retriever("lexical").search("zzqxv wwkpt", k=5) == []  # no known term
    assert retriever("lexical").search("the of and is it", k=5) == []  # only stop words
    assert retriever().search("the of and is it", k=3)  # the dense half still answers
    huge = "How do I monitor a vector database cluster? " * 2400  # ~100 KB
    assert len(huge.encode()) > 100_000
    started = time.perf_counter()
    chunks = retriever().search(huge, k=3)
    assert chunks and time.perf_counter() - started < 10
    with pytest.raises(ValueError, match="empty"):
        retriever().search(" \n\t ")
