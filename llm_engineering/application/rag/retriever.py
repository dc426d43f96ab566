"""Context retrieval: self-query, dense + BM25 search, fusion, reranking.

``ContextRetriever.search(query, k, filters)`` returns the ``k`` best chunks with scores and
sources. Steps, each timed:

1. self-query: the author named in the question (or given explicitly) becomes an ``author_id``
   filter;
2. optional query expansion (several phrasings, each searched);
3. both halves from Qdrant in one Query API call per collection: dense (the question's embedding
   against each chunk's ``dense`` vector) and BM25 (the question's terms against each passage's
   ``lexical`` sparse vector, IDF by Qdrant; ``lexical.py``), the same payload filter on both;
   chunks are grouped into their passages. Nothing is cached in the process, so a chunk the
   feature pipeline writes or deletes is found or gone at the next search, and local mode,
   memory mode and a server run the same code;
4. fusion of the rankings: a weighted sum of each ranking's scores relative to its best
   (default), reciprocal-rank fusion, or a weighted sum of min-max scaled scores. The dense
   ranking's weight is scaled by how much of the question the embedding model can read
   (``dense_scripts``: the share of its letters in those scripts) and dropped below
   ``dense_min_coverage``: an English-only embedder ranks a Korean question by noise, which would
   otherwise push good keyword hits down;
5. reranking (``rerank.py``; default: documents by their best chunk, inside each its chunks by
   BM25, at most N per document, the context shared among documents by their scores).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from llm_engineering.application.rag import lexical
from llm_engineering.application.rag.authors import AuthorDetector, LLMAuthorDetector, NameAuthorDetector
from llm_engineering.application.rag.expansion import QueryExpander
from llm_engineering.application.rag.rerank import Reranker, build_reranker
from llm_engineering.application.text import script_coverage
from llm_engineering.domain.documents import declared_categories
from llm_engineering.domain.embedded_chunks import EmbeddedChunk, embedded_class
from llm_engineering.domain.queries import Query, RetrievedChunk
from llm_engineering.infrastructure.embeddings import get_embedder
from llm_engineering.infrastructure.llm import get_llm
from llm_engineering.settings import get_settings

MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("relative", "rrf", "weighted")


@dataclass
class RetrievalConfig:
    mode: str = "hybrid"
    fusion: str = "relative"  # relative | rrf | weighted
    dense_weight: float = 0.3
    lexical_weight: float = 1.0
    rrf_k: int = 60
    dense_scripts: frozenset[str] = frozenset({"LATIN"})  # empty: the embedder reads every script
    dense_min_coverage: float = 0.75
    candidates: int = 50
    max_per_document: int = 5
    document_weight: float = 4.0  # how strongly a document's score weighs on its chunks
    reranker: str = "document"  # document | diversity (ignored when reranker_model_id is set)
    reranker_model_id: str = ""
    expansion: bool = False
    expansion_count: int = 2
    llm_self_query: bool = False
    dense_overfetch: int = 3  # dense chunks asked for per passage candidate (a passage has several)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {MODES}, not {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")

    @classmethod
    def from_settings(cls, settings=None, **overrides: Any) -> RetrievalConfig:
        s = settings or get_settings()
        values = dict(
            fusion=s.RAG_FUSION,
            dense_weight=s.RAG_DENSE_WEIGHT,
            lexical_weight=s.RAG_LEXICAL_WEIGHT,
            rrf_k=s.RAG_RRF_K,
            dense_scripts=parse_scripts(s.RAG_DENSE_SCRIPTS),
            dense_min_coverage=s.RAG_DENSE_MIN_COVERAGE,
            candidates=s.RAG_CANDIDATES,
            max_per_document=s.RAG_MAX_CHUNKS_PER_DOCUMENT,
            document_weight=s.RAG_DOCUMENT_WEIGHT,
            reranker=s.RAG_RERANKER,
            reranker_model_id=s.RERANKER_MODEL_ID,
            expansion=s.QUERY_EXPANSION,
            expansion_count=s.QUERY_EXPANSION_COUNT,
            llm_self_query=s.SELF_QUERY_LLM,
        )
        values.update(overrides)
        return cls(**values)


def parse_scripts(value: str) -> frozenset[str]:
    """``"latin, hangul"`` → ``{"LATIN", "HANGUL"}`` (empty or ``*``: every script)."""
    names = {part.strip().upper() for part in value.replace(";", ",").split(",") if part.strip()}
    return frozenset() if "*" in names else frozenset(names)


def dense_weight_for(text: str, config: RetrievalConfig) -> float:
    """The dense ranking's weight for a question: ``dense_weight`` × the share of its letters the
    embedder reads, 0 below ``dense_min_coverage``."""
    coverage = script_coverage(text, config.dense_scripts)
    return config.dense_weight * coverage if coverage >= config.dense_min_coverage else 0.0


@dataclass
class Retrieval:
    """A search's outcome: the query as understood, the chunks, and per-stage milliseconds."""

    query: Query
    chunks: list[RetrievedChunk]
    queries: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


