"""The feature pipeline's logic: warehouse → clean → chunk → embed → vector store, incrementally.

Three stages, each one function (the ZenML steps call them one by one, the benchmark and
tests call ``run_feature_engineering``):

1. ``plan_features``: read the warehouse and the vector store, decide per document whether its
   features are current. A document is current when its cleaned document (the *marker*) holds
   the same warehouse ``content_hash`` and the same ``features_fingerprint`` (cleaning and
   chunking versions, chunk size and overlap, embedding model, lexical term weighting) and the store holds exactly its
   ``chunk_count`` chunks. Cleaned documents and chunks whose warehouse document is gone are
   scheduled for deletion.
2. ``clean_documents``: clean the documents that need work (no writes).
3. ``embed_and_load``: delete what is gone, then, window by window, chunk, embed, and write.

Crash safety: nothing is written while a window is being embedded. For each window the old
markers are removed first, then the new chunks are upserted (ids derived from document id,
position and text, so rewriting is idempotent), then chunks left over from an older version are
deleted, and the marker is written last. A run killed at any moment leaves every document
either complete and marked, or unmarked; the next run redoes the unmarked ones and ends in the
same state as an uninterrupted run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from tqdm.auto import tqdm

from llm_engineering.application.preprocessing.chunking import (
    CHUNKING_VERSION,
    ChunkingConfig,
    TextChunk,
    chunking_handler,
)
from llm_engineering.application.preprocessing.cleaning import CLEANING_VERSION, check_cleaning, clean_document
from llm_engineering.application.preprocessing.embedding import embed_texts
from llm_engineering.application.rag.lexical import lexical_fingerprint, with_sparse_vectors
from llm_engineering.domain.cleaned_documents import CleanedDocument, cleaned_class
from llm_engineering.domain.documents import Document, UserDocument, declared_categories, document_class
from llm_engineering.domain.embedded_chunks import EmbeddedChunk, embedded_class
from llm_engineering.domain.identity import content_hash
from llm_engineering.exceptions import ConfigurationError
from llm_engineering.infrastructure.embeddings import (
    DEFAULT_EMBEDDING_MODEL_ID,
    configured_model_id,
    default_model_path,
    get_embedder,
)
from llm_engineering.settings import get_settings


class ChunkSize(BaseModel):
    size: int | None = None
    overlap: int | None = None
    passage_chars: int | None = None


class FeatureConfig(BaseModel):
    """What to build features for, and how. Empty lists mean "all" (every declared category)."""

    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=declared_categories)
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    passage_chars: int | None = None
    chunking: dict[str, ChunkSize] = Field(default_factory=dict)
    batch_size: int | None = None
    window_chunks: int | None = None
    show_progress: bool = False

    @field_validator("categories", "chunking")
    @classmethod
    def _declared(cls, value: Any, info: ValidationInfo) -> Any:
        known = declared_categories()
        unknown = [str(c) for c in value if c not in known]
        if unknown:
            raise ValueError(f"{info.field_name}: unknown categories {unknown}; the declared ones are {known}")
        return value

    @field_validator("categories")
    @classmethod
    def _all_when_empty(cls, value: list[str]) -> list[str]:
        return value or declared_categories()

    def chunking_for(self, category: str, settings: Any) -> ChunkingConfig:
        override = self.chunking.get(category, ChunkSize())
        size = override.size or self.chunk_size or settings.CHUNK_SIZE_TOKENS
        overlap = next(
            v for v in (override.overlap, self.chunk_overlap, settings.CHUNK_OVERLAP_TOKENS) if v is not None
        )
        passage = next(
            v for v in (override.passage_chars, self.passage_chars, settings.CHUNK_PASSAGE_CHARS) if v is not None
        )
        return ChunkingConfig(size=size, overlap=overlap, passage_chars=passage)


class CategoryPlan(BaseModel):
    category: str
    chunk_size: int
    chunk_overlap: int
    passage_chars: int = 0
    fingerprint: str
    to_process: list[uuid.UUID] = Field(default_factory=list)
    unchanged: int = 0
    deleted_documents: list[uuid.UUID] = Field(default_factory=list)
    orphan_chunks: list[uuid.UUID] = Field(default_factory=list)


class FeaturePlan(BaseModel):
    model_id: str
    categories: list[CategoryPlan]

    @property
    def documents_to_process(self) -> int:
        return sum(len(c.to_process) for c in self.categories)


class CleanedBatch(BaseModel):
    """Cleaned documents of any category (restored to their category's class when read)."""

    documents: list[CleanedDocument] = Field(default_factory=list)
    # Document id → share of its letters and digits that cleaning kept (None: it had none).
    letters_kept: dict[str, float | None] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _restore_classes(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("documents"), list):
            data = dict(data)
            data["documents"] = [
                cleaned_class(d["category"]).model_validate(d) if isinstance(d, dict) else d for d in data["documents"]
            ]
        return data


class CategoryReport(BaseModel):
    category: str
    documents_processed: int = 0
    documents_unchanged: int = 0
    documents_deleted: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    tokens_embedded: int = 0


class FeatureReport(BaseModel):
    categories: list[CategoryReport] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(default_factory=dict)

    def total(self, field: str) -> int:
        return sum(getattr(c, field) for c in self.categories)

    def metadata(self) -> dict[str, Any]:
        """Flat numbers for ZenML metadata and logs."""
        data: dict[str, Any] = {f"{k}_s": round(v, 3) for k, v in self.timings_s.items()}
        for field in CategoryReport.model_fields:
            if field != "category":
                data[field] = self.total(field)
        for c in self.categories:
            data[f"{c.category}_chunks_written"] = c.chunks_written
        return data


# ---- stage 1: plan --------------------------------------------------------------------------
def features_fingerprint(category: str, chunking: ChunkingConfig, model_id: str) -> str:
    return content_hash(
        {
            "category": category,
            "cleaning": CLEANING_VERSION,
            "chunking": CHUNKING_VERSION,
            "size": chunking.size,
            "overlap": chunking.overlap,
            "passage_chars": chunking.passage_chars,
            "model": model_id,
            "lexical": lexical_fingerprint(),
        }
    )


def resolve_authors(names: list[str]) -> list[uuid.UUID]:
    """Author ids for full names (any case or spacing); an unknown name is a configuration error."""
    ids, unknown = [], []
    for name in names:
        user = UserDocument.find_by_name(name)
        if user is None:
            unknown.append(name)
        else:
            ids.append(user.id)
    if unknown:
        known = ", ".join(sorted(u.full_name for u in UserDocument.bulk_find(limit=20))) or "none"
        raise ConfigurationError(
            f"unknown author(s) {unknown} in the feature configuration; the warehouse has: {known}"
        )
    return ids


def _warehouse_documents(category: str) -> list[Document]:
    return document_class(category).bulk_find()


def _model_window(model_id: str) -> int:
    """Word pieces the configured model reads (known without loading it for the default model)."""
    if model_id == DEFAULT_EMBEDDING_MODEL_ID:
        config = json.loads((default_model_path() / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config["max_seq_length"]) - 2  # [CLS] and [SEP]
    return get_embedder().max_content_tokens


def plan_features(config: FeatureConfig | None = None) -> FeaturePlan:
    """Decide which documents need (re)building and what must be deleted. Reads only."""
    config = config or FeatureConfig()
    settings = get_settings()
    model_id = configured_model_id(settings)
    author_ids = resolve_authors(config.authors) if config.authors else None
    plans = []
    for category in config.categories:
        chunking = config.chunking_for(category, settings).check(_model_window(model_id))
        fingerprint = features_fingerprint(category, chunking, model_id)
        plan = CategoryPlan(
            category=category,
            chunk_size=chunking.size,
            chunk_overlap=chunking.overlap,
            passage_chars=chunking.passage_chars,
            fingerprint=fingerprint,
        )
        documents = _warehouse_documents(category)
        warehouse_ids = {d.id for d in documents}
        scope = {d.id: d for d in documents if author_ids is None or d.author_id in author_ids}
        markers = {m.document_id: m for m in cleaned_class(category).scroll()}
        chunk_counts: Counter[uuid.UUID] = Counter()
        for chunk in embedded_class(category).scroll():
            if chunk.document_id in warehouse_ids:
                chunk_counts[chunk.document_id] += 1
            else:
                plan.orphan_chunks.append(chunk.id)
        plan.deleted_documents = sorted(m for m in markers if m not in warehouse_ids)
        for doc_id in sorted(scope):
            marker = markers.get(doc_id)
            current = (
                marker is not None
                and marker.content_hash == scope[doc_id].content_hash
                and marker.features_fingerprint == fingerprint
                and marker.chunk_count == chunk_counts[doc_id]
            )
            if current:
                plan.unchanged += 1
            else:
                plan.to_process.append(doc_id)
        logger.info(
            "{}: {} to build, {} current, {} deleted, {} orphan chunks",
            category,
            len(plan.to_process),
            plan.unchanged,
            len(plan.deleted_documents),
            len(plan.orphan_chunks),
        )
        plans.append(plan)
    return FeaturePlan(model_id=model_id, categories=plans)


# ---- stage 2: clean -------------------------------------------------------------------------
def clean_documents(plan: FeaturePlan) -> CleanedBatch:
    """The cleaned form of every document the plan says needs work (nothing is written)."""
    min_kept = get_settings().CLEANING_MIN_KEPT_SHARE
    cleaned: list[CleanedDocument] = []
    kept: dict[str, float | None] = {}
    for cat_plan in plan.categories:
        if not cat_plan.to_process:
            continue
        cls = document_class(cat_plan.category)
        wanted = set(cat_plan.to_process)
        documents = [d for d in cls.bulk_find(id=sorted(str(i) for i in wanted)) if d.id in wanted]
        for document in sorted(documents, key=lambda d: str(d.id)):
            item = clean_document(document)
            kept[str(document.id)] = check_cleaning(document, item, min_kept)
            item.features_fingerprint = cat_plan.fingerprint
            cleaned.append(item)
    return CleanedBatch(documents=cleaned, letters_kept=kept)


# ---- stage 3: chunk, embed, load ------------------------------------------------------------
def _check_collection(cls: type[EmbeddedChunk], dimension: int, rebuild_all: bool) -> None:
    """Rebuild a collection whose vectors no longer fit: another embedding size, or the layout of
    an earlier version (one unnamed dense vector, the BM25 index kept in each process)."""
    layout = cls.layout()
    if layout is None:
        return
    size, current = layout
    if current and (size is None or size == dimension):
        return
    reason = (
        f"it holds {size}-dimensional vectors but the embedding model makes {dimension}"
        if current
        else "it was written by an earlier version without lexical sparse vectors"
    )
    if not rebuild_all:
        raise ConfigurationError(
            f"{cls.collection}: {reason}; run the feature pipeline for every author and category to rebuild it."
        )
    logger.warning("{}: {}; rebuilding the collection", cls.collection, reason)
    cls.delete_collection()


def _make_chunks(document: CleanedDocument, pieces: list[TextChunk], vectors) -> list[EmbeddedChunk]:
    cls = embedded_class(document.category)
    common = {
        "document_id": document.document_id,
        "title": document.title,
        "platform": document.platform,
        "author_id": document.author_id,
        "author_full_name": document.author_full_name,
        "link": document.link,
        "published_at": document.published_at,
        "content_hash": document.content_hash,
    }
    chunks = [
        cls(
            content=piece.text,
            embedding=vector.tolist(),
            chunk_index=piece.index,
            start=piece.start,
            end=piece.end,
            token_count=piece.token_count,
            passage_index=piece.passage_index,
            passage=document.content[piece.passage_start : piece.passage_end],
            **common,
        )
        for piece, vector in zip(pieces, vectors, strict=True)
    ]
    leads: dict[int, uuid.UUID] = {}
    for chunk in chunks:  # the first chunk of each passage carries its lexical vector
        chunk.passage_id = leads.setdefault(chunk.passage_index, chunk.id)
    return with_sparse_vectors(chunks)


def _windows(items: list[tuple[CleanedDocument, list[TextChunk]]], max_chunks: int):
    window: list[tuple[CleanedDocument, list[TextChunk]]] = []
    size = 0
    for item in items:
        if window and size + len(item[1]) > max_chunks:
            yield window
            window, size = [], 0
        window.append(item)
        size += len(item[1])
    if window:
        yield window


def delete_features(category: str, document_ids: list[uuid.UUID]) -> None:
    """Remove documents' chunks, then their markers (a crash in between is redone next run)."""
    if not document_ids:
        return
    embedded_class(category).delete_where(document_id=[str(i) for i in document_ids])
    cleaned_class(category).delete_ids(document_ids)


def embed_and_load(
    plan: FeaturePlan, cleaned: CleanedBatch, config: FeatureConfig | None = None, embedder: Any = None
) -> FeatureReport:
    """Write the plan's features: deletions first, then chunk → embed → load per window."""
    config = config or FeatureConfig()
    timings: dict[str, float] = defaultdict(float)
    reports = {
        p.category: CategoryReport(category=p.category, documents_unchanged=p.unchanged) for p in plan.categories
    }
    if cleaned.documents:  # check everything that can fail on configuration before writing
        embedder = _checked_embedder(plan, embedder)
    with _timed(timings, "delete"):
        _delete_planned(plan, reports)
    if cleaned.documents:
        with _timed(timings, "chunk"):  # everything first (cheap), so the progress bar knows the total
            work = _chunk_all(plan, cleaned.documents, embedder)
        total = sum(len(pieces) for items in work.values() for _, pieces in items)
        with tqdm(total=total, unit="chunk", desc="embedding", disable=not config.show_progress) as bar:
            for cat_plan in plan.categories:
                if work.get(cat_plan.category):
                    _embed_category(cat_plan, work[cat_plan.category], embedder, config, reports, timings, bar)
    with _timed(timings, "index"):
        _build_indexes(plan)
    return FeatureReport(categories=list(reports.values()), timings_s=dict(timings))


def _build_indexes(plan: FeaturePlan) -> None:
    """Have the vector store index each category's collection now, so the first search after a
    large load is not an exact scan (a no-op below Qdrant's indexing threshold)."""
    for cat_plan in plan.categories:
        started = time.perf_counter()
        if embedded_class(cat_plan.category).build_indexes():
            logger.info("{}: search index built in {:.1f}s", cat_plan.category, time.perf_counter() - started)


@contextmanager
def _timed(timings: dict[str, float], name: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] += time.perf_counter() - started


def _checked_embedder(plan: FeaturePlan, embedder: Any) -> Any:
    """The embedder (the configured one when None), checked against the plan's model and sizes."""
    embedder = embedder if embedder is not None else get_embedder()
    if embedder.model_id != plan.model_id:
        raise ConfigurationError(f"the plan was made for {plan.model_id} but the embedder is {embedder.model_id}")
    for cat_plan in plan.categories:
        _chunking(cat_plan).check(embedder.max_content_tokens)
    return embedder


def _chunking(cat_plan: CategoryPlan) -> ChunkingConfig:
    return ChunkingConfig(cat_plan.chunk_size, cat_plan.chunk_overlap, cat_plan.passage_chars)


def _delete_planned(plan: FeaturePlan, reports: dict[str, CategoryReport]) -> None:
    """Orphan chunks and the features of documents gone from the warehouse."""
    for cat_plan in plan.categories:
        report = reports[cat_plan.category]
        if cat_plan.orphan_chunks:
            embedded_class(cat_plan.category).delete_ids(cat_plan.orphan_chunks)
            report.chunks_deleted += len(cat_plan.orphan_chunks)
        delete_features(cat_plan.category, cat_plan.deleted_documents)
        report.documents_deleted = len(cat_plan.deleted_documents)


def _chunk_all(
    plan: FeaturePlan, cleaned: list[CleanedDocument], embedder: Any
) -> dict[str, list[tuple[CleanedDocument, list[TextChunk]]]]:
    """Each category's cleaned documents with their chunks, in the plan's category order."""
    by_category: dict[str, list[CleanedDocument]] = defaultdict(list)
    for document in cleaned:
        by_category[document.category].append(document)
    work = {}
    for cat_plan in plan.categories:
        if by_category.get(cat_plan.category):
            handler, chunking = chunking_handler(cat_plan.category), _chunking(cat_plan)
            work[cat_plan.category] = [
                (d, handler.chunk(d, embedder.tokenizer, chunking)) for d in by_category[cat_plan.category]
            ]
    return work


def _embed_category(
    cat_plan: CategoryPlan,
    items: list[tuple[CleanedDocument, list[TextChunk]]],
    embedder: Any,
    config: FeatureConfig,
    reports: dict[str, CategoryReport],
    timings: dict[str, float],
    bar,
) -> None:
    """Embed and load one category's documents, window by window."""
    settings = get_settings()
    batch_size = config.batch_size or settings.EMBEDDING_BATCH_SIZE
    report = reports[cat_plan.category]
    chunk_cls = embedded_class(cat_plan.category)
    _check_collection(chunk_cls, embedder.dimension, rebuild_all=cat_plan.unchanged == 0)
    windows = list(_windows(items, config.window_chunks or settings.FEATURES_WINDOW_CHUNKS))
    for number, window in enumerate(windows, 1):
        pieces = [p for _, doc_pieces in window for p in doc_pieces]
        logger.info(
            "{}: embedding window {}/{} ({} documents, {} chunks)",
            cat_plan.category, number, len(windows), len(window), len(pieces),
        )  # fmt: skip
        with _timed(timings, "embed"):
            texts, counts = [p.text for p in pieces], [p.token_count for p in pieces]
            vectors = embed_texts(embedder, texts, counts, batch_size=batch_size, on_batch=bar.update)
        with _timed(timings, "load"):
            written, stale = _load_window(cat_plan.category, window, vectors)
        report.documents_processed += len(window)
        report.chunks_written += written
        report.chunks_deleted += stale
        report.tokens_embedded += sum(counts)


def _load_window(category: str, window: list[tuple[CleanedDocument, list[TextChunk]]], vectors) -> tuple[int, int]:
    """Replace a window's documents' features, in an order a crash cannot leave wrong; the chunks
    written and the stale chunks deleted."""
    chunk_cls, marker_cls = embedded_class(category), cleaned_class(category)
    chunks: list[EmbeddedChunk] = []
    offset = 0
    for document, doc_pieces in window:
        chunks.extend(_make_chunks(document, doc_pieces, vectors[offset : offset + len(doc_pieces)]))
        offset += len(doc_pieces)
        document.chunk_count = len(doc_pieces)
    doc_ids = [d.document_id for d, _ in window]
    marker_cls.delete_ids(doc_ids)  # 1. unmark: from here on these documents are "to do"
    if chunks:
        chunk_cls.bulk_upsert(chunks)  # 2. new chunks (idempotent ids)
    new_ids = {c.id for c in chunks}
    stale = [c.id for c in chunk_cls.scroll(document_id=[str(i) for i in doc_ids]) if c.id not in new_ids]
    chunk_cls.delete_ids(stale)  # 3. chunks of the previous version
    marker_cls.bulk_upsert([d for d, _ in window])  # 4. mark done, last
    return len(chunks), len(stale)


def run_feature_engineering(config: FeatureConfig | None = None, embedder: Any = None) -> FeatureReport:
    """Plan, clean, then chunk/embed/load: the whole feature pipeline without ZenML."""
    config = config or FeatureConfig()
    started = time.perf_counter()
    plan = plan_features(config)
    planned = time.perf_counter()
    cleaned = clean_documents(plan)
    cleaned_at = time.perf_counter()
    report = embed_and_load(plan, cleaned, config, embedder)
    report.timings_s["plan"] = planned - started
    report.timings_s["clean"] = cleaned_at - planned
    report.timings_s["total"] = time.perf_counter() - started
    logger.info("feature engineering done: {}", report.metadata())
    return report
