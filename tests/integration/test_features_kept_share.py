"""The feature pipeline's clean stage records, per document, the share of letters and digits
cleaning kept, and names the documents below CLEANING_MIN_KEPT_SHARE (real warehouse, real
Qdrant local mode; nothing is embedded)."""

from __future__ import annotations

from loguru import logger

from llm_engineering.application.preprocessing.cleaning import kept_summary
from llm_engineering.application.preprocessing.features import FeatureConfig, clean_documents, plan_features
from llm_engineering.domain.documents import ArticleDocument, UserDocument

NOTE = "# 메모\n\n한다.\n\n한다.\n\n34,712\n34,712\n\nx\nX\n\n<|im_start|>user 안녕<|im_end|>\n"
PAGE = "Subscribe Sign in\n\nShare this post\n\nCopy link\n\nFacebook\n\nEmail\n\n" + (
    "A short article about reading rooms.\n\n" * 3
)


def test_clean_stage_records_the_kept_share_and_warns_below_the_threshold(monkeypatch):
    monkeypatch.setenv("CLEANING_MIN_KEPT_SHARE", "0.95")
    from llm_engineering.settings import get_settings

    get_settings.cache_clear()
    author = UserDocument.get_or_create_by_name("김민준")
    common = {"author_id": author.id, "author_full_name": author.full_name}
    note = ArticleDocument(
        content={"Title": "메모", "Content": NOTE}, platform="local", link="file:///n/a.md", **common
    )
    page = ArticleDocument(
        content={"Title": "Rooms", "Content": PAGE}, platform="blog", link="https://b.example/r", **common
    )
    empty = ArticleDocument(
        content={"Title": "빈", "Content": "\n \n"}, platform="local", link="file:///n/b.md", **common
    )
    ArticleDocument.bulk_insert([note, page, empty])

    warnings: list[str] = []
    handler = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    try:
        batch = clean_documents(plan_features(FeatureConfig(categories=["articles"])))
    finally:
        logger.remove(handler)

    assert batch.letters_kept[str(note.id)] == 1.0
    assert 0.5 < batch.letters_kept[str(page.id)] < 0.95  # the share block went, the article stayed
    assert batch.letters_kept[str(empty.id)] is None
    assert any("https://b.example/r" in w and "CLEANING_MIN_KEPT_SHARE" in w for w in warnings)
    assert any("file:///n/b.md" in w and "no letters or digits" in w for w in warnings)
    assert not any("file:///n/a.md" in w for w in warnings)

    summary = kept_summary(batch.letters_kept, 0.95)
    assert summary["documents_below_min_kept_share"] == 1
    assert summary["documents_below_min_kept_share_ids"] == [str(page.id)]
    assert summary["documents_without_text"] == 1
    assert summary["letters_kept_min"] == round(batch.letters_kept[str(page.id)], 4)
