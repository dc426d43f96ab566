"""An ODM over Qdrant for cleaned (payload only) and embedded (vector + payload) collections.

A concrete class sets ``collection``; one that carries a vector sets ``has_vector = True`` and
declares ``embedding: list[float] | None = None`` (reads without vectors leave it ``None``).
Point ids are the documents' own deterministic UUIDs, so re-upserting the same chunk overwrites
it instead of duplicating it.

A vector collection holds two named vectors per point: ``dense`` (the embedding, cosine) and
``lexical``, a sparse vector of term weights with ``modifier: idf`` (Qdrant computes the inverse
document frequencies). A class fills the sparse one by overriding ``sparse_vector()``; points
without one are only found by dense search. ``query()`` runs both halves in one Query API call.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self

from pydantic import BaseModel, Field

from llm_engineering.domain.ports import VectorStore, vector_store

VECTOR_CLASSES: dict[str, type[VectorBaseDocument]] = {}
DENSE = "dense"
SPARSE = "lexical"
_CURRENT_LAYOUT: set[tuple[int, str]] = set()  # (client, collection) already checked


class OutdatedCollectionError(RuntimeError):
    """A collection written by an earlier version of the project (no named dense + sparse vectors)."""


class VectorBaseDocument(BaseModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)

    collection: ClassVar[str | None] = None
    has_vector: ClassVar[bool] = False
    indexed_payload: ClassVar[tuple[str, ...]] = ("document_id", "author_id")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__dict__.get("collection"):
            VECTOR_CLASSES[cls.__name__] = cls

    # ---- conversion --------------------------------------------------------------------------
    def to_point(self):
        from qdrant_client.models import PointStruct, SparseVector

        payload = self.model_dump(mode="json", exclude={"id", "embedding"})
        vector: dict[str, Any] = {}
        if self.has_vector:
            vector[DENSE] = list(self.embedding)
            sparse = self.sparse_vector()
            if sparse and sparse[0]:
                vector[SPARSE] = SparseVector(indices=sparse[0], values=sparse[1])
        return PointStruct(id=str(self.id), vector=vector, payload=payload)

    def sparse_vector(self) -> tuple[list[int], list[float]] | None:
        """(indices, values) of the point's sparse lexical vector; None: the point has none."""
        return None

    @classmethod
    def from_point(cls, point: Any) -> Self:
        data = dict(point.payload or {})
        data["id"] = point.id
        vector = getattr(point, "vector", None)
        if cls.has_vector and vector is not None:
            data["embedding"] = vector.get(DENSE) if isinstance(vector, dict) else vector
        return cls.model_validate(data)

    # ---- collections -------------------------------------------------------------------------
    @classmethod
    def _client(cls) -> VectorStore:
        if not cls.collection:
            raise TypeError(f"{cls.__name__} has no collection")
        return vector_store()

    @classmethod
    def collection_exists(cls) -> bool:
        return cls._client().collection_exists(cls.collection)

    @classmethod
    def create_collection(cls, vector_size: int | None = None) -> bool:
        """Create the collection if missing (named ``dense`` cosine vectors and ``lexical`` sparse
        vectors with IDF for a vector class); returns True when created."""
        from qdrant_client.models import Distance, Modifier, PayloadSchemaType, SparseVectorParams, VectorParams

        client = cls._client()
        if client.collection_exists(cls.collection):
            return False
        sparse: dict[str, Any] | None = None
        if cls.has_vector:
            if not vector_size:
                raise ValueError(f"{cls.__name__} needs a vector size to create its collection")
            config: Any = {DENSE: VectorParams(size=vector_size, distance=Distance.COSINE)}
            sparse = {SPARSE: SparseVectorParams(modifier=Modifier.IDF)}
        else:
            config = {}
        client.create_collection(cls.collection, vectors_config=config, sparse_vectors_config=sparse)
        with warnings.catch_warnings():  # local mode ignores payload indexes (and says so)
            warnings.simplefilter("ignore", UserWarning)
            for field in cls.indexed_payload:
                client.create_payload_index(cls.collection, field, PayloadSchemaType.KEYWORD)
        return True

    @classmethod
    def layout(cls) -> tuple[int | None, bool] | None:
        """(dense size, current layout) of the existing collection, None when there is none.

        The current layout has a named ``dense`` vector and a ``lexical`` sparse vector with IDF;
        collections of earlier versions have one unnamed dense vector.
        """
        client = cls._client()
        if not client.collection_exists(cls.collection):
            return None
        params = client.get_collection(cls.collection).config.params
        vectors = params.vectors
        if isinstance(vectors, dict):
            size = vectors[DENSE].size if DENSE in vectors else None
        else:
            size = getattr(vectors, "size", None)
        sparse = (params.sparse_vectors or {}).get(SPARSE)
        modifier = getattr(getattr(sparse, "modifier", None), "value", None)
        current = isinstance(vectors, dict) and DENSE in vectors and modifier == "idf"
        return size, current

    @classmethod
    def check_layout(cls) -> None:
        """Raise ``OutdatedCollectionError`` for a collection of an earlier layout (see ``layout``)."""
        key = (id(cls._client()), cls.collection)
        if key in _CURRENT_LAYOUT:
            return
        layout = cls.layout()
        if layout is not None and layout[1]:
            _CURRENT_LAYOUT.add(key)
        elif layout is not None:
            raise OutdatedCollectionError(
                f"the Qdrant collection {cls.collection} was written by an earlier version of LLM Twin "
                "(no lexical sparse vectors); run the feature pipeline once to rebuild it"
            )

    @classmethod
    def delete_collection(cls) -> None:
        client = cls._client()
        if client.collection_exists(cls.collection):
            client.delete_collection(cls.collection)

    # ---- writes ------------------------------------------------------------------------------
    @classmethod
    def bulk_upsert(cls, documents: Sequence[VectorBaseDocument], batch_size: int = 1024) -> int:
        """Upsert points in large batches; creates the collection when missing."""
        if not documents:
            return 0
        if not cls.collection_exists():
            size = len(documents[0].embedding) if cls.has_vector else None
            cls.create_collection(size)
        client = cls._client()
        for start in range(0, len(documents), batch_size):
            batch = documents[start : start + batch_size]
            client.upsert(cls.collection, points=[d.to_point() for d in batch], wait=True)
        return len(documents)

    @classmethod
    def delete_where(cls, **filters: Any) -> None:
        """Delete every point whose payload matches ``filters`` (e.g. ``document_id=...``)."""
        from qdrant_client.models import FilterSelector

        if not cls.collection_exists():
            return
        cls._client().delete(cls.collection, points_selector=FilterSelector(filter=build_filter(filters)), wait=True)

    @classmethod
    def delete_ids(cls, ids: Sequence[uuid.UUID | str]) -> None:
        from qdrant_client.models import PointIdsList

        if ids and cls.collection_exists():
            cls._client().delete(cls.collection, points_selector=PointIdsList(points=[str(i) for i in ids]), wait=True)

    @classmethod
    def build_indexes(cls) -> bool:
        """Let the store index what was written (HNSW for the dense vectors, segment merges and
        vacuum after deletions), blocking until done; True when anything was built. A Qdrant
        server does this by itself in the background and the embedded Edge store only when asked;
        qdrant-client's local and memory modes have no indexes, so there it does nothing."""
        optimize = getattr(cls._client(), "optimize", None)
        return bool(optimize and cls.collection_exists() and optimize(cls.collection))

    # ---- reads -------------------------------------------------------------------------------
    @classmethod
    def count(cls, **filters: Any) -> int:
        if not cls.collection_exists():
            return 0
        return cls._client().count(cls.collection, count_filter=build_filter(filters), exact=True).count

    @classmethod
    def scroll(cls, batch_size: int = 1024, with_vectors: bool = False, **filters: Any) -> Iterator[Self]:
        """Every point (matching ``filters``), page by page."""
        if not cls.collection_exists():
            return
        offset = None
        while True:
            points, offset = cls._client().scroll(
                cls.collection,
                scroll_filter=build_filter(filters),
                limit=batch_size,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors and cls.has_vector,
            )
            for point in points:
                yield cls.from_point(point)
            if offset is None:
                return

    @classmethod
    def search(cls, query_vector: Sequence[float], limit: int = 10, **filters: Any) -> list[tuple[Self, float]]:
        """Nearest points by cosine similarity, best first, with their scores."""
        return cls.query(dense=query_vector, dense_limit=limit, filters=filters)[0]

    @classmethod
    def query(
        cls,
        dense: Sequence[float] | None = None,
        sparse: tuple[Sequence[int], Sequence[float]] | None = None,
        dense_limit: int = 10,
        sparse_limit: int = 10,
        filters: dict[str, Any] | None = None,
    ) -> tuple[list[tuple[Self, float]], list[tuple[Self, float]]]:
        """The dense and the sparse (lexical) ranking, best first with scores, from one Query API
        call (a batch of the two searches, the same payload filter on both). A half not asked for
        (None, or a sparse vector without terms) comes back empty."""
        from qdrant_client.models import QueryRequest, SparseVector

        if not cls.has_vector:
            raise TypeError(f"{cls.__name__} has no vectors to search")
        if not cls.collection_exists():
            return [], []
        cls.check_layout()
        query_filter = build_filter(filters or {})
        requests, halves = [], []
        if dense is not None and dense_limit > 0:
            requests.append(
                QueryRequest(query=list(dense), using=DENSE, filter=query_filter, limit=dense_limit, with_payload=True)
            )
            halves.append(DENSE)
        if sparse is not None and len(sparse[0]) and sparse_limit > 0:
            vector = SparseVector(indices=list(sparse[0]), values=list(sparse[1]))
            requests.append(
                QueryRequest(query=vector, using=SPARSE, filter=query_filter, limit=sparse_limit, with_payload=True)
            )
            halves.append(SPARSE)
        out: dict[str, list[tuple[Self, float]]] = {DENSE: [], SPARSE: []}
        if requests:
            responses = cls._client().query_batch_points(cls.collection, requests=requests)
            for half, response in zip(halves, responses, strict=True):
                out[half] = [(cls.from_point(p), p.score) for p in response.points if half == DENSE or p.score > 0]
        return out[DENSE], out[SPARSE]


def build_filter(filters: dict[str, Any]):
    """Equality payload filters (a list/tuple/set value means "any of")."""
    from qdrant_client.models import FieldCondition, Filter, MatchAny, MatchValue

    if not filters:
        return None
    conditions = []
    for key, value in filters.items():
        if isinstance(value, (list, tuple, set)):
            match: Any = MatchAny(any=[str(v) if isinstance(v, uuid.UUID) else v for v in value])
        else:
            match = MatchValue(value=str(value) if isinstance(value, uuid.UUID) else value)
        conditions.append(FieldCondition(key=key, match=match))
    return Filter(must=conditions)
