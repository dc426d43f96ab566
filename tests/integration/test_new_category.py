"""A data category declared in one place — one warehouse document class, nothing else edited —
flows through every stage with the project's own configs: the feature pipeline cleans, chunks and
embeds it into its own collections, dataset generation samples it, and retrieval finds it (also by
a category filter). Real warehouse and Qdrant in the test's DATA_DIR, the real embedding model."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from llm_engineering.application.dataset import generate_instruct_dataset, load_cleaned_documents
from llm_engineering.application.preprocessing.features import FeatureConfig, run_feature_engineering
from llm_engineering.application.rag import ContextRetriever, RetrievalConfig
from llm_engineering.domain.base.nosql import DOCUMENT_CLASSES
from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.documents import DOCUMENT_CATEGORIES, ArticleDocument, Document, UserDocument
from llm_engineering.domain.embedded_chunks import embedded_class
from llm_engineering.exceptions import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
TALKS = {
    "compilers": "Today I want to talk about compilers. A compiler reads the program once, builds a tree of "
    "its meaning, and then rewrites that tree step by step until only machine instructions are left. "
    "Every optimisation pass is a small promise that the program still means the same thing.",
    "gardens": "정원 가꾸기에 대한 강연입니다. 봄에는 흙을 갈아엎고 퇴비를 섞어 두면 여름 내내 채소가 잘 자랍니다. "
    "물은 아침 일찍 주는 것이 가장 좋고, 잡초는 비가 온 다음 날 뽑으면 뿌리까지 쉽게 빠집니다.",
}
ARTICLE = (
    "Sourdough needs patience more than skill. I feed the starter every morning, wait for it to double, and "
    "only then mix the dough; a cold kitchen simply means a slower rise, never a failed loaf."
)


def parameters(config: str) -> dict:
    return yaml.safe_load((ROOT / "configs" / config).read_text(encoding="utf-8"))["parameters"]


@pytest.fixture
def talks():
    """The category ``talks``, declared for this test only: one class, as a developer would add it."""

    class TalkDocument(Document):
        category: ClassVar[str] = "talks"

    yield TalkDocument
    del DOCUMENT_CATEGORIES["talks"], DOCUMENT_CLASSES["TalkDocument"]


@pytest.fixture
def built(talks):
    """A talk in English, one in Korean and an article, through the feature pipeline as configured."""
    author = UserDocument.get_or_create_by_name("Hana Reyes")
    common = {"platform": "talks.example", "author_id": author.id, "author_full_name": author.full_name}
    documents = {
        topic: talks(content={"Title": topic.title(), "Content": text}, link=f"https://talks.example/{topic}", **common)
        for topic, text in TALKS.items()
    }
    documents["article"] = ArticleDocument(
        content={"Title": "Bread", "Content": ARTICLE}, link="https://blog.example/bread", **common
    )
    for document in documents.values():
        document.save()
    config = FeatureConfig.model_validate({**parameters("feature_engineering.yaml"), "show_progress": False})
    report = run_feature_engineering(config)
    return documents, report


def test_the_feature_configs_select_every_declared_category_and_refuse_unknown_ones(talks):
    assert "talks" in FeatureConfig.model_validate(parameters("feature_engineering.yaml")).categories
    assert "talks" in FeatureConfig.model_validate(parameters("end_to_end_data.yaml")["features"]).categories
    assert FeatureConfig(categories=["talks"]).categories == ["talks"]
    with pytest.raises(ValueError, match=r"unknown categories \['videos'\]"):
        FeatureConfig(categories=["talks", "videos"])


def test_features_clean_chunk_and_embed_the_new_category_into_its_own_collections(built):
    documents, report = built
    talk_report = next(c for c in report.categories if c.category == "talks")
    assert talk_report.documents_processed == 2 and talk_report.chunks_written >= 2
    cleaned = {c.document_id: c for c in cleaned_class("talks").scroll()}
    assert set(cleaned) == {documents["compilers"].id, documents["gardens"].id}
    assert cleaned[documents["compilers"].id].content == TALKS["compilers"]
    chunks = list(embedded_class("talks").scroll(with_vectors=True))
    assert embedded_class("talks").collection == "embedded_talks"
    assert {c.document_id for c in chunks} == set(cleaned) and {c.category for c in chunks} == {"talks"}
    assert all(len(c.embedding) == 384 for c in chunks)
    # Nothing else changed: the article went where it always goes, and a second run builds nothing.
    assert [c.document_id for c in embedded_class("articles").scroll()] == [documents["article"].id]
    again = run_feature_engineering(FeatureConfig())
    assert again.total("documents_processed") == 0 and again.total("documents_unchanged") == 3


def test_dataset_generation_samples_the_new_category(built):
    documents, _ = built
    loaded = load_cleaned_documents()
    assert {d.category for d in loaded} == {"articles", "talks"}
    config = {
        **parameters("generate_instruct_datasets.yaml")["config"],
        "instruction_writer": "template",
        "extracts": {"min_chars": 100, "max_chars": 2000},
        "test_size": 0.34,
    }
    dataset, report = generate_instruct_dataset(loaded, config)
    assert report.by_category == {"articles": 1, "talks": 2}
    answers = {row["answer"] for split in ("train", "test") for row in dataset[split]}
    assert {TALKS["compilers"], TALKS["gardens"]} <= answers
    with pytest.raises(ConfigurationError, match="videos"):
        load_cleaned_documents(categories=["videos"])


def test_retrieval_finds_the_new_category_and_filters_on_it(built):
    documents, _ = built
    retriever = ContextRetriever(RetrievalConfig.from_settings())
    hit = retriever.search("How does a compiler rewrite the program's tree into machine instructions?", k=1)[0]
    assert (hit.document_id, hit.category) == (documents["compilers"].id, "talks")
    korean = retriever.search("잡초는 언제 뽑으면 뿌리까지 빠지나요?", k=1)[0]
    assert korean.document_id == documents["gardens"].id
    only_talks = retriever.search("sourdough starter and a slow rise", k=5, filters={"category": "talks"})
    assert only_talks and {c.category for c in only_talks} == {"talks"}