def to_retrieved(chunk: EmbeddedChunk, **scores: float | None) -> RetrievedChunk:
    return RetrievedChunk(
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        content=chunk.content,
        title=chunk.title,
        link=chunk.link,
        author_id=chunk.author_id,
        author_full_name=chunk.author_full_name,
        platform=chunk.platform,
        category=chunk.category,
        chunk_index=chunk.chunk_index,
        **scores,
    )


def fuse(
    rankings: Sequence[tuple[Sequence[tuple[str, float]], float]], method: str = "relative", rrf_k: int = 60
) -> dict[str, float]:
    """Fused score per id from ``(ranking, weight)`` pairs, each ranking best first.

    ``relative``: sum of weight × score / the ranking's best score. A ranking whose scores sit close
    together (an embedder that cannot tell the candidates apart) moves the order little, one with
    a clear leader moves it much: each ranking speaks with its own confidence, which ranks cannot
    carry. ``rrf``: sum of weight / (rrf_k + rank). ``weighted``: sum of weight × min-max scaled
    score. An id a ranking did not return gets nothing from it.
    """
    if method not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, not {method!r}")
    fused: dict[str, float] = {}  # insertion order (the rankings' order) breaks ties
    for ranking, weight in rankings:
        if not ranking or weight <= 0:
            continue
        if method == "rrf":
            for rank, (key, _) in enumerate(ranking, start=1):
                fused[key] = fused.get(key, 0.0) + weight / (rrf_k + rank)
            continue
        high, low = max(s for _, s in ranking), min(s for _, s in ranking)
        for key, score in ranking:
            if method == "relative":
                scaled = max(score, 0.0) / high if high > 0 else 0.0
            else:
                scaled = (score - low) / (high - low) if high > low else 1.0
            fused[key] = fused.get(key, 0.0) + weight * scaled
    return fused


