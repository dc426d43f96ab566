"""The feature pipeline on the real warehouse, real Qdrant local mode and the real embedding model."""

from __future__ import annotations

import numpy as np
import pytest

from llm_engineering.application.preprocessing.features import FeatureConfig, run_feature_engineering
from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.documents import ArticleDocument, PostDocument, RepositoryDocument, UserDocument
from llm_engineering.domain.embedded_chunks import embedded_class
from llm_engineering.exceptions import ConfigurationError
from llm_engineering.infrastructure.embeddings import get_embedder

CleanedArticleDocument, CleanedPostDocument, CleanedRepositoryDocument = map(
    cleaned_class, ("articles", "posts", "repositories")
)
EmbeddedArticleChunk, EmbeddedPostChunk, EmbeddedRepositoryChunk = map(
    embedded_class, ("articles", "posts", "repositories")
)

ALL_CLASSES = (
    CleanedArticleDocument,
    CleanedPostDocument,
    CleanedRepositoryDocument,
    EmbeddedArticleChunk,
    EmbeddedPostChunk,
    EmbeddedRepositoryChunk,
)
SMALL = {"chunk_size": 48, "chunk_overlap": 8}


def paragraph(topic: str, n: int) -> str:
    return " ".join(
        f"Note {i} on {topic}: the pipeline cleans, chunks and embeds every document it is given." for i in range(n)
    )


def seed_warehouse() -> dict[str, object]:
    """Two authors, articles in English and Korean, a post and a repository."""
    ana = UserDocument.get_or_create_by_name("Ana Souza")
    min = UserDocument.get_or_create_by_name("김민준")
    docs = {
        "english": ArticleDocument(
            content={"Title": "Chunking", "Content": paragraph("chunking", 6) + "\n\n" + paragraph("overlap", 4)},
            platform="blog",
            link="https://blog.example.org/chunking",
            author_id=ana.id,
            author_full_name=ana.full_name,
        ),
        "korean": ArticleDocument(
            content={
                "Title": "검색",
                "Content": "검색 증강 생성은 질문과 가까운 문단을 찾습니다. 그 문단을 근거로 답을 만듭니다.\n\n"
                "청크의 크기와 겹침은 검색 품질에 영향을 줍니다.",
            },
            platform="blog",
            link="https://blog.example.kr/search",
            author_id=min.id,
            author_full_name=min.full_name,
        ),
        "post": PostDocument(
            content={"Content": "Shipping a feature pipeline today. It skips what did not change."},
            platform="linkedin",
            link="https://social.example.org/p/1",
            author_id=ana.id,
            author_full_name=ana.full_name,
        ),
        "repository": RepositoryDocument(
            name="twin-tools",
            content={"tools/run.py": "def main():\n    print('run')\n", "README.md": "# Twin tools\n\nSmall helpers."},
            platform="github",
            link="https://github.com/ana/twin-tools",
            author_id=ana.id,
            author_full_name=ana.full_name,
        ),
    }
    for doc in docs.values():
        doc.save()
    return docs


def snapshot() -> dict[str, dict[str, dict]]:
    """Every point of every feature collection: id → payload (and rounded vector)."""
    state = {}
    for cls in ALL_CLASSES:
        points = {}
        for doc in cls.scroll(with_vectors=True):
            data = doc.model_dump(mode="json", exclude={"id", "embedding"})
            if cls.has_vector:
                data["vector"] = np.round(np.asarray(doc.embedding), 4).tolist()
            points[str(doc.id)] = data
        state[cls.collection] = points
    return state


@pytest.fixture(scope="module", autouse=True)
def _one_thread_model():
    import torch

    torch.set_num_threads(1)
    get_embedder()


def test_first_run_builds_cleaned_and_embedded_collections():
    docs = seed_warehouse()
    report = run_feature_engineering(FeatureConfig(**SMALL))

    assert report.total("documents_processed") == 4
    assert CleanedArticleDocument.count() == 2 and CleanedPostDocument.count() == 1
    assert CleanedRepositoryDocument.count() == 1
    english = docs["english"]
    chunks = sorted(EmbeddedArticleChunk.scroll(with_vectors=True, document_id=english.id), key=lambda c: c.chunk_index)
    assert len(chunks) > 2
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    cleaned = next(CleanedArticleDocument.scroll(document_id=english.id))
    assert cleaned.chunk_count == len(chunks) and cleaned.content_hash == english.content_hash
    for chunk in chunks:
        assert chunk.author_full_name == "Ana Souza" and chunk.author_id == english.author_id
        assert chunk.platform == "blog" and chunk.link == english.link and chunk.category == "articles"
        assert chunk.title == "Chunking"
        assert cleaned.content[chunk.start : chunk.end] == chunk.content
        assert len(chunk.embedding) == 384
        assert np.linalg.norm(chunk.embedding) == pytest.approx(1.0, abs=1e-4)
        assert get_embedder().count_tokens(chunk.content) <= 48
    korean = list(EmbeddedArticleChunk.scroll(document_id=docs["korean"].id))
    assert korean and "검색" in korean[0].content and korean[0].author_full_name == "김민준"
    code = list(EmbeddedRepositoryChunk.scroll())
    assert any("def main():\n    print('run')" in c.content for c in code)
    # The stored vectors are the model's vectors of the chunk text.
    expected = get_embedder().encode([chunks[0].content])[0]
    assert np.dot(expected, chunks[0].embedding) > 0.999
    # Retrieval reads them back by similarity.
    hits = EmbeddedArticleChunk.search(get_embedder().encode([chunks[1].content])[0], limit=1)
    assert hits[0][0].id == chunks[1].id