class ContextRetriever:
    """Retrieval over the embedded collections; every collaborator can be replaced."""

    def __init__(
        self,
        config: RetrievalConfig | None = None,
        *,
        embedder=None,
        author_detector: AuthorDetector | None = None,
        reranker: Reranker | None = None,
        expander=None,
        llm=None,
    ) -> None:
        self.config = config or RetrievalConfig.from_settings()
        self._embedder = embedder
        self._llm = llm
        self.names = NameAuthorDetector()
        if author_detector is None and self.config.llm_self_query:
            author_detector = LLMAuthorDetector(self._get_llm(), self.names)
        self.author_detector = author_detector or self.names
        self.reranker = reranker or build_reranker(
            self.config.reranker_model_id,
            self.config.max_per_document,
            self.config.reranker,
            self.config.document_weight,
        )
        if expander is None and self.config.expansion:
            expander = QueryExpander(self._get_llm(), self.config.expansion_count)
        self.expander = expander

    def _get_llm(self):
        if self._llm is None:
            self._llm = get_llm()
        return self._llm

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    # ---- public API ----------------------------------------------------------------------------
    def search(
        self, query: str, k: int | None = None, filters: dict[str, Any] | None = None, author: str | None = None
    ) -> list[RetrievedChunk]:
        return self.retrieve(query, k, filters, author).chunks

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        filters: dict[str, Any] | None = None,
        author: str | None = None,
        detect_author: bool = True,
    ) -> Retrieval:
        """Search with self-query; ``author`` (a name) must name a known user (UnknownAuthorError)."""
        if not query or not query.strip():
            raise ValueError("the query is empty")
        k = k or _default_k()
        if k < 1:
            raise ValueError("k must be at least 1")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        parsed = self._self_query(query, filters or {}, author, detect_author)
        timings["self_query"] = _ms(started)

        queries = [query]
        if self.expander is not None:
            t = time.perf_counter()
            queries = self.expander.expand(query)
            timings["expansion"] = _ms(t)

        filters = parsed.search_filters()
        rankings: list[tuple[list[tuple[str, float]], float]] = []
        found: dict[str, RetrievedChunk] = {}
        for text in queries:
            dense_weight = self.config.dense_weight
            if self.config.mode == "hybrid":
                dense_weight = dense_weight_for(text, self.config)
            use_dense = self.config.mode == "dense" or (self.config.mode == "hybrid" and dense_weight > 0)
            use_lexical = self.config.mode in ("hybrid", "lexical")
            dense_hits, lexical_hits = self._search(text, filters, use_dense, use_lexical, timings)
            if use_dense:
                rankings.append((self._collect(dense_hits, found, "dense_score"), dense_weight))
            if use_lexical:
                rankings.append((self._collect(lexical_hits, found, "lexical_score"), self.config.lexical_weight))

        t = time.perf_counter()
        if len(rankings) == 1:  # one mode, or a hybrid whose dense side had no say: its scores as they are
            weights = {key: score for key, score in rankings[0][0]}
        else:
            weights = fuse(rankings, self.config.fusion, self.config.rrf_k)
        ordered = sorted(weights, key=lambda key: -weights[key])
        fused = [found[key].model_copy(update={"score": weights[key]}) for key in ordered]
        timings["fusion"] = _ms(t)

        t = time.perf_counter()
        chunks = self.reranker.rerank(query, fused, k)
        timings["rerank"] = _ms(t)
        timings["total"] = _ms(started)
        return Retrieval(query=parsed, chunks=chunks, queries=queries, timings_ms=timings)

    # ---- stages --------------------------------------------------------------------------------
    def _self_query(self, query: str, filters: dict[str, Any], author: str | None, detect: bool) -> Query:
        user = None
        if author and author.strip():
            user = self.names.resolve(author)
        elif detect and "author_id" not in filters:
            user = self.author_detector.detect(query)
        if user is not None:
            logger.debug(f"self-query: author {user.full_name!r}")
            return Query(text=query, author_id=user.id, author_full_name=user.full_name, filters=filters)
        return Query(text=query, filters=filters)

    def _classes(self, filters: dict[str, Any]) -> list[type[EmbeddedChunk]]:
        wanted = filters.get("category")
        if wanted is None:
            return [embedded_class(c) for c in declared_categories()]
        wanted = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        return [embedded_class(c) for c in declared_categories() if c in {str(w) for w in wanted}]

    def _search(
        self, text: str, filters: dict[str, Any], use_dense: bool, use_lexical: bool, timings: dict[str, float]
    ) -> tuple[list[tuple[EmbeddedChunk, float]], list[tuple[EmbeddedChunk, float]]]:
        """Both rankings of passages for one phrasing (a half not used comes back empty)."""
        dense_vector = sparse_vector = None
        if use_dense:
            t = time.perf_counter()
            dense_vector = self.embedder.encode([text])[0].tolist()
            timings["embed"] = timings.get("embed", 0.0) + _ms(t)
        if use_lexical:
            sparse_vector = lexical.query_vector(text)
        t = time.perf_counter()
        candidates = self.config.candidates
        payload_filters = dict(filters)
        if "category" in payload_filters:
            wanted = payload_filters["category"]
            wanted = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
            payload_filters["category"] = [str(w) for w in wanted]
        dense_hits: list[tuple[EmbeddedChunk, float]] = []
        lexical_hits: list[tuple[EmbeddedChunk, float]] = []
        for cls in self._classes(filters):
            dense, sparse = cls.query(
                dense_vector, sparse_vector, candidates * self.config.dense_overfetch, candidates, payload_filters
            )
            dense_hits.extend(dense)
            lexical_hits.extend(sparse)
        dense_hits.sort(key=lambda pair: -pair[1])
        lexical_hits.sort(key=lambda pair: -pair[1])
        timings["search"] = timings.get("search", 0.0) + _ms(t)
        return lexical.units(dense_hits, candidates), lexical.units(lexical_hits, candidates)

    @staticmethod
    def _collect(hits, found: dict[str, RetrievedChunk], score_field: str) -> list[tuple[str, float]]:
        ranking = []
        for chunk, score in hits:
            key = str(chunk.id)
            if key in found:
                found[key] = found[key].model_copy(update={score_field: score})
            else:
                found[key] = to_retrieved(chunk, **{score_field: score})
            ranking.append((key, score))
        return ranking


def _default_k() -> int:
    return get_settings().RAG_TOP_K


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