def test_second_run_with_nothing_changed_embeds_nothing_and_keeps_ids():
    seed_warehouse()
    run_feature_engineering(FeatureConfig(**SMALL))
    before = snapshot()
    report = run_feature_engineering(FeatureConfig(**SMALL))
    assert report.total("documents_processed") == 0
    assert report.total("tokens_embedded") == 0 and "embed_s" not in report.timings_s
    assert report.total("documents_unchanged") == 4
    assert snapshot() == before


def test_an_edited_document_replaces_only_its_own_chunks():
    docs = seed_warehouse()
    run_feature_engineering(FeatureConfig(**SMALL))
    before = snapshot()
    english = docs["english"]
    edited = ArticleDocument(
        content={"Title": "Chunking", "Content": paragraph("re-chunking", 3)},
        platform="blog",
        link=english.link,
        author_id=english.author_id,
        author_full_name=english.author_full_name,
    )
    edited.save()

    report = run_feature_engineering(FeatureConfig(**SMALL))
    assert report.total("documents_processed") == 1
    after = snapshot()
    english_id = str(english.id)
    for collection in before:
        untouched_before = {k: v for k, v in before[collection].items() if v.get("document_id") != english_id}
        untouched_after = {k: v for k, v in after[collection].items() if v.get("document_id") != english_id}
        assert untouched_after == untouched_before, collection
    new_chunks = list(EmbeddedArticleChunk.scroll(document_id=english.id))
    assert new_chunks and all("re-chunking" in c.content for c in new_chunks)  # no orphans of the old text
    assert len(new_chunks) == next(CleanedArticleDocument.scroll(document_id=english.id)).chunk_count


def test_a_document_deleted_from_the_warehouse_loses_its_features():
    docs = seed_warehouse()
    run_feature_engineering(FeatureConfig(**SMALL))
    ArticleDocument.delete(id=docs["korean"].id)

    report = run_feature_engineering(FeatureConfig(**SMALL))
    assert report.total("documents_deleted") == 1 and report.total("documents_processed") == 0
    assert EmbeddedArticleChunk.count(document_id=docs["korean"].id) == 0
    assert CleanedArticleDocument.count(document_id=docs["korean"].id) == 0
    assert EmbeddedArticleChunk.count(document_id=docs["english"].id) > 0


def test_changed_chunk_size_rebuilds_everything_within_the_new_size():
    seed_warehouse()
    run_feature_engineering(FeatureConfig(**SMALL))
    small_count = EmbeddedArticleChunk.count()
    report = run_feature_engineering(FeatureConfig(chunk_size=128, chunk_overlap=0))
    assert report.total("documents_processed") == 4
    assert EmbeddedArticleChunk.count() < small_count
    assert max(c.token_count for c in EmbeddedArticleChunk.scroll()) > 48


def test_per_category_sizes_from_the_configuration_are_honoured():
    seed_warehouse()
    config = FeatureConfig(chunk_size=200, chunking={"articles": {"size": 24, "overlap": 4}})
    run_feature_engineering(config)
    embedder = get_embedder()
    assert all(embedder.count_tokens(c.content) <= 24 for c in EmbeddedArticleChunk.scroll())
    assert max(c.token_count for c in EmbeddedArticleChunk.scroll()) > 12


def test_a_missing_chunk_is_repaired_on_the_next_run():
    docs = seed_warehouse()
    run_feature_engineering(FeatureConfig(**SMALL))
    before = snapshot()
    victim = next(EmbeddedArticleChunk.scroll(document_id=docs["english"].id))
    EmbeddedArticleChunk.delete_ids([victim.id])

    report = run_feature_engineering(FeatureConfig(**SMALL))
    assert report.total("documents_processed") == 1
    assert snapshot() == before


def test_authors_and_categories_limit_the_run():
    docs = seed_warehouse()
    report = run_feature_engineering(FeatureConfig(authors=["  김민준 "], categories=["articles"], **SMALL))
    assert report.total("documents_processed") == 1
    assert {c.document_id for c in EmbeddedArticleChunk.scroll()} == {docs["korean"].id}
    assert EmbeddedPostChunk.count() == 0 and EmbeddedRepositoryChunk.count() == 0


def test_bad_configuration_is_refused_before_anything_is_written():
    seed_warehouse()
    with pytest.raises(ConfigurationError, match="unknown author"):
        run_feature_engineering(FeatureConfig(authors=["Nobody Here"]))
    with pytest.raises(ConfigurationError, match="exceeds what the embedding model reads"):
        run_feature_engineering(FeatureConfig(chunk_size=512))
    with pytest.raises(ConfigurationError, match="less than the chunk size"):
        run_feature_engineering(FeatureConfig(chunk_size=64, chunk_overlap=64))
    with pytest.raises(ValueError, match="unknown categories"):
        FeatureConfig(categories=["videos"])
    assert all(cls.count() == 0 for cls in ALL_CLASSES)
